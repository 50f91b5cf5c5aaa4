// The job summary of a deploy. A failed run opens with why (one line of cause and one of remedy per finding,
// with links to the logs), then what was undone, a picture of the run, and the tables; the evidence (pods,
// events, logs) comes last, folded. A good run opens with what it deployed. Everything shown is escaped.

import type { DeployOutcome } from '../deploy/outcome.js'
import type { Redact } from '../redact.js'
import { renderDiagnostics } from './diagnostics.js'
import { imageSection } from './explain-image.js'
import type { Finding } from './finding.js'
import { gateAftermath, gateSection } from './gate-summary.js'
import { headlineMarkdown, type LinkContext } from './headline.js'
import { renderTaskSafety } from './task-safety-report.js'
import { inline, table } from './markdown.js'
import { timelineBlock, type TimelineStep } from './timeline.js'
import { isPodReady } from '../deploy/rollout-state.js'

export const STATUS_ICON: Record<DeployOutcome['status'], string> = {
  deployed: '✅',
  unchanged: '⏸️',
  'rolled-back': '↩️',
  cancelled: '🛑',
  failed: '❌'
}

export interface DeploySummaryContext {
  image: string
  namespace: string
  redact: Redact
  /** Why the run failed, already redacted (explain-outcome.ts); empty for a good run. */
  findings: Finding[]
  links?: LinkContext
  timeline: TimelineStep[]
}

export function renderDeploySummary(outcome: DeployOutcome, context: DeploySummaryContext): string {
  const { redact } = context
  const parts: string[] = []
  parts.push(`## ${STATUS_ICON[outcome.status]} deploy-gke-workers: ${outcome.status}`)
  if (context.findings.length > 0) {
    parts.push(headlineMarkdown(context.findings, context.links))
    parts.push(inline(afterTheFailure(outcome)))
  } else {
    parts.push(inline(redact(outcome.headline)))
  }
  if (outcome.interrupted) parts.push(`> ${inline(redact(outcome.interrupted))}`)
  if (outcome.left.length > 0) {
    parts.push('### Where things stand')
    parts.push(
      table(
        ['object', 'now'],
        outcome.left.map(l => [l.object, redact(l.text)])
      )
    )
  }
  const timeline = timelineBlock(context.timeline)
  if (timeline) parts.push(timeline)
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

  const image = imageSection(outcome.image, outcome.images)
  if (image) parts.push(image)

  if (outcome.gate) parts.push(gateSection(outcome.gate, redact))
  const autoscaling = autoscalerSection(outcome, redact)
  if (autoscaling) parts.push(autoscaling)

  if (outcome.rollouts.length > 0) {
    parts.push('### Rollouts')
    parts.push(
      table(
        ['Deployment', 'result', 'time', 'revision'],
        outcome.rollouts.map(r => [
          r.deployment,
          r.outcome === 'not-verified' ? 'not verified (scaled to zero)' : r.outcome,
          seconds(r.durationMs),
          r.revision ?? ''
        ])
      )
    )
  }
  if (outcome.smoke.length > 0) {
    parts.push('### Smoke checks')
    parts.push(
      table(
        ['check', 'pod', 'result', 'time', 'detail'],
        outcome.smoke.map(s => [
          s.name,
          s.pod,
          s.skipped ? 'skipped' : s.ok ? 'pass' : 'FAIL',
          `${s.durationMs} ms`,
          // A failed check's detail is the finding's cause above.
          s.ok ? redact(s.detail) : 'see above'
        ])
      )
    )
  }
  if (outcome.taskSafety) parts.push(renderTaskSafety(outcome.taskSafety, redact))
  if (outcome.rollback.length > 0) {
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
          return [step.deployment, step.toRevision ?? '–', redact(result)]
        })
      )
    )
  }

  parts.push('### Applied (server-side apply, field manager deploy-gke-workers)')
  parts.push(
    table(
      ['kind', 'name', 'result'],
      [
        ...outcome.retired.map(r => [r.kind, r.name, redact(r.message)]),
        ...outcome.applied.map(a => [
          a.kind,
          a.name,
          a.kind === 'Deployment' && a.action === 'configured' && !a.podTemplateChanged
            ? 'configured (pod template unchanged)'
            : a.action
        ])
      ]
    )
  )
  if (outcome.restarted.length > 0) {
    parts.push(
      outcome.restarted.map(r => `- ${inline(r.deployment)} restarted: ${inline(r.reason)}`).join('\n')
    )
  }
  if (outcome.warnings.length > 0) {
    parts.push('### Warnings from the API server')
    parts.push(outcome.warnings.map(w => `- ${inline(redact(w))}`).join('\n'))
  }
  if (outcome.outages.length > 0) {
    parts.push('### API availability')
    parts.push(outcome.outages.map(o => `- ${inline(o)}`).join('\n'))
  }
  if (outcome.notes.length > 0) {
    parts.push('### Notes')
    parts.push(outcome.notes.map(n => `- ${inline(redact(n))}`).join('\n'))
  }
  if (outcome.diagnostics) {
    parts.push(renderDiagnostics({ failures: outcome.failures, ...outcome.diagnostics, redact }))
  } else if (outcome.diagnosticsError) {
    parts.push(inline(redact(outcome.diagnosticsError)))
  }
  return parts.join('\n\n') + '\n'
}

// One sentence on the state the failure left: undone, or not and why.
function afterTheFailure(outcome: DeployOutcome): string {
  if (outcome.status === 'rolled-back') {
    const to = outcome.rollback.map(s => `${s.deployment} to revision ${s.toRevision ?? '?'}`)
    return `Rolled back: ${to.join(', ')}; the rollouts completed.`
  }
  if (outcome.status === 'cancelled') return outcome.headline
  if (outcome.gate && outcome.gate.result !== 'passed' && !outcome.lockLost) return gateAftermath(outcome)
  if (outcome.lockLost) return "Not rolled back: the lock is another run's now (see Where things stand)."
  if (outcome.rollback.some(s => !s.done) || outcome.rollbackRollouts.some(r => r.outcome !== 'complete')) {
    return 'The rollback did not complete: see Rollback below.'
  }
  const note = outcome.notes.find(n => /nothing (was|to) roll/i.test(n))
  return note ? `Not rolled back: ${note}.` : 'Not rolled back.'
}

// What scales the worker now: kind, bounds, target, and what the cluster reports (for KEDA its conditions and
// the queue lengths it reads; its messages redacted, then clipped).
function autoscalerSection(outcome: DeployOutcome, redact: Redact): string | undefined {
  const a = outcome.autoscaler
  if (!a) return undefined
  const kind =
    a.kind === 'ScaledObject'
      ? `KEDA ScaledObject ${a.name ?? ''}`
      : a.kind === 'HorizontalPodAutoscaler'
        ? `HorizontalPodAutoscaler ${a.name ?? ''}`
        : 'none (fixed replica count)'
  const rows: string[][] = [
    ['autoscaler', kind.trim()],
    ['replicas', a.kind === 'none' ? `${a.minReplicas}` : `${a.minReplicas}–${a.maxReplicas}`],
    ...(a.kind === 'none' ? [] : [['target', a.target]]),
    ...(a.replicas !== undefined ? [['replicas now', String(a.replicas)]] : []),
    ...(a.current ? [['now', a.current]] : []),
    ...(a.conditions.length > 0
      ? [['conditions', a.conditions.map(c => clipText(redact(c), 400)).join('; ')]]
      : [])
  ]
  return `### Autoscaling\n\n${table(['', ''], rows)}${atZero(outcome)}`
}

// A worker KEDA has at zero after the deploy: verified first (the deploy held it while its pods became
// ready), or not started at all (a ScaledObject paused at zero by its own annotation, an unchanged worker).
// After a failure nothing is claimed for the image.
function atZero(outcome: DeployOutcome): string {
  const a = outcome.autoscaler
  if (a?.kind !== 'ScaledObject' || a.replicas !== 0) return ''
  const then =
    'The first queued task starts one within the polling interval, plus the time a pod takes to start (on Autopilot, maybe a new node).'
  if (outcome.status !== 'deployed' && outcome.status !== 'unchanged') {
    return `\n\nThe worker is scaled to zero. ${then}`
  }
  const worker = outcome.rollouts.find(r => r.deployment === outcome.roles.worker)
  const verified = worker?.outcome === 'complete' ? worker.pods.filter(isPodReady).length : 0
  return verified > 0
    ? `\n\nThe worker is scaled to zero again: KEDA took it back after ${verified} pod${verified === 1 ? '' : 's'} of this image ${verified === 1 ? 'was' : 'were'} ready. ${then}`
    : `\n\nThe worker is scaled to zero: no pod of this image was verified in this run. ${then}`
}

function clipText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`
}

/** The summary of a run that stopped before its first write: why, every problem, and how far it got. */
export function renderStoppedSummary(input: {
  findings: Finding[]
  problems: string[]
  timeline: TimelineStep[]
}): string {
  const parts = [`## ${STATUS_ICON.failed} deploy-gke-workers: failed`]
  parts.push(headlineMarkdown(input.findings))
  if (input.problems.length > 1) {
    parts.push('### Every problem')
    parts.push(input.problems.map(p => `- ${inline(p)}`).join('\n'))
  }
  const timeline = timelineBlock(input.timeline)
  if (timeline) parts.push(timeline)
  return parts.join('\n\n') + '\n'
}
