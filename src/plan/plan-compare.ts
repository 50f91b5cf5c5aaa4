// The read-only plan's comparison: a rendered object against its live version, looking only at the fields the
// rendered object sets (the live one also holds the server's defaults, status and other managers' fields,
// none of which an apply of ours would change), and a unified diff of the two for people.

import { identityKey, type LiveObjectMeta } from '../kube/objects.js'
import type { ApplyAction } from '../kube/apply.js'
import type { KubeObject } from '../k8s/kube-object.js'

export interface Comparison {
  object: KubeObject
  action: ApplyAction
  podTemplateChanged: boolean
  // The live object cut to the rendered object's shape: what the diff shows on its left.
  liveProjection: unknown
}

export function dryRunCompare(object: KubeObject, live: Map<string, LiveObjectMeta>): Comparison {
  const current = live.get(
    identityKey({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace })
  )
  if (!current)
    return { object, action: 'created', podTemplateChanged: object.kind === 'Deployment', liveProjection: {} }
  const projection = project(current, object)
  const template = (value: unknown): unknown => (value as { spec?: { template?: unknown } }).spec?.template
  return {
    object,
    action: sameJson(projection, object) ? 'unchanged' : 'configured',
    podTemplateChanged: object.kind === 'Deployment' && !sameJson(template(projection), template(object)),
    liveProjection: projection
  }
}

// `live` limited to the keys `shape` has, recursively. Lists of named items (containers, env) are matched by
// name, other lists by position.
export function project(live: unknown, shape: unknown): unknown {
  if (Array.isArray(shape)) {
    if (!Array.isArray(live)) return live
    const named = shape.every(item => isNamed(item)) && live.every(item => isNamed(item))
    return shape
      .map((item, index) => {
        const counterpart = named
          ? live.find(l => (l as { name: string }).name === (item as { name: string }).name)
          : live[index]
        return counterpart === undefined ? undefined : project(counterpart, item)
      })
      .filter(item => item !== undefined)
  }
  if (isPlainObject(shape)) {
    if (!isPlainObject(live)) return live
    const out: Record<string, unknown> = {}
    for (const key of Object.keys(shape)) if (key in live) out[key] = project(live[key], shape[key])
    return out
  }
  return live
}

function isNamed(value: unknown): boolean {
  return isPlainObject(value) && typeof value.name === 'string'
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sorted(a)) === JSON.stringify(sorted(b))
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted)
  if (!isPlainObject(value)) return value
  return Object.fromEntries(
    Object.keys(value)
      .filter(k => value[k] !== undefined)
      .sort()
      .map(k => [k, sorted(value[k])])
  )
}

// A unified diff (three lines of context) of two texts, as `diff -u` prints it; empty when they are equal.
export function unifiedDiff(before: string, after: string, beforeLabel: string, afterLabel: string): string {
  const a = before.split('\n')
  const b = after.split('\n')
  if (a.at(-1) === '') a.pop()
  if (b.at(-1) === '') b.pop()
  // Longest common subsequence table, from the ends.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--)
    for (let j = b.length - 1; j >= 0; j--)
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1])
  const lines: Array<{ op: ' ' | '-' | '+'; text: string; ai: number; bi: number }> = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) lines.push({ op: ' ', text: a[i], ai: i++, bi: j++ })
    else if (j < b.length && (i >= a.length || lcs[i][j + 1] >= lcs[i + 1][j]))
      lines.push({ op: '+', text: b[j], ai: i, bi: j++ })
    else lines.push({ op: '-', text: a[i], ai: i++, bi: j })
  }
  if (lines.every(l => l.op === ' ')) return ''
  const context = 3
  const out = [`--- ${beforeLabel}`, `+++ ${afterLabel}`]
  for (let k = 0; k < lines.length;) {
    if (lines[k].op === ' ') {
      k++
      continue
    }
    const start = Math.max(0, k - context)
    let end = k
    // Extend the hunk while changes follow within twice the context.
    for (let last = k; end < lines.length; end++) {
      if (lines[end].op !== ' ') last = end
      else if (end - last > context * 2) break
    }
    end = Math.min(lines.length, lastChange(lines, start, end) + context + 1)
    const hunk = lines.slice(start, end)
    const aStart = hunk[0].ai + 1
    const bStart = hunk[0].bi + 1
    const aCount = hunk.filter(l => l.op !== '+').length
    const bCount = hunk.filter(l => l.op !== '-').length
    out.push(`@@ -${aStart},${aCount} +${bStart},${bCount} @@`)
    for (const line of hunk) out.push(`${line.op}${line.text}`)
    k = end
  }
  return out.join('\n') + '\n'
}

function lastChange(lines: Array<{ op: string }>, from: number, to: number): number {
  let last = from
  for (let k = from; k < to; k++) if (lines[k].op !== ' ') last = k
  return last
}
