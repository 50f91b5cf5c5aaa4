// The metav1.Status body a Kubernetes API server answers an error with, and the one the fault proxy sends for a
// fault it injects: 429, 500 or 503 with the reason and message kube-apiserver gives them, and Retry-After in
// details (never for a 500, as the apiserver writes it).

export interface StatusBody {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Failure' | 'Success'
  message?: string
  reason?: string
  details?: {
    name?: string
    group?: string
    kind?: string
    causes?: Array<{ reason?: string; message?: string; field?: string }>
    retryAfterSeconds?: number
  }
  code: number
}

export function faultStatus(code: number, retryAfter?: number): StatusBody {
  const reasons: Record<number, string> = {
    429: 'TooManyRequests',
    503: 'ServiceUnavailable',
    500: 'InternalError'
  }
  const messages: Record<number, string> = {
    429: 'the server has received too many requests and has asked us to try again later',
    503: 'the server is currently unable to handle the request',
    500: 'Internal error occurred: injected fault'
  }
  const body: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: messages[code] ?? 'injected fault',
    reason: reasons[code] ?? 'InternalError',
    code
  }
  if (retryAfter !== undefined && code !== 500) body.details = { retryAfterSeconds: retryAfter }
  return body
}
