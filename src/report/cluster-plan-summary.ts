// The job summary (and PR comment) of a dry run against the cluster: per object what server-side apply would
// do, the rollouts it would cause, and kubectl diff's view, all escaped and redacted.

import type { ClusterPlan } from '../deploy/plan.js'
import { codeBlock, details, escapeHtml, table } from './markdown.js'

export interface ClusterPlanSummaryInput {
  plan: ClusterPlan
  image: string
  namespace: string
  reason: string
  manifestsPath: string
}

export const PLAN_COMMENT_MARKER = '<!-- deploy-gke-workers:plan -->'

export function renderClusterPlanSummary(input: ClusterPlanSummaryInput): string {
  const { plan } = input
  const parts: string[] = []
  parts.push(`## deploy-gke-workers: dry run against the cluster`)
  const changes = plan.actions.filter(a => a.action !== 'unchanged')
  // A changed Secret restarts the pods too (they read it only at start): the deploy does that, so say so.
  const secretChanges = plan.secretChanges.length > 0
  const podsRoll = (a: (typeof plan.actions)[number]): string =>
    a.podTemplateChanged ? 'yes' : secretChanges ? 'yes (restart: Secret changed)' : 'no'
  const rolls = plan.actions.filter(a => a.kind === 'Deployment' && podsRoll(a) !== 'no').map(a => a.name)
  parts.push(
    `${escapeHtml(input.reason)} Nothing was changed. Namespace <code>${escapeHtml(input.namespace)}</code>, image <code>${escapeHtml(input.image)}</code>: ` +
      (changes.length === 0
        ? 'the cluster already matches; a deploy would change nothing.'
        : `${changes.length} of ${plan.actions.length} objects would change.`) +
      (rolls.length > 0 ? ` Pods would roll: ${rolls.map(escapeHtml).join(', ')}.` : '')
  )
  if (plan.problems.length > 0) {
    parts.push('### Problems a deploy would hit')
    parts.push(plan.problems.map(p => `- ${escapeHtml(p)}`).join('\n'))
  }
  parts.push('### Plan')
  parts.push(
    table(
      ['kind', 'name', 'would be', 'pods roll'],
      plan.actions.map(a => [a.kind, a.name, a.action, a.kind === 'Deployment' ? podsRoll(a) : ''])
    )
  )
  if (plan.secretChanges.length > 0) {
    parts.push('### Secret keys (values never shown)')
    parts.push(
      table(
        ['Secret', 'key', 'would be'],
        plan.secretChanges.map(c => [c.secret, c.key, c.change])
      )
    )
  }
  if (plan.warnings.length > 0) {
    parts.push('### Warnings from the API server')
    parts.push(plan.warnings.map(w => `- ${escapeHtml(w)}`).join('\n'))
  }
  if (plan.notes.length > 0) parts.push(plan.notes.map(n => `- ${escapeHtml(n)}`).join('\n'))
  if (plan.diff.trim() !== '')
    parts.push(details('kubectl diff (Secrets left out)', codeBlock(plan.diff, 'diff')))
  parts.push(`Rendered manifests (Secret values redacted): <code>${escapeHtml(input.manifestsPath)}</code>`)
  return parts.join('\n\n') + '\n'
}
