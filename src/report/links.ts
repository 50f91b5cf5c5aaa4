// Links from a report to where a person looks next: the pod's logs in Cloud Logging (the container logs GKE
// keeps after the pod is gone) and the workload's page in the GKE console. Every value is URL-encoded, and the
// characters Markdown would end a link at are encoded too, so a name from the cluster cannot break the link.

export interface GkeCoordinates {
  project: string
  location: string
  cluster: string
}

const CONSOLE = 'https://console.cloud.google.com'

// encodeURIComponent leaves ( ) ! ' * alone; a `)` would end a Markdown link.
function encode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    ch => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`
  )
}

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, ch => `\\${ch}`)}"`
}

/** Logs Explorer with the pod's container logs, between `fromMs` and `toMs`. */
export function podLogsUrl(
  gke: GkeCoordinates,
  namespace: string,
  pod: string,
  window: { fromMs: number; toMs: number }
): string {
  const query = [
    'resource.type="k8s_container"',
    `resource.labels.project_id=${quoted(gke.project)}`,
    `resource.labels.location=${quoted(gke.location)}`,
    `resource.labels.cluster_name=${quoted(gke.cluster)}`,
    `resource.labels.namespace_name=${quoted(namespace)}`,
    `resource.labels.pod_name=${quoted(pod)}`
  ].join('\n')
  const range = `${new Date(window.fromMs).toISOString()}/${new Date(window.toMs).toISOString()}`
  return `${CONSOLE}/logs/query;query=${encode(query)};timeRange=${encode(range)}?project=${encode(gke.project)}`
}

/** The Deployment's page in the GKE console (its pods, events, revisions and logs). */
export function workloadUrl(gke: GkeCoordinates, namespace: string, deployment: string): string {
  const path = [gke.location, gke.cluster, namespace, deployment].map(encode).join('/')
  return `${CONSOLE}/kubernetes/deployment/${path}/overview?project=${encode(gke.project)}`
}

/** `projects/P/locations/L/clusters/C`, as the GKE API names a cluster. */
export function coordinatesOf(resourceName: string | undefined): GkeCoordinates | undefined {
  const match = /^projects\/([^/]+)\/locations\/([^/]+)\/clusters\/([^/]+)$/.exec(resourceName ?? '')
  return match ? { project: match[1], location: match[2], cluster: match[3] } : undefined
}
