// Manifests as the registry returns them: an index (OCI image index, Docker manifest list) naming one manifest
// per platform, or an image manifest naming its config blob and layers. Only the fields the checks need are
// read; anything else in the JSON is ignored, and a body that does not have the expected shape is refused.

import type { Platform } from './platform.js'
import { isSha256Digest } from './image-name.js'

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json'
} as const

// What we ask for: the four types a runtime pulls. (Docker's schema 1 is not among them: registries convert
// or refuse it, and containerd 2 no longer pulls it.)
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest
].join(', ')

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList])
const IMAGE_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest])

// Manifests are small (an index of 10 platforms is ~5 KB; Docker Hub caps manifests at 4 MiB).
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
export const MAX_CONFIG_BYTES = 1024 * 1024
const MAX_INDEX_ENTRIES = 256

export interface IndexEntry {
  digest: string
  mediaType: string
  platform?: Platform
}

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; manifests: IndexEntry[] }
  | { kind: 'image'; mediaType: string; configDigest: string }

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function platformOf(value: unknown): Platform | undefined {
  if (!isRecord(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string')
    return undefined
  return {
    os: value.os,
    architecture: value.architecture,
    ...(typeof value.variant === 'string' && value.variant ? { variant: value.variant } : {})
  }
}

// Media type from the body first (OCI requires it there for indexes; Docker's types always carry it), then the
// Content-Type the registry sent.
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest | string {
  let json: unknown
  try {
    json = JSON.parse(body.toString('utf8'))
  } catch {
    return 'is not JSON'
  }
  if (!isRecord(json)) return 'is not a JSON object'
  const headerType = (contentType ?? '').split(';')[0].trim()
  const mediaType = typeof json.mediaType === 'string' && json.mediaType ? json.mediaType : headerType
  if (INDEX_TYPES.has(mediaType) || (!mediaType && Array.isArray(json.manifests))) {
    if (!Array.isArray(json.manifests)) return 'is an index without a manifests list'
    if (json.manifests.length > MAX_INDEX_ENTRIES) return `lists more than ${MAX_INDEX_ENTRIES} manifests`
    const manifests: IndexEntry[] = []
    for (const entry of json.manifests) {
      if (!isRecord(entry) || typeof entry.digest !== 'string' || !isSha256Digest(entry.digest)) {
        return 'lists a manifest without a sha256 digest'
      }
      const platform = platformOf(entry.platform)
      manifests.push({
        digest: entry.digest,
        mediaType: typeof entry.mediaType === 'string' ? entry.mediaType : '',
        ...(platform ? { platform } : {})
      })
    }
    return { kind: 'index', mediaType: mediaType || MEDIA_TYPES.ociIndex, manifests }
  }
  if (IMAGE_TYPES.has(mediaType) || (!mediaType && isRecord(json.config))) {
    const config = json.config
    if (!isRecord(config) || typeof config.digest !== 'string' || !isSha256Digest(config.digest)) {
      return 'is an image manifest without a sha256 config digest'
    }
    return { kind: 'image', mediaType: mediaType || MEDIA_TYPES.ociManifest, configDigest: config.digest }
  }
  return `has a media type this action does not pull (${JSON.stringify(mediaType.slice(0, 100))})`
}

// The platform an image's config blob declares (architecture, os, variant at its top level).
export function platformOfConfig(body: Buffer): Platform | undefined {
  try {
    return platformOf(JSON.parse(body.toString('utf8')))
  } catch {
    return undefined
  }
}

// Platforms an index really offers: attestation manifests (BuildKit's provenance, platform unknown/unknown)
// are not runnable images.
export function runnablePlatformEntries(manifests: IndexEntry[]): Array<IndexEntry & { platform: Platform }> {
  return manifests.filter(
    (m): m is IndexEntry & { platform: Platform } =>
      m.platform !== undefined && m.platform.os !== 'unknown' && m.platform.architecture !== 'unknown'
  )
}
