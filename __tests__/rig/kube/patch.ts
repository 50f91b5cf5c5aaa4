import type { Json, JsonObject } from './json.js'
import { clone, deepEqual, isObject } from './json.js'
import type { Schema } from './schema.js'
import { childSchema, resolve } from './schema.js'
import { badRequest, ApiError } from './status.js'

// RFC 6902
export function applyJsonPatch(doc: JsonObject, ops: unknown): JsonObject {
  if (!Array.isArray(ops)) throw badRequest('the server rejected our request due to an error in our request')
  let root: Json = clone(doc)
  const parse = (p: string): string[] =>
    p === ''
      ? []
      : p
          .slice(1)
          .split('/')
          .map(s => s.replace(/~1/g, '/').replace(/~0/g, '~'))
  const parentOf = (tokens: string[]): { parent: Json; key: string } => {
    let cur: Json = root
    for (const t of tokens.slice(0, -1)) {
      if (Array.isArray(cur)) cur = cur[Number(t)]
      else if (isObject(cur)) cur = cur[t]
      else cur = null
      if (cur === undefined || cur === null)
        throw badRequest(`the server rejected our request due to an error in our request`)
    }
    return { parent: cur, key: tokens[tokens.length - 1] }
  }
  const get = (tokens: string[]): Json | undefined => {
    let cur: Json | undefined = root
    for (const t of tokens) {
      if (Array.isArray(cur)) cur = cur[Number(t)]
      else if (isObject(cur)) cur = cur[t]
      else return undefined
    }
    return cur
  }
  const remove = (tokens: string[]): Json => {
    const { parent, key } = parentOf(tokens)
    if (Array.isArray(parent)) return parent.splice(Number(key), 1)[0]
    if (isObject(parent) && key in parent) {
      const v = parent[key]
      delete parent[key]
      return v
    }
    throw new ApiError({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `jsonpatch remove operation does not apply: doc is missing path: "/${tokens.join('/')}"`,
      reason: 'Invalid',
      code: 422
    })
  }
  const add = (tokens: string[], value: Json, replace: boolean): void => {
    if (tokens.length === 0) {
      root = value
      return
    }
    const { parent, key } = parentOf(tokens)
    if (Array.isArray(parent)) {
      const i = key === '-' ? parent.length : Number(key)
      if (replace) parent[i] = value
      else parent.splice(i, 0, value)
    } else if (isObject(parent)) {
      if (replace && !(key in parent))
        throw new ApiError({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `jsonpatch replace operation does not apply: doc is missing key: /${tokens.join('/')}: missing value`,
          reason: 'Invalid',
          code: 422
        })
      parent[key] = value
    }
  }
  for (const op of ops) {
    if (!isObject(op)) continue
    const path = parse(String(op.path ?? ''))
    switch (op.op) {
      case 'add':
        add(path, clone(op.value ?? null), false)
        break
      case 'replace':
        add(path, clone(op.value ?? null), true)
        break
      case 'remove':
        remove(path)
        break
      case 'move': {
        const v = remove(parse(String(op.from)))
        add(path, v, false)
        break
      }
      case 'copy':
        add(path, clone(get(parse(String(op.from))) ?? null), false)
        break
      case 'test':
        if (!deepEqual(get(path), op.value))
          throw new ApiError({
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            message: 'testing value failed',
            reason: 'Invalid',
            code: 422
          })
        break
      default:
        throw badRequest(`Unexpected kind: ${String(op.op)}`)
    }
  }
  if (!isObject(root)) throw badRequest('patch result is not an object')
  return root
}

// RFC 7386
export function applyMergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return clone(patch)
  const out: JsonObject = isObject(target) ? clone(target) : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = applyMergePatch(out[k], v)
  }
  return out
}

// Strategic merge patch: lists with a merge key merge by it, `$patch`, `$setElementOrder`, `$retainKeys`
// and `$deleteFromPrimitiveList` directives are honoured.
export function applyStrategicMergePatch(target: Json | undefined, patch: Json, s: Schema | undefined): Json {
  if (!isObject(patch)) return clone(patch)
  if (patch.$patch === 'replace') {
    const copy = clone(patch)
    delete copy.$patch
    return copy
  }
  if (patch.$patch === 'delete') return null
  const out: JsonObject = isObject(target) ? clone(target) : {}
  const orders: Record<string, Json[]> = {}
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String))
    for (const k of Object.keys(out)) if (!keep.has(k)) delete out[k]
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$retainKeys' || k === '$patch') continue
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders[k.slice('$setElementOrder/'.length)] = v
      continue
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length)
      const cur = out[field]
      if (Array.isArray(cur) && Array.isArray(v)) out[field] = cur.filter(x => !v.some(d => deepEqual(d, x)))
      continue
    }
    const cs = childSchema(s, k)
    if (v === null) {
      delete out[k]
      continue
    }
    if (Array.isArray(v) && cs?.t === 'list' && cs.keys)
      out[k] = mergeKeyedList(out[k], v, cs.keys[0], resolve(cs.of))
    else if (Array.isArray(v) && cs?.t === 'list' && cs.set) {
      const cur = Array.isArray(out[k]) ? (out[k] as Json[]) : []
      out[k] = [...cur, ...v.filter(x => !cur.some(c => deepEqual(c, x)))]
    } else if (isObject(v) && !(cs && (cs.t === 'struct' || cs.t === 'map') && cs.atomic))
      out[k] = applyStrategicMergePatch(out[k], v, cs) as Json
    else out[k] = clone(v)
    if (out[k] === null) delete out[k]
  }
  for (const [field, order] of Object.entries(orders)) {
    const cs = childSchema(s, field)
    const list = out[field]
    if (!Array.isArray(list) || cs?.t !== 'list') continue
    const key = cs.keys?.[0]
    const id = (x: Json): Json => (key && isObject(x) ? (x[key] ?? null) : x)
    const rank = (x: Json): number => {
      const i = order.findIndex(o => deepEqual(id(o), id(x)))
      return i < 0 ? order.length : i
    }
    out[field] = [...list].sort((a, b) => rank(a) - rank(b))
  }
  return out
}

function mergeKeyedList(target: Json | undefined, patch: Json[], key: string, of: Schema): Json[] {
  if (patch.some(p => isObject(p) && p.$patch === 'replace'))
    return patch.filter(p => !(isObject(p) && p.$patch)).map(clone)
  const out: Json[] = Array.isArray(target) ? clone(target) : []
  for (const item of patch) {
    if (!isObject(item)) continue
    const i = out.findIndex(x => isObject(x) && deepEqual(x[key], item[key]))
    if (item.$patch === 'delete') {
      if (i >= 0) out.splice(i, 1)
      continue
    }
    if (i >= 0) out[i] = applyStrategicMergePatch(out[i], item, of)
    else out.push(applyStrategicMergePatch(undefined, item, of))
  }
  return out
}

// What the strategic patch itself contains, minus directives: used for the strict unknown-field check.
export function stripDirectives(v: Json): Json {
  if (Array.isArray(v)) return v.map(stripDirectives)
  if (!isObject(v)) return v
  const out: JsonObject = {}
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x)
  return out
}

// The apiserver echoes a bad strategic patch as Go's %+v of the map left after merging: directives and merged
// keyed lists are consumed by then (golden seq 137).
export function consumedPatchString(v: Json, s: Schema | undefined): string {
  const strip = (x: Json, sch: Schema | undefined): Json => {
    if (!isObject(x)) return x
    const out: JsonObject = {}
    for (const [k, val] of Object.entries(x)) {
      if (k.startsWith('$')) continue
      const cs = childSchema(sch, k)
      if (Array.isArray(val) && cs?.t === 'list' && cs.keys) continue
      out[k] = isObject(val) ? strip(val, cs) : val
    }
    return out
  }
  return goMapString(strip(v, s))
}

function goMapString(v: Json): string {
  if (v === null) return '<nil>'
  if (Array.isArray(v)) return '[' + v.map(goMapString).join(' ') + ']'
  if (isObject(v))
    return (
      'map[' +
      Object.keys(v)
        .sort()
        .map(k => `${k}:${goMapString(v[k])}`)
        .join(' ') +
      ']'
    )
  return String(v)
}
