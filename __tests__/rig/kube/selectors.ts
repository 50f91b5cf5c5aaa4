import type { JsonObject } from './json.js'
import { getPath, isObject } from './json.js'
import { badRequest } from './status.js'

type Requirement = (labels: Record<string, string>) => boolean

function splitTop(s: string): string[] {
  const parts: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of s) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      parts.push(cur)
      cur = ''
    } else cur += ch
  }
  if (cur.trim()) parts.push(cur)
  return parts.map(p => p.trim()).filter(Boolean)
}

// Label selector syntax: a=b, a==b, a!=b, a in (x,y), a notin (x), a, !a
export function parseLabelSelector(sel: string | null): Requirement {
  if (!sel) return () => true
  const reqs: Requirement[] = splitTop(sel).map(part => {
    let m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part)
    if (m) {
      const [, key, op, list] = m
      const values = list.split(',').map(v => v.trim())
      return op === 'in'
        ? l => key in l && values.includes(l[key])
        : l => !(key in l) || !values.includes(l[key])
    }
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(part)
    if (m) {
      const [, key, op, value] = m
      return op === '!=' ? l => l[key] !== value : l => l[key] === value
    }
    m = /^(!?)([\w./-]+)$/.exec(part)
    if (m) {
      const [, not, key] = m
      return not ? l => !(key in l) : l => key in l
    }
    throw badRequest(`unable to parse requirement: found '${part}', expected: identifier`)
  })
  return labels => reqs.every(r => r(labels))
}

const FIELD_PATHS: Record<string, (o: JsonObject) => unknown> = {
  'metadata.name': o => getPath(o, 'metadata', 'name'),
  'metadata.namespace': o => getPath(o, 'metadata', 'namespace'),
  'status.phase': o => getPath(o, 'status', 'phase'),
  'spec.nodeName': o => getPath(o, 'spec', 'nodeName'),
  'involvedObject.kind': o => getPath(o, 'involvedObject', 'kind'),
  'involvedObject.name': o => getPath(o, 'involvedObject', 'name'),
  'involvedObject.namespace': o => getPath(o, 'involvedObject', 'namespace'),
  'involvedObject.uid': o => getPath(o, 'involvedObject', 'uid'),
  'involvedObject.apiVersion': o => getPath(o, 'involvedObject', 'apiVersion'),
  'involvedObject.resourceVersion': o => getPath(o, 'involvedObject', 'resourceVersion'),
  'involvedObject.fieldPath': o => getPath(o, 'involvedObject', 'fieldPath'),
  reason: o => o.reason,
  type: o => o.type,
  source: o => getPath(o, 'source', 'component')
}

export function parseFieldSelector(sel: string | null, kind: string): (o: JsonObject) => boolean {
  if (!sel) return () => true
  const reqs = splitTop(sel).map(part => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(part)
    if (!m) throw badRequest(`invalid selector: '${sel}'; can't understand '${part}'`)
    const [, field, op, value] = m
    const get = FIELD_PATHS[field]
    const allowed =
      field.startsWith('metadata.') ||
      (kind === 'Event'
        ? field.startsWith('involvedObject.') || ['reason', 'type', 'source'].includes(field)
        : kind === 'Pod' && ['status.phase', 'spec.nodeName'].includes(field))
    if (!get || !allowed)
      throw badRequest(`"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`)
    return (o: JsonObject) => {
      const actual = String(get(o) ?? '')
      return op === '!=' ? actual !== value : actual === value
    }
  })
  return o => reqs.every(r => r(o))
}

export function labelsOf(o: JsonObject): Record<string, string> {
  const l = getPath(o, 'metadata', 'labels')
  return isObject(l) ? (l as Record<string, string>) : {}
}

// A LabelSelector object (matchLabels/matchExpressions) as a predicate.
export function selectorObjectMatches(selector: unknown, labels: Record<string, string>): boolean {
  if (!isObject(selector)) return false
  const ml = isObject(selector.matchLabels) ? selector.matchLabels : {}
  for (const [k, v] of Object.entries(ml)) if (labels[k] !== v) return false
  const exprs = Array.isArray(selector.matchExpressions) ? selector.matchExpressions : []
  for (const e of exprs) {
    if (!isObject(e)) continue
    const key = String(e.key)
    const values = Array.isArray(e.values) ? e.values.map(String) : []
    if (e.operator === 'In' && !(key in labels && values.includes(labels[key]))) return false
    if (e.operator === 'NotIn' && key in labels && values.includes(labels[key])) return false
    if (e.operator === 'Exists' && !(key in labels)) return false
    if (e.operator === 'DoesNotExist' && key in labels) return false
  }
  return true
}

export function selectorToString(selector: unknown): string {
  if (!isObject(selector) || !isObject(selector.matchLabels)) return ''
  return Object.entries(selector.matchLabels)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')
}
