// Reading what is in the cluster: object lists by kind, and the before/after identity of applied objects.

import type { Kubectl } from './kubectl.js'
import type { Deployment, Event, HorizontalPodAutoscaler, Pod, ReplicaSet } from '../k8s/types.js'

export interface KubeList<T> {
  items: T[]
}

export interface ObjectIdentity {
  kind: string
  name: string
  namespace?: string
}

export interface LiveObjectMeta {
  kind: string
  metadata: {
    name: string
    namespace?: string
    resourceVersion?: string
    generation?: number
    uid?: string
    annotations?: Record<string, string>
  }
  [field: string]: unknown
}

export function identityKey(object: ObjectIdentity): string {
  return `${object.kind}/${object.namespace ?? ''}/${object.name}`
}

// `kubectl get -f -` with the objects on stdin reads exactly those objects; --ignore-not-found leaves
// missing ones out. One call for all of them.
export async function getLiveObjects(
  kubectl: Kubectl,
  manifests: string
): Promise<Map<string, LiveObjectMeta>> {
  const result = await kubectl.run(['get', '-f', '-', '--ignore-not-found', '-o', 'json'], {
    stdin: manifests
  })
  const live = new Map<string, LiveObjectMeta>()
  for (const item of parseObjects(result.stdout)) {
    live.set(
      identityKey({ kind: item.kind, name: item.metadata.name, namespace: item.metadata.namespace }),
      item
    )
  }
  return live
}

// kubectl prints one object, a List, several objects one after another (`create -f -` of several), or (with
// several -f documents and -o json) nothing at all when none exist.
export function parseObjects(stdout: string): LiveObjectMeta[] {
  return jsonValues(stdout).flatMap(value => {
    const parsed = value as LiveObjectMeta & { items?: LiveObjectMeta[] }
    return parsed.kind === 'List' ? (parsed.items ?? []) : [parsed]
  })
}

// The JSON values in a text that holds them one after another, split where each top-level object ends.
function jsonValues(text: string): unknown[] {
  const values: unknown[] = []
  let depth = 0
  let inString = false
  let escaped = false
  let start = -1
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (inString) {
      if (escaped) escaped = false
      else if (ch === '\\') escaped = true
      else if (ch === '"') inString = false
      continue
    }
    if (ch === '"') inString = true
    else if (ch === '{' || ch === '[') {
      if (depth === 0) start = i
      depth++
    } else if (ch === '}' || ch === ']') {
      depth--
      if (depth === 0) values.push(JSON.parse(text.slice(start, i + 1)))
    }
  }
  if (values.length === 0 && text.trim() !== '') values.push(JSON.parse(text))
  return values
}

export interface NamespaceSnapshot {
  deployments: Deployment[]
  replicaSets: ReplicaSet[]
  pods: Pod[]
  events: Event[]
  // The HorizontalPodAutoscalers, when the read asked for them (the beat guard's look at the first one).
  autoscalers?: HorizontalPodAutoscaler[]
}

// Everything the rollout watch needs, in one kubectl call (kubectl fetches each kind in turn). Events, the
// largest list in a busy namespace, only when asked for: they explain a failure, they do not show one.
export async function readWorkloadSnapshot(
  kubectl: Kubectl,
  namespace: string,
  options: { events: boolean; autoscalers?: boolean } = { events: true }
): Promise<NamespaceSnapshot> {
  const kinds = [
    'deployments.apps',
    'replicasets.apps',
    'pods',
    ...(options.events ? ['events'] : []),
    ...(options.autoscalers ? ['horizontalpodautoscalers.autoscaling'] : [])
  ]
  const list = await kubectl.json<KubeList<{ kind: string }>>(['get', kinds.join(','), '-n', namespace])
  const snapshot: NamespaceSnapshot = { deployments: [], replicaSets: [], pods: [], events: [] }
  if (options.autoscalers) snapshot.autoscalers = []
  for (const item of list.items) {
    if (item.kind === 'Deployment') snapshot.deployments.push(item as unknown as Deployment)
    else if (item.kind === 'ReplicaSet') snapshot.replicaSets.push(item as unknown as ReplicaSet)
    else if (item.kind === 'Pod') snapshot.pods.push(item as unknown as Pod)
    else if (item.kind === 'Event') snapshot.events.push(item as unknown as Event)
    else if (item.kind === 'HorizontalPodAutoscaler')
      snapshot.autoscalers?.push(item as unknown as HorizontalPodAutoscaler)
  }
  return snapshot
}

export async function namespaceExists(kubectl: Kubectl, namespace: string): Promise<boolean> {
  const result = await kubectl.run(['get', 'namespace', namespace, '--ignore-not-found', '-o', 'name'])
  return result.stdout.trim() !== ''
}

// One object by kind and name, or undefined when it does not exist (no error, no retry on the absence).
export async function getOptionalObject<T>(
  kubectl: Kubectl,
  kind: string,
  name: string,
  namespace: string
): Promise<T | undefined> {
  const result = await kubectl.run(['get', kind, name, '-n', namespace, '--ignore-not-found', '-o', 'json'])
  return result.stdout.trim() ? (JSON.parse(result.stdout) as T) : undefined
}
