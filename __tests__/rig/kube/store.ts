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

// All objects, one global resourceVersion counter and a bounded event history for watch resumption.
export class Store {
  private rv = 1000
  private objects = new Map<string, JsonObject>()
  private history: StoreEvent[] = []
  // the oldest rv a watch may resume from; older ones get 410 Expired
  private compactedRv = 1000
  private listeners = new Set<(e: StoreEvent) => void>()

  currentRv(): number {
    return this.rv
  }
  oldestResumableRv(): number {
    return this.compactedRv
  }

  private key(rt: ResourceType, namespace: string, name: string): string {
    return `${rt.group}/${rt.resource}/${namespace}/${name}`
  }

  get(rt: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const o = this.objects.get(this.key(rt, namespace, name))
    return o ? clone(o) : undefined
  }

  list(rt: ResourceType, namespace?: string): JsonObject[] {
    const prefix = `${rt.group}/${rt.resource}/${namespace === undefined ? '' : namespace + '/'}`
    const out: JsonObject[] = []
    for (const [k, v] of this.objects) if (k.startsWith(prefix)) out.push(clone(v))
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
    const k = this.key(rt, namespace, String(m.name))
    const type: EventType = this.objects.has(k) ? 'MODIFIED' : 'ADDED'
    this.rv += 1
    m.resourceVersion = String(this.rv)
    obj.kind = rt.kind
    obj.apiVersion = apiVersionOf(rt)
    const stored = withKindFirst(obj)
    this.objects.set(k, stored)
    this.emit({ rv: this.rv, type, rt, namespace, object: clone(stored) })
    return clone(stored)
  }

  remove(rt: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const k = this.key(rt, namespace, name)
    const obj = this.objects.get(k)
    if (!obj) return undefined
    this.objects.delete(k)
    this.rv += 1
    const gone = clone(obj)
    meta(gone).resourceVersion = String(this.rv)
    this.emit({ rv: this.rv, type: 'DELETED', rt, namespace, object: gone })
    return gone
  }

  private emit(e: StoreEvent): void {
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
