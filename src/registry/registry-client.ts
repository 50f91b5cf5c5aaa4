// Authenticated reads of one repository through the registry HTTP API (OCI distribution / Docker Registry v2),
// with the token flow every registry uses: a request answered 401 with `WWW-Authenticate: Bearer realm=...,
// service=...` is repeated with a token from the realm (`GET realm?service=S&scope=repository:NAME:pull`).
//
// Credentials: only Google's registries get the run's Google access token (google-registries.ts), first as a
// Bearer token on the request itself (Artifact Registry documents this for its Docker API), and, when the
// registry insists on its own token flow, as Basic `oauth2accesstoken:TOKEN` at its realm, as `docker login`
// does; and only when that realm is on the registry's own host or another Google registry. Every other
// registry is asked anonymously (public images on ghcr.io, Docker Hub).

import { BlockList, isIP } from 'node:net'
import { apiHostOf, type ImageName } from './image-name.js'
import { isGoogleRegistry } from './google-registries.js'
import { bearerChallengeOf, type Challenge } from './www-authenticate.js'
import { headerValue, type RegistryResponse, type RegistryTransport } from './transport.js'

const MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
const MAX_TOKEN_LENGTH = 16 * 1024
const MAX_REDIRECTS = 3

// Addresses a realm may not point at unless it is the registry's own host (as go-containerregistry rules): a
// hostile registry must not make the runner call the metadata server or a private network's hosts.
const PRIVATE_ADDRESSES = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['100.64.0.0', 10]
] as const) {
  PRIVATE_ADDRESSES.addSubnet(network, prefix, 'ipv4')
}
for (const [network, prefix] of [
  ['::', 127],
  ['fc00::', 7],
  ['fe80::', 10]
] as const) {
  PRIVATE_ADDRESSES.addSubnet(network, prefix, 'ipv6')
}

export function isPrivateAddressLiteral(hostname: string): boolean {
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname
  const family = isIP(bare)
  if (family === 0) return false
  const mapped = family === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare)?.[1] : undefined
  if (mapped) return PRIVATE_ADDRESSES.check(mapped, 'ipv4')
  return PRIVATE_ADDRESSES.check(bare, family === 4 ? 'ipv4' : 'ipv6')
}

export interface RegistryClientOptions {
  image: ImageName
  transport: RegistryTransport
  // The run's Google access token; asked for only when the registry is one that takes it.
  googleAccessToken?: () => Promise<string>
  // Which hosts get the Google token, as registries and as token realms (default: Artifact Registry and gcr.io).
  takesGoogleToken?: (registry: string) => boolean
  requestTimeoutMs: number
  // Milliseconds since the epoch by which every request must be done.
  deadline: number
  // The run's cancellation: requests in flight end, none is started.
  signal?: AbortSignal
  now: () => number
}

export class RegistryDeadlineError extends Error {
  constructor() {
    super('the registry check ran out of time')
    this.name = 'RegistryDeadlineError'
  }
}

export interface ClientRequest {
  method: 'GET' | 'HEAD'
  // Path under https://HOST, e.g. /v2/NAME/manifests/REF
  path: string
  accept?: string
  maxBodyBytes: number
  // Blob reads: follow a redirect to storage (without our credentials when it leaves the registry's host).
  followRedirects?: boolean
}

export class RegistryClient {
  readonly host: string
  readonly usesGoogleToken: boolean
  // Secrets this client sent, for redacting anything the registry echoes back.
  readonly sentSecrets: string[] = []
  requests = 0
  #authorization?: string
  #tokenFlowTried = false
  readonly #options: RegistryClientOptions
  readonly #takesGoogleToken: (registry: string) => boolean

  constructor(options: RegistryClientOptions) {
    this.#options = options
    this.#takesGoogleToken = options.takesGoogleToken ?? isGoogleRegistry
    this.host = apiHostOf(options.image)
    this.usesGoogleToken =
      options.googleAccessToken !== undefined && this.#takesGoogleToken(options.image.registry)
  }

  get repository(): string {
    return this.#options.image.repository
  }

  // Whether the answers so far came with credentials of ours (a refusal then is about the deployer).
  get authenticated(): boolean {
    return this.usesGoogleToken
  }

  // The token provider may refresh credentials over the network: it gets the same deadline as a request.
  async #googleToken(): Promise<string> {
    const remaining = this.#options.deadline - this.#options.now()
    if (remaining <= 0) throw new RegistryDeadlineError()
    let timer: NodeJS.Timeout | undefined
    const token = await Promise.race([
      this.#options.googleAccessToken!(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new RegistryDeadlineError()),
          Math.min(remaining, this.#options.requestTimeoutMs)
        )
      })
    ]).finally(() => clearTimeout(timer))
    if (!this.sentSecrets.includes(token)) this.sentSecrets.push(token)
    return token
  }

  async #send(
    url: string,
    request: ClientRequest,
    authorization: string | undefined
  ): Promise<RegistryResponse> {
    const remaining = this.#options.deadline - this.#options.now()
    if (remaining <= 0) throw new RegistryDeadlineError()
    this.requests++
    return this.#options.transport({
      method: request.method,
      url,
      headers: {
        ...(request.accept ? { Accept: request.accept } : {}),
        ...(authorization ? { Authorization: authorization } : {})
      },
      maxBodyBytes: request.maxBodyBytes,
      timeoutMs: Math.min(this.#options.requestTimeoutMs, remaining),
      ...(this.#options.signal ? { signal: this.#options.signal } : {})
    })
  }

  async request(request: ClientRequest): Promise<RegistryResponse> {
    if (this.#authorization === undefined && this.usesGoogleToken && !this.#tokenFlowTried) {
      this.#authorization = `Bearer ${await this.#googleToken()}`
    }
    const url = `https://${this.host}${request.path}`
    let response = await this.#send(url, request, this.#authorization)
    if (response.status === 401 && !this.#tokenFlowTried) {
      const challenge = bearerChallengeOf(headerValue(response.headers, 'www-authenticate'))
      if (challenge) {
        this.#tokenFlowTried = true
        const token = await this.#fetchToken(challenge)
        if (token !== undefined) {
          this.#authorization = `Bearer ${token}`
          response = await this.#send(url, request, this.#authorization)
        }
      }
    }
    if (request.followRedirects) response = await this.#followRedirects(url, request, response)
    return response
  }

  async #followRedirects(
    url: string,
    request: ClientRequest,
    first: RegistryResponse
  ): Promise<RegistryResponse> {
    let response = first
    let current = new URL(url)
    for (let hop = 0; hop < MAX_REDIRECTS && [301, 302, 303, 307, 308].includes(response.status); hop++) {
      const location = headerValue(response.headers, 'location')
      if (!location) return response
      const next = new URL(location, current)
      if (next.protocol !== 'https:') return response
      // Storage URLs are signed; our credentials stay with the registry's own host.
      const authorization = next.host === this.host ? this.#authorization : undefined
      response = await this.#send(next.toString(), request, authorization)
      current = next
    }
    return response
  }

  // The token flow: undefined when the realm gave no token (the request then stands as answered: 401).
  async #fetchToken(challenge: Challenge): Promise<string | undefined> {
    let realm: URL
    try {
      realm = new URL(challenge.params.realm)
    } catch {
      return undefined
    }
    if (realm.protocol !== 'https:') return undefined
    if (realm.host !== this.host && isPrivateAddressLiteral(realm.hostname)) return undefined
    realm.searchParams.set('scope', `repository:${this.repository}:pull`)
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service)
    const credentialsGoThere =
      this.usesGoogleToken && (realm.host === this.host || this.#takesGoogleToken(realm.host))
    const authorization = credentialsGoThere
      ? `Basic ${Buffer.from(`oauth2accesstoken:${await this.#googleToken()}`).toString('base64')}`
      : undefined
    if (authorization) this.sentSecrets.push(authorization.slice('Basic '.length))
    const response = await this.#send(
      realm.toString(),
      { method: 'GET', path: '', maxBodyBytes: MAX_TOKEN_RESPONSE_BYTES },
      authorization
    )
    if (response.status !== 200 || response.truncated) return undefined
    let body: unknown
    try {
      body = JSON.parse(response.body.toString('utf8'))
    } catch {
      return undefined
    }
    if (typeof body !== 'object' || body === null) return undefined
    const { token, access_token: accessToken } = body as { token?: unknown; access_token?: unknown }
    const value = typeof token === 'string' && token ? token : accessToken
    if (typeof value !== 'string' || value === '' || value.length > MAX_TOKEN_LENGTH) return undefined
    // A token is header material: nothing that could break the header line.
    if (!/^[\x21-\x7e]+$/.test(value)) return undefined
    this.sentSecrets.push(value)
    return value
  }
}
