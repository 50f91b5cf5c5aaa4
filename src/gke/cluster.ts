import { isIPv6 } from 'node:net'
import { redactAndClip } from '../redact.js'
import { boundLines } from '../untrusted-text.js'
import { GkeError, googleFailureFromBody, redact } from './errors.js'
import type { Env, Log } from './credentials.js'

// GKE clusters.get over REST: where the control plane is and which CA signs it.

export const DEFAULT_CONTAINER_API = 'https://container.googleapis.com/'
export type EndpointKind = 'public' | 'private' | 'dns'

export interface GkeCluster {
  project: string
  location: string
  name: string
  /** `projects/P/locations/L/clusters/N` */
  resourceName: string
  status: string
  statusMessage?: string
  publicEndpoint?: string
  privateEndpoint?: string
  dnsEndpoint?: string
  /** PEM of the cluster CA (decoded from masterAuth.clusterCaCertificate) */
  caPem?: string
  currentMasterVersion?: string
}

export interface GetClusterOptions {
  projectId: string
  location: string
  /** `N`, or a full resource name `projects/P/locations/L/clusters/N` (which then wins over projectId/location) */
  clusterName: string
  token: string
  apiBaseUrl?: string
  /** Named in a permission-denied message. */
  serviceAccountEmail?: string
  log?: Log
  /** Attempts for 429/5xx/network failures; default 3. */
  attempts?: number
}

/** Like gcloud: CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER, else the public API. */
export function containerApiBaseUrl(env: Env): string {
  const override = env.CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER?.trim()
  if (!override) return DEFAULT_CONTAINER_API
  return override.endsWith('/') ? override : `${override}/`
}

export function parseClusterName(
  clusterName: string,
  projectId: string,
  location: string
): { project: string; location: string; name: string } {
  const trimmed = clusterName.trim().replace(/^(?:https?:)?\/\/container\.googleapis\.com\/(?:v1\/)?/, '')
  const full = /^projects\/([^/]+)\/(?:locations|zones)\/([^/]+)\/clusters\/([^/]+)$/.exec(trimmed)
  if (full) return { project: full[1]!, location: full[2]!, name: full[3]! }
  if (trimmed.includes('/')) {
    throw new GkeError(
      'CLUSTER_NOT_FOUND',
      `cluster_name "${clusterName}" is neither a name nor projects/P/locations/L/clusters/N.`
    )
  }
  return { project: projectId, location, name: trimmed }
}

const RETRYABLE = new Set([429, 500, 502, 503, 504])
// RECONCILING clusters (upgrades, Autopilot resizes) keep serving the Kubernetes API; gcloud does not
// refuse them either. Every other state means the control plane may not answer.
const USABLE_STATUSES = new Set(['RUNNING', 'RECONCILING'])

export async function getCluster(opts: GetClusterOptions): Promise<GkeCluster> {
  const log = opts.log ?? (() => {})
  const id = parseClusterName(opts.clusterName, opts.projectId, opts.location)
  const resourceName = `projects/${id.project}/locations/${id.location}/clusters/${id.name}`
  const base = opts.apiBaseUrl ?? DEFAULT_CONTAINER_API
  const url = new URL(
    `v1/projects/${encodeURIComponent(id.project)}/locations/${encodeURIComponent(id.location)}/clusters/${encodeURIComponent(id.name)}`,
    base.endsWith('/') ? base : `${base}/`
  )
  const attempts = Math.max(1, opts.attempts ?? 3)
  let response: Response | undefined
  let lastError: unknown
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      response = await fetch(url, {
        headers: { authorization: `Bearer ${opts.token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(30_000)
      })
      if (!RETRYABLE.has(response.status) || attempt === attempts) break
      log(`GKE API answered ${response.status} for ${resourceName}; retrying`)
    } catch (err) {
      lastError = err
      response = undefined
      if (attempt === attempts) break
      log(`GKE API unreachable (${redact(String((err as Error).message ?? err), [opts.token])}); retrying`)
    }
    await new Promise(resolve => setTimeout(resolve, 500 * 2 ** (attempt - 1)))
  }
  if (!response) {
    const reason = redact(String((lastError as Error)?.message ?? lastError), [opts.token])
    throw new GkeError('GKE_API_ERROR', `Cannot reach the GKE API at ${url.origin}: ${reason}`)
  }
  const text = await response.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (!response.ok) throw clusterLookupError(response.status, body, text, { ...id, resourceName }, opts)
  return toCluster(body as Record<string, unknown>, id, resourceName)
}

function clusterLookupError(
  httpStatus: number,
  body: unknown,
  text: string,
  id: { project: string; location: string; name: string; resourceName: string },
  opts: GetClusterOptions
): GkeError {
  const failure = googleFailureFromBody(httpStatus, body)
  // A body that is not Google's error shape: redacted whole, then shortened (a cut first could leave the
  // start of the token where redaction no longer recognises it).
  const withoutToken = (said: string): string => redact(said, [opts.token])
  const said =
    failure?.message !== undefined
      ? withoutToken(failure.message)
      : redactAndClip(withoutToken, boundLines(text, 64 * 1024, 'head'), 300)
  if (httpStatus === 404) {
    return new GkeError(
      'CLUSTER_NOT_FOUND',
      `GKE cluster "${id.name}" not found in project "${id.project}", location "${id.location}". Check ` +
        'cluster_name and location: a regional cluster (e.g. europe-west3) is not found under a zone ' +
        `(europe-west3-a) and vice versa; also check project_id. Google said: ${said}`
    )
  }
  if (httpStatus === 403) {
    const who = opts.serviceAccountEmail
      ? `the service account ${opts.serviceAccountEmail}`
      : 'the deploying identity'
    return new GkeError(
      'PERMISSION_DENIED',
      `Permission denied reading GKE cluster ${id.resourceName}: ${who} lacks container.clusters.get. Grant it ` +
        `roles/container.clusterViewer (or roles/container.developer, which deploying needs anyway) on project ` +
        `"${id.project}". Google said: ${said}`
    )
  }
  if (httpStatus === 401) {
    return new GkeError(
      'AUTH_FAILED',
      `The GKE API rejected the access token (HTTP 401) for ${id.resourceName}. Google said: ${said}`
    )
  }
  return new GkeError(
    'GKE_API_ERROR',
    `GKE API error for ${id.resourceName}: HTTP ${httpStatus}${failure?.status ? ` ${failure.status}` : ''}: ${said}`
  )
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function obj(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : {}
}

function toCluster(
  raw: Record<string, unknown>,
  id: { project: string; location: string; name: string },
  resourceName: string
): GkeCluster {
  const privateConfig = obj(raw.privateClusterConfig)
  const endpoints = obj(raw.controlPlaneEndpointsConfig)
  const ipConfig = obj(endpoints.ipEndpointsConfig)
  const dnsConfig = obj(endpoints.dnsEndpointConfig)
  const publicDisabled =
    ipConfig.enabled === false ||
    ipConfig.enablePublicEndpoint === false ||
    privateConfig.enablePrivateEndpoint === true
  const caBase64 = str(obj(raw.masterAuth).clusterCaCertificate)
  const cluster: GkeCluster = {
    project: id.project,
    location: str(raw.location) ?? id.location,
    name: str(raw.name) ?? id.name,
    resourceName,
    status: str(raw.status) ?? 'STATUS_UNSPECIFIED',
    statusMessage: str(raw.statusMessage),
    // With the public endpoint disabled, `endpoint` holds the private address: not a public endpoint.
    publicEndpoint: publicDisabled ? undefined : (str(ipConfig.publicEndpoint) ?? str(raw.endpoint)),
    privateEndpoint: str(privateConfig.privateEndpoint) ?? str(ipConfig.privateEndpoint),
    dnsEndpoint: str(dnsConfig.endpoint),
    caPem: caBase64 ? Buffer.from(caBase64, 'base64').toString('utf8') : undefined,
    currentMasterVersion: str(raw.currentMasterVersion)
  }
  if (!USABLE_STATUSES.has(cluster.status)) {
    const why = cluster.statusMessage ? ` (${cluster.statusMessage})` : ''
    throw new GkeError(
      'CLUSTER_NOT_RUNNING',
      `GKE cluster ${resourceName} is ${cluster.status}${why}, not RUNNING: its control plane cannot take a ` +
        'deployment now. Wait for the cluster to be RUNNING and re-run the job.'
    )
  }
  return cluster
}

function hostUrl(endpoint: string): string {
  return `https://${isIPv6(endpoint) ? `[${endpoint}]` : endpoint}`
}

/**
 * The kube-apiserver URL and CA for the requested endpoint kind. The DNS endpoint carries a certificate from
 * a public CA, so no CA data goes into the kubeconfig then.
 */
export function selectEndpoint(cluster: GkeCluster, kind: EndpointKind): { server: string; caPem?: string } {
  const update = `gcloud container clusters update ${cluster.name} --location ${cluster.location}`
  if (kind === 'dns') {
    if (!cluster.dnsEndpoint) {
      throw new GkeError(
        'ENDPOINT_NOT_ENABLED',
        `cluster_endpoint: dns was asked for, but ${cluster.resourceName} has no DNS-based control plane ` +
          `endpoint. Enable it with \`${update} --enable-dns-access\`, or use cluster_endpoint: public/private.`
      )
    }
    return { server: hostUrl(cluster.dnsEndpoint) }
  }
  const endpoint = kind === 'private' ? cluster.privateEndpoint : cluster.publicEndpoint
  if (!endpoint) {
    const advice =
      kind === 'private'
        ? 'it is not a private cluster; use cluster_endpoint: public or dns'
        : `its public endpoint is disabled; use cluster_endpoint: private (runner inside the VPC) or dns, or \`${update} --enable-ip-access\` without --enable-private-endpoint`
    throw new GkeError(
      'ENDPOINT_NOT_ENABLED',
      `cluster_endpoint: ${kind} was asked for, but ${cluster.resourceName} has no ${kind} IP endpoint: ${advice}.`
    )
  }
  if (!cluster.caPem) {
    throw new GkeError('GKE_API_ERROR', `GKE returned no cluster CA certificate for ${cluster.resourceName}.`)
  }
  return { server: hostUrl(endpoint), caPem: cluster.caPem }
}
