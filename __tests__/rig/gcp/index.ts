import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateKeyPair, randomBytes, createPublicKey, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { signJwt, verifyJwt, peekJwtClaims } from './jwt.js'

// Local stand-ins for the Google endpoints the action talks to: GitHub's OIDC token endpoint, STS token
// exchange, IAM Credentials generateAccessToken, the OAuth2 token endpoint for service-account keys, and the
// GKE clusters.get API. One plain-HTTP server on 127.0.0.1; each API lives under its own path prefix so
// the URLs handed out look like separate services. Request shapes follow what google-auth-library 10 sends.

export interface ClusterFixture {
  project: string
  location: string
  name: string
  status?: 'RUNNING' | 'PROVISIONING' | 'RECONCILING' | 'STOPPING' | 'ERROR'
  endpoint: string // host or host:port
  caPem: string
  privateEndpoint?: string
  dnsEndpoint?: string
  /** false: the public IP endpoint is disabled (private-endpoint-only cluster); default true */
  enablePublicEndpoint?: boolean
}

export interface GoogleStandInOptions {
  projectId?: string
  projectNumber?: string
  poolId?: string
  providerId?: string
  serviceAccountEmail?: string
  // More service accounts the federated identity may impersonate (a planner beside the deployer, say).
  otherServiceAccounts?: string[]
  accessTokenLifetimeSeconds?: number
  clusters?: ClusterFixture[]
  denyClusterAccess?: boolean
  // The GCE metadata server of a self-hosted runner on Google Cloud: its service account's tokens, under
  // /computeMetadata/v1 (point GCE_METADATA_HOST at metadataHost).
  metadataServiceAccount?: string
}

export interface GoogleStandIns {
  oidcUrl: string
  oidcRequestToken: string
  stsUrl: string
  iamCredentialsUrl: string
  containerApiUrl: string
  /** host:port of the metadata server stand-in, for GCE_METADATA_HOST */
  metadataHost: string
  /** the OAuth2 token endpoint that service-account key files written here point at */
  oauth2TokenUrl: string
  projectId: string
  projectNumber: string
  serviceAccountEmail: string
  /** `projects/N/locations/global/workloadIdentityPools/P/providers/X` */
  workloadIdentityProvider: string
  isValidAccessToken(token: string): boolean
  /** Whom an unexpired access token stands for: a service account's email or a federated principal. */
  principalOfAccessToken(token: string): string | undefined
  issuedAccessTokens(): number
  writeExternalAccountCredentials(
    dir: string,
    opts?: { impersonate?: boolean; serviceAccount?: string }
  ): Promise<string>
  writeServiceAccountKey(dir: string): Promise<string>
  /** For clusters whose endpoint is known only after start (a control plane started later). */
  addCluster(fixture: ClusterFixture): void
  requests(): Array<{ method: string; path: string; status: number }>
  stop(): Promise<void>
}

const GOOGLE_OAUTH2_TOKEN_URL = 'https://oauth2.googleapis.com/token'
const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
const JWT_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt'
const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com'

const UNAUTHENTICATED_MESSAGE =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other ' +
  'valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.'

type TokenKind = 'sts' | 'iam' | 'oauth2'
interface IssuedToken {
  kind: TokenKind
  expiresAtMs: number
  principal: string
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {}
  ) {
    super(`HTTP ${status}`)
  }
}

function googleError(code: number, status: string, message: string): HttpError {
  const headers: Record<string, string> =
    code === 401 ? { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' } : {}
  return new HttpError(code, { error: { code, message, status } }, headers)
}

function oauthError(code: number, error: string, description: string): HttpError {
  return new HttpError(code, { error, error_description: description })
}

function opaqueToken(prefix: string): string {
  return `${prefix}.${randomBytes(48).toString('base64url')}`
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > 1024 * 1024) throw oauthError(413, 'invalid_request', 'body too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** STS accepts both the form encoding google-auth-library sends and the camelCase JSON google-github-actions/auth sends. */
function parseStsBody(contentType: string, raw: string): Record<string, string> {
  if (contentType.includes('application/json')) {
    let json: Record<string, unknown>
    try {
      json = JSON.parse(raw) as Record<string, unknown>
    } catch {
      throw oauthError(400, 'invalid_request', 'Invalid JSON payload received.')
    }
    const out: Record<string, string> = {}
    for (const [key, value] of Object.entries(json)) {
      const snake = key.replace(/[A-Z]/g, c => `_${c.toLowerCase()}`)
      if (typeof value === 'string') out[snake] = value
    }
    return out
  }
  return Object.fromEntries(new URLSearchParams(raw))
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization ?? ''
  const match = /^Bearer\s+(\S+)$/i.exec(header)
  return match?.[1]
}

function clusterResource(fixture: ClusterFixture, projectNumber: string, projectId: string): unknown {
  const publicEnabled = fixture.enablePublicEndpoint !== false
  const endpoint = publicEnabled ? fixture.endpoint : (fixture.privateEndpoint ?? fixture.endpoint)
  const project = fixture.project === projectId ? projectId : fixture.project
  return {
    name: fixture.name,
    location: fixture.location,
    locations: [`${fixture.location}-a`, `${fixture.location}-b`, `${fixture.location}-c`],
    selfLink: `https://container.googleapis.com/v1/projects/${project}/locations/${fixture.location}/clusters/${fixture.name}`,
    id: randomBytes(16).toString('hex'),
    status: fixture.status ?? 'RUNNING',
    ...(fixture.status === 'ERROR' ? { statusMessage: 'Cluster is in an error state.' } : {}),
    endpoint,
    currentMasterVersion: '1.33.5-gke.1162000',
    autopilot: { enabled: true },
    network: 'default',
    masterAuth: { clusterCaCertificate: Buffer.from(fixture.caPem, 'utf8').toString('base64') },
    ...(fixture.privateEndpoint
      ? {
          privateClusterConfig: {
            enablePrivateNodes: true,
            enablePrivateEndpoint: !publicEnabled,
            privateEndpoint: fixture.privateEndpoint,
            ...(publicEnabled ? { publicEndpoint: fixture.endpoint } : {})
          }
        }
      : {}),
    controlPlaneEndpointsConfig: {
      ...(fixture.dnsEndpoint
        ? { dnsEndpointConfig: { endpoint: fixture.dnsEndpoint, allowExternalTraffic: true } }
        : {}),
      ipEndpointsConfig: {
        enabled: true,
        enablePublicEndpoint: publicEnabled,
        ...(publicEnabled ? { publicEndpoint: fixture.endpoint } : {}),
        ...(fixture.privateEndpoint ? { privateEndpoint: fixture.privateEndpoint } : {})
      }
    },
    projectNumber
  }
}

export async function startGoogleStandIns(opts: GoogleStandInOptions = {}): Promise<GoogleStandIns> {
  const projectId = opts.projectId ?? 'noesis2-test'
  const projectNumber = opts.projectNumber ?? '123456789012'
  const poolId = opts.poolId ?? 'github'
  const providerId = opts.providerId ?? 'github-actions'
  const serviceAccountEmail = opts.serviceAccountEmail ?? `deployer@${projectId}.iam.gserviceaccount.com`
  const lifetimeSeconds = opts.accessTokenLifetimeSeconds ?? 3600
  const clusters = [...(opts.clusters ?? [])]
  const workloadIdentityProvider = `projects/${projectNumber}/locations/global/workloadIdentityPools/${poolId}/providers/${providerId}`
  const stsAudience = `//iam.googleapis.com/${workloadIdentityProvider}`
  const oidcAudience = `https://iam.googleapis.com/${workloadIdentityProvider}`

  const { privateKey: oidcKey, publicKey: oidcPublicKey } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048
  })
  const oidcRequestToken = randomBytes(32).toString('hex')
  const issuedOidcTokens = new Set<string>()
  const tokens = new Map<string, IssuedToken>()
  const serviceAccountKeys = new Map<string, KeyObject>()
  const log: Array<{ method: string; path: string; status: number }> = []
  let minted = 0

  function mint(kind: TokenKind, principal: string, seconds: number): { token: string; expiresAtMs: number } {
    const prefix = kind === 'sts' ? 'sts' : 'ya29'
    const token = opaqueToken(prefix)
    const expiresAtMs = Date.now() + seconds * 1000
    tokens.set(token, { kind, expiresAtMs, principal })
    minted++
    return { token, expiresAtMs }
  }

  function lookupToken(token: string | undefined): IssuedToken | undefined {
    if (!token) return undefined
    const issued = tokens.get(token)
    if (!issued || issued.expiresAtMs <= Date.now()) return undefined
    return issued
  }

  function handleOidc(req: IncomingMessage, url: URL): unknown {
    if (req.method !== 'GET') throw new HttpError(405, { message: 'Method not allowed' })
    if (bearerToken(req) !== oidcRequestToken) {
      throw new HttpError(401, { message: 'Unauthorized: invalid ACTIONS_ID_TOKEN_REQUEST_TOKEN' })
    }
    const audience = url.searchParams.get('audience') ?? 'https://github.com/noesis2'
    const now = Math.floor(Date.now() / 1000)
    const jwt = signJwt(
      {
        jti: randomBytes(16).toString('hex'),
        sub: 'repo:noesis2/app:ref:refs/heads/main',
        aud: audience,
        ref: 'refs/heads/main',
        repository: 'noesis2/app',
        repository_owner: 'noesis2',
        event_name: 'push',
        iss: GITHUB_ISSUER,
        nbf: now - 5,
        iat: now,
        exp: now + 300
      },
      oidcKey,
      'stand-in-oidc'
    )
    issuedOidcTokens.add(jwt)
    return { count: 1, value: jwt }
  }

  function handleSts(req: IncomingMessage, raw: string): unknown {
    if (req.method !== 'POST') throw googleError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed')
    const body = parseStsBody(req.headers['content-type'] ?? '', raw)
    if (body.grant_type !== TOKEN_EXCHANGE_GRANT) {
      throw oauthError(400, 'unsupported_grant_type', `Unsupported grant type: ${body.grant_type ?? ''}`)
    }
    if (body.requested_token_type !== ACCESS_TOKEN_TYPE) {
      throw oauthError(400, 'invalid_request', 'Invalid value for "requested_token_type".')
    }
    if (body.subject_token_type !== JWT_TOKEN_TYPE) {
      throw oauthError(400, 'invalid_request', 'Invalid value for "subject_token_type".')
    }
    if (body.audience !== stsAudience) {
      throw oauthError(
        400,
        'invalid_target',
        'The target service indicated by the "audience" parameters is invalid. This might either be because ' +
          "the pool or provider is disabled or deleted or because it doesn't exist."
      )
    }
    const scopes = (body.scope ?? '').split(/\s+/)
    if (!scopes.includes(CLOUD_PLATFORM_SCOPE)) {
      throw oauthError(400, 'invalid_scope', 'The scope must include cloud-platform.')
    }
    const subject = body.subject_token ?? ''
    if (!issuedOidcTokens.has(subject)) {
      throw oauthError(
        400,
        'invalid_grant',
        'The subject token was not issued by the configured OIDC provider.'
      )
    }
    const check = verifyJwt(subject, oidcPublicKey, Math.floor(Date.now() / 1000))
    if (!check.ok) throw oauthError(400, 'invalid_grant', check.reason)
    if (check.payload.aud !== oidcAudience) {
      throw oauthError(
        400,
        'invalid_grant',
        `The audience in ID Token [${String(check.payload.aud)}] does not match the expected audience.`
      )
    }
    const principal = `principal://iam.googleapis.com/projects/${projectNumber}/locations/global/workloadIdentityPools/${poolId}/subject/${String(check.payload.sub)}`
    const seconds = Math.min(lifetimeSeconds, 3600)
    const { token } = mint('sts', principal, seconds)
    return {
      access_token: token,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: seconds
    }
  }

  function handleGenerateAccessToken(req: IncomingMessage, email: string, raw: string): unknown {
    if (req.method !== 'POST') throw googleError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed')
    const caller = lookupToken(bearerToken(req))
    if (!caller || caller.kind !== 'sts') throw googleError(401, 'UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE)
    if (email !== serviceAccountEmail && !(opts.otherServiceAccounts ?? []).includes(email)) {
      throw googleError(
        403,
        'PERMISSION_DENIED',
        "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist)."
      )
    }
    let body: { scope?: unknown; lifetime?: unknown }
    try {
      body = JSON.parse(raw) as typeof body
    } catch {
      throw googleError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.')
    }
    if (!Array.isArray(body.scope) || body.scope.length === 0) {
      throw googleError(400, 'INVALID_ARGUMENT', 'Scope required.')
    }
    let seconds = lifetimeSeconds
    if (body.lifetime !== undefined) {
      const match = /^(\d+(?:\.\d+)?)s$/.exec(String(body.lifetime))
      if (!match) throw googleError(400, 'INVALID_ARGUMENT', `Invalid value at 'lifetime'`)
      seconds = Math.min(seconds, Number(match[1]))
    }
    const { token, expiresAtMs } = mint('iam', email, seconds)
    return { accessToken: token, expireTime: new Date(expiresAtMs).toISOString() }
  }

  function handleOAuth2Token(req: IncomingMessage, raw: string, selfUrl: string): unknown {
    if (req.method !== 'POST') throw oauthError(405, 'invalid_request', 'Method not allowed')
    const body = Object.fromEntries(new URLSearchParams(raw))
    if (body.grant_type !== JWT_BEARER_GRANT) {
      throw oauthError(400, 'unsupported_grant_type', `Invalid grant_type: ${body.grant_type ?? ''}`)
    }
    const assertion = body.assertion ?? ''
    const claims = peekJwtClaims(assertion)
    const issuer = typeof claims?.iss === 'string' ? claims.iss : ''
    const key = serviceAccountKeys.get(issuer)
    if (!key) throw oauthError(400, 'invalid_grant', 'Invalid grant: account not found')
    const check = verifyJwt(assertion, key, Math.floor(Date.now() / 1000))
    if (!check.ok) throw oauthError(400, 'invalid_grant', check.reason)
    // Google accepts its canonical token URL as audience; a key's own token_uri is accepted too.
    if (check.payload.aud !== GOOGLE_OAUTH2_TOKEN_URL && check.payload.aud !== selfUrl) {
      throw oauthError(
        400,
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe.'
      )
    }
    if (typeof check.payload.scope !== 'string' || check.payload.scope.trim() === '') {
      throw oauthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.')
    }
    const { token } = mint('oauth2', issuer, lifetimeSeconds)
    return { access_token: token, expires_in: lifetimeSeconds, token_type: 'Bearer' }
  }

  function handleGetCluster(req: IncomingMessage, path: string): unknown {
    if (req.method !== 'GET') throw googleError(405, 'METHOD_NOT_ALLOWED', 'Method not allowed')
    if (!lookupToken(bearerToken(req))) throw googleError(401, 'UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE)
    const match = /^v1\/projects\/([^/]+)\/locations\/([^/]+)\/clusters\/([^/:]+)$/.exec(path)
    if (!match) throw googleError(404, 'NOT_FOUND', 'Requested entity was not found.')
    const [, project, location, name] = match as unknown as [string, string, string, string]
    const resource = `projects/${project}/locations/${location}/clusters/${name}`
    if (opts.denyClusterAccess) {
      throw googleError(
        403,
        'PERMISSION_DENIED',
        `Required "container.clusters.get" permission(s) for "${resource}".`
      )
    }
    const sameProject = (p: string) => p === project || (project === projectNumber && p === projectId)
    const fixture = clusters.find(c => sameProject(c.project) && c.location === location && c.name === name)
    if (!fixture) {
      const elsewhere = clusters.find(c => sameProject(c.project) && c.name === name)
      const hint = elsewhere ? `\nDid you mean [${name}] in [${elsewhere.location}]?` : ''
      throw googleError(
        404,
        'NOT_FOUND',
        `Not found: ${resource}.\nCould not find [${name}] in [${location}].${hint}`
      )
    }
    return clusterResource(fixture, projectNumber, projectId)
  }

  // The metadata server answers in text or JSON, always with Metadata-Flavor: Google, and only to requests
  // that carry it.
  function handleMetadata(req: IncomingMessage, path: string, res: ServerResponse): boolean {
    if (!path.startsWith('/computeMetadata/v1/')) return false
    const send = (status: number, body: string, type = 'application/text'): void => {
      log.push({ method: req.method ?? 'GET', path, status })
      res.writeHead(status, { 'content-type': type, 'metadata-flavor': 'Google' })
      res.end(body)
    }
    const email = opts.metadataServiceAccount
    if (!email) {
      send(404, 'not found')
      return true
    }
    if (req.headers['metadata-flavor'] !== 'Google') {
      send(403, 'Missing required header "Metadata-Flavor": "Google"')
      return true
    }
    const key = path.slice('/computeMetadata/v1/'.length).replace(/\/$/, '')
    if (key === 'instance')
      send(200, JSON.stringify({ id: 1, zone: 'projects/1/zones/europe-west3-a' }), 'application/json')
    else if (key === 'project/project-id') send(200, projectId)
    else if (key === 'project/numeric-project-id') send(200, projectNumber)
    else if (key === 'universe/universe-domain') send(200, 'googleapis.com')
    else if (key === 'instance/service-accounts/default/email') send(200, email)
    else if (key === 'instance/service-accounts/default/token') {
      const { token } = mint('iam', email, lifetimeSeconds)
      send(
        200,
        JSON.stringify({ access_token: token, expires_in: lifetimeSeconds, token_type: 'Bearer' }),
        'application/json'
      )
    } else send(404, 'not found')
    return true
  }

  let baseUrl = ''
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', baseUrl)
    if (handleMetadata(req, url.pathname, res)) return
    const respond = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      log.push({ method: req.method ?? 'GET', path: url.pathname, status })
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers })
      res.end(JSON.stringify(body))
    }
    readBody(req)
      .then(raw => {
        const path = url.pathname
        if (path === '/github/idtoken') return handleOidc(req, url)
        if (path === '/sts/v1/token') return handleSts(req, raw)
        const iam = /^\/iamcredentials\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(
          path
        )
        if (iam) return handleGenerateAccessToken(req, decodeURIComponent(iam[1] ?? ''), raw)
        if (path === '/oauth2/token') return handleOAuth2Token(req, raw, `${baseUrl}/oauth2/token`)
        if (path.startsWith('/container/')) return handleGetCluster(req, path.slice('/container/'.length))
        throw googleError(404, 'NOT_FOUND', `No stand-in serves ${path}`)
      })
      .then(
        body => respond(200, body),
        (err: unknown) => {
          if (err instanceof HttpError) respond(err.status, err.body, err.headers)
          else respond(500, { error: { code: 500, message: String(err), status: 'INTERNAL' } })
        }
      )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  // GitHub's ACTIONS_ID_TOKEN_REQUEST_URL already carries a query; the auth action appends `audience`.
  const oidcUrl = `${baseUrl}/github/idtoken?api-version=2.0`
  const stsUrl = `${baseUrl}/sts/v1/token`
  const iamCredentialsUrl = `${baseUrl}/iamcredentials/v1`
  const oauth2TokenUrl = `${baseUrl}/oauth2/token`

  return {
    oidcUrl,
    oidcRequestToken,
    stsUrl,
    iamCredentialsUrl,
    containerApiUrl: `${baseUrl}/container/`,
    metadataHost: new URL(baseUrl).host,
    oauth2TokenUrl,
    projectId,
    projectNumber,
    serviceAccountEmail,
    workloadIdentityProvider,
    isValidAccessToken: token => {
      const issued = lookupToken(token)
      return issued !== undefined
    },
    principalOfAccessToken: token => lookupToken(token)?.principal,
    issuedAccessTokens: () => minted,
    async writeExternalAccountCredentials(dir, writeOpts = {}) {
      const impersonate = writeOpts.impersonate ?? true
      const requestUrl = new URL(oidcUrl)
      requestUrl.searchParams.set('audience', oidcAudience)
      // Same fields, order and values as google-github-actions/auth@v2's createCredentialsFile.
      const data: Record<string, unknown> = {
        type: 'external_account',
        audience: stsAudience,
        subject_token_type: JWT_TOKEN_TYPE,
        token_url: stsUrl,
        credential_source: {
          url: requestUrl.toString(),
          headers: { Authorization: `Bearer ${oidcRequestToken}` },
          format: { type: 'json', subject_token_field_name: 'value' }
        }
      }
      if (impersonate) {
        data.service_account_impersonation_url = `${iamCredentialsUrl}/projects/-/serviceAccounts/${writeOpts.serviceAccount ?? serviceAccountEmail}:generateAccessToken`
      }
      const path = join(dir, `gha-creds-${randomBytes(8).toString('hex')}.json`)
      await writeFile(path, JSON.stringify(data), { mode: 0o640 })
      return path
    },
    async writeServiceAccountKey(dir) {
      const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })
      const email = serviceAccountEmail
      serviceAccountKeys.set(email, createPublicKey(privateKey))
      const keyId = randomBytes(20).toString('hex')
      const data = {
        type: 'service_account',
        project_id: projectId,
        private_key_id: keyId,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: email,
        client_id: String(100000000000000000000n + BigInt(randomBytes(6).readUIntBE(0, 6))),
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: oauth2TokenUrl,
        auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
        client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
        universe_domain: 'googleapis.com'
      }
      const path = join(dir, `${projectId}-${keyId.slice(0, 12)}.json`)
      await writeFile(path, JSON.stringify(data, null, 2), { mode: 0o600 })
      return path
    },
    addCluster: fixture => {
      clusters.push(fixture)
    },
    requests: () => log.map(entry => ({ ...entry })),
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
