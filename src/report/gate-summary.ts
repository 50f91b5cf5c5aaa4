// The pre-deploy gate in the job summary: what ran (command, image, Job), how it ended, and the command's log
// tail, folded (redacted before it is cut, escaped); and, for a dry run, the sentence that says it would run.

import type { DeployOutcome } from '../deploy/outcome.js'
import type { GateRecord } from '../deploy/gate.js'
import type { Redact } from '../redact.js'
import { logDetails } from './diagnostics.js'
import { inline, table } from './markdown.js'

const RESULT_WORDS: Record<GateRecord['result'], string> = {
  passed: 'passed',
  failed: 'FAILED',
  timeout: 'TIMED OUT',
  cancelled: 'cancelled',
  'lock-lost': 'stopped (deploy lock lost)',
  error: 'could not run'
}

export function gateSection(gate: GateRecord, redact: Redact): string {
  const seconds = `${(gate.durationMs / 1000).toFixed(1)}s`
  const result =
    gate.result === 'passed'
      ? `passed in ${seconds}`
      : `${RESULT_WORDS[gate.result]} after ${seconds}: ${redact(gate.message)}`
  const rows = [
    ['command', redact(gate.command)],
    ['image', gate.image],
    ['Job', `${gate.job} (namespace ${gate.namespace}, pre_deploy_timeout ${gate.timeoutSeconds}s)`],
    ['result', result],
    ...(gate.deleted ? [['clean-up', redact(gate.deleted.message)]] : [])
  ]
  const parts = ['### Pre-deploy gate', table(['', ''], rows)]
  for (const log of gate.logs) parts.push(logDetails(log, redact))
  return parts.join('\n\n')
}

// After a gate that stopped the deploy: what is where (nothing rolled; the Secret back or not).
export function gateAftermath(outcome: DeployOutcome): string {
  const secret = outcome.notes.find(n => /^Secret \S+: its previous values were restored/.test(n))
  return `Not deployed: no Deployment was written${secret ? `; ${secret}` : ''}.`
}

// For a plan (a dry run never runs the command): that it would run, where, and what its failure would do.
export function gatePlanLine(gate: { command: string; image: string; timeoutSeconds: number }): string {
  return (
    `**Pre-deploy gate:** before any worker or beat pod is replaced, the deploy runs <code>${inline(gate.command)}</code> ` +
    `once as a Job in image <code>${inline(gate.image)}</code> (pre_deploy_timeout ${gate.timeoutSeconds}s); if it fails, no Deployment is written. ` +
    'This dry run did not run it.'
  )
}
