import type { Json, JsonObject } from './json.js'
import { isObject } from './json.js'
import type { FieldSet } from './fieldset.js'
import {
  changedFieldSet,
  fromFieldsV1,
  hasPathUnder,
  minus,
  missingPaths,
  pathKey,
  sameSet,
  toFieldsV1,
  union
} from './fieldset.js'
import { KIND_SCHEMAS } from './schema.js'

// managedFields bookkeeping: who owns which field, as structured-merge-diff records it.
export interface ManagedEntry {
  manager: string
  operation: 'Apply' | 'Update'
  apiVersion: string
  time: string
  fieldsType: 'FieldsV1'
  fieldsV1: JsonObject
  subresource?: string
}

export interface Owner {
  entry: ManagedEntry
  set: FieldSet
}

export const nowSeconds = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')

export function readOwners(obj: JsonObject | undefined): Owner[] {
  const list =
    obj && isObject(obj.metadata) && Array.isArray(obj.metadata.managedFields)
      ? obj.metadata.managedFields
      : []
  return list
    .filter(isObject)
    .map(e => ({ entry: e as unknown as ManagedEntry, set: fromFieldsV1(e.fieldsV1 as Json) }))
}

export function writeOwners(obj: JsonObject, owners: Owner[]): void {
  const meta = isObject(obj.metadata) ? obj.metadata : (obj.metadata = {})
  const entries = owners
    .filter(o => o.set.size > 0)
    .map(o => {
      const e: JsonObject = {
        manager: o.entry.manager,
        operation: o.entry.operation,
        apiVersion: o.entry.apiVersion,
        time: o.entry.time,
        fieldsType: 'FieldsV1',
        fieldsV1: toFieldsV1(o.set)
      }
      if (o.entry.subresource) e.subresource = o.entry.subresource
      return e
    })
  if (entries.length) meta.managedFields = entries
  else delete meta.managedFields
}

export const sameOwner = (
  e: ManagedEntry,
  manager: string,
  operation: string,
  subresource?: string
): boolean =>
  e.manager === manager && e.operation === operation && (e.subresource ?? '') === (subresource ?? '')

// Record a non-apply write: the manager takes every field it changed; fields that disappeared lose their owners.
export function recordUpdate(
  oldObj: JsonObject | undefined,
  newObj: JsonObject,
  kind: string,
  manager: string,
  apiVersion: string,
  subresource?: string
): void {
  const schema = KIND_SCHEMAS[kind]
  if (!schema) return
  const owners = readOwners(oldObj)
  // a status write may carry metadata too (the deployment controller's revision annotation)
  const changed =
    subresource === 'status'
      ? union(
          changedFieldSet(oldObj, newObj, schema, 'status'),
          changedFieldSet(oldObj, newObj, schema, 'metadata')
        )
      : changedFieldSet(oldObj, newObj, schema)
  const gone = new Set<string>()
  for (const o of owners) for (const p of missingPaths(o.set, newObj)) gone.add(pathKey(p))
  const changedKeys = new Set(changed.keys())
  let mine = owners.find(o => sameOwner(o.entry, manager, 'Update', subresource))
  for (const o of owners) {
    if (o === mine) continue
    const next = minus(minus(o.set, changedKeys), gone)
    if (!sameSet(next, o.set)) o.set = next
  }
  if (mine) {
    const next = minus(union(mine.set, changed), gone)
    if (!sameSet(next, mine.set)) {
      mine.set = next
      mine.entry = { ...mine.entry, time: nowSeconds(), apiVersion }
    }
  } else if (changed.size) {
    mine = {
      entry: {
        manager,
        operation: 'Update',
        apiVersion,
        time: nowSeconds(),
        fieldsType: 'FieldsV1',
        fieldsV1: {},
        ...(subresource ? { subresource } : {})
      },
      set: changed
    }
    owners.push(mine)
  }
  writeOwners(newObj, owners)
}

export function ownedByOthers(owners: Owner[], self: Owner | undefined, p: string[]): boolean {
  return owners.some(o => o !== self && !o.entry.subresource && hasPathUnder(o.set, p))
}

// Fields a user-agent-derived manager name uses when the client sends no fieldManager: `kubectl.1.33` etc.
export function managerFromUserAgent(ua: string | undefined): string {
  const first = (ua ?? 'unknown').split('/')[0]
  return first || 'unknown'
}
