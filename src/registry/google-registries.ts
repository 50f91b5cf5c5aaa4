// Google's registries: Artifact Registry (LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE) and the gcr.io
// hosts, which Artifact Registry now serves from repositories named after the host (gcr.io in `us`, eu.gcr.io
// in `europe`, asia.gcr.io in `asia`, us.gcr.io in `us`). Both take the run's Google access token. Only these
// hosts ever see it: a token sent to any other registry would be a credential handed to a stranger.

import type { ImageName } from './image-name.js'

export interface ArtifactRegistryRepository {
  project: string
  location: string
  repository: string
}

const GCR_LOCATIONS: Record<string, string> = {
  'gcr.io': 'us',
  'us.gcr.io': 'us',
  'eu.gcr.io': 'europe',
  'asia.gcr.io': 'asia'
}

function hostOf(registry: string): string {
  const colon = registry.lastIndexOf(':')
  return (colon === -1 ? registry : registry.slice(0, colon)).toLowerCase()
}

export function isArtifactRegistryHost(registry: string): boolean {
  const host = hostOf(registry)
  return host.endsWith('.pkg.dev')
}

export function isContainerRegistryHost(registry: string): boolean {
  const host = hostOf(registry)
  return host === 'gcr.io' || host.endsWith('.gcr.io')
}

export function isGoogleRegistry(registry: string): boolean {
  return isArtifactRegistryHost(registry) || isContainerRegistryHost(registry)
}

// The Artifact Registry repository an image lives in, for the IAM command that lets the deployer read it.
export function artifactRegistryRepositoryOf(image: ImageName): ArtifactRegistryRepository | undefined {
  const host = hostOf(image.registry)
  const [project, repository] = image.repository.split('/')
  if (!project) return undefined
  if (isArtifactRegistryHost(host)) {
    const suffix = '-docker.pkg.dev'
    if (!host.endsWith(suffix) || !repository) return undefined
    return { project, location: host.slice(0, -suffix.length), repository }
  }
  const gcrLocation = GCR_LOCATIONS[host]
  if (gcrLocation) return { project, location: gcrLocation, repository: host }
  return undefined
}

// The IAM member for an identity: a service account's email, or a federated principal as it is.
export function iamMemberOf(identity: string | undefined): string {
  if (!identity) return 'serviceAccount:DEPLOYER_EMAIL'
  if (identity.startsWith('principal://') || identity.startsWith('principalSet://')) return identity
  return `serviceAccount:${identity}`
}

export function readerGrantCommand(
  repository: ArtifactRegistryRepository,
  identity: string | undefined
): string {
  return [
    `gcloud artifacts repositories add-iam-policy-binding ${repository.repository}`,
    `--project=${repository.project}`,
    `--location=${repository.location}`,
    `--member=${iamMemberOf(identity)}`,
    '--role=roles/artifactregistry.reader'
  ].join(' ')
}
