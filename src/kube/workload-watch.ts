// The Deployments, ReplicaSets and Pods of a namespace, kept current by the API server's watches, so that a
// rollout is followed as it happens instead of being listed again every tick: after one list (the caller's),
// one `kubectl get --raw <collection>?watch=true&resourceVersion=<see below>` per kind, three processes for
// the whole rollout however long it takes.
//
// Why this is exact: resourceVersions are the revisions of the one etcd behind every kind, and kubectl lists
// the kinds one after another, Deployments first. A change to a kind after its list has a larger
// resourceVersion than anything that list (or an earlier one) showed, so each kind is watched from the newest
// resourceVersion among its own objects and the Deployments: whatever changed since is replayed (a change seen
// twice is applied once more, harmlessly), nothing is skipped. Not the newest of the whole list: a Deployment
// that changed while the pods were being listed has an older resourceVersion than the newest pod, and a watch
// from there would miss it (seen on a busy machine). Where a resourceVersion is not a number (not an
// etcd-backed server), no watch starts and the caller keeps listing.
// A watch that ends (the server's watch timeout, 410 Gone, a forbidden watch, kubectl killed) ends the view:
// the caller goes back to lists, which cannot miss a deletion the way a restarted watch could. The
// Deployments' watch goes on when only another one ended (an older RBAC role without `watch` on pods): it
// still tells the caller at once when a rollout finishes.

import type { Kubectl } from './kubectl.js'
import type { NamespaceSnapshot } from './objects.js'
import type { Deployment, Pod, ReplicaSet } from '../k8s/types.js'

export interface WorkloadWatch {
  // The objects as the watches last reported them (no events: they are read when something fails).
  snapshot(): NamespaceSnapshot
  // False once any of the watches has ended.
  live(): boolean
  // Whether the Deployments' watch still runs (it outlives a ReplicaSet or pod watch that ended, to wake the
  // caller's lists when a rollout finishes).
  deploymentsLive(): boolean
  stop(): void
}

type Kind = 'deployments' | 'replicaSets' | 'pods'

interface WatchEvent {
  type?: string
  object?: { kind?: string; metadata?: { name?: string; resourceVersion?: string } }
}

export function collectionPaths(namespace: string): Record<Kind, string> {
  const ns = encodeURIComponent(namespace)
  return {
    deployments: `/apis/apps/v1/namespaces/${ns}/deployments`,
    replicaSets: `/apis/apps/v1/namespaces/${ns}/replicasets`,
    pods: `/api/v1/namespaces/${ns}/pods`
  }
}

// Where each kind's watch starts (see above), or undefined when a resourceVersion is not a positive number or
// no Deployment was listed.
export function watchStarts(snapshot: NamespaceSnapshot): Record<Kind, number> | undefined {
  const newest = (objects: Array<{ metadata: { resourceVersion?: string } }>): number | undefined => {
    const versions = objects.map(o => Number(o.metadata.resourceVersion ?? NaN))
    if (versions.some(v => !Number.isSafeInteger(v) || v <= 0)) return NaN
    return versions.length > 0 ? Math.max(...versions) : undefined
  }
  const deployments = newest(snapshot.deployments)
  const replicaSets = newest(snapshot.replicaSets)
  const pods = newest(snapshot.pods)
  if (deployments === undefined || [deployments, replicaSets, pods].some(v => Number.isNaN(v)))
    return undefined
  return {
    deployments,
    replicaSets: Math.max(deployments, replicaSets ?? 0),
    pods: Math.max(deployments, pods ?? 0)
  }
}

// Starts the watches from the state in `from`; undefined when they cannot start (see above). onChange is
// called after every change and when a watch ends.
export function watchWorkloads(
  kubectl: Kubectl,
  namespace: string,
  from: NamespaceSnapshot,
  onChange: () => void
): WorkloadWatch | undefined {
  const starts = watchStarts(from)
  if (starts === undefined || typeof kubectl.watch !== 'function') return undefined
  const state: Record<Kind, Map<string, { metadata: { name: string; resourceVersion?: string } }>> = {
    deployments: new Map(from.deployments.map(o => [o.metadata.name, o])),
    replicaSets: new Map(from.replicaSets.map(o => [o.metadata.name, o])),
    pods: new Map(from.pods.map(o => [o.metadata.name, o]))
  }
  let stopped = false
  const endedKinds = new Set<Kind>()
  const paths = collectionPaths(namespace)
  const kinds = Object.keys(paths) as Kind[]
  const watchers = kinds.map(kind => {
    const watcher = kubectl.watch(
      ['get', '--raw', `${paths[kind]}?watch=true&resourceVersion=${starts[kind]}`],
      value => {
        const event = value as WatchEvent
        const name = event.object?.metadata?.name
        if (event.type === 'ERROR') {
          end(kind)
          return
        }
        if (!name || event.type === 'BOOKMARK' || stopped) return
        const known = state[kind].get(name)
        // A replayed change older than what the list showed must not take the object back in time.
        if (
          known &&
          Number(known.metadata.resourceVersion) > Number(event.object?.metadata?.resourceVersion)
        ) {
          return
        }
        if (event.type === 'DELETED') state[kind].delete(name)
        else if (event.type === 'ADDED' || event.type === 'MODIFIED')
          state[kind].set(name, event.object as { metadata: { name: string } })
        else return
        onChange()
      }
    )
    void watcher.ended.then(() => end(kind))
    return watcher
  })
  // One kind's watch ended: the view is no longer complete. The others stop, but for the Deployments' watch
  // when it is not the one that ended.
  function end(kind: Kind): void {
    if (stopped || endedKinds.has(kind)) return
    const before = endedKinds.size
    endedKinds.add(kind)
    watchers[kinds.indexOf(kind)]?.stop()
    kinds.forEach((other, i) => {
      if (other === kind || endedKinds.has(other)) return
      if (other === 'deployments' && kind !== 'deployments') return
      endedKinds.add(other)
      watchers[i].stop()
    })
    if (endedKinds.has('deployments')) stopped = true
    if (endedKinds.size > before) onChange()
  }
  return {
    live: () => !stopped && endedKinds.size === 0,
    deploymentsLive: () => !stopped && !endedKinds.has('deployments'),
    snapshot: () => ({
      deployments: [...state.deployments.values()] as Deployment[],
      replicaSets: [...state.replicaSets.values()] as ReplicaSet[],
      pods: [...state.pods.values()] as Pod[],
      events: []
    }),
    stop: () => {
      if (stopped) return
      stopped = true
      watchers.forEach((watcher, i) => {
        if (!endedKinds.has(kinds[i])) watcher.stop()
      })
    }
  }
}
