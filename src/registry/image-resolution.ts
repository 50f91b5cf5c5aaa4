// What a registry check can end in, each outcome with its cause and remedy: the typed result the deploy's
// pre-flight acts on (severity error: stop before any write; warning: say it and go on). The sentences are
// built here from plain values only; the registry's own words travel apart, in registryMessage.

import { referenceText, repositoryNameOf, type ImageName } from './image-name.js'
import {
  artifactRegistryRepositoryOf,
  isArtifactRegistryHost,
  readerGrantCommand
} from './google-registries.js'
import { nearbyTags } from './nearby-tags.js'
import { platformText, type Platform } from './platform.js'

export interface PlatformManifest {
  platform: Platform
  digest: string
  // The image config's digest: what some runtimes report as imageID (a bare sha256:...).
  configDigest?: string
}

export interface Measured {
  image: string
  // Registry requests made and time taken, for the trace and the pre-flight figures.
  requests: number
  durationMs: number
}

export interface Explained extends Measured {
  // Plain sentences of ours; image, tags and commands in them are grammar-checked, safe to print.
  cause: string
  remedy: string
  // What the registry said, when it said something: untrusted text (clipped, tokens redacted): escape it.
  registryMessage?: string
  // error: the run must stop before any write; warning: say it and go on (the pods will tell).
  severity: 'error' | 'warning'
}

export interface ResolvedImage extends Measured {
  outcome: 'resolved'
  digest: string
  mediaType: string
  // An index: every runnable platform it lists; a single manifest: its config's platform (when it says one).
  platforms: Platform[]
  // The manifest each node platform will pull (for an index), or the image itself.
  platformManifests: PlatformManifest[]
  // image pinned to the digest: REGISTRY/PATH:TAG@sha256:DIGEST
  pinned: string
  // Digests a pod's imageID may carry for this image (verify-image-ids.ts).
  acceptedDigests: string[]
}

export interface ImageNotFound extends Explained {
  outcome: 'not-found'
  // Tags of the repository closest to the missing one (valid tag names only).
  nearbyTags: string[]
  // false: the registry did not list the repository's tags (no repository, or not allowed).
  tagsListed: boolean
}

export interface ImageDenied extends Explained {
  outcome: 'denied'
  status: number
  // Whether the refused request carried the deployer's credentials (else: anonymous, a warning only).
  authenticated: boolean
}

export interface ImageWrongPlatform extends Explained {
  outcome: 'wrong-platform'
  digest: string
  platforms: Platform[]
  missing: Platform[]
}

export interface RegistryUnreachable extends Explained {
  outcome: 'unreachable'
  reason: 'timeout' | 'network' | 'tls' | 'server-error' | 'rate-limited' | 'bad-answer'
}

export type ImageResolution =
  ResolvedImage | ImageNotFound | ImageDenied | ImageWrongPlatform | RegistryUnreachable

export function unreachableOutcome(
  image: ImageName,
  measured: Measured,
  reason: RegistryUnreachable['reason'],
  detail: string,
  registryMessage?: string
): RegistryUnreachable {
  return {
    outcome: 'unreachable',
    reason,
    ...measured,
    cause: `The registry ${image.registry} could not be asked about ${referenceText(image)}: ${detail}.`,
    remedy:
      'Nothing to do for this run: it goes on, and the pods will show whether the image can be pulled. If the runner cannot reach the registry (a firewall, a private registry), the nodes may still reach it.',
    ...(registryMessage ? { registryMessage } : {}),
    severity: 'warning'
  }
}

export function deniedOutcome(
  image: ImageName,
  measured: Measured,
  answer: { status: number; authenticated: boolean; deployer?: string; registryMessage?: string }
): ImageDenied {
  const reference = referenceText(image)
  const { status, authenticated } = answer
  const repository = artifactRegistryRepositoryOf(image)
  let remedy: string
  if (authenticated && repository) {
    remedy = `Let the deployer read the repository: ${readerGrantCommand(repository, answer.deployer)} (the nodes' service account needs the same role to pull).`
  } else if (authenticated) {
    remedy = `Give the identity the run authenticates as (${answer.deployer ?? 'the deployer'}) read access to ${repositoryNameOf(image)}.`
  } else {
    remedy =
      'The action asks this registry anonymously (only Artifact Registry and gcr.io get the run’s Google token), so it cannot check a private image here; the run goes on and the nodes pull it with their own credentials (imagePullSecrets).'
  }
  return {
    outcome: 'denied',
    status,
    authenticated,
    ...measured,
    cause: authenticated
      ? `The registry refused to let the deployer read ${reference} (HTTP ${status}).`
      : `The registry does not let anonymous clients read ${reference} (HTTP ${status}): the image is private, or does not exist.`,
    remedy,
    ...(answer.registryMessage ? { registryMessage: answer.registryMessage } : {}),
    severity: authenticated ? 'error' : 'warning'
  }
}

// listedTags undefined: the registry listed none (no repository, or not allowed).
export function notFoundOutcome(
  image: ImageName,
  measured: Measured,
  answer: { reference: string; listedTags?: string[]; registryMessage?: string }
): ImageNotFound {
  const { listedTags } = answer
  const shown = referenceText(image)
  const near = listedTags && image.tag ? nearbyTags(listedTags, image.tag) : []
  const pushHint = isArtifactRegistryHost(image.registry)
    ? ` (after \`gcloud auth configure-docker ${image.registry}\`)`
    : ''
  const nearText =
    near.length > 0 ? ` Tags of ${repositoryNameOf(image)} close to it: ${near.join(', ')}.` : ''
  const noRepository =
    listedTags === undefined
      ? ` The registry lists no tags for ${repositoryNameOf(image)}: the repository is empty or does not exist.`
      : ''
  return {
    outcome: 'not-found',
    ...measured,
    nearbyTags: near,
    tagsListed: listedTags !== undefined,
    cause: `${shown} is not in the registry (no manifest for ${answer.reference}).${nearText}${noRepository}`,
    remedy: `Push the image before deploying it: \`docker push ${shown}\`${pushHint}; when another job builds it, make this job wait for it (\`needs:\`). Or deploy a tag that exists.`,
    ...(answer.registryMessage ? { registryMessage: answer.registryMessage } : {}),
    severity: 'error'
  }
}

export function wrongPlatformOutcome(
  image: ImageName,
  measured: Measured,
  found: { digest: string; platforms: Platform[]; missing: Platform[] }
): ImageWrongPlatform {
  const { digest, platforms, missing } = found
  const offered = platforms.length > 0 ? platforms.map(platformText).join(', ') : 'no platform at all'
  const needed = missing.map(platformText).join(', ')
  const build = [...new Set([...missing, ...platforms].map(platformText))].join(',')
  return {
    outcome: 'wrong-platform',
    ...measured,
    digest,
    platforms,
    missing,
    cause: `${referenceText(image)} (${digest}) has no ${needed} image: it offers ${offered}. Pods on ${needed} nodes would fail with "exec format error".`,
    remedy: `Build for the nodes' platform: \`docker buildx build --platform ${build} --push ...\` (a laptop build is often arm64 only); or schedule the pods on nodes of a platform the image has (nodeSelector kubernetes.io/arch).`,
    severity: 'error'
  }
}
