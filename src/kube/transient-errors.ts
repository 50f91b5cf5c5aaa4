// Which kubectl failures are worth repeating. kubectl exits 1 for every API error, so the only signal is the text
// it prints; these patterns are the messages client-go and the apiserver produce (see KUBECTL-WIRE.md).

// A permanent pattern wins over a transient one: a multi-object apply can print a NotFound next to a 500, and
// repeating it cannot fix the NotFound.
const PERMANENT_PATTERNS: readonly RegExp[] = [
  /\((NotFound|AlreadyExists|Conflict|Invalid|BadRequest|Forbidden|Unauthorized|MethodNotAllowed)\)/,
  /\bnot found\b/i,
  /\balready exists\b/i,
  /\bis invalid\b/i,
  /the object has been modified/i,
  /Apply failed with \d+ conflicts?/i,
  /\bforbidden\b/i,
  /\bunauthorized\b/i,
  /You must be logged in to the server/i,
  // Server-side apply answers an unknown field with HTTP 500 and no reason (upstream bug): a manifest error.
  /field not declared in schema/i,
  /strict decoding error/i,
  /unknown field/i,
  /failed to create typed patch object/i,
  /the server responded with the status code 4(?!29)\d\d\b/i,
  /the server could not find the requested resource/i,
  /x509: certificate/i
]

const TRANSIENT_PATTERNS: readonly RegExp[] = [
  /connection refused/i,
  // `The connection to the server HOST:PORT was refused`; \S+, not .*: linear on a long line.
  /connection to the server \S+ was refused/i,
  /connection reset by peer/i,
  /broken pipe/i,
  // A connection kubectl was reusing, reset under it (seen against a real apiserver behind a resetting proxy).
  /use of closed network connection/i,
  /unexpected EOF/,
  // Go's io.EOF as the last word of a transport error: `Unable to connect to the server: EOF`, `Get "...": EOF`.
  /(:|\s)EOF\s*$/m,
  /TLS handshake timeout/i,
  /i\/o timeout/i,
  /Client\.Timeout exceeded/i,
  /context deadline exceeded/i,
  /temporary failure in name resolution/i,
  /http2: (server sent GOAWAY|client connection lost|client connection force closed)/i,
  /no route to host/i,
  /network is unreachable/i,
  /the server is currently unable to handle the request/i,
  /\((ServiceUnavailable|TooManyRequests|InternalError|Timeout|ServerTimeout)\)/,
  /too many requests/i,
  /Internal error occurred/i,
  /etcdserver: (request timed out|leader changed|too many requests|no leader)/i,
  /the server has received an error/i,
  // `an error on the server ("unknown") has prevented ...`: the quoted part bounded, so the match is linear.
  /an error on the server \("[^"\n]{0,300}"\) has prevented the request from succeeding/i,
  /the server was unable to return a response in the time allotted/i,
  /the server responded with the status code (429|5\d\d)\b/i,
  /\b(502 Bad Gateway|503 Service Unavailable|504 Gateway Timeout)\b/i
]

// Failures that quote a permanent-looking cause but are transient as a whole: kubectl could not fetch the
// OpenAPI documents it validates with (a 5xx on /openapi/v3, then "could not find" for the v2 fallback).
const TRANSIENT_DESPITE_CAUSE: readonly RegExp[] = [/error validating data: failed to download openapi/i]

export function isTransientKubectlFailure(stderr: string, exitCode: number): boolean {
  if (exitCode === 0) return false
  if (TRANSIENT_DESPITE_CAUSE.some(pattern => pattern.test(stderr))) return true
  if (PERMANENT_PATTERNS.some(pattern => pattern.test(stderr))) return false
  return TRANSIENT_PATTERNS.some(pattern => pattern.test(stderr))
}

// kubectl rarely prints the server's Retry-After, but a 429/503 Status can carry `retryAfterSeconds` and verbose
// output shows the header; when present it is a better delay than our own guess.
export function retryAfterHintMs(stderr: string): number | undefined {
  const match =
    /retry[- ]?after(?:[- ]?seconds)?["']?[ \t]{0,3}[:=]?[ \t]{0,3}(\d{1,6})/i.exec(stderr) ??
    /try again in (\d+) seconds?/i.exec(stderr)
  if (!match) return undefined
  const seconds = Number(match[1])
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined
}

// The API server was not there to answer: the transient failures, all of which say so (a refused or reset
// connection, a timeout, a 5xx, a 429, etcd without a leader).
export function isUnreachable(stderr: string, exitCode: number): boolean {
  return isTransientKubectlFailure(stderr, exitCode)
}

// A 401 or 403: a refusal from a server that knows its roles, or the answer of one whose authorizer has not
// loaded them yet (the runner decides which by whether the server was just away).
const AUTHORIZATION_PATTERNS: readonly RegExp[] = [
  /\((Forbidden|Unauthorized)\)/,
  /\bforbidden\b/i,
  /\bunauthorized\b/i,
  /You must be logged in to the server/i
]

export function isAuthorizationFailure(stderr: string): boolean {
  return AUTHORIZATION_PATTERNS.some(pattern => pattern.test(stderr))
}
