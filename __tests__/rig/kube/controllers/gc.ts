import type { JsonObject } from '../json.js'
import { isObject } from '../json.js'
import { nowSeconds } from '../managed.js'
import { RESOURCES } from '../resources.js'
import type { Store } from '../store.js'
import { meta } from '../store.js'
import { rtOf } from './writer.js'

const podRt = rtOf('pods')
const nsRt = rtOf('namespaces')
const stored = RESOURCES.filter(r => !r.virtual)

// Garbage collector (dependents of deleted owners) and namespace controller (empties, then removes, a
// terminating namespace).
export class GarbageCollector {
  constructor(private store: Store) {}

  sync(): void {
    const uids = new Set<string>()
    for (const rt of stored) for (const o of this.store.list(rt)) uids.add(String(meta(o).uid))
    for (const rt of stored) {
      if (!rt.namespaced) continue
      for (const o of this.store.list(rt)) {
        const refs = (meta(o).ownerReferences as JsonObject[] | undefined) ?? []
        if (!refs.length || refs.some(r => isObject(r) && uids.has(String(r.uid)))) continue
        this.deleteObject(rt.resource === 'pods', o)
      }
    }
    for (const ns of this.store.list(nsRt)) {
      if (!meta(ns).deletionTimestamp) continue
      const name = String(meta(ns).name)
      let remaining = 0
      for (const rt of stored) {
        if (!rt.namespaced) continue
        for (const o of this.store.list(rt, name)) {
          remaining++
          this.deleteObject(rt.resource === 'pods', o)
        }
      }
      if (remaining === 0) this.store.remove(nsRt, '', name)
    }
  }

  private deleteObject(graceful: boolean, o: JsonObject): void {
    const m = meta(o)
    const ns = String(m.namespace ?? '')
    if (graceful) {
      if (m.deletionTimestamp) return
      m.deletionTimestamp = nowSeconds()
      m.deletionGracePeriodSeconds = 30
      this.store.put(podRt, o)
      return
    }
    const rt = stored.find(
      r => r.kind === o.kind && o.apiVersion === (r.group ? `${r.group}/${r.version}` : r.version)
    )
    if (rt) this.store.remove(rt, ns, String(m.name))
  }
}
