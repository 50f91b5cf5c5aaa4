// While the worker rolls under KEDA, nothing may scale it away before its new pods are verified. KEDA scales
// a worker to zero whenever every queue is empty and the cooldown has passed: a new ScaledObject at once (it has
// no last activity to cool down from: 0.35 s after the apply, measured), a worker at 1 when its cooldown ends
// in the middle of the rollout, a worker just handed over from the CPU HPA at 2. A Deployment at zero replicas
// counts as rolled out, so a broken image would be reported deployed and surface only with the first task.
//
// So every rollout of a worker under KEDA is held: KEDA's `autoscaling.keda.sh/paused-replicas` annotation at
// the worker's current count (at least 1: a worker at zero is started, as the hold at zero did before). KEDA
// documents it as "scale to this count and stop scaling": it stops the scale loop, removes its HPA and keeps
// the count, which is the hold. `paused-scale-in` would leave the loop running, and a loop that scales in
// before it sees the annotation never scales back; paused-replicas sets the count again if it moved. Measured
// with KEDA v2.20.2: paused-replicas is acknowledged within 0.2 s (status.pausedReplicaCount, condition Paused
// True), and on release KEDA clears both, takes the scaling back and sets Ready from a fresh check.
//
// The hold goes on before the worker changes (an existing ScaledObject is paused first, and the run waits for
// KEDA to say so); a ScaledObject this run creates carries it from its first version. It comes off last,
// after the verification, the diagnostics, a rollback or a cancelled run's undo. A paused ScaledObject is not
// checked by KEDA, so KEDA's verdict on it (keda-verdict.ts) is read after the release.
//
// Someone else's pause (`paused`, or `paused-replicas` without this action's mark) is theirs: the deploy
// leaves it in place and does not hold (a paused KEDA does not scale the worker anyway).
//
// A worker that does not roll is not held, with one exception: when what KEDA reads changed (the ScaledObject,
// its TriggerAuthentication, or a Secret key that names) on a ScaledObject KEDA already manages. KEDA does not
// check a ScaledObject again when its TriggerAuthentication or Secret changes (its ScaledObject controller
// watches neither; measured: read after a CA was added to the TriggerAuthentication, Ready=False from before
// was still there), so its Ready would be stale; a pause and its release make KEDA check it afresh. That pause
// holds the current count, zero included: nothing rolls.

import type { Kubectl } from '../kube/kubectl.js'
import { serverSideApply, type AppliedObject } from '../kube/apply.js'
import { identityKey, parseObjects, type LiveObjectMeta } from '../kube/objects.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { ANNOTATION_PREFIX } from '../render/render-manifests.js'
import type { Autoscaling } from '../inputs.js'
import { changedKeys } from './secret-readers.js'

export const PAUSED_REPLICAS_ANNOTATION = 'autoscaling.keda.sh/paused-replicas'
export const PAUSED_ANNOTATION = 'autoscaling.keda.sh/paused'
// Beside paused-replicas, the count this action held: the pause is its own (a run that died holding left it;
// the next run takes it over and releases it), not an operator's.
export const HOLD_ANNOTATION = `${ANNOTATION_PREFIX}/hold`

// How long KEDA may take to acknowledge a hold on a ScaledObject it already manages (it reacts to the
// annotation within a second); past that the rollout goes on, still judged "not verified" if the worker is
// scaled away.
export const HOLD_ACK_TIMEOUT_MS = 30_000
const POLL_MS = 250

interface ScaledObjectState extends LiveObjectMeta {
  status?: {
    pausedReplicaCount?: number
    conditions?: Array<{ type?: string; status?: string }>
  }
}

export type HoldDecision =
  | { hold: false; why: 'not-keda' | 'no-roll' | 'paused-by-operator'; pausedBy?: string[] }
  | {
      hold: true
      worker: string
      // The worker rolls and is held until verified; false: only KEDA's configuration changed, and the pause
      // is there to make KEDA check it afresh when it is released.
      verifies: boolean
      // The count held: the worker's current one (at least 1 when it rolls).
      replicas: number
      // The worker is at zero now: it is started at once rather than at KEDA's next reconcile.
      fromZero: boolean
      // ScaledObjects that exist already: paused before the worker changes (their scale loops run).
      pauseFirst: string[]
    }

export interface HoldInput {
  autoscaling: Autoscaling
  worker: string | undefined
  // The rendered ScaledObjects (the worker's).
  scaledObjects: KubeObject[]
  // The live objects read before any write.
  before: Map<string, LiveObjectMeta>
  liveWorker: LiveObjectMeta | undefined
  // The worker's pods roll in this run (new template, or a restart).
  workerRolls: boolean
  // What KEDA reads changes in this run (kedaInputsChanged).
  kedaChanged: boolean
}

export function decideHold(input: HoldInput): HoldDecision {
  if (input.autoscaling !== 'keda' || !input.worker || input.scaledObjects.length === 0) {
    return { hold: false, why: 'not-keda' }
  }
  const live = input.scaledObjects.map(o => ({ name: o.metadata.name, live: liveOf(input.before, o) }))
  // An unchanged worker was verified when its image was deployed; KEDA checks a ScaledObject it has not seen
  // yet on its own.
  const refresh = !input.workerRolls && input.kedaChanged && live.some(l => managedByKeda(l.live))
  if (!input.workerRolls && !refresh) return { hold: false, why: 'no-roll' }
  const pausedBy = live.filter(l => pausedByOperator(l.live)).map(l => l.name)
  if (pausedBy.length > 0) return { hold: false, why: 'paused-by-operator', pausedBy }
  const current = replicasOf(input.liveWorker)
  return {
    hold: true,
    worker: input.worker,
    verifies: input.workerRolls,
    replicas: input.workerRolls ? Math.max(1, current ?? 1) : (current ?? 1),
    fromZero: input.workerRolls && current === 0,
    pauseFirst: live.filter(l => l.live !== undefined).map(l => l.name)
  }
}

// Whether this run changes what KEDA reads: the ScaledObject or a TriggerAuthentication (as the server-side dry
// run answered), or a key of a Secret a TriggerAuthentication names.
export function kedaInputsChanged(
  dryRun: AppliedObject[],
  before: Map<string, LiveObjectMeta>,
  objects: KubeObject[]
): boolean {
  const kinds = ['ScaledObject', 'TriggerAuthentication']
  if (dryRun.some(a => kinds.includes(a.kind) && a.action !== 'unchanged')) return true
  const read = new Set<string>()
  for (const auth of objects.filter(o => o.kind === 'TriggerAuthentication')) {
    const refs = (auth.spec as { secretTargetRef?: unknown } | undefined)?.secretTargetRef
    for (const ref of Array.isArray(refs) ? refs : []) {
      const { name, key } = (ref ?? {}) as { name?: unknown; key?: unknown }
      if (typeof name === 'string' && typeof key === 'string') read.add(`${name}/${key}`)
    }
  }
  return dryRun
    .filter(a => a.kind === 'Secret' && a.action !== 'unchanged')
    .some(a => changedKeys(before.get(identityKey(a)), a.applied).some(key => read.has(`${a.name}/${key}`)))
}

// Paused by someone: KEDA's `paused: "true"`, or a paused-replicas this action did not set.
export function pausedByOperator(scaledObject: LiveObjectMeta | undefined): boolean {
  const annotations = scaledObject?.metadata.annotations ?? {}
  const paused = annotations[PAUSED_ANNOTATION]
  if (paused !== undefined && paused.toLowerCase() !== 'false') return true
  return annotations[PAUSED_REPLICAS_ANNOTATION] !== undefined && annotations[HOLD_ANNOTATION] === undefined
}

export function isAtZero(worker: LiveObjectMeta | undefined): boolean {
  return replicasOf(worker) === 0
}

function replicasOf(worker: LiveObjectMeta | undefined): number | undefined {
  return (worker?.spec as { replicas?: number } | undefined)?.replicas
}

function liveOf(before: Map<string, LiveObjectMeta>, object: KubeObject): LiveObjectMeta | undefined {
  return before.get(
    identityKey({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace })
  )
}

// The objects to apply, the worker's ScaledObjects carrying the hold.
export function withHold(objects: KubeObject[], decision: HoldDecision): KubeObject[] {
  if (!decision.hold) return objects
  const count = String(decision.replicas)
  return objects.map(object =>
    object.kind === 'ScaledObject'
      ? {
          ...object,
          metadata: {
            ...object.metadata,
            annotations: {
              ...(object.metadata.annotations ?? {}),
              [PAUSED_REPLICAS_ANNOTATION]: count,
              [HOLD_ANNOTATION]: count
            }
          }
        }
      : object
  )
}

// KEDA has taken the hold: it reports the paused count and has stopped its scale loop.
export function holdAcknowledged(scaledObject: ScaledObjectState | undefined, replicas: number): boolean {
  const status = scaledObject?.status
  return (
    status?.pausedReplicaCount === replicas &&
    (status.conditions ?? []).some(c => c.type === 'Paused' && c.status === 'True')
  )
}

// KEDA's operator has reconciled this ScaledObject at least once (it writes conditions on its first look):
// it is running, and will answer a pause.
export function managedByKeda(scaledObject: LiveObjectMeta | undefined): boolean {
  return ((scaledObject as ScaledObjectState | undefined)?.status?.conditions ?? []).length > 0
}

export interface HoldStarted {
  // ScaledObjects KEDA did not confirm paused in time (the rollout goes on).
  unconfirmed: string[]
}

// Before the worker changes: the existing ScaledObjects paused (the same objects the apply then sends, so it
// changes nothing more on them), and, where KEDA already manages one, its acknowledgement awaited.
export async function pauseBeforeApply(
  kubectl: Kubectl,
  options: {
    decision: HoldDecision
    // The rendered objects with the hold (withHold).
    held: KubeObject[]
    before: Map<string, LiveObjectMeta>
    namespace: string
    now?: () => number
    sleep?: (ms: number) => Promise<void>
  }
): Promise<HoldStarted> {
  const { decision } = options
  if (!decision.hold || decision.pauseFirst.length === 0) return { unconfirmed: [] }
  const existing = options.held.filter(
    o => o.kind === 'ScaledObject' && decision.pauseFirst.includes(o.metadata.name)
  )
  await serverSideApply(kubectl, existing, options.before, { dryRun: false, trusted: true })
  const watched = existing.filter(o => managedByKeda(liveOf(options.before, o))).map(o => o.metadata.name)
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms)))
  const deadline = now() + HOLD_ACK_TIMEOUT_MS
  let waiting = watched
  while (waiting.length > 0) {
    const states = await readScaledObjects(kubectl, options.namespace, waiting)
    waiting = waiting.filter(name => !holdAcknowledged(states.get(name), decision.replicas))
    if (waiting.length === 0 || now() >= deadline) break
    await sleep(POLL_MS)
  }
  return { unconfirmed: waiting }
}

// A worker at zero gets its held count now, not at KEDA's next reconcile: the rollout watch that follows must
// see pods. Exit 1 with "Expected replicas to be 0" is the precondition failing (KEDA was quicker): fine.
export async function startFromZero(
  kubectl: Kubectl,
  namespace: string,
  decision: HoldDecision
): Promise<void> {
  if (!decision.hold || !decision.fromZero) return
  await kubectl.run(
    [
      'scale',
      `deployment/${decision.worker}`,
      '-n',
      namespace,
      '--current-replicas=0',
      `--replicas=${decision.replicas}`
    ],
    { okExitCodes: [0, 1], accept: r => r.exitCode === 0 || /Expected replicas to be 0/.test(r.stderr) }
  )
}

// The ScaledObjects as rendered (no hold): server-side apply drops the annotations this action set, which
// only its field manager owns.
export async function releaseHold(
  kubectl: Kubectl,
  scaledObjects: KubeObject[],
  before: Map<string, LiveObjectMeta>
): Promise<void> {
  await serverSideApply(kubectl, scaledObjects, before, { dryRun: false, trusted: true })
}

export async function readScaledObjects(
  kubectl: Kubectl,
  namespace: string,
  names: string[]
): Promise<Map<string, ScaledObjectState>> {
  const found = new Map<string, ScaledObjectState>()
  if (names.length === 0) return found
  const result = await kubectl.run([
    'get',
    'scaledobjects.keda.sh',
    ...names,
    '-n',
    namespace,
    '--ignore-not-found',
    '-o',
    'json'
  ])
  for (const item of parseObjects(result.stdout)) found.set(item.metadata.name, item as ScaledObjectState)
  return found
}

// For the notes: what the hold did.
export function holdNote(decision: HoldDecision, started: HoldStarted | undefined): string | undefined {
  if (!decision.hold) {
    return decision.why === 'paused-by-operator'
      ? `ScaledObject ${decision.pausedBy!.join(', ')} is paused by its own annotation (${PAUSED_ANNOTATION} or ${PAUSED_REPLICAS_ANNOTATION}): the deploy left the pause in place and did not hold the worker`
      : undefined
  }
  const count = `${decision.replicas} replica${decision.replicas === 1 ? '' : 's'}`
  if (!decision.verifies) {
    return `What KEDA reads changed (its ScaledObject, TriggerAuthentication or their Secret keys): the ScaledObject was paused at ${count} and released, so that KEDA checked it afresh`
  }
  const base = decision.fromZero
    ? `${decision.worker} was scaled to zero: held at ${count} (KEDA's ${PAUSED_REPLICAS_ANNOTATION}) to verify this image, then handed back to KEDA`
    : `${decision.worker} held at ${count} (KEDA's ${PAUSED_REPLICAS_ANNOTATION}) while this image was verified, then handed back to KEDA`
  const late =
    started && started.unconfirmed.length > 0
      ? `; KEDA did not confirm the pause of ${started.unconfirmed.join(', ')} within ${HOLD_ACK_TIMEOUT_MS / 1000}s (is its operator running?)`
      : ''
  return `${base}${late}`
}
