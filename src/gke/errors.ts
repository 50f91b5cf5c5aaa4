// Errors of the GKE connection step. Each carries a code so main.ts can react (e.g. an offline dry run when
// no credentials exist) and a message written for the person reading the failed job's log.

import { createRedactor, redactBearerTokens } from '../redact.js'

export type GkeErrorCode =
  | 'NO_CREDENTIALS'
  | 'BAD_CREDENTIALS_FILE'
  | 'AUTH_FAILED'
  | 'NO_PROJECT'
  | 'CLUSTER_NOT_FOUND'
  | 'PERMISSION_DENIED'
  | 'CLUSTER_NOT_RUNNING'
  | 'ENDPOINT_NOT_ENABLED'
  | 'GKE_API_ERROR'
  | 'KUBECONFIG'

export class GkeError extends Error {
  constructor(
    readonly code: GkeErrorCode,
    message: string
  ) {
    super(message)
    this.name = 'GkeError'
  }
}

/** What a failed Google API call said, pulled from either Google's or OAuth's error shape. */
export interface GoogleFailure {
  httpStatus?: number
  status?: string
  message: string
}

export function googleFailureFromBody(
  httpStatus: number | undefined,
  body: unknown
): GoogleFailure | undefined {
  if (!body || typeof body !== 'object') return undefined
  const data = body as Record<string, unknown>
  if (data.error && typeof data.error === 'object') {
    const err = data.error as Record<string, unknown>
    return {
      httpStatus: typeof err.code === 'number' ? err.code : httpStatus,
      status: typeof err.status === 'string' ? err.status : undefined,
      message: typeof err.message === 'string' ? err.message : JSON.stringify(err)
    }
  }
  if (typeof data.error === 'string') {
    const description = typeof data.error_description === 'string' ? `: ${data.error_description}` : ''
    return { httpStatus, status: data.error, message: `${data.error}${description}` }
  }
  if (typeof data.message === 'string') return { httpStatus, message: data.message }
  return undefined
}

/**
 * Removes every secret from a text. Error messages of HTTP libraries may quote headers or bodies; a token
 * in a thrown message would land in the job log unmasked if it was never passed to setSecret.
 */
export function redact(text: string, secrets: Iterable<string | undefined>): string {
  return redactBearerTokens(createRedactor(secrets)(text))
}
