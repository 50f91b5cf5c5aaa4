// All the findings of a deploy that got past its first write, in the order a reader needs them: a cancellation
// or an error that stopped the deploy, the rollouts that failed, then the checks after them (beat guard,
// KEDA's verdict on the ScaledObject, smoke checks). Alike findings are
// merged, so a message is said once however many Deployments and pods it applies to.

import type { DeployOutcome } from '../deploy/outcome.js'
import {
  explainBeatGuard,
  explainRollouts,
  explainSmokeChecks,
  type RolloutFacts
} from './explain-rollout.js'
import { explainGate } from './explain-gate.js'
import { explainKeda } from './explain-keda.js'
import { mergeFindings, type Finding } from './finding.js'
import { explainPodImages } from './explain-image.js'
import { explainTaskSafety } from './task-safety-report.js'

export function explainOutcome(outcome: DeployOutcome, facts: RolloutFacts): Finding[] {
  if (outcome.status === 'deployed' || outcome.status === 'unchanged') return []
  const findings: Finding[] = []
  if (outcome.lockLost) {
    findings.push({
      class: 'lock-lost',
      subjects: ['deploy lock'],
      title: 'deploy lock lost',
      cause: `${outcome.lockLost.reason} (during ${outcome.lockLost.during})`,
      pods: [],
      remedy:
        'This run stopped writing and undid nothing: the run that holds the lock now owns the namespace, and its own verification and rollback decide what runs. Look at that run; a runner paused or cut off from the API for longer than 40 s loses the lock by design.'
    })
  }
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
          : outcome.outages.length > 0
            ? `The cluster API was away (${outcome.outages.join('; ')}); what is left where is listed below. Run the deploy again: it verifies what this run left and undoes it on failure.`
            : 'The deploy stopped after its first write; the rollback and "Where things stand" below say what was undone and what was not. Run again once the cause is fixed: the next run verifies what this one left.'
    })
  }
  // The pre-deploy gate that stopped the deploy (a cancellation or a lost lock said so above).
  if (outcome.gate) findings.push(...explainGate(outcome.gate, facts))
  const diagnostics = outcome.diagnostics ?? { events: [], logs: [] }
  findings.push(...explainRollouts({ rollouts: outcome.rollouts, ...diagnostics }, facts))
  findings.push(...explainPodImages(outcome.images))
  if (outcome.roles.beat) findings.push(...explainBeatGuard(outcome.beatProblems, outcome.roles.beat))
  findings.push(...explainKeda(outcome.keda, facts))
  findings.push(...explainSmokeChecks(outcome.smoke, facts))
  findings.push(...explainTaskSafety(outcome.taskSafety))
  return mergeFindings(findings)
}
