// The real API server's value-type checks, as the emulator's schema declares the types. Server-side apply
// checks a patch's values against the schema (structured-merge-diff: HTTP 500, "failed to create typed patch
// object") and converts it to the Go type (HTTP 500, "failed to convert new object"); create, update and
// strategic merge decode JSON into Go structs (HTTP 400, "json: cannot unmarshal"). The messages are the ones
// a kube-apiserver v1.36 gave for the same objects (recorded through the test control plane).

import type { Json, JsonObject } from './json.js'
import { isObject } from './json.js'
import type { Scalar, Schema } from './schema.js'
import { childSchema, KIND_SCHEMAS, resolve } from './schema.js'

export interface TypeMismatch {
  // structured-merge-diff's path: .spec.template.spec.containers[name="app"].env[name="X"].value
  smdPath: string
  // Go's decoder path: spec.template.spec.containers.env.value, and the innermost Go struct's name
  decodePath: string
  goStruct: string
  // what the typed-patch check says, or undefined when only the conversion after it fails
  smdMessage?: string
  conversionMessage?: string
  decodeMessage: string
}

const QUANTITY = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/
const QUANTITY_MESSAGE =
  "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

// How structured-merge-diff prints the value it got: strings and maps wrapped as `&{...}`, other scalars as
// `&value.valueUnstructured{Value:...}` (Go's %v of the wrapper it holds them in).
function smdGot(value: Json): string {
  if (typeof value === 'string') return `&{${value}}`
  if (Array.isArray(value)) return `&{[${value.map(v => goPlain(v)).join(' ')}]}`
  if (isObject(value)) return `&{${goPlain(value)}}`
  return `&value.valueUnstructured{Value:${goPlain(value)}}`
}

function goPlain(value: Json): string {
  if (Array.isArray(value)) return `[${value.map(goPlain).join(' ')}]`
  if (isObject(value))
    return `map[${Object.keys(value)
      .sort()
      .map(k => `${k}:${goPlain(value[k])}`)
      .join(' ')}]`
  return String(value)
}

function goTypeName(value: Json): string {
  if (typeof value === 'string') return 'string'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'number') return Number.isInteger(value) ? 'int64' : 'float64'
  if (Array.isArray(value)) return '[]interface {}'
  return 'map[string]interface {}'
}

// encoding/json's name for a JSON value's kind.
function jsonKind(value: Json): string {
  if (typeof value === 'string') return 'string'
  if (typeof value === 'boolean') return 'bool'
  if (typeof value === 'number') return 'number'
  if (Array.isArray(value)) return 'array'
  return 'object'
}

function scalarMismatch(
  s: Scalar,
  value: Json
): (Pick<TypeMismatch, 'smdMessage' | 'conversionMessage'> & { goType: string }) | undefined {
  switch (s.type) {
    case 'string':
      return typeof value === 'string'
        ? undefined
        : { smdMessage: `expected string, got ${smdGot(value)}`, goType: 'string' }
    case 'boolean':
      return typeof value === 'boolean'
        ? undefined
        : { smdMessage: `expected boolean, got ${smdGot(value)}`, goType: 'bool' }
    case 'integer':
      if (typeof value !== 'number') {
        return { smdMessage: `expected numeric (int or float), got ${goTypeName(value)}`, goType: 'int32' }
      }
      return Number.isInteger(value)
        ? undefined
        : { conversionMessage: 'cannot convert float64 to int32', goType: 'int32' }
    case 'int-or-string':
      return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))
        ? undefined
        : {
            conversionMessage: `json: cannot unmarshal ${jsonKind(value)} into Go value of type int32`,
            goType: 'intstr.IntOrString'
          }
    case 'quantity':
      return (typeof value === 'string' && QUANTITY.test(value)) || typeof value === 'number'
        ? undefined
        : { conversionMessage: QUANTITY_MESSAGE, goType: 'resource.Quantity' }
  }
}

// The first value, in document order, that the real server would refuse for its type.
export function firstTypeMismatch(obj: JsonObject, kind: string): TypeMismatch | undefined {
  const root = KIND_SCHEMAS[kind]
  if (!root) return undefined
  let found: TypeMismatch | undefined
  const walk = (v: Json, s: Schema | undefined, smd: string, decode: string, goStruct: string): void => {
    if (found || !s || s.t === 'free' || v === null) return
    if (s.t === 'scalar') {
      const wrong = scalarMismatch(s, v)
      if (!wrong) return
      found = {
        smdPath: smd,
        decodePath: decode,
        goStruct,
        smdMessage: wrong.smdMessage,
        conversionMessage: wrong.conversionMessage,
        decodeMessage: `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${goStruct}.${decode} of type ${wrong.goType}`
      }
      return
    }
    if (s.t === 'list') {
      if (!Array.isArray(v)) {
        found = {
          smdPath: smd,
          decodePath: decode,
          goStruct,
          smdMessage: `expected list, got ${smdGot(v)}`,
          decodeMessage: `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${goStruct}.${decode} of type []`
        }
        return
      }
      const of = resolve(s.of)
      v.forEach((item, i) => {
        const key =
          s.keys && isObject(item)
            ? `[${s.keys
                .filter(k => item[k] !== undefined)
                .map(k => `${k}=${JSON.stringify(item[k])}`)
                .join(',')}]`
            : `[${i}]`
        walk(item, of, smd + key, decode, goStruct)
      })
      return
    }
    if (!isObject(v)) {
      found = {
        smdPath: smd,
        decodePath: decode,
        goStruct,
        smdMessage: `expected map, got ${smdGot(v)}`,
        decodeMessage: `json: cannot unmarshal ${jsonKind(v)} into Go struct field ${goStruct}.${decode} of type map`
      }
      return
    }
    const inner = s.t === 'struct' && s.go ? s.go : goStruct
    for (const k of Object.keys(v)) {
      walk(v[k], childSchema(s, k), `${smd}.${k}`, decode ? `${decode}.${k}` : k, inner)
    }
  }
  walk(obj, root, '', '', kind)
  return found
}
