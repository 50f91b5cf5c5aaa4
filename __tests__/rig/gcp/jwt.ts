import { createSign, createVerify, type KeyObject } from 'node:crypto'

// RS256 JWTs, as GitHub's OIDC provider issues them and as google-auth-library signs service-account
// assertions. Only what the stand-ins need: sign, and verify signature plus expiry.

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url')
}

export function signJwt(payload: Record<string, unknown>, key: KeyObject, kid?: string): string {
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', ...(kid ? { kid } : {}) }))
  const body = base64url(JSON.stringify(payload))
  const signature = createSign('RSA-SHA256').update(`${header}.${body}`).sign(key)
  return `${header}.${body}.${base64url(signature)}`
}

export type JwtCheck = { ok: true; payload: Record<string, unknown> } | { ok: false; reason: string }

/** Verifies an RS256 JWT with the given public key; `nowSeconds` checks `exp`. */
export function verifyJwt(jwt: string, publicKey: KeyObject, nowSeconds: number): JwtCheck {
  const parts = jwt.split('.')
  if (parts.length !== 3) return { ok: false, reason: 'not a JWT' }
  const [header, body, signature] = parts as [string, string, string]
  let alg: unknown
  let payload: Record<string, unknown>
  try {
    alg = (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown }).alg
    payload = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return { ok: false, reason: 'malformed JWT' }
  }
  if (alg !== 'RS256') return { ok: false, reason: `unsupported alg ${String(alg)}` }
  const valid = createVerify('RSA-SHA256')
    .update(`${header}.${body}`)
    .verify(publicKey, Buffer.from(signature, 'base64url'))
  if (!valid) return { ok: false, reason: 'Invalid JWT Signature.' }
  if (typeof payload.exp !== 'number' || payload.exp <= nowSeconds)
    return { ok: false, reason: 'JWT expired' }
  return { ok: true, payload }
}

/** Reads the claims without verifying: for deciding which key to verify with. */
export function peekJwtClaims(jwt: string): Record<string, unknown> | undefined {
  try {
    const body = jwt.split('.')[1]
    if (!body) return undefined
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
}
