// The job summary (and PR comment) of a dry run against the cluster: first what would change in the workers'
// behaviour (what a reviewer looks for), then per object what server-side apply would do and the rollouts it
// would cause, kubectl diff's view folded last; all escaped and redacted.

import type { ClusterPlan } from '../plan/plan.js'
import { gatePlanLine } from './gate-summary.js'
import { codeBlock, details, inline, runLink, table } from './markdown.js'

export interface ClusterPlanSummaryInput {
  plan: ClusterPlan
  image: string
  namespace: string
  reason: string
  manifestsPath: string
  // The workflow run that made the plan, linked from the comment.
  runUrl?: string
  // pre_deploy_command: the plan says it would run (a dry run never runs it).
  gate?: { command: string; image: string; timeoutSeconds: number }
}

export const PLAN_COMMENT_MARKER = '<!-- deploy-gke-workers:plan -->'

export function renderClusterPlanSummary(input: ClusterPlanSummaryInput): string {
  const { plan } = input
  const parts: string[] = []
  parts.push(`## deploy-gke-workers: dry run against the cluster`)
  const changes = plan.actions.filter(a => a.action !== 'unchanged').length + plan.retired.length
  const total = plan.actions.length + plan.retired.length
  // A written Secret may change values the dry run cannot see; the deploy restarts the pods if one did.
  // Keys no pod reads (KEDA's) restart nothing.
  const read = plan.secretChanges.filter(c => c.readByPods !== false)
  const secretWritten = read.length > 0
  const secretKeysMoved = read.some(c => c.change !== 'written')
  const podsRoll = (a: (typeof plan.actions)[number]): string =>
    a.podTemplateChanged
      ? 'yes'
      : secretKeysMoved
        ? 'yes (restart: Secret keys changed)'
        : secretWritten
          ? 'if a Secret value changed (restart)'
          : 'no'
  const rolls = plan.actions.filter(a => a.kind === 'Deployment' && a.podTemplateChanged).map(a => a.name)
  parts.push(
    `${inline(input.reason)} Nothing was changed. Namespace <code>${inline(input.namespace)}</code>, image <code>${inline(input.image)}</code>: ` +
      (changes === 0 && !secretKeysMoved
        ? 'the cluster already matches; a deploy would change nothing' +
          (secretWritten ? ' (unless a Secret value changed: values are not read in a dry run).' : '.')
        : `${changes} of ${total} objects would change.`) +
      (rolls.length > 0 ? ` Pods would roll: ${rolls.map(inline).join(', ')}.` : '') +
      (plan.method ? ` Planned by ${plan.method}.` : '')
  )
  if (plan.image) parts.push(`Image: ${inline(plan.image.text)}`)
  if (input.gate) parts.push(gatePlanLine(input.gate))
  parts.push('### What changes in behaviour')
  parts.push(
    plan.behaviour.length > 0
      ? table(
          ['object', 'change', 'now', 'after the deploy'],
          plan.behaviour.map(c => [c.object, c.what, c.from || '–', c.to])
        )
      : 'Nothing that changes what the workers do (image, replicas, autoscaling, environment, Secret keys, resources, command).'
  )
  if (plan.problems.length > 0) {
    parts.push('### Problems a deploy would hit')
    parts.push(plan.problems.map(p => `- ${inline(p)}`).join('\n'))
  }
  parts.push('### Plan per object')
  parts.push(
    table(
      ['kind', 'name', 'would be', 'pods roll'],
      [
        ...plan.retired.map(r => [r.kind, r.name, `deleted (${r.reason})`, '']),
        ...plan.actions.map(a => [a.kind, a.name, a.action, a.kind === 'Deployment' ? podsRoll(a) : ''])
      ]
    )
  )
  if (plan.secretChanges.length > 0) {
    parts.push(
      details(
        `Secret keys (${plan.secretChanges.length}; values never read)`,
        table(
          ['Secret', 'key', 'would be'],
          plan.secretChanges.map(c => [
            c.secret,
            c.key,
            c.change === 'written' ? 'written (value not compared)' : c.change
          ])
        )
      )
    )
  }
  if (plan.warnings.length > 0) {
    parts.push('### Warnings from the API server')
    parts.push(plan.warnings.map(w => `- ${inline(w)}`).join('\n'))
  }
  if (plan.notes.length > 0) parts.push(plan.notes.map(n => `- ${inline(n)}`).join('\n'))
  const run = runLink(input.runUrl)
  parts.push(
    `Rendered manifests (Secret values redacted): <code>${inline(input.manifestsPath)}</code>${run ? ` · planned by ${run}` : ''}`
  )
  if (plan.diff.trim() !== '')
    parts.push(details('diff against the cluster (Secrets left out)', codeBlock(plan.diff, 'diff')))
  return parts.join('\n\n') + '\n'
}
