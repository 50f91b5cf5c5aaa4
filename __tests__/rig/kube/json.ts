// Plain-JSON helpers shared by patching, apply and the controllers.
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
export type JsonObject = { [k: string]: Json }

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export function clone<T>(v: T): T {
  return v === undefined ? v : (JSON.parse(JSON.stringify(v)) as T)
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    return a.length === bb.length && a.every((x, i) => deepEqual(x, bb[i]))
  }
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  const ak = Object.keys(ao).filter(k => ao[k] !== undefined)
  const bk = Object.keys(bo).filter(k => bo[k] !== undefined)
  return ak.length === bk.length && ak.every(k => deepEqual(ao[k], bo[k]))
}

// Reach into nested objects, creating intermediate objects as needed.
export function ensureObject(parent: JsonObject, key: string): JsonObject {
  const v = parent[key]
  if (isObject(v)) return v
  const created: JsonObject = {}
  parent[key] = created
  return created
}

export function getPath(obj: unknown, ...keys: string[]): unknown {
  let cur: unknown = obj
  for (const k of keys) {
    if (!isObject(cur)) return undefined
    cur = cur[k]
  }
  return cur
}

// Go's decoder turns `null` into the zero value, which serialises as absent (e.g. template
// `creationTimestamp: null` sent by `kubectl rollout undo`).
export function dropNulls(v: Json): Json {
  if (Array.isArray(v)) return v.map(dropNulls)
  if (!isObject(v)) return v
  const out: JsonObject = {}
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = dropNulls(x)
  return out
}
