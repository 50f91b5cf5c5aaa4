// An image reference taken apart as a container runtime does (github.com/distribution/reference): the registry
// host, the repository path, an optional tag and an optional sha256 digest, with Docker Hub's defaults
// (`redis:7` is docker.io/library/redis:7). Parsed by splitting, not by one large pattern: each part is matched
// on its own by a small anchored pattern, and the whole is capped in length before any of it runs.

export interface ImageName {
  // As the user wrote it (docker.io for Docker Hub), and as runtimes print it in imageID.
  registry: string
  // Repository path inside the registry, e.g. proj/app/web or library/redis.
  repository: string
  tag?: string
  digest?: string
  // Whether the reference named its registry (a first component with a dot, a port, or localhost).
  explicitRegistry: boolean
}

// Docker Hub's API lives on another host than its name.
const DOCKER_HUB = 'docker.io'
const DOCKER_HUB_API_HOST = 'registry-1.docker.io'
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

const MAX_REFERENCE_LENGTH = 512
// distribution/reference: the name (registry and path) is at most 255 characters.
const MAX_NAME_LENGTH = 255
// A literal, not built at run time: the linear-patterns test checks every pattern of src/ as written.
const DOMAIN =
  /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?$/
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/

export function isSha256Digest(value: string): boolean {
  return SHA256_DIGEST.test(value)
}

export function parseImageName(value: string): ImageName | undefined {
  if (value.length === 0 || value.length > MAX_REFERENCE_LENGTH) return undefined
  const at = value.indexOf('@')
  const digest = at === -1 ? undefined : value.slice(at + 1)
  if (digest !== undefined && !SHA256_DIGEST.test(digest)) return undefined
  const nameAndTag = at === -1 ? value : value.slice(0, at)
  const lastSlash = nameAndTag.lastIndexOf('/')
  const colon = nameAndTag.lastIndexOf(':')
  const hasTag = colon > lastSlash
  const tag = hasTag ? nameAndTag.slice(colon + 1) : undefined
  if (tag !== undefined && !TAG.test(tag)) return undefined
  const name = hasTag ? nameAndTag.slice(0, colon) : nameAndTag
  if (name.length > MAX_NAME_LENGTH) return undefined

  const components = name.split('/')
  const first = components[0]
  const explicitRegistry =
    components.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')
  if (explicitRegistry && !DOMAIN.test(first)) return undefined
  let registry = explicitRegistry ? first : DOCKER_HUB
  let path = explicitRegistry ? components.slice(1) : components
  if (DOCKER_HUB_ALIASES.has(registry)) {
    registry = DOCKER_HUB
    // Official images live under library/: `redis` is library/redis.
    if (path.length === 1) path = ['library', ...path]
  }
  if (path.length === 0 || !path.every(component => PATH_COMPONENT.test(component))) return undefined
  return { registry, repository: path.join('/'), tag, digest, explicitRegistry }
}

// The host (and port) the registry's HTTP API answers on.
export function apiHostOf(image: ImageName): string {
  return image.registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : image.registry
}

// REGISTRY/PATH, the name runtimes report before `@sha256:` in imageID.
export function repositoryNameOf(image: ImageName): string {
  return `${image.registry}/${image.repository}`
}

// REGISTRY/PATH:TAG@sha256:DIGEST: the tag stays for people reading the manifests; the runtime pulls the digest.
export function pinnedReference(image: ImageName, digest: string): string {
  return `${repositoryNameOf(image)}${image.tag ? `:${image.tag}` : ''}@${digest}`
}

// How the image is shown: tag, digest or both, as given.
export function referenceText(image: ImageName): string {
  return `${repositoryNameOf(image)}${image.tag ? `:${image.tag}` : ''}${image.digest ? `@${image.digest}` : ''}`
}
