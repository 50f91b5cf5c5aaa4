import type { JsonObject } from './json.js'
import { clone, isObject } from './json.js'
import type { ResourceType } from './resources.js'
import { apiVersionOf } from './resources.js'

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED'

export interface StoreEvent {
  rv: number
  type: EventType
  rt: ResourceType
  namespace: string
  object: JsonObject
}

const HISTORY_LIMIT = 2000

// All objects, one global resourceVersion counter and a bounded event history for watch resumption. Objects
// are indexed by resource and namespace: the controllers read their kinds every tick, and a scan of every
// stored object (events included) per read grew with each run, to 12 ms of CPU a tick after four deploys.
export class Store {
  private rv = 1000
  // `group/resource` -> namespace ('' when cluster-scoped) -> name -> object
  private objects = new Map<string, Map<string, Map<string, JsonObject>>>()
  private history: StoreEvent[] = []
  // the oldest rv a watch may resume from; older ones get 410 Expired
  private compactedRv = 1000
  private listeners = new Set<(e: StoreEvent) => void>()
  // namespace ('' for cluster-scoped objects) -> the resourceVersion of its latest change
  private changes = new Map<string, number>()

  currentRv(): number {
    return this.rv
  }
  oldestResumableRv(): number {
    return this.compactedRv
  }

  private namespaces(rt: ResourceType): Map<string, Map<string, JsonObject>> {
    const key = `${rt.group}/${rt.resource}`
    let byNamespace = this.objects.get(key)
    if (!byNamespace) this.objects.set(key, (byNamespace = new Map()))
    return byNamespace
  }

  get(rt: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const o = this.namespaces(rt).get(namespace)?.get(name)
    return o ? clone(o) : undefined
  }

  list(rt: ResourceType, namespace?: string): JsonObject[] {
    return this.scan(rt, namespace).map(o => clone(o))
  }

  // The stored objects themselves (frozen), not copied, in list order unless `ordered` is false: for readers
  // that only look (the controllers look at every object of their kinds each tick, and copy only those they
  // act on).
  scan(rt: ResourceType, namespace?: string, ordered = true): JsonObject[] {
    const byNamespace = this.namespaces(rt)
    const names = namespace === undefined ? [...byNamespace.values()] : [byNamespace.get(namespace)]
    const out: JsonObject[] = []
    for (const byName of names) if (byName) out.push(...byName.values())
    if (!ordered) return out
    return out.sort((a, b) => {
      const an = `${String(meta(a).namespace ?? '')}/${String(meta(a).name)}`
      const bn = `${String(meta(b).namespace ?? '')}/${String(meta(b).name)}`
      return an < bn ? -1 : an > bn ? 1 : 0
    })
  }

  // Persist obj (already complete apart from resourceVersion); returns the stored copy.
  put(rt: ResourceType, obj: JsonObject): JsonObject {
    const m = meta(obj)
    const namespace = String(m.namespace ?? '')
    const name = String(m.name)
    const byNamespace = this.namespaces(rt)
    let byName = byNamespace.get(namespace)
    if (!byName) byNamespace.set(namespace, (byName = new Map()))
    const type: EventType = byName.has(name) ? 'MODIFIED' : 'ADDED'
    this.rv += 1
    m.resourceVersion = String(this.rv)
    obj.kind = rt.kind
    obj.apiVersion = apiVersionOf(rt)
    const stored = deepFreeze(withKindFirst(obj))
    byName.set(name, stored)
    this.emit({ rv: this.rv, type, rt, namespace, object: clone(stored) })
    return clone(stored)
  }

  remove(rt: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const byName = this.namespaces(rt).get(namespace)
    const obj = byName?.get(name)
    if (!byName || !obj) return undefined
    byName.delete(name)
    // A namespace gone is gone with everything in it (the namespace controller empties it first).
    if (rt.resource === 'namespaces' && rt.group === '') this.forgetNamespace(name)
    this.rv += 1
    const gone = clone(obj)
    meta(gone).resourceVersion = String(this.rv)
    this.emit({ rv: this.rv, type: 'DELETED', rt, namespace, object: gone })
    return gone
  }

  // The resourceVersion of the latest change in a namespace: a controller whose namespace has not changed
  // since it last looked has nothing new to act on (0 before any change).
  lastChangeIn(namespace: string): number {
    return this.changes.get(namespace) ?? 0
  }

  private forgetNamespace(namespace: string): void {
    this.changes.delete(namespace)
    for (const byNamespace of this.objects.values())
      if (byNamespace.get(namespace)?.size === 0) byNamespace.delete(namespace)
  }

  private emit(e: StoreEvent): void {
    this.changes.set(e.namespace, e.rv)
    this.history.push(e)
    if (this.history.length > HISTORY_LIMIT) {
      const dropped = this.history.splice(0, this.history.length - HISTORY_LIMIT)
      this.compactedRv = dropped[dropped.length - 1].rv
    }
    for (const l of this.listeners) l(e)
  }

  // Events after rv, or undefined when rv is older than the retained history.
  since(rv: number): StoreEvent[] | undefined {
    if (rv < this.compactedRv) return undefined
    return this.history.filter(e => e.rv > rv)
  }

  // Forget history so that older resourceVersions expire (what etcd compaction does).
  compact(): void {
    this.history = []
    this.compactedRv = this.rv
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  clear(): void {
    this.objects.clear()
    this.changes.clear()
    this.compact()
  }
}

export function meta(obj: JsonObject): JsonObject {
  if (!isObject(obj.metadata)) obj.metadata = {}
  return obj.metadata as JsonObject
}

// kind and apiVersion first, as the apiserver serialises them
function withKindFirst(obj: JsonObject): JsonObject {
  const { kind, apiVersion, ...rest } = obj
  return clone({ kind, apiVersion, ...rest })
}

// Stored objects are frozen: scan hands them out uncopied, and a reader that wrote to one would change the
// store without a resourceVersion or a watch event. Frozen, the write throws where it happens.
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}
