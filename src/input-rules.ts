// Grammar checks for single input values. Each returns undefined when the value is fine, else the rule it
// breaks, phrased to follow `<input>: "<value>" ` in an error message.

import { parseImageName } from './registry/image-name.js'

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export function checkDnsLabel(value: string): string | undefined {
  if (value.length > 63 || !DNS1123_LABEL.test(value)) {
    return 'is not a valid DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters)'
  }
  return undefined
}

export function checkDnsSubdomain(value: string): string | undefined {
  if (value.length > 253 || !DNS1123_SUBDOMAIN.test(value)) {
    return 'is not a valid DNS-1123 subdomain (lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, at most 253 characters)'
  }
  return undefined
}

// The reference grammar of github.com/distribution/reference (registry/image-name.ts), restricted to what a
// deploy should pin: an explicit registry, and a tag, a sha256 digest or both.
const IMAGE_RULE =
  'is not a full image reference (expected REGISTRY/PATH:TAG, REGISTRY/PATH@sha256:DIGEST or both)'

export interface ImageReference {
  registry: string
  path: string
  tag?: string
  digest?: string
}

export function parseImageReference(value: string): ImageReference | undefined {
  const name = parseImageName(value)
  // Without a dot, a port or "localhost" the first component is a Docker Hub namespace, not a registry.
  if (!name || !name.explicitRegistry) return undefined
  if (!name.tag && !name.digest) return undefined
  return { registry: name.registry, path: name.repository, tag: name.tag, digest: name.digest }
}

export function checkImageReference(value: string): string | undefined {
  return parseImageReference(value) ? undefined : IMAGE_RULE
}

// PROJECT:REGION:INSTANCE; a domain-scoped project (example.com:project) adds one more part.
const CLOUD_SQL_INSTANCE =
  /^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]:[a-z]+-[a-z]+[0-9]+:[a-z][a-z0-9-]{0,97}$/

export function checkCloudSqlInstance(value: string): string | undefined {
  return CLOUD_SQL_INSTANCE.test(value)
    ? undefined
    : 'is not a Cloud SQL instance connection name (expected PROJECT:REGION:INSTANCE, e.g. my-project:europe-west3:main)'
}

const SERVICE_ACCOUNT_EMAIL =
  /^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]@(?:[a-z][a-z0-9.-]*[a-z0-9]\.)?[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com|[0-9]+-compute@developer\.gserviceaccount\.com)$/

export function checkServiceAccountEmail(value: string): string | undefined {
  return SERVICE_ACCOUNT_EMAIL.test(value)
    ? undefined
    : 'is not a Google service account email (expected NAME@PROJECT.iam.gserviceaccount.com)'
}

const PROJECT_ID = /^(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/

export function checkProjectId(value: string): string | undefined {
  return PROJECT_ID.test(value)
    ? undefined
    : 'is not a Google Cloud project ID (6 to 30 lowercase letters, digits or "-", starting with a letter)'
}

const LOCATION = /^[a-z]+-[a-z]+[0-9]+(?:-[a-z])?$/

export function checkLocation(value: string): string | undefined {
  return LOCATION.test(value)
    ? undefined
    : 'is not a GKE region or zone (e.g. europe-west3 or europe-west3-a)'
}

const CLUSTER_NAME = /^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$/
const CLUSTER_RESOURCE_NAME =
  /^projects\/([^/]+)\/(?:locations|zones)\/([^/]+)\/clusters\/([a-z](?:[-a-z0-9]{0,38}[a-z0-9])?)$/

export interface ClusterReference {
  name: string
  projectId?: string
  location?: string
}

export function parseClusterName(value: string): ClusterReference | undefined {
  if (CLUSTER_NAME.test(value)) return { name: value }
  const full = CLUSTER_RESOURCE_NAME.exec(value)
  if (!full) return undefined
  return { projectId: full[1], location: full[2], name: full[3] }
}

export function checkClusterName(value: string): string | undefined {
  return parseClusterName(value)
    ? undefined
    : 'is not a GKE cluster name (lowercase letters, digits and "-", at most 40 characters) or a full name projects/P/locations/L/clusters/N'
}

// celery -A takes a module path, optionally with an attribute: noesis2, proj.celery, proj.celery:app.
const CELERY_APP = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::[A-Za-z_][A-Za-z0-9_]*)?$/

export function checkCeleryApp(value: string): string | undefined {
  return CELERY_APP.test(value)
    ? undefined
    : 'is not a Celery app (expected a Python module path such as noesis2 or proj.celery:app)'
}

const QUEUE_NAME = /^[A-Za-z0-9_.:-]+$/

export function checkQueueName(value: string): string | undefined {
  return QUEUE_NAME.test(value) ? undefined : 'is not a queue name (letters, digits, "_", ".", ":" and "-")'
}

// Names used as container environment variables: the portable C identifier form.
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

export function checkEnvName(value: string): string | undefined {
  return ENV_NAME.test(value)
    ? undefined
    : 'is not a valid environment variable name (letters, digits and "_", not starting with a digit)'
}

const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/

// Accepts 90, 90s, 5m, 1h, 1m30s; returns seconds, or undefined when it is not a duration.
export function parseDurationSeconds(value: string): number | undefined {
  if (/^\d+$/.test(value)) return Number(value)
  const match = DURATION.exec(value)
  if (!match || value === '') return undefined
  const [, h, m, s] = match
  return Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0)
}

const HOST_PORT =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::([0-9]{1,5}))?$/

export function parseHostPort(value: string): { host: string; port: number } | undefined {
  const match = HOST_PORT.exec(value)
  if (!match) return undefined
  const port = match[1] === undefined ? 5432 : Number(match[1])
  if (port < 1 || port > 65535) return undefined
  return { host: match[1] === undefined ? value : value.slice(0, value.lastIndexOf(':')), port }
}
