// The job summary of a deploy: outcome first, then what changed, how the rollouts went, the smoke checks and,
// when something failed, the diagnostics and what was rolled back. Everything shown is escaped.

import type { DeployOutcome } from '../deploy/deploy.js'
import { summarizeFailure } from '../deploy/pod-failures.js'
import type { Redact } from '../redact.js'
import { codeBlock, inline, table } from './markdown.js'

export const STATUS_ICON: Record<DeployOutcome['status'], string> = {
  deployed: '✅',
  unchanged: '⏸️',
  'rolled-back': '↩️',
  cancelled: '🛑',
  failed: '❌'
}

export function renderDeploySummary(
  outcome: DeployOutcome,
  context: { image: string; namespace: string; redact: Redact }
): string {
  const parts: string[] = []
  parts.push(`## ${STATUS_ICON[outcome.status]} deploy-gke-workers: ${outcome.status}`)
  parts.push(inline(outcome.headline))
  parts.push(
    table(
      ['', ''],
      [
        ['image', context.image],
        ['namespace', context.namespace],
        ...Object.keys(outcome.revisionsAfter).map(name => [
          `${name} revision`,
          `${outcome.revisionsBefore[name] ?? '(new)'} → ${outcome.revisionsAfter[name] ?? '?'}`
        ])
      ]
    )
  )

  if (outcome.error !== undefined) {
    parts.push('### Error')
    parts.push(codeBlock(context.redact(outcome.error)))
  }
  if (outcome.failures.some(f => f.fatal) || outcome.rollouts.some(r => r.outcome !== 'complete')) {
    parts.push('### What broke')
    const lines = outcome.rollouts
      .filter(r => r.outcome !== 'complete')
      .map(
        r =>
          `- **${inline(r.deployment)}**: ${r.outcome} after ${seconds(r.durationMs)}: ${inline(context.redact(r.message))}`
      )
    for (const failure of outcome.failures.filter(f => f.fatal))
      lines.push(`- ${inline(context.redact(summarizeFailure(failure)))}`)
    parts.push(lines.join('\n'))
  }
  if (outcome.rollback.length > 0 || outcome.status === 'rolled-back') {
    parts.push('### Rollback')
    parts.push(
      table(
        ['Deployment', 'to revision', 'result'],
        outcome.rollback.map(step => {
          const watch = outcome.rollbackRollouts.find(r => r.deployment === step.deployment)
          const result =
            step.done && watch
              ? `${step.message}; rollout ${watch.outcome} in ${seconds(watch.durationMs)}`
              : step.message
          return [step.deployment, step.toRevision ?? '–', context.redact(result)]
        })
      )
    )
  }

  parts.push('### Applied (server-side apply, field manager deploy-gke-workers)')
  parts.push(
    table(
      ['kind', 'name', 'result'],
      outcome.applied.map(a => [
        a.kind,
        a.name,
        a.kind === 'Deployment' && a.action === 'configured' && !a.podTemplateChanged
          ? 'configured (pod template unchanged)'
          : a.action
      ])
    )
  )
  if (outcome.restarted.length > 0) {
    parts.push(
      outcome.restarted.map(r => `- ${inline(r.deployment)} restarted: ${inline(r.reason)}`).join('\n')
    )
  }

  if (outcome.rollouts.length > 0) {
    parts.push('### Rollouts')
    parts.push(
      table(
        ['Deployment', 'result', 'time', 'revision', 'detail'],
        outcome.rollouts.map(r => [
          r.deployment,
          r.outcome,
          seconds(r.durationMs),
          r.revision ?? '',
          context.redact(r.message)
        ])
      )
    )
  }
  if (outcome.beatProblems.length > 0) {
    parts.push('### Beat guard')
    parts.push(outcome.beatProblems.map(p => `- ${inline(context.redact(p))}`).join('\n'))
  }
  if (outcome.smoke.length > 0) {
    parts.push('### Smoke checks')
    parts.push(
      table(
        ['check', 'pod', 'result', 'time', 'detail'],
        outcome.smoke.map(s => [
          s.name,
          s.pod,
          s.ok ? 'pass' : 'FAIL',
          `${s.durationMs} ms`,
          context.redact(s.detail)
        ])
      )
    )
  }
  if (outcome.warnings.length > 0) {
    parts.push('### Warnings from the API server')
    parts.push(outcome.warnings.map(w => `- ${inline(context.redact(w))}`).join('\n'))
  }
  if (outcome.notes.length > 0) {
    parts.push('### Notes')
    parts.push(outcome.notes.map(n => `- ${inline(context.redact(n))}`).join('\n'))
  }
  if (outcome.diagnosticsMarkdown) parts.push(outcome.diagnosticsMarkdown)
  return parts.join('\n\n') + '\n'
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`
}
