import type { ResourceType } from './resources.js'
import { qualifiedKind, qualifiedResource } from './resources.js'

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

// Thrown anywhere in request handling; the router turns it into a metav1.Status response.
export class ApiError extends Error {
  constructor(readonly body: StatusBody) {
    super(body.message)
  }
  get code(): number {
    return this.body.code
  }
}

function status(code: number, message: string, reason?: string, details?: StatusBody['details']): ApiError {
  // key order as the apiserver writes it: ..., reason, details, code
  const body = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message } as StatusBody
  if (reason) body.reason = reason
  if (details) body.details = details
  body.code = code
  return new ApiError(body)
}

function resourceDetails(rt: ResourceType, name: string): StatusBody['details'] {
  return rt.group ? { name, group: rt.group, kind: rt.resource } : { name, kind: rt.resource }
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return status(404, `${qualifiedResource(rt)} "${name}" not found`, 'NotFound', resourceDetails(rt, name))
}

export function namespaceNotFound(name: string): ApiError {
  return status(404, `namespaces "${name}" not found`, 'NotFound', { name, kind: 'namespaces' })
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return status(
    409,
    `${qualifiedResource(rt)} "${name}" already exists`,
    'AlreadyExists',
    resourceDetails(rt, name)
  )
}

export function conflictModified(rt: ResourceType, name: string): ApiError {
  return status(
    409,
    `Operation cannot be fulfilled on ${qualifiedResource(rt)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    'Conflict',
    resourceDetails(rt, name)
  )
}

export interface FieldCause {
  type: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueNotSupported' | 'FieldValueForbidden'
  field: string
  // the part after "field: ", e.g. `Invalid value: -1: must be greater than or equal to 0`
  detail: string
}

export function invalid(rt: ResourceType, name: string, causes: FieldCause[]): ApiError {
  const text = causes.map(c => `${c.field}: ${c.detail}`)
  const summary = text.length === 1 ? text[0] : `[${text.join(', ')}]`
  return status(422, `${qualifiedKind(rt)} "${name}" is invalid: ${summary}`, 'Invalid', {
    name,
    ...(rt.group ? { group: rt.group } : {}),
    kind: rt.kind,
    causes: causes.map(c => ({ reason: c.type, message: c.detail, field: c.field }))
  })
}

// The odd shape a strict-decoding failure of a patch takes (golden seq 137): no name, no kind.
export function invalidPatch(patchText: string, strictMessage: string): ApiError {
  const detail = `Invalid value: ${JSON.stringify(patchText)}: ${strictMessage}`
  return status(422, ` "" is invalid: patch: ${detail}`, 'Invalid', {
    causes: [{ reason: 'FieldValueInvalid', message: detail, field: 'patch' }]
  })
}

export function badRequest(message: string): ApiError {
  return status(400, message, 'BadRequest')
}

export function methodNotAllowed(): ApiError {
  return status(405, 'the server does not allow this method on the requested resource', 'MethodNotAllowed')
}

export function unsupportedMediaType(contentType: string): ApiError {
  return status(
    415,
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`,
    'UnsupportedMediaType'
  )
}

export function pathNotFound(): ApiError {
  return status(404, 'the server could not find the requested resource', 'NotFound', {})
}

export function unauthorized(): ApiError {
  return status(401, 'Unauthorized', 'Unauthorized')
}

export function forbidden(rt: ResourceType, verb: string, name: string, namespace?: string): ApiError {
  const where = namespace ? ` in the namespace "${namespace}"` : rt.namespaced ? '' : ' at the cluster scope'
  const res = rt.group ? `"${rt.resource}" in API group "${rt.group}"` : `"${rt.resource}" in API group ""`
  return status(
    403,
    `${qualifiedResource(rt)}${name ? ` "${name}"` : ''} is forbidden: User "emulator-user" cannot ${verb} resource ${res}${where}`,
    'Forbidden',
    resourceDetails(rt, name)
  )
}

// SSA with an unknown field: HTTP 500 without a reason (upstream bug, golden seq 142)
export function internalNoReason(message: string): ApiError {
  return status(500, message)
}

export function internalError(message: string): ApiError {
  return status(500, `Internal error occurred: ${message}`, 'InternalError')
}

export function applyConflict(conflicts: Array<{ manager: string; field: string }>): ApiError {
  const lines = conflicts.map(c => `conflict with "${c.manager}": ${c.field}`)
  const message =
    conflicts.length === 1
      ? `Apply failed with 1 conflict: ${lines[0]}`
      : `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`
  return status(409, message, 'Conflict', {
    causes: conflicts.map(c => ({
      reason: 'FieldManagerConflict',
      message: `conflict with "${c.manager}"`,
      field: c.field
    }))
  })
}

export function expired(message: string): StatusBody {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: 'Expired',
    code: 410
  }
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
    500: 'Internal error occurred: emulator injected fault'
  }
  const body: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: messages[code] ?? 'emulator injected fault',
    reason: reasons[code] ?? 'InternalError',
    code
  }
  if (retryAfter !== undefined && code !== 500) body.details = { retryAfterSeconds: retryAfter }
  return body
}
