import type { Json, JsonObject } from './json.js'
import { deepEqual, isObject } from './json.js'
import type { Schema } from './schema.js'
import { childSchema, resolve } from './schema.js'

// A field set as structured-merge-diff writes it in managedFields: paths of `f:`, `k:` and `v:` elements;
// a path ending in '.' marks the node itself (list items, added maps).
export type FieldPath = string[]
export type FieldSet = Map<string, FieldPath>

const SEP = '\u0001'
export const pathKey = (p: FieldPath): string => p.join(SEP)

export function addPath(set: FieldSet, p: FieldPath): void {
  set.set(pathKey(p), p)
}

// Key fields the server defaults before merging (a port without protocol is the TCP port), so an applied item
// that leaves them out still matches the live, defaulted item instead of being added a second time.
export const LIST_KEY_DEFAULTS: Record<string, Json> = { protocol: 'TCP' }

export function listKeyValue(item: Json, key: string): Json | undefined {
  if (!isObject(item)) return undefined
  return item[key] !== undefined ? item[key] : LIST_KEY_DEFAULTS[key]
}

function itemKey(item: Json, keys: string[]): string {
  const o: JsonObject = {}
  for (const k of [...keys].sort()) {
    const value = listKeyValue(item, k)
    if (value !== undefined) o[k] = value
  }
  return 'k:' + JSON.stringify(o)
}

function listElement(item: Json, s: Schema): string | undefined {
  if (s.t !== 'list') return undefined
  if (s.keys) return itemKey(item, s.keys)
  if (s.set) return 'v:' + JSON.stringify(item)
  return undefined
}

function isLeafSchema(s: Schema | undefined): boolean {
  if (!s) return true
  if (s.t === 'scalar' || s.t === 'free') return true
  if (s.t === 'struct' || s.t === 'map') return !!s.atomic
  return !s.keys && !s.set // atomic list
}

const TOP_SKIP = new Set(['apiVersion', 'kind', 'status'])
const META_SKIP = new Set([
  'name',
  'namespace',
  'managedFields',
  'resourceVersion',
  'uid',
  'creationTimestamp',
  'generation'
])

function skipped(path: FieldPath, key: string): boolean {
  if (path.length === 0) return TOP_SKIP.has(key)
  return path.length === 1 && path[0] === 'f:metadata' && META_SKIP.has(key)
}

// Every field an applied configuration sets (what an Apply manager owns).
export function applyFieldSet(obj: JsonObject, schema: Schema): FieldSet {
  const set: FieldSet = new Map()
  const walk = (v: Json, s: Schema | undefined, path: FieldPath): void => {
    if (isLeafSchema(s) || v === null || typeof v !== 'object') {
      if (path.length) addPath(set, path)
      return
    }
    const sch = s as Schema
    if (sch.t === 'list') {
      if (!Array.isArray(v)) return addPath(set, path)
      if (v.length === 0 && path.length) addPath(set, path)
      const of = resolve(sch.of)
      for (const item of v) {
        const el = listElement(item, sch)
        if (!el) continue
        const ip = [...path, el]
        addPath(set, [...ip, '.'])
        if (isObject(item)) walk(item, of, ip)
      }
      return
    }
    if (!isObject(v)) return addPath(set, path)
    const keys = Object.keys(v).filter(k => !skipped(path, k))
    // an empty object is a value of its own; one holding only untracked fields (name, namespace) is not
    if (Object.keys(v).length === 0 && path.length) return addPath(set, path)
    for (const k of keys) walk(v[k], childSchema(sch, k), [...path, 'f:' + k])
  }
  walk(obj, schema, [])
  return set
}

// Fields an Update (POST/PUT/non-apply PATCH, controller write) changed: its manager takes them over.
export function changedFieldSet(
  oldObj: JsonObject | undefined,
  newObj: JsonObject,
  schema: Schema,
  subtree?: string
): FieldSet {
  const set: FieldSet = new Map()
  const walk = (o: Json | undefined, n: Json, s: Schema | undefined, path: FieldPath): void => {
    if (deepEqual(o, n)) return
    if (isLeafSchema(s) || n === null || typeof n !== 'object') {
      if (path.length) addPath(set, path)
      return
    }
    const sch = s as Schema
    if (sch.t === 'list') {
      if (!Array.isArray(n)) return addPath(set, path)
      const oldItems = Array.isArray(o) ? o : []
      if (o === undefined && path.length && path[path.length - 1] !== 'f:containers')
        addPath(set, [...path, '.'])
      if (n.length === 0 && path.length) addPath(set, path)
      const of = resolve(sch.of)
      for (const item of n) {
        const el = listElement(item, sch)
        if (!el) continue
        const prev = oldItems.find(x => listElement(x, sch) === el)
        const ip = [...path, el]
        if (prev === undefined) addPath(set, [...ip, '.'])
        if (isObject(item)) walk(prev, item, of, ip)
      }
      return
    }
    if (!isObject(n)) return addPath(set, path)
    const keys = Object.keys(n).filter(k => !skipped(path, k))
    if (Object.keys(n).length === 0) {
      if (path.length) addPath(set, path)
      return
    }
    const wasAbsent = o === undefined || o === null
    if (wasAbsent && path.length && (sch.t === 'map' || (sch.t === 'struct' && sch.ptr)))
      addPath(set, [...path, '.'])
    const oo = isObject(o) ? o : {}
    for (const k of keys) walk(oo[k], n[k], childSchema(sch, k), [...path, 'f:' + k])
  }
  if (subtree) walk(oldObj?.[subtree], newObj[subtree] ?? {}, childSchema(schema, subtree), ['f:' + subtree])
  else walk(oldObj, newObj, schema, [])
  return set
}

// Leaf paths of `set` whose node no longer exists in obj.
export function missingPaths(set: FieldSet, obj: JsonObject): FieldPath[] {
  const out: FieldPath[] = []
  for (const p of set.values()) {
    const target = p[p.length - 1] === '.' ? p.slice(0, -1) : p
    if (valueAt(obj, target) === undefined) out.push(p)
  }
  return out
}

function matchElement(list: Json, el: string): number {
  if (!Array.isArray(list)) return -1
  if (el.startsWith('k:')) {
    const want = JSON.parse(el.slice(2)) as JsonObject
    return list.findIndex(
      item => isObject(item) && Object.entries(want).every(([k, v]) => deepEqual(item[k], v))
    )
  }
  if (el.startsWith('v:')) {
    const want = JSON.parse(el.slice(2)) as Json
    return list.findIndex(item => deepEqual(item, want))
  }
  return -1
}

export function valueAt(obj: Json | undefined, path: FieldPath): Json | undefined {
  let cur: Json | undefined = obj
  for (const el of path) {
    if (cur === undefined || cur === null) return undefined
    if (el.startsWith('f:')) {
      if (!isObject(cur)) return undefined
      cur = cur[el.slice(2)]
    } else {
      const i = matchElement(cur, el)
      if (i < 0) return undefined
      cur = (cur as Json[])[i]
    }
  }
  return cur
}

// Remove the node at path (a field, or a list element by key).
export function deleteAt(obj: JsonObject, path: FieldPath): void {
  if (path.length === 0) return
  const parent = valueAt(obj, path.slice(0, -1))
  const last = path[path.length - 1]
  if (last.startsWith('f:')) {
    if (isObject(parent)) delete parent[last.slice(2)]
  } else if (Array.isArray(parent)) {
    const i = matchElement(parent, last)
    if (i >= 0) parent.splice(i, 1)
  }
}

export function toFieldsV1(set: FieldSet): JsonObject {
  const root: JsonObject = {}
  const paths = [...set.values()]
  for (const p of paths) {
    let cur = root
    for (const el of p) {
      if (!isObject(cur[el])) cur[el] = {}
      cur = cur[el] as JsonObject
    }
  }
  return sortKeys(root)
}

function sortKeys(o: JsonObject): JsonObject {
  const out: JsonObject = {}
  for (const k of Object.keys(o).sort()) out[k] = sortKeys(o[k] as JsonObject)
  return out
}

export function fromFieldsV1(v: Json | undefined): FieldSet {
  const set: FieldSet = new Map()
  const walk = (node: Json, path: FieldPath): void => {
    if (!isObject(node)) return
    const keys = Object.keys(node)
    if (keys.length === 0 && path.length) addPath(set, path)
    for (const k of keys) {
      if (k === '.') addPath(set, [...path, '.'])
      else walk(node[k], [...path, k])
    }
  }
  if (v !== undefined) walk(v, [])
  return set
}

// `.spec.template.spec.containers[name="app"].image`, the syntax of SSA conflict messages
export function formatPath(p: FieldPath): string {
  let out = ''
  for (const el of p) {
    if (el === '.') continue
    if (el.startsWith('f:')) out += '.' + el.slice(2)
    else if (el.startsWith('k:')) {
      const o = JSON.parse(el.slice(2)) as JsonObject
      out +=
        '[' +
        Object.entries(o)
          .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
          .join(',') +
        ']'
    } else if (el.startsWith('v:')) out += `[=${el.slice(2)}]`
  }
  return out
}

export function union(a: FieldSet, b: FieldSet): FieldSet {
  const out = new Map(a)
  for (const [k, v] of b) out.set(k, v)
  return out
}

export function minus(a: FieldSet, b: FieldSet | Set<string>): FieldSet {
  const out: FieldSet = new Map()
  for (const [k, v] of a) if (!b.has(k)) out.set(k, v)
  return out
}

export function sameSet(a: FieldSet, b: FieldSet): boolean {
  return a.size === b.size && [...a.keys()].every(k => b.has(k))
}

// A path owned in `set` that is `p` or lies beneath `p` (removing p would take it away).
export function hasPathUnder(set: FieldSet, p: FieldPath): boolean {
  const prefix = pathKey(p)
  for (const k of set.keys()) if (k === prefix || k.startsWith(prefix + SEP)) return true
  return false
}
