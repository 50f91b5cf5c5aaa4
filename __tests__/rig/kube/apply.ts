import type { Json, JsonObject } from './json.js'
import { clone, deepEqual, isObject } from './json.js'
import type { FieldPath } from './fieldset.js'
import { applyFieldSet, deleteAt, formatPath, listKeyValue, minus, sameSet, valueAt } from './fieldset.js'
import type { Owner } from './managed.js'
import { nowSeconds, ownedByOthers, readOwners, sameOwner, writeOwners } from './managed.js'
import type { Schema } from './schema.js'
import { childSchema, KIND_SCHEMAS, resolve } from './schema.js'
import { applyConflict } from './status.js'

// Server-side apply: merge an applied configuration into the live object with ownership tracking.
// Defaulting, validation and persistence are the caller's job.
export function serverSideApply(
  live: JsonObject | undefined,
  applied: JsonObject,
  opts: { kind: string; manager: string; force: boolean; apiVersion: string }
): JsonObject {
  const schema = KIND_SCHEMAS[opts.kind]
  const newSet = applyFieldSet(applied, schema)
  const owners: Owner[] = readOwners(live)
  let mine = owners.find(o => sameOwner(o.entry, opts.manager, 'Apply'))

  if (live) {
    const conflicts: Array<{ manager: string; field: string; owner: Owner; path: FieldPath }> = []
    for (const o of owners) {
      if (o === mine || o.entry.subresource) continue
      for (const [k, p] of newSet) {
        if (!o.set.has(k) || p[p.length - 1] === '.') continue
        if (!deepEqual(valueAt(live, p), valueAt(applied, p)))
          conflicts.push({ manager: o.entry.manager, field: formatPath(p), owner: o, path: p })
      }
    }
    if (conflicts.length && !opts.force) throw applyConflict(conflicts)
    for (const c of conflicts) c.owner.set = minus(c.owner.set, new Set([[...c.path].join('\u0001')]))
  }

  const result: JsonObject = live ? clone(live) : {}
  if (live && mine) {
    const dropped = minus(mine.set, newSet)
    // deepest paths first so that removing a list item does not hide its own fields
    const paths = [...dropped.values()].sort((a, b) => b.length - a.length)
    for (const p of paths) {
      const target = p[p.length - 1] === '.' ? p.slice(0, -1) : p
      if (!ownedByOthers(owners, mine, target)) deleteAt(result, target)
    }
  }
  mergeApplied(result, applied, schema)

  if (mine) {
    // the entry's time also moves when the object changes; the caller knows that only after defaulting
    if (!sameSet(mine.set, newSet)) {
      mine.set = newSet
      mine.entry = { ...mine.entry, time: nowSeconds(), apiVersion: opts.apiVersion }
    }
  } else {
    mine = {
      entry: {
        manager: opts.manager,
        operation: 'Apply',
        apiVersion: opts.apiVersion,
        time: nowSeconds(),
        fieldsType: 'FieldsV1',
        fieldsV1: {}
      },
      set: newSet
    }
    owners.push(mine)
  }
  writeOwners(result, owners)
  return result
}

// After defaulting: when the applied change altered the object, the applier's managedFields time moves too.
export function touchApplyTime(obj: JsonObject, old: JsonObject, manager: string): void {
  const strip = (o: JsonObject): unknown => {
    const c = clone(o)
    if (isObject(c.metadata)) {
      delete c.metadata.managedFields
      delete c.metadata.generation
    }
    return c
  }
  if (deepEqual(strip(obj), strip(old))) return
  const owners = readOwners(obj)
  const mine = owners.find(o => sameOwner(o.entry, manager, 'Apply'))
  if (!mine) return
  mine.entry = { ...mine.entry, time: nowSeconds() }
  writeOwners(obj, owners)
}

function mergeApplied(target: JsonObject, applied: JsonObject, s: Schema | undefined, top = true): void {
  for (const [k, v] of Object.entries(applied)) {
    if (top && k === 'status') continue
    const cs = childSchema(s, k)
    if (v === null) {
      delete target[k]
      continue
    }
    if (isObject(v) && cs && (cs.t === 'struct' || cs.t === 'map') && !cs.atomic) {
      const t = isObject(target[k]) ? (target[k] as JsonObject) : {}
      mergeApplied(t, v, cs, false)
      target[k] = t
    } else if (Array.isArray(v) && cs?.t === 'list' && cs.keys) {
      const keys = cs.keys
      const of = resolve(cs.of)
      const live = Array.isArray(target[k]) ? (target[k] as Json[]) : []
      const same = (a: Json, b: Json): boolean =>
        isObject(a) && isObject(b) && keys.every(key => deepEqual(listKeyValue(a, key), listKeyValue(b, key)))
      const merged: Json[] = v.map(item => {
        const existing = live.find(x => same(x, item))
        if (!isObject(item)) return clone(item)
        const t = isObject(existing) ? clone(existing) : {}
        mergeApplied(t, item, of, false)
        return t
      })
      for (const x of live) if (!v.some(item => same(x, item))) merged.push(x)
      target[k] = merged
    } else if (Array.isArray(v) && cs?.t === 'list' && cs.set) {
      const live = Array.isArray(target[k]) ? (target[k] as Json[]) : []
      target[k] = [...v.map(clone), ...live.filter(x => !v.some(y => deepEqual(x, y)))]
    } else target[k] = clone(v)
  }
}
