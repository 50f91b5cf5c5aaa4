// Judge: the outcome of a deploy, assembled from the phases' records and the cluster as read at the end. Pure.
// The status says what the cluster runs: `deployed` only when every rollout and check passed; `rolled-back` only
// when every change was undone and, where a rollout was undone, that rollout completed; otherwise `failed` or
// `cancelled`, with each object this run could change and where it stands.

import { podTemplateChangedBetween } from '../kube/apply.js'
import { identityKey, type LiveObjectMeta } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { ApplyRecord } from './apply-phase.js'
import type { DeployDecision } from './decide.js'
import type { LockLoss } from './deploy-lock.js'
import { describeRun, type Journal } from './journal.js'
import { gateHeadline, passed } from './gate.js'
import type { DeployOutcome, ObjectState } from './outcome.js'
import { REVISION_ANNOTATION } from './rollout-state.js'
import type { UndoRecord } from './undo.js'
import { kedaFailureHeadline } from './keda-verdict.js'
import { verified, type VerifyRecord } from './verify.js'

export type Stop =
  | { kind: 'cancelled'; reason: string; during: string }
  | { kind: 'lock-lost'; loss: LockLoss; during: string }

export interface JudgeInput {
  image: string
  namespace: string
  secretName: string
  roles: { worker?: string; beat?: string }
  decision: DeployDecision
  before: Map<string, LiveObjectMeta>
  // The Secret as the dry run says this run leaves it (its data), for telling this run's values apart.
  intendedSecretData?: Record<string, string>
  apply: ApplyRecord
  verify?: VerifyRecord
  undo?: UndoRecord
  stop?: Stop
  // An error after the first write that stopped the deploy (the apply failing half-way, say).
  error?: string
  rollbackOnFailure: boolean
  // The Deployments and the Secret read at the end; undefined when the cluster could not be read.
  final?: Map<string, LiveObjectMeta>
  inherited?: Journal
  outages: string[]
  notes: string[]
  redact: Redact
}

export function judge(input: JudgeInput): DeployOutcome {
  const { decision, apply, verify, undo, stop, redact } = input
  const outcome: DeployOutcome = {
    status: 'failed',
    headline: '',
    roles: input.roles,
    applied: apply.applied,
    retired: apply.retired,
    restarted: apply.restarted,
    rollouts: verify?.rollouts ?? [],
    rollbackRollouts: undo?.rollouts ?? [],
    smoke: verify?.smoke ?? [],
    ...(verify?.taskSafety ? { taskSafety: verify.taskSafety } : {}),
    beatProblems: verify?.beatProblems ?? [],
    ...(verify?.keda ? { keda: verify.keda } : {}),
    ...(verify?.images ? { images: verify.images } : {}),
    rollback: (undo?.steps ?? []).filter(s => !s.skipped),
    notes: [...input.notes],
    warnings: [...apply.warnings],
    outages: input.outages,
    left: [],
    failures: (verify?.rollouts ?? []).flatMap(r => r.failures),
    revisionsBefore: {},
    revisionsAfter: {},
    ...(apply.gate ? { gate: apply.gate } : {})
  }
  for (const name of decision.deployments) {
    outcome.revisionsBefore[name] = deploymentOf(input.before, name, input.namespace)?.metadata.annotations?.[
      REVISION_ANNOTATION
    ]
    outcome.revisionsAfter[name] = input.final
      ? deploymentOf(input.final, name, input.namespace)?.metadata.annotations?.[REVISION_ANNOTATION]
      : undefined
  }
  if (input.inherited) {
    outcome.interrupted = `${describeRun(input.inherited.run)} was interrupted after its first write (${journalPhase(input.inherited)}); its release was never verified: this run verifies it and, if that fails, undoes to the release before it`
  }
  const error = input.error ?? verify?.error
  if (error !== undefined) outcome.error = redact(error)
  if (undo?.secret && undo.secret.state !== 'unchanged') outcome.notes.push(redact(undo.secret.message))
  if (undo?.error) outcome.notes.push(redact(undo.error))

  const good =
    stop === undefined &&
    error === undefined &&
    verify !== undefined &&
    verified(verify, decision.deployments)
  if (good) {
    const changed =
      apply.applied.some(a => a.action !== 'unchanged') ||
      decision.rolls.length > 0 ||
      apply.retired.length > 0 ||
      input.inherited !== undefined
    outcome.status = changed ? 'deployed' : 'unchanged'
    outcome.headline = changed
      ? `Deployed ${input.image}`
      : `No change: the cluster already runs ${input.image} with these settings`
    return outcome
  }

  const undone = (undo?.steps ?? []).filter(s => s.done && !s.skipped).map(s => s.deployment)
  const somethingUndone = undone.length > 0 || undo?.secret?.state === 'restored'
  if (stop?.kind === 'lock-lost') {
    outcome.status = 'failed'
    outcome.lockLost = {
      reason: stop.loss.reason,
      during: stop.during,
      ...(stop.loss.holder ? { holder: stop.loss.holder } : {})
    }
    outcome.headline = redact(
      `The deploy lock was lost during ${stop.during}: ${stop.loss.reason}; this run stopped writing at ${clock(stop.loss.atMs)} and undid nothing (what it changed now belongs to the run that holds the lock)`
    )
  } else if (stop?.kind === 'cancelled') {
    outcome.status = 'cancelled'
    outcome.cancelled = { reason: stop.reason, during: stop.during }
    outcome.headline = `Cancelled (${stop.reason}) during ${stop.during}${
      undone.length > 0
        ? `; rollback started for ${undone.join(', ')}`
        : (undo?.steps ?? []).some(s => !s.done)
          ? '; the rollback could not be started'
          : ''
    }`
  } else if (apply.gate && !passed(apply.gate)) {
    // Nothing was released, so nothing was rolled back: what the run wrote before the gate was put back.
    outcome.status = 'failed'
    outcome.headline = redact(gateHeadline(apply.gate))
  } else {
    outcome.headline = failureHeadline(outcome, redact)
    outcome.status = undo?.complete && somethingUndone ? 'rolled-back' : 'failed'
  }
  if (apply.gate?.deleted) outcome.notes.push(redact(apply.gate.deleted.message))
  const gateStopped = apply.gate !== undefined && !passed(apply.gate)
  if (!input.rollbackOnFailure && stop?.kind !== 'lock-lost' && !gateStopped) {
    outcome.notes.push('rollback_on_failure is false: nothing was rolled back')
  } else if (undo?.nothingChanged && stop?.kind !== 'lock-lost') {
    outcome.notes.push('This run changed no Deployment and no Secret: nothing to roll back')
  }
  if (outcome.status !== 'rolled-back') outcome.left = whereThingsStand(input)
  return outcome
}

// Each object this run could change and where it stands now, from the final read.
export function whereThingsStand(input: JudgeInput): ObjectState[] {
  const states: ObjectState[] = []
  const verifiedRollout = (name: string): boolean =>
    input.verify?.rollouts.some(r => r.deployment === name && r.outcome === 'complete') === true
  for (const name of input.decision.deployments) {
    const object = `Deployment/${name}`
    if (!input.final) {
      states.push({ object, state: 'unknown', text: 'could not be read at the end of the run' })
      continue
    }
    const now = deploymentOf(input.final, name, input.namespace)
    const was = deploymentOf(input.before, name, input.namespace)
    if (!now) {
      states.push({ object, state: 'absent', text: 'does not exist' })
      continue
    }
    const revision = now.metadata.annotations?.[REVISION_ANNOTATION]
    const images = imagesOf(now)
    const at = `revision ${revision ?? '?'}${images ? `, ${images}` : ''}`
    const intended = input.decision.intendedTemplates.get(name)
    if (was && !podTemplateChangedBetween(was, now)) {
      states.push({ object, state: 'previous', text: `${at}: the release before this run` })
    } else if (intended !== undefined && !podTemplateChangedBetween(asDeployment(intended), now)) {
      states.push({
        object,
        state: 'this-run',
        text: `${at}: this run's template, ${verifiedRollout(name) ? 'rolled out but not fully verified' : 'not verified'}`
      })
    } else {
      states.push({
        object,
        state: 'other',
        text: `${at}: neither the release before this run nor this run's`
      })
    }
  }
  const secret = input.decision.secretChange
  if (secret) {
    const object = `Secret/${secret.name}`
    const now = input.final?.get(
      identityKey({ kind: 'Secret', name: secret.name, namespace: input.namespace })
    )
    const was = input.before.get(
      identityKey({ kind: 'Secret', name: secret.name, namespace: input.namespace })
    )
    if (!input.final)
      states.push({ object, state: 'unknown', text: 'could not be read at the end of the run' })
    else if (!now) states.push({ object, state: 'absent', text: 'does not exist' })
    else if (was && sameData(was, now))
      states.push({ object, state: 'previous', text: 'the values before this run' })
    else if (input.intendedSecretData && sameData({ data: input.intendedSecretData }, now))
      states.push({ object, state: 'this-run', text: "this run's values" })
    else states.push({ object, state: 'other', text: "neither the values before this run nor this run's" })
  }
  return states
}

function failureHeadline(outcome: DeployOutcome, redact: Redact): string {
  if (outcome.error !== undefined) return redact(`Deploy failed: ${outcome.error}`)
  const failedRollout = outcome.rollouts.find(r => r.outcome !== 'complete')
  if (failedRollout) {
    const fatal = failedRollout.failures.find(f => f.fatal)
    const cause = fatal
      ? `pod ${fatal.pod}${fatal.container ? ` container ${fatal.container}` : ''}: ${fatal.reason}`
      : (failedRollout.reason ?? failedRollout.outcome)
    return redact(
      `Rollout of ${failedRollout.deployment} ${failedRollout.outcome === 'timeout' ? 'timed out' : 'failed'} (${cause})`
    )
  }
  if (outcome.images?.problem) return redact(`Image check: ${outcome.images.problem.cause}`)
  if (outcome.beatProblems.length > 0) return redact(`Beat guard: ${outcome.beatProblems[0]}`)
  const keda = kedaFailureHeadline(outcome.keda)
  if (keda) return redact(keda)
  const smoke = outcome.smoke.find(s => !s.ok)
  if (smoke) return redact(`Smoke check ${smoke.name} failed: ${smoke.detail}`)
  const safety = outcome.taskSafety
  if (safety?.blocking) {
    return redact(
      safety.findings.length > 0
        ? `Task safety (strict): ${safety.findings.length} way${safety.findings.length === 1 ? '' : 's'} this worker loses or repeats tasks on a deploy`
        : `Task safety (strict): the worker's Celery settings could not be read: ${safety.check.error ?? ''}`
    )
  }
  return 'Deploy failed'
}

function journalPhase(journal: Journal): string {
  return journal.phase === 'applying'
    ? `it was applying or verifying, since ${journal.at}`
    : journal.phase === 'undoing'
      ? `it was undoing its changes, since ${journal.at}`
      : `its undo was started at ${journal.at} and not watched`
}

function deploymentOf(
  live: Map<string, LiveObjectMeta>,
  name: string,
  namespace: string
): LiveObjectMeta | undefined {
  return live.get(identityKey({ kind: 'Deployment', name, namespace }))
}

function asDeployment(template: unknown): LiveObjectMeta {
  return { kind: 'Deployment', metadata: { name: '' }, spec: { template } }
}

function imagesOf(deployment: LiveObjectMeta): string {
  const containers =
    (
      deployment.spec as
        { template?: { spec?: { containers?: Array<{ name?: string; image?: string }> } } } | undefined
    )?.template?.spec?.containers ?? []
  return [...new Set(containers.map(c => c.image).filter(Boolean))].join(', ')
}

function sameData(a: object, b: object): boolean {
  const left = ((a as { data?: unknown }).data ?? {}) as Record<string, string>
  const right = ((b as { data?: unknown }).data ?? {}) as Record<string, string>
  const keys = new Set([...Object.keys(left), ...Object.keys(right)])
  return [...keys].every(k => left[k] === right[k])
}

function clock(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
