// All the findings of a deploy that got past its first write, in the order a reader needs them: a cancellation
// or an error that stopped the deploy, the rollouts that failed, then the checks after them (beat guard,
// KEDA's verdict on the ScaledObject, smoke checks). Alike findings are
// merged, so a message is said once however many Deployments and pods it applies to.

import type { DeployOutcome } from '../deploy/deploy.js'
import {
  explainBeatGuard,
  explainRollouts,
  explainSmokeChecks,
  type RolloutFacts
} from './explain-rollout.js'
import { explainKeda } from './explain-keda.js'
import { mergeFindings, type Finding } from './finding.js'

export function explainOutcome(outcome: DeployOutcome, facts: RolloutFacts): Finding[] {
  if (outcome.status === 'deployed' || outcome.status === 'unchanged') return []
  const findings: Finding[] = []
  if (outcome.cancelled) {
    const undone = outcome.rollback.filter(s => s.done).map(s => s.deployment)
    findings.push({
      class: 'cancelled',
      subjects: ['deploy'],
      title: 'cancelled',
      cause: `cancelled (${outcome.cancelled.reason}) during ${outcome.cancelled.during}`,
      pods: [],
      remedy:
        undone.length > 0
          ? `The rollback of ${undone.join(', ')} was started, not watched: kubectl rollout status -n ${facts.namespace} deployment/${undone[0]} shows where it is; run the deploy again when ready.`
          : 'Nothing needed undoing; run the deploy again when ready.'
    })
  }
  if (outcome.error !== undefined) {
    findings.push({
      class: 'error',
      subjects: ['deploy'],
      title: 'stopped by an error',
      cause: outcome.error.split('\n')[0],
      pods: [],
      remedy:
        outcome.status === 'rolled-back'
          ? 'The deploy stopped after its first write and was rolled back: run it again once the cause (above) is fixed.'
          : 'The deploy stopped after its first write; the rollback below says what was undone. If the cluster API stopped answering, run again (the deploy lock lapses within a minute).'
    })
  }
  const diagnostics = outcome.diagnostics ?? { events: [], logs: [] }
  findings.push(...explainRollouts({ rollouts: outcome.rollouts, ...diagnostics }, facts))
  if (outcome.roles.beat) findings.push(...explainBeatGuard(outcome.beatProblems, outcome.roles.beat))
  findings.push(...explainKeda(outcome.keda, facts))
  findings.push(...explainSmokeChecks(outcome.smoke, facts))
  return mergeFindings(findings)
}
