import type { JsonObject } from '../json.js'
import { clone, isObject } from '../json.js'
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
    // Read in place (scan): every object is looked at each tick, and only orphans are copied, to delete.
    const uids = new Set<string>()
    for (const rt of stored)
      for (const o of this.store.scan(rt, undefined, false)) uids.add(String(meta(o).uid))
    const orphans: Array<{ graceful: boolean; object: JsonObject }> = []
    for (const rt of stored) {
      if (!rt.namespaced) continue
      for (const o of this.store.scan(rt, undefined, false)) {
        const refs = (meta(o).ownerReferences as JsonObject[] | undefined) ?? []
        if (!refs.length || refs.some(r => isObject(r) && uids.has(String(r.uid)))) continue
        orphans.push({ graceful: rt.resource === 'pods', object: clone(o) })
      }
    }
    for (const orphan of orphans) this.deleteObject(orphan.graceful, orphan.object)
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
