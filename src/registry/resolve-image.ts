// Resolve the deploy's image in its registry before anything is written: the tag to the digest the nodes will
// pull, and the proof that the image exists, that the deployer may read it and that it has a manifest for the
// nodes' platform. Never throws: every way it can end is an ImageResolution with a cause and a remedy.
//
// Requests (a tag on a multi-platform image): HEAD the tag (the digest from Docker-Content-Digest), GET the
// manifest by that digest (its sha256 checked against the digest, so a tag moved in between cannot slip
// through), GET each node platform's manifest by digest. A single-platform image instead reads its config blob
// for the platform. The token flow adds one request per run (two with the Google token's first try).

import { createHash } from 'node:crypto'
import { isSha256Digest, parseImageName, pinnedReference, type ImageName } from './image-name.js'
import {
  MANIFEST_ACCEPT,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseManifest,
  platformOfConfig,
  runnablePlatformEntries,
  type ParsedManifest
} from './manifest.js'
import { DEFAULT_NODE_PLATFORM, platformMatches, platformText, type Platform } from './platform.js'
import { RegistryClient, RegistryDeadlineError } from './registry-client.js'
import {
  headerValue,
  httpsTransport,
  TransportError,
  type RegistryResponse,
  type RegistryTransport
} from './transport.js'
import { createRedactor, redactBearerTokens, secretForms } from '../redact.js'
import {
  deniedOutcome,
  notFoundOutcome,
  unreachableOutcome,
  wrongPlatformOutcome,
  type ImageDenied,
  type ImageNotFound,
  type ImageResolution,
  type ImageWrongPlatform,
  type Measured,
  type PlatformManifest,
  type RegistryUnreachable,
  type ResolvedImage
} from './image-resolution.js'

export type {
  ImageDenied,
  ImageNotFound,
  ImageResolution,
  ImageWrongPlatform,
  PlatformManifest,
  RegistryUnreachable,
  ResolvedImage
} from './image-resolution.js'

export interface ResolveImageOptions {
  // The `image` input: REGISTRY/PATH[:TAG][@sha256:DIGEST].
  image: string
  // Platforms the pods may run on (nodePlatformsOfPodSpec); default linux/amd64.
  platforms?: Platform[]
  transport?: RegistryTransport
  // The run's Google access token, for Artifact Registry and gcr.io (google-registries.ts).
  googleAccessToken?: () => Promise<string>
  // Which hosts (HOST[:PORT]) get that token, as registries and as their token realms; default Artifact
  // Registry and gcr.io hosts (google-registries.ts).
  takesGoogleToken?: (registry: string) => boolean
  // Whom the Google token stands for, for the IAM command of a refusal (a service account's email).
  deployer?: string
  // Per request (default 10 s) and for the whole resolution (default 30 s).
  requestTimeoutMs?: number
  timeoutMs?: number
  // The run's cancellation: the check ends at once (as unreachable; the caller knows it was cancelled).
  signal?: AbortSignal
  now?: () => number
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
const DEFAULT_TIMEOUT_MS = 30_000
const MAX_TAG_LIST_BYTES = 1024 * 1024
const MAX_REGISTRY_MESSAGE_CHARS = 300
const TRANSPORT_FAILURES: Record<TransportError['kind'], string> = {
  timeout: 'no answer in time',
  network: 'the connection failed',
  tls: 'the TLS connection failed'
}

function sha256Of(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

// A registry's error body ({"errors":[{"code":"DENIED","message":"..."}]}) as one short line.
function registryMessageOf(response: RegistryResponse): string | undefined {
  if (response.body.length === 0) return undefined
  const text = response.body.toString('utf8')
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> }
    const first = Array.isArray(parsed.errors) ? parsed.errors[0] : undefined
    if (first && (typeof first.message === 'string' || typeof first.code === 'string')) {
      return [first.code, first.message].filter(part => typeof part === 'string' && part).join(': ')
    }
  } catch {
    // not JSON: the text itself
  }
  return text
}

class Resolution {
  readonly started: number
  constructor(
    readonly options: ResolveImageOptions,
    readonly image: ImageName,
    readonly client: RegistryClient,
    readonly now: () => number
  ) {
    this.started = now()
  }

  common(): Measured {
    return {
      image: this.options.image,
      requests: this.client.requests,
      durationMs: this.now() - this.started
    }
  }

  // Redact before clipping: a registry that echoes our credentials back gets them blanked, whole.
  message(response: RegistryResponse): string | undefined {
    return this.clean(registryMessageOf(response))
  }

  clean(raw: string | undefined): string | undefined {
    if (raw === undefined) return undefined
    const redact = createRedactor(this.client.sentSecrets.flatMap(secret => secretForms(secret)))
    const clean = redactBearerTokens(redact(raw)).replace(/\s+/g, ' ').trim()
    if (clean === '') return undefined
    return clean.length > MAX_REGISTRY_MESSAGE_CHARS
      ? `${clean.slice(0, MAX_REGISTRY_MESSAGE_CHARS)}…`
      : clean
  }

  unreachable(
    reason: RegistryUnreachable['reason'],
    detail: string,
    registryMessage?: string
  ): RegistryUnreachable {
    return unreachableOutcome(this.image, this.common(), reason, detail, registryMessage)
  }

  denied(response: RegistryResponse): ImageDenied {
    return deniedOutcome(this.image, this.common(), {
      status: response.status,
      authenticated: this.client.authenticated,
      deployer: this.options.deployer,
      registryMessage: this.message(response)
    })
  }

  async notFound(response: RegistryResponse, reference: string): Promise<ImageNotFound> {
    const listedTags = await this.listTags()
    return notFoundOutcome(this.image, this.common(), {
      reference,
      listedTags,
      registryMessage: this.message(response)
    })
  }

  wrongPlatform(digest: string, platforms: Platform[], missing: Platform[]): ImageWrongPlatform {
    return wrongPlatformOutcome(this.image, this.common(), { digest, platforms, missing })
  }

  // An answer that is neither the manifest nor a clear refusal.
  unexpected(response: RegistryResponse, what: string): ImageResolution {
    if (response.status === 401 || response.status === 403) return this.denied(response)
    if (response.status === 429) {
      return this.unreachable(
        'rate-limited',
        `the registry limits this runner's requests (HTTP 429) while reading ${what}`
      )
    }
    if (response.status >= 500) {
      return this.unreachable(
        'server-error',
        `HTTP ${response.status} while reading ${what}`,
        this.message(response)
      )
    }
    return this.unreachable(
      'bad-answer',
      `HTTP ${response.status} while reading ${what}`,
      this.message(response)
    )
  }

  async listTags(): Promise<string[] | undefined> {
    try {
      const response = await this.client.request({
        method: 'GET',
        path: `/v2/${this.image.repository}/tags/list?n=1000`,
        maxBodyBytes: MAX_TAG_LIST_BYTES
      })
      if (response.status !== 200 || response.truncated) return undefined
      const body = JSON.parse(response.body.toString('utf8')) as { tags?: unknown }
      return Array.isArray(body.tags)
        ? body.tags.filter((t): t is string => typeof t === 'string')
        : undefined
    } catch {
      return undefined
    }
  }

  async readManifest(
    reference: string,
    expectedDigest?: string
  ): Promise<{ response: RegistryResponse; digest?: string; manifest?: ParsedManifest | string }> {
    const response = await this.client.request({
      method: 'GET',
      path: `/v2/${this.image.repository}/manifests/${reference}`,
      accept: MANIFEST_ACCEPT,
      maxBodyBytes: MAX_MANIFEST_BYTES
    })
    if (response.status !== 200) return { response }
    if (response.truncated) return { response, manifest: `is larger than ${MAX_MANIFEST_BYTES} bytes` }
    const digest = sha256Of(response.body)
    if (expectedDigest && digest !== expectedDigest) {
      return {
        response,
        digest,
        manifest: `does not hash to the digest it was asked by (${expectedDigest}; its content hashes to ${digest})`
      }
    }
    const header = headerValue(response.headers, 'docker-content-digest')
    if (header && isSha256Digest(header) && header !== digest) {
      return {
        response,
        digest,
        manifest: `does not hash to the Docker-Content-Digest the registry sent (${header}; its content hashes to ${digest})`
      }
    }
    return {
      response,
      digest,
      manifest: parseManifest(response.body, headerValue(response.headers, 'content-type'))
    }
  }

  // HEAD the tag for its digest; any other answer is read again with GET.
  async digestOfTag(tag: string): Promise<{ digest: string } | { response: RegistryResponse }> {
    const head = await this.client.request({
      method: 'HEAD',
      path: `/v2/${this.image.repository}/manifests/${tag}`,
      accept: MANIFEST_ACCEPT,
      maxBodyBytes: 0
    })
    const header = headerValue(head.headers, 'docker-content-digest')
    if (head.status === 200 && header && isSha256Digest(header)) return { digest: header }
    // Otherwise GET: a HEAD answer has no body, and a refusal's body says why (Artifact Registry names the
    // missing permission); a registry whose HEAD is wrong or unsupported answers the GET.
    const read = await this.readManifest(tag)
    if (read.response.status !== 200 || !read.digest) return { response: read.response }
    return { digest: read.digest }
  }

  async platformOfImage(configDigest: string): Promise<Platform | undefined | RegistryResponse> {
    const response = await this.client.request({
      method: 'GET',
      path: `/v2/${this.image.repository}/blobs/${configDigest}`,
      maxBodyBytes: MAX_CONFIG_BYTES,
      followRedirects: true
    })
    if (response.status !== 200) return response
    if (response.truncated || sha256Of(response.body) !== configDigest) return undefined
    return platformOfConfig(response.body)
  }

  async run(): Promise<ImageResolution> {
    const wanted =
      this.options.platforms && this.options.platforms.length > 0
        ? this.options.platforms
        : [DEFAULT_NODE_PLATFORM]
    let digest = this.image.digest
    const reference = digest ?? this.image.tag!
    if (!digest) {
      const tagged = await this.digestOfTag(this.image.tag!)
      if ('response' in tagged) {
        if (tagged.response.status === 404) return this.notFound(tagged.response, `tag ${this.image.tag}`)
        return this.unexpected(tagged.response, `the tag ${this.image.tag}`)
      }
      digest = tagged.digest
    }
    const top = await this.readManifest(digest, digest)
    if (top.response.status === 404)
      return this.notFound(top.response, reference === digest ? digest : `tag ${reference} (${digest})`)
    if (top.response.status !== 200) return this.unexpected(top.response, `the manifest ${digest}`)
    if (typeof top.manifest === 'string' || !top.manifest) {
      return this.unreachable('bad-answer', `the manifest ${digest} ${top.manifest ?? 'is unreadable'}`)
    }
    const manifest = top.manifest

    if (manifest.kind === 'index') {
      const runnable = runnablePlatformEntries(manifest.manifests)
      const platforms = runnable.map(entry => entry.platform)
      const missing = wanted.filter(want => !platforms.some(have => platformMatches(want, have)))
      if (missing.length > 0) return this.wrongPlatform(digest, platforms, missing)
      const platformManifests: PlatformManifest[] = []
      for (const want of wanted) {
        const entry = runnable.find(candidate => platformMatches(want, candidate.platform))!
        const child = await this.readManifest(entry.digest, entry.digest)
        if (child.response.status === 404) {
          return this.unreachable(
            'bad-answer',
            `the index ${digest} names a ${platformText(want)} manifest ${entry.digest} the registry does not have`
          )
        }
        if (child.response.status !== 200)
          return this.unexpected(child.response, `the ${platformText(want)} manifest ${entry.digest}`)
        const configDigest =
          typeof child.manifest === 'object' && child.manifest.kind === 'image'
            ? child.manifest.configDigest
            : undefined
        platformManifests.push({
          platform: entry.platform,
          digest: entry.digest,
          ...(configDigest ? { configDigest } : {})
        })
      }
      return this.resolved(digest, manifest.mediaType, platforms, platformManifests, [
        digest,
        ...manifest.manifests.map(entry => entry.digest),
        ...platformManifests.flatMap(m => (m.configDigest ? [m.configDigest] : []))
      ])
    }

    const platform = await this.platformOfImage(manifest.configDigest)
    if (platform !== undefined && 'status' in platform)
      return this.unexpected(platform, `the image config ${manifest.configDigest}`)
    if (platform) {
      const missing = wanted.filter(want => !platformMatches(want, platform))
      if (missing.length > 0) return this.wrongPlatform(digest, [platform], missing)
    }
    const platforms = platform ? [platform] : []
    return this.resolved(
      digest,
      manifest.mediaType,
      platforms,
      platform ? [{ platform, digest, configDigest: manifest.configDigest }] : [],
      [digest, manifest.configDigest]
    )
  }

  resolved(
    digest: string,
    mediaType: string,
    platforms: Platform[],
    platformManifests: PlatformManifest[],
    accepted: string[]
  ): ResolvedImage {
    return {
      outcome: 'resolved',
      ...this.common(),
      digest,
      mediaType,
      platforms,
      platformManifests,
      pinned: pinnedReference(this.image, digest),
      acceptedDigests: [...new Set(accepted)]
    }
  }
}

export async function resolveImage(options: ResolveImageOptions): Promise<ImageResolution> {
  const now = options.now ?? Date.now
  const started = now()
  const image = parseImageName(options.image)
  if (!image || (!image.tag && !image.digest)) {
    return {
      outcome: 'not-found',
      image: options.image,
      requests: 0,
      durationMs: 0,
      nearbyTags: [],
      tagsListed: false,
      cause:
        'The image is not a reference with a tag or a digest (REGISTRY/PATH:TAG or REGISTRY/PATH@sha256:DIGEST).',
      remedy: 'Give `image` as REGISTRY/PATH:TAG.',
      severity: 'error'
    }
  }
  const client = new RegistryClient({
    image,
    transport: options.transport ?? httpsTransport(),
    googleAccessToken: options.googleAccessToken,
    takesGoogleToken: options.takesGoogleToken,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    deadline: started + (options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    ...(options.signal ? { signal: options.signal } : {}),
    now
  })
  const resolution = new Resolution(options, image, client, now)
  try {
    return await resolution.run()
  } catch (error) {
    // The error's text may quote the registry (a certificate's names): it goes out as the registry's words.
    if (error instanceof TransportError) {
      return resolution.unreachable(
        error.kind,
        TRANSPORT_FAILURES[error.kind],
        resolution.clean(error.message)
      )
    }
    if (error instanceof RegistryDeadlineError) {
      return resolution.unreachable(
        'timeout',
        `no answer within ${options.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms in all`
      )
    }
    // A token provider that failed, say: the check cannot be made; the run's own credential step reports it.
    return resolution.unreachable(
      'network',
      'the request could not be made',
      resolution.clean(error instanceof Error ? error.message : String(error))
    )
  }
}
