import type { Json, JsonObject } from './json.js'
import { deepEqual, getPath, isObject } from './json.js'
import type { Schema } from './schema.js'
import { childSchema, KIND_SCHEMAS, resolve } from './schema.js'
import type { FieldCause } from './status.js'

export interface UnknownField {
  decodePath: string // spec.template.spec.containers[0].imagePullPolicyy (strict decoding)
  smdPath: string // .spec.template.spec.containers[name="app"].imagePullPolicyy (SSA typed patch)
}

// Fields the schema does not declare, in document order.
export function unknownFields(obj: JsonObject, kind: string): UnknownField[] {
  const out: UnknownField[] = []
  const walk = (v: Json, s: Schema | undefined, dp: string, sp: string): void => {
    if (!s || s.t === 'scalar' || s.t === 'free' || v === null || typeof v !== 'object') return
    if (s.t === 'list') {
      if (!Array.isArray(v)) return
      const of = resolve(s.of)
      v.forEach((item, i) => {
        let el = `[${i}]`
        if (s.keys && isObject(item))
          el =
            '[' +
            s.keys
              .filter(k => item[k] !== undefined)
              .map(k => `${k}=${JSON.stringify(item[k])}`)
              .join(',') +
            ']'
        walk(item, of, `${dp}[${i}]`, sp + el)
      })
      return
    }
    if (!isObject(v)) return
    for (const k of Object.keys(v)) {
      const cs = childSchema(s, k)
      const d = dp ? `${dp}.${k}` : k
      if (!cs) {
        out.push({ decodePath: d, smdPath: `${sp}.${k}` })
        continue
      }
      walk(v[k], cs, d, `${sp}.${k}`)
    }
  }
  const schema = KIND_SCHEMAS[kind]
  if (schema) walk(obj, schema, '', '')
  return out
}

export function strictDecodingMessage(fields: UnknownField[]): string {
  return 'strict decoding error: ' + fields.map(f => `unknown field "${f.decodePath}"`).join(', ')
}

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"

// Go's %v rendering of a value inside "Invalid value: ..." messages
function goValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)
}

const invalidValue = (field: string, value: unknown, why: string): FieldCause => ({
  type: 'FieldValueInvalid',
  field,
  detail: `Invalid value: ${goValue(value)}: ${why}`
})
const required = (field: string, why = ''): FieldCause => ({
  type: 'FieldValueRequired',
  field,
  detail: why ? `Required value: ${why}` : 'Required value'
})

function validateName(obj: JsonObject, kind: string, causes: FieldCause[]): void {
  const name = getPath(obj, 'metadata', 'name')
  if (typeof name !== 'string' || name === '') {
    if (kind !== 'SelfSubjectAccessReview' && !getPath(obj, 'metadata', 'generateName'))
      causes.push(required('metadata.name', 'name or generateName is required'))
    return
  }
  if (kind === 'Namespace') {
    if (!DNS1123_LABEL.test(name) || name.length > 63)
      causes.push(invalidValue('metadata.name', name, LABEL_MSG))
  } else if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    causes.push(invalidValue('metadata.name', name, SUBDOMAIN_MSG))
  }
}

function nonNegative(v: unknown, field: string, causes: FieldCause[]): void {
  if (typeof v === 'number' && v < 0)
    causes.push(invalidValue(field, v, 'must be greater than or equal to 0'))
}

function selectorMatches(selector: unknown, labels: unknown): boolean {
  if (!isObject(selector)) return false
  const ml = isObject(selector.matchLabels) ? selector.matchLabels : {}
  const lbl = isObject(labels) ? labels : {}
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : []
  if (Object.keys(ml).length === 0 && exprs.length === 0) return false
  for (const [k, v] of Object.entries(ml)) if (lbl[k] !== v) return false
  for (const e of exprs) {
    if (!isObject(e)) continue
    const key = String(e.key)
    const values = Array.isArray(e.values) ? e.values.map(String) : []
    const has = key in lbl
    if (e.operator === 'In' && !(has && values.includes(String(lbl[key])))) return false
    if (e.operator === 'NotIn' && has && values.includes(String(lbl[key]))) return false
    if (e.operator === 'Exists' && !has) return false
    if (e.operator === 'DoesNotExist' && has) return false
  }
  return true
}

function validateContainers(
  list: unknown,
  field: string,
  causes: FieldCause[],
  requiredList: boolean,
  seen: Set<string>
): void {
  if (!Array.isArray(list) || list.length === 0) {
    if (requiredList) causes.push(required(field))
    return
  }
  list.forEach((c, i) => {
    const f = `${field}[${i}]`
    if (!isObject(c)) return
    if (typeof c.name !== 'string' || c.name === '') causes.push(required(`${f}.name`))
    else if (!DNS1123_LABEL.test(c.name)) causes.push(invalidValue(`${f}.name`, c.name, LABEL_MSG))
    else if (seen.has(c.name))
      causes.push({
        type: 'FieldValueInvalid',
        field: `${f}.name`,
        detail: `Duplicate value: ${JSON.stringify(c.name)}`
      })
    else seen.add(c.name)
    if (typeof c.image !== 'string' || c.image.trim() === '') causes.push(required(`${f}.image`))
    const env = Array.isArray(c.env) ? c.env : []
    env.forEach((e, j) => {
      if (isObject(e) && (typeof e.name !== 'string' || e.name === ''))
        causes.push(required(`${f}.env[${j}].name`))
    })
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
      const probe = c[p]
      if (!isObject(probe)) continue
      for (const n of [
        'initialDelaySeconds',
        'timeoutSeconds',
        'periodSeconds',
        'successThreshold',
        'failureThreshold'
      ])
        nonNegative(probe[n], `${f}.${p}.${n}`, causes)
    }
  })
}

function validatePodSpec(spec: unknown, field: string, causes: FieldCause[], onlyAlways: boolean): void {
  if (!isObject(spec)) {
    causes.push(required(`${field}.containers`))
    return
  }
  const seen = new Set<string>()
  validateContainers(spec.containers, `${field}.containers`, causes, true, seen)
  validateContainers(spec.initContainers, `${field}.initContainers`, causes, false, seen)
  if (onlyAlways && spec.restartPolicy !== undefined && spec.restartPolicy !== 'Always')
    causes.push({
      type: 'FieldValueNotSupported',
      field: `${field}.restartPolicy`,
      detail: `Unsupported value: ${JSON.stringify(spec.restartPolicy)}: supported values: "Always"`
    })
  nonNegative(spec.terminationGracePeriodSeconds, `${field}.terminationGracePeriodSeconds`, causes)
}

function validateWorkload(
  obj: JsonObject,
  old: JsonObject | undefined,
  causes: FieldCause[],
  kind: string
): void {
  const spec = isObject(obj.spec) ? obj.spec : {}
  nonNegative(spec.replicas, 'spec.replicas', causes)
  if (!isObject(spec.selector)) causes.push(required('spec.selector'))
  else if (
    isObject(spec.template) &&
    !selectorMatches(spec.selector, getPath(spec.template, 'metadata', 'labels'))
  )
    causes.push(
      invalidValue(
        'spec.template.metadata.labels',
        getPath(spec.template, 'metadata', 'labels') ?? {},
        '`selector` does not match template `labels`'
      )
    )
  if (old && !deepEqual(getPath(old, 'spec', 'selector'), spec.selector))
    causes.push(invalidValue('spec.selector', spec.selector, 'field is immutable'))
  validatePodSpec(getPath(spec, 'template', 'spec'), 'spec.template.spec', causes, true)
  if (kind === 'Deployment') {
    nonNegative(spec.revisionHistoryLimit, 'spec.revisionHistoryLimit', causes)
    nonNegative(spec.minReadySeconds, 'spec.minReadySeconds', causes)
    const pds = spec.progressDeadlineSeconds
    if (typeof pds === 'number' && typeof spec.minReadySeconds === 'number' && pds <= spec.minReadySeconds)
      causes.push(invalidValue('spec.progressDeadlineSeconds', pds, 'must be greater than minReadySeconds'))
    const strategy = isObject(spec.strategy) ? spec.strategy : {}
    if (strategy.type === 'Recreate' && strategy.rollingUpdate)
      causes.push({
        type: 'FieldValueForbidden',
        field: 'spec.strategy.rollingUpdate',
        detail: "Forbidden: may not be specified when strategy `type` is 'Recreate'"
      })
  }
}

function validateHpa(obj: JsonObject, causes: FieldCause[]): void {
  const spec = isObject(obj.spec) ? obj.spec : {}
  const ref = isObject(spec.scaleTargetRef) ? spec.scaleTargetRef : {}
  if (!ref.kind) causes.push(required('spec.scaleTargetRef.kind'))
  if (!ref.name) causes.push(required('spec.scaleTargetRef.name'))
  const min = typeof spec.minReplicas === 'number' ? spec.minReplicas : 1
  if (typeof spec.minReplicas === 'number' && spec.minReplicas < 1)
    causes.push(invalidValue('spec.minReplicas', spec.minReplicas, 'must be greater than or equal to 1'))
  if (typeof spec.maxReplicas !== 'number' || spec.maxReplicas < min)
    causes.push(
      invalidValue(
        'spec.maxReplicas',
        spec.maxReplicas ?? 0,
        'must be greater than or equal to `minReplicas`'
      )
    )
}

function validateSecret(obj: JsonObject, causes: FieldCause[]): void {
  const data = isObject(obj.data) ? obj.data : {}
  for (const [k, v] of Object.entries(data)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(k))
      causes.push(
        invalidValue(
          `data[${k}]`,
          k,
          "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        )
      )
    if (typeof v === 'string' && !/^[A-Za-z0-9+/]*={0,2}$/.test(v))
      causes.push(invalidValue(`data[${k}]`, '<secret contents redacted>', 'illegal base64 data'))
  }
}

// Semantic validation after defaulting; `old` is set on update.
export function validateObject(obj: JsonObject, kind: string, old?: JsonObject): FieldCause[] {
  const causes: FieldCause[] = []
  validateName(obj, kind, causes)
  if (old && getPath(old, 'metadata', 'name') !== getPath(obj, 'metadata', 'name'))
    causes.push(invalidValue('metadata.name', getPath(obj, 'metadata', 'name'), 'field is immutable'))
  if (kind === 'Deployment' || kind === 'ReplicaSet') validateWorkload(obj, old, causes, kind)
  if (kind === 'Pod') validatePodSpec(obj.spec, 'spec', causes, false)
  if (kind === 'HorizontalPodAutoscaler') validateHpa(obj, causes)
  if (kind === 'Secret') validateSecret(obj, causes)
  if (kind === 'Lease') nonNegative(getPath(obj, 'spec', 'leaseTransitions'), 'spec.leaseTransitions', causes)
  return causes
}
