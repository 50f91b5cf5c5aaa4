import { randomUUID } from 'node:crypto'
import { applyDefaults } from '../defaults.js'
import type { JsonObject } from '../json.js'
import { clone, deepEqual } from '../json.js'
import { nowSeconds, recordUpdate } from '../managed.js'
import type { ResourceType } from '../resources.js'
import { apiVersionOf, RESOURCES } from '../resources.js'
import type { Store } from '../store.js'
import { meta } from '../store.js'

export const rtOf = (resource: string, group = ''): ResourceType =>
  RESOURCES.find(r => r.resource === resource && r.group === group) as ResourceType

// How controllers write: straight to the store, with managedFields and generation kept like the apiserver would.
export class ControllerWriter {
  constructor(private store: Store) {}

  create(rt: ResourceType, obj: JsonObject, manager: string): JsonObject {
    const o = clone(obj)
    o.kind = rt.kind
    o.apiVersion = apiVersionOf(rt)
    const m = meta(o)
    m.uid = randomUUID()
    m.creationTimestamp = nowSeconds()
    if (rt.hasGeneration) m.generation = 1
    applyDefaults(o, rt.kind, true)
    recordUpdate(undefined, o, rt.kind, manager, apiVersionOf(rt))
    return this.store.put(rt, orderTop(o))
  }

  // Returns the stored object; nothing is written when next equals old.
  update(
    rt: ResourceType,
    old: JsonObject,
    next: JsonObject,
    manager: string,
    subresource?: 'status'
  ): JsonObject {
    const o = clone(next)
    if (rt.hasGeneration && !deepEqual(old.spec, o.spec))
      meta(o).generation = Number(meta(old).generation ?? 1) + 1
    recordUpdate(old, o, rt.kind, manager, apiVersionOf(rt), subresource)
    if (deepEqual(o, old)) return old
    return this.store.put(rt, o)
  }
}

function orderTop(o: JsonObject): JsonObject {
  const { kind, apiVersion, metadata, spec, ...rest } = o
  return spec === undefined
    ? { kind, apiVersion, metadata, ...rest }
    : { kind, apiVersion, metadata, spec, ...rest }
}
