// The test registry's token server (the Docker Registry v2 token flow): the registry answers 401 with
// `WWW-Authenticate: Bearer realm=<this>/token,service=...,scope=repository:NAME:pull`, the client asks here and
// gets a JWT (RS256, with the key id the registry trusts in its JWKS file) listing what it may do.
//
// Who may do what, as Artifact Registry decides it:
// - Basic `oauth2accesstoken:TOKEN` (or `_token:TOKEN`) with an unexpired access token of the Google stand-in:
//   that principal may pull every repository except those it is denied; an invalid token gets 401.
// - the pusher's own user and password (crane, setting up the images): everything.
// - no credentials: pull on public repositories only.
// A token is issued even when it grants nothing (as real token servers do): the registry then refuses the
// request itself (401 insufficient_scope).

import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { signJwt } from '../gcp/jwt.js'

export interface TokenPolicy {
  // The Google stand-in: whether a token is valid, and whom it stands for.
  principalOfAccessToken(token: string): string | undefined
  pusher: { username: string; password: string }
  // Repositories a Google principal may not pull (the deployer without roles/artifactregistry.reader).
  deniedRepositories: (principal: string, repository: string) => boolean
  // Repositories anyone may pull without credentials.
  publicRepositories: (repository: string) => boolean
}

export interface TokenRequestRecord {
  // 'anonymous', 'pusher', or the Google principal
  who: string
  scopes: string[]
  granted: string[]
  status: number
}

export interface TokenServer {
  realm: string
  service: string
  issuer: string
  // The JWKS file's content, for the registry's auth.token.jwks.
  jwks: string
  requests(): TokenRequestRecord[]
  stop(): Promise<void>
}

const SERVICE = 'rig-registry'
const ISSUER = 'rig-registry-token-server'
const TOKEN_LIFETIME_SECONDS = 300

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  // repository:NAME:ACTIONS; NAME may hold no colon here (the rig's registry has no port in names).
  const first = scope.indexOf(':')
  const last = scope.lastIndexOf(':')
  if (first === -1 || last === first) return undefined
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean)
  }
}

export async function startTokenServer(
  tls: { certPem: string; keyPem: string },
  policy: TokenPolicy,
  // The name the realm is given under (the server listens on 127.0.0.1); default localhost.
  realmHost = 'localhost'
): Promise<TokenServer> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = randomBytes(8).toString('hex')
  const jwk = (publicKey as KeyObject).export({ format: 'jwk' })
  const jwks = JSON.stringify({ keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] })
  const log: TokenRequestRecord[] = []

  const server = createServer(
    { cert: tls.certPem, key: tls.keyPem },
    (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'https://token.invalid')
      const send = (status: number, body: unknown, record: Omit<TokenRequestRecord, 'status'>): void => {
        log.push({ ...record, status })
        res.writeHead(status, { 'content-type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      const scopes = url.searchParams
        .getAll('scope')
        .flatMap(s => s.split(' '))
        .filter(Boolean)
      if (req.method !== 'GET' || url.pathname !== '/token') {
        send(
          404,
          { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] },
          { who: '?', scopes, granted: [] }
        )
        return
      }
      const header = req.headers.authorization ?? ''
      let who = 'anonymous'
      if (header.toLowerCase().startsWith('basic ')) {
        const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8')
        const colon = decoded.indexOf(':')
        const user = decoded.slice(0, colon)
        const password = decoded.slice(colon + 1)
        if (user === policy.pusher.username && password === policy.pusher.password) who = 'pusher'
        else if (user === 'oauth2accesstoken' || user === '_token') {
          const principal = policy.principalOfAccessToken(password)
          if (!principal) {
            send(
              401,
              { errors: [{ code: 'UNAUTHORIZED', message: 'The access token is invalid or has expired.' }] },
              { who: 'invalid-token', scopes, granted: [] }
            )
            return
          }
          who = principal
        } else {
          send(
            401,
            { errors: [{ code: 'UNAUTHORIZED', message: 'unknown user' }] },
            { who: 'unknown', scopes, granted: [] }
          )
          return
        }
      }
      const access = scopes.flatMap(scope => {
        const parsed = parseScope(scope)
        if (!parsed || parsed.type !== 'repository') return []
        const allowed =
          who === 'pusher'
            ? parsed.actions
            : parsed.actions.filter(
                action =>
                  action === 'pull' &&
                  (who === 'anonymous'
                    ? policy.publicRepositories(parsed.name)
                    : !policy.deniedRepositories(who, parsed.name))
              )
        return allowed.length > 0 ? [{ type: 'repository', name: parsed.name, actions: allowed }] : []
      })
      const now = Math.floor(Date.now() / 1000)
      const token = signJwt(
        {
          iss: ISSUER,
          sub: who,
          aud: url.searchParams.get('service') ?? SERVICE,
          exp: now + TOKEN_LIFETIME_SECONDS,
          nbf: now - 5,
          iat: now,
          jti: randomBytes(12).toString('hex'),
          access
        },
        privateKey,
        kid
      )
      send(
        200,
        {
          token,
          access_token: token,
          expires_in: TOKEN_LIFETIME_SECONDS,
          issued_at: new Date().toISOString()
        },
        { who, scopes, granted: access.map(a => `${a.name}:${a.actions.join(',')}`) }
      )
    }
  )
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    // On a name, not an IP literal: clients (crane, the action) refuse a realm on a private or loopback IP
    // unless it is the registry's own host and port.
    realm: `https://${realmHost}:${port}/token`,
    service: SERVICE,
    issuer: ISSUER,
    jwks,
    requests: () => log.map(entry => ({ ...entry })),
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
