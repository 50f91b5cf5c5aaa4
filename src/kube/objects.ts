// Reading what is in the cluster: object lists by kind, and the before/after identity of applied objects.

import type { Kubectl } from './kubectl.js'
import type { Deployment, Event, Pod, ReplicaSet } from './types.js'

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

// kubectl prints one object, a List, or (with several -f documents and -o json) nothing at all when none exist.
export function parseObjects(stdout: string): LiveObjectMeta[] {
  const text = stdout.trim()
  if (text === '') return []
  const parsed = JSON.parse(text) as LiveObjectMeta & { items?: LiveObjectMeta[] }
  if (parsed.kind === 'List') return parsed.items ?? []
  return [parsed]
}

export interface NamespaceSnapshot {
  deployments: Deployment[]
  replicaSets: ReplicaSet[]
  pods: Pod[]
  events: Event[]
}

// Everything the rollout watch needs, in one kubectl call (kubectl fetches each kind in turn).
export async function readWorkloadSnapshot(kubectl: Kubectl, namespace: string): Promise<NamespaceSnapshot> {
  const list = await kubectl.json<KubeList<{ kind: string }>>([
    'get',
    'deployments.apps,replicasets.apps,pods,events',
    '-n',
    namespace
  ])
  const snapshot: NamespaceSnapshot = { deployments: [], replicaSets: [], pods: [], events: [] }
  for (const item of list.items) {
    if (item.kind === 'Deployment') snapshot.deployments.push(item as unknown as Deployment)
    else if (item.kind === 'ReplicaSet') snapshot.replicaSets.push(item as unknown as ReplicaSet)
    else if (item.kind === 'Pod') snapshot.pods.push(item as unknown as Pod)
    else if (item.kind === 'Event') snapshot.events.push(item as unknown as Event)
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
