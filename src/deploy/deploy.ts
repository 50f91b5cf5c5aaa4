// The deploy as one transaction: pre-flight, the deploy lock, then Decide (what changes, how to undo it), Apply
// (fenced by the lock, journaled in it), Verify (rollouts, beat guard, smoke checks), Undo (one path for a failure,
// a cancellation and an error after the first write), Judge (the outcome, from the records and the cluster read
// at the end). This file only sequences them and chooses each phase's runner:
// - `work`: fenced by the lock and cancelled with the run (or when the lock is lost): the apply, the watch, the
//   checks, the diagnostics;
// - `cleanup`: fenced, never cancelled, bounded by a deadline: the undo, the release of a hold, the settling;
// - `reader`: neither (the reads at the end, which must work after the lock is gone).
// It throws only while nothing but the Namespace and the lock was written (pre-flight, lock, dry run); any later
// error becomes a failed outcome, undone and reported. A cancellation (the runner's SIGINT, SIGTERM 7.5 s later,
// the kill 2.5 s after that) starts the undo and settles within CANCELLED_BUDGET_MS, without watching the undo.

import { PLAIN_SECRET_KEYS, type DeployConfig } from '../inputs.js'
import { CancelledError, cancellationReason, type Kubectl } from '../kube/kubectl.js'
import { describeOutages } from '../kube/api-availability.js'
import type { AppliedObject } from '../kube/apply.js'
import { getLiveObjects, identityKey, type LiveObjectMeta } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { AUTOSCALING_ANNOTATION, type RenderedManifests } from '../render/render-manifests.js'
import type { Timeline } from '../report/timeline.js'
import type { Deployment } from '../k8s/types.js'
import { REDIS_KEYS } from '../render/redis-connection.js'
import { applyChanges } from './apply-phase.js'
import { readAutoscaler } from './autoscaler-status.js'
import { diagnoseFailedRollouts } from './collect-diagnostics.js'
import { carryRestartStamps, decide, type DeployDecision } from './decide.js'
import {
  acquireDeployLock,
  LEASE_SECONDS,
  LOCK_NAME,
  LockLostError,
  type HeldLock,
  type LockOwner
} from './deploy-lock.js'
import { guardKedaRollout } from './keda-rollout.js'
import { describeRun, journalOf, UNDO_SECRET_NAME, type Journal } from './journal.js'
import { dryRunAll } from './server-dry-run.js'
import { identityInput, runPreflight } from './run-preflight.js'
import { judge, type Stop } from './judge.js'
import type { DeployOutcome } from './outcome.js'
import { dryRunCompare } from '../plan/plan-compare.js'
import { PreflightError } from './preflight.js'
import { findRetiring, type RetirePlan } from './retire-autoscalers.js'
import { checkImage, imagePreflightProblem, type RegistryAccess } from './image-preflight.js'
import { pinDeployments, type DeployImage } from './pin-deployments.js'
import { expectedPodImages } from './verify-pod-images.js'
import { renderGateJobFor } from '../render/gate-job.js'
import { GATE_WATCH_GRACE_MS, passed, runGate } from './gate.js'
import { readQueuesBeforeAnyWrite, startTaskSafety } from './task-safety.js'
import type { QueueReading } from './queue-readings.js'
import { undoChanges, type UndoRecord } from './undo.js'
import { addRolloutSteps, verified, verifyRelease, type VerifyRecord } from './verify.js'
import { waitForRollouts, type WaitOptions } from './wait-rollouts.js'

export type { DeployOutcome, DeployStatus } from './outcome.js'
export { PreflightError } from './preflight.js'

// GitHub kills a cancelled step 10 s after its first signal (SIGTERM at 7.5 s): the undo's writes go out within
// the first budget, and every call of the run ends by the second, leaving time for the summary.
export const CANCELLED_BUDGET_MS = 5000
export const CANCELLED_CUTOFF_MS = 7000
// A server-side dry run that meets an API server restarting waits this long for it.
const DRY_RUN_DEADLINE_MS = 60_000

export interface DeployContext {
  kubectl: Kubectl
  config: DeployConfig
  rendered: RenderedManifests
  redact: Redact
  // Secret values learnt from the cluster (the live Secret), for masking and redaction.
  learnSecrets: (values: string[]) => void
  // workflow_dispatch: roll the pods even when the pod template did not change.
  forceRestart: boolean
  // Who holds the deploy lock while this run deploys (shown to a run that finds it taken).
  lockOwner: Omit<LockOwner, 'image'>
  // Aborted when the run is cancelled.
  signal?: AbortSignal
  // The resource (for access checks) of a kind the built-in list does not know, from the cluster's discovery.
  resourceOfKind?: (kind: string, apiVersion: string) => string | undefined
  // Told when this run takes or gives up the deploy lock (the post step releases one left behind).
  onLockHeld?: (held: boolean) => void
  // Each step's start and end, for the run's picture in the job summary.
  timeline?: Timeline
  // How to ask the image's registry (image-preflight.ts); absent: the image is not checked.
  registry?: RegistryAccess
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  log: (line: string) => void
  warn: (line: string) => void
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  pollMs?: number
}

// The order of the apply, one call: each phase's objects exist before the next one refers to them. A new
// Namespace already exists by then (created bare with the deploy lock, which lives in it).
const AUTOSCALING_KINDS = ['HorizontalPodAutoscaler', 'ScaledObject', 'PodDisruptionBudget']
const PHASES: Array<{ name: string; kinds: (kind: string) => boolean }> = [
  { name: 'Namespace', kinds: k => k === 'Namespace' },
  { name: 'ServiceAccount', kinds: k => k === 'ServiceAccount' },
  {
    name: 'Secret and configuration',
    kinds: k => !['Namespace', 'ServiceAccount', 'Deployment', ...AUTOSCALING_KINDS].includes(k)
  },
  { name: 'Deployments', kinds: k => k === 'Deployment' },
  // After the Deployment they scale (KEDA's webhook looks the target up).
  { name: 'Autoscaling', kinds: k => AUTOSCALING_KINDS.includes(k) }
]

// A log group that is also a bar of the run's timeline.
function timedGroup(context: DeployContext, section: string) {
  return <T>(name: string, fn: () => Promise<T>): Promise<T> =>
    context.timeline
      ? context.timeline.time(section, name, () => context.group(name, fn))
      : context.group(name, fn)
}

export async function deploy(original: DeployContext): Promise<DeployOutcome> {
  // The queues before any write, read in a worker pod beside the pre-flight checks (task_safety); the reading is
  // abandoned when the run ends without waiting for it (a pre-flight failure), so it cannot keep the run alive.
  const queuesBefore = readQueuesBeforeAnyWrite(original.kubectl, {
    mode: original.config.taskSafety,
    namespace: original.config.namespace,
    celeryApp: original.config.celeryApp,
    queues: original.config.workerQueues,
    worker: original.rendered.objects.find(r => r.role === 'worker')?.object,
    signal: original.signal
  })
  return deployReadingQueues(original, queuesBefore.reading).finally(() => queuesBefore.abandon())
}

async function deployReadingQueues(
  original: DeployContext,
  queuesBefore: Promise<QueueReading | undefined> | undefined
): Promise<DeployOutcome> {
  const now = original.now ?? Date.now
  // When the run was cancelled: from then on no call of the run (the lock's renewals included) outlives
  // GitHub's seconds.
  let cancelledAt: number | undefined = original.signal?.aborted ? now() : undefined
  original.signal?.addEventListener('abort', () => (cancelledAt ??= now()), { once: true })
  const context = {
    ...original,
    kubectl: original.kubectl.withCutoff(() =>
      cancelledAt === undefined ? undefined : cancelledAt + CANCELLED_CUTOFF_MS
    )
  }
  const { config, rendered, log } = context
  const group = timedGroup(context, 'Before any change')
  // The calls before the lock stop when the run is cancelled.
  const kubectl = context.kubectl.withSignal(context.signal)
  const namespace = config.namespace
  const objects = rendered.objects.map(o => o.object)
  // The registry is asked beside the reads and access checks below, not after them.
  const imageCheck = context.registry
    ? checkImage(config, objects, context.registry, { now, signal: context.signal }).then(check => {
        context.timeline?.add({
          section: 'Before any change',
          name: 'Image in its registry',
          startMs: check.startMs,
          endMs: check.endMs,
          state: imagePreflightProblem(check.resolution) ? 'failed' : 'done'
        })
        return check
      })
    : undefined
  // Awaited in the pre-flight; a read that fails before it must not leave the promise unhandled.
  imageCheck?.catch(() => undefined)

  const whileIn = (what: string) => (error: unknown) => {
    if (error instanceof CancelledError) error.during ??= what
    throw error
  }
  const { live, retirePlan, image } = await runPreflight(context, kubectl, group, imageCheck).catch(
    whileIn('the pre-flight checks, before any change')
  )

  // The Namespace holds the lock, and a dry run of the rest needs it to exist: a new one is created bare in the
  // same call that takes the lock, and its fields are set by the apply, with the rest, after the dry run. One
  // that already holds every field the action sets is not applied again.
  const namespacePhase = objects.filter(o => PHASES[0].kinds(o.kind))
  const namespaceIsNew = namespacePhase.some(
    o => o.metadata.name === namespace && !live.has(identityKey({ kind: 'Namespace', name: namespace }))
  )
  const namespaceUnchanged = namespacePhase.filter(o => dryRunCompare(o, live).action === 'unchanged')
  const lock = await group('Deploy lock', async () => {
    const held = await acquireDeployLock(context.kubectl, {
      namespace,
      owner: { ...context.lockOwner, image: config.image },
      timeoutSeconds: config.lockTimeoutSeconds,
      createNamespace: namespaceIsNew,
      signal: context.signal,
      log,
      onHeld: context.onLockHeld
    })
    log(`Holding lease ${LOCK_NAME} in namespace ${namespace} (renewed every ${LEASE_SECONDS / 3}s).`)
    return held
  }).catch(whileIn('the wait for the deploy lock, before any change'))
  const inherited = lock.inherited()
  if (inherited) {
    context.warn(
      `deploy-gke-workers: ${describeRun(inherited.run)} was interrupted after its first write and never verified its release; this run verifies it and, on failure, undoes to the release before it`
    )
  }
  // The workloads get the image as the registry check decided (pinned to its digest by default).
  const pinned = image
    ? pinDeployments(objects, { image: config.image, pinning: config.imagePinning }, image, live)
    : undefined
  const pinnedContext = pinned
    ? {
        ...context,
        rendered: {
          ...rendered,
          objects: rendered.objects.map((o, i) => ({ ...o, object: pinned.objects[i] }))
        }
      }
    : context
  return transaction(pinnedContext, lock, () => cancelledAt, {
    image: pinned?.image,
    // After a wait for another deploy's lock the Namespace is judged again, with the rest.
    namespaceUnchanged: lock.waited() ? [] : namespaceUnchanged.map(o => unchangedObject(o, live)),
    read: lock.waited() ? undefined : { live, retirePlan },
    inherited,
    queuesBefore
  })
}

async function transaction(
  context: DeployContext,
  lock: HeldLock,
  // When the run was cancelled, if it was.
  cancelledAt: () => number | undefined,
  start: {
    // The image as pinned for this deploy, when the registry was asked.
    image?: DeployImage
    // The Namespace, when it already holds every field the action sets (it is not applied again).
    namespaceUnchanged: AppliedObject[]
    // The state read before the lock, when no other deploy held the lock in between.
    read?: { live: Map<string, LiveObjectMeta>; retirePlan: RetirePlan }
    inherited?: Journal
    // The queues read beside the pre-flight checks (task_safety), maybe still being read.
    queuesBefore?: Promise<QueueReading | undefined>
  }
): Promise<DeployOutcome> {
  const { config, rendered, redact, log } = context
  const now = context.now ?? Date.now
  const namespace = config.namespace
  const roles = {
    worker: rendered.objects.find(o => o.role === 'worker')?.object.metadata.name,
    beat: rendered.objects.find(o => o.role === 'beat')?.object.metadata.name
  }
  const reader = context.kubectl
  const fenced = context.kubectl.withFence(() => lock.fence())
  const signals = [context.signal, lock.lostSignal].filter((s): s is AbortSignal => s !== undefined)
  const work = fenced.withSignal(AbortSignal.any(signals))
  const stopOf = (error: unknown, during: string): Stop | undefined =>
    error instanceof LockLostError || lock.lost()
      ? { kind: 'lock-lost', loss: lock.lost() ?? (error as LockLostError).loss, during }
      : error instanceof CancelledError
        ? { kind: 'cancelled', reason: error.reason, during }
        : undefined

  const gateJob = renderGateJobFor(rendered, config, context.lockOwner.identity)
  let decision: DeployDecision
  let dryRunAnswers: AppliedObject[]
  let before: Map<string, LiveObjectMeta>
  let retirePlan: RetirePlan
  let dryRunSecret: Record<string, string> | undefined
  let dryRunWarnings: string[]
  try {
    const skipped = new Set(start.namespaceUnchanged.map(a => identityKey(a)))
    const rest = PHASES.flatMap(phase =>
      rendered.objects.map(o => o.object).filter(o => phase.kinds(o.kind))
    ).filter(
      o =>
        !PHASES[0].kinds(o.kind) ||
        !skipped.has(identityKey({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace }))
    )
    // After waiting for another deploy's lock, what it did counts as "before": read again.
    before = start.read?.live ?? (await getLiveObjects(work, identityInput(rest)))
    retirePlan = start.read?.retirePlan ?? (await findRetiring(work, rendered, config))
    for (const warning of retirePlan.warnings) context.warn(`deploy-gke-workers: ${warning}`)
    // The previous Secret values may end up in an undo's error text: they are secrets too.
    const secretBefore = before.get(identityKey({ kind: 'Secret', name: config.secretName, namespace }))
    if (secretBefore && config.secretData !== undefined)
      context.learnSecrets(decodedSecretValues(secretBefore))
    const prepared = carryRestartStamps(rest, before)
    // The pre-deploy gate's Job is dry-run with the rest: admission refuses it before any write too.
    const dryRun = await timedGroup(context, 'Before any change')('Server-side dry run', () =>
      dryRunAll(
        work.withDeadline(now() + DRY_RUN_DEADLINE_MS),
        gateJob ? [...prepared, gateJob] : prepared,
        before,
        retirePlan,
        log,
        redact
      )
    )
    dryRunSecret = dataOf(
      dryRun.objects.find(a => a.kind === 'Secret' && a.name === config.secretName)?.applied
    )
    decision = decide({
      namespace,
      secretName: config.secretName,
      objects: prepared,
      roles,
      before,
      dryRun: dryRun.objects,
      forceRestart: context.forceRestart,
      restartStamp: new Date(now()).toISOString(),
      autoscaling: config.autoscaling,
      inherited: start.inherited
    })
    dryRunWarnings = dryRun.warnings
    dryRunAnswers = dryRun.objects
  } catch (error) {
    // Nothing but the Namespace and the lock was written: the lock goes, the error is the run's.
    await lock.release().catch(() => undefined)
    if (error instanceof LockLostError)
      throw new PreflightError(
        [{ kind: 'lock-lost', text: error.loss.reason }],
        'The deploy lock was lost before the first write'
      )
    if (error instanceof CancelledError) error.during ??= 'the server-side dry run, before any change'
    throw error
  }

  const liveWorker = roles.worker
    ? before.get(identityKey({ kind: 'Deployment', name: roles.worker, namespace }))
    : undefined
  // The clean-up's calls retry an outage until a deadline: a failure's undo has the rollout timeout (from the
  // moment the failure is known); once the run is cancelled (before or during the undo), what is left of GitHub's
  // seconds.
  // Set once the failure is known.
  const failure: { deadline?: number } = {}
  const cleanupDeadline = (): number => {
    const base = failure.deadline ?? now() + config.rolloutTimeoutSeconds * 1000
    const cancelled = cancelledAt()
    return cancelled === undefined ? base : Math.min(base, cancelled + CANCELLED_BUDGET_MS)
  }
  const notes = [...rendered.notes, ...retirePlan.warnings]
  // Under KEDA the worker is held (its ScaledObject paused at the current count, at least one) while its new
  // pods are verified, and released last; KEDA's own verdict on the ScaledObject is read after the checks. Its
  // writes are the run's: fenced, the release through the clean-up runner.
  const keda = guardKedaRollout(
    work,
    fenced.withDeadline(() => cleanupDeadline()),
    {
      autoscaling: config.autoscaling,
      namespace,
      worker: roles.worker,
      objects: decision.objects,
      before,
      dryRun: dryRunAnswers,
      workerRolls: roles.worker !== undefined && decision.rolls.some(r => r.deployment === roles.worker),
      redact,
      note: text => notes.push(text),
      warn: context.warn,
      log,
      now: context.now,
      sleep: context.sleep
    }
  )
  decision = { ...decision, objects: keda.toApply(decision.objects) }
  // The journal this run writes, at a phase: what it may change and how to undo it.
  const thisRun = {
    identity: context.lockOwner.identity,
    image: config.image,
    ...(context.lockOwner.runUrl ? { runUrl: context.lockOwner.runUrl } : {}),
    ...(context.lockOwner.actor ? { actor: context.lockOwner.actor } : {})
  }
  const journalAt = (phase: Journal['phase']): Journal =>
    journalOf(thisRun, phase, now(), config.rollbackOnFailure, decision.undo, start.inherited)
  const deployGroup = timedGroup(context, 'Deploy')
  // The pre-deploy gate runs before any pod rolls, and only then: a deploy that rolls nothing replaces no code.
  const gateTimeoutMs = (config.preDeploy?.timeoutSeconds ?? 0) * 1000 + GATE_WATCH_GRACE_MS
  const gate =
    gateJob && decision.rolls.length > 0
      ? () => {
          const gateEnd = now() + gateTimeoutMs + 10_000
          // Its deletion of the Job outlives a cancellation (within GitHub's seconds) and an outage that ended the
          // watch (for half a minute more).
          const cleanupEnd = gateEnd + 30_000
          return runGate({
            kubectl: work.withDeadline(gateEnd),
            cleanup: fenced.withDeadline(() => {
              const cancelled = cancelledAt()
              return cancelled === undefined
                ? cleanupEnd
                : Math.min(cleanupEnd, cancelled + CANCELLED_BUDGET_MS)
            }),
            job: gateJob,
            namespace,
            timeoutSeconds: config.preDeploy!.timeoutSeconds,
            pendingGraceSeconds: config.schedulingGraceSeconds,
            signal: AbortSignal.any(signals),
            lockLost: () => lock.lost(),
            timeline: context.timeline,
            group: context.group,
            log,
            redact,
            now: context.now,
            sleep: context.sleep,
            pollMs: context.pollMs
          })
        }
      : undefined
  if (gateJob && !gate) notes.push('pre_deploy_command did not run: this deploy rolls no pods')
  // Before the first write: the old workers are watched from here, to say how they stopped (task_safety).
  const taskSafety = await startTaskSafety(work, {
    mode: config.taskSafety,
    namespace,
    celeryApp: config.celeryApp,
    queues: config.workerQueues,
    worker: rendered.objects.find(o => o.role === 'worker')?.object,
    queuesBefore: start.queuesBefore,
    now
  })
  const applied = await applyChanges({
    kubectl: work,
    lock,
    namespace,
    decision,
    before,
    journal: journalAt,
    retiring: retirePlan.retiring,
    handOverFrom:
      config.autoscaling !== 'none' && liveWorker?.metadata.annotations?.[AUTOSCALING_ANNOTATION] === 'none'
        ? liveWorker
        : undefined,
    worker: roles.worker,
    replicasAfterKeda: config.workerMinReplicas,
    keda,
    gate,
    group: deployGroup,
    log,
    redact,
    now
  })
  applied.applied.unshift(...start.namespaceUnchanged)
  applied.warnings.unshift(...dryRunWarnings)
  let stop = applied.error !== undefined ? stopOf(applied.error, applied.during ?? 'the apply') : undefined
  const error =
    applied.error !== undefined && !stop
      ? redact((applied.error as Error).message ?? String(applied.error))
      : undefined
  if (error) context.warn(`deploy-gke-workers: ${error}`)

  const watchOptions = (names: string[], prefix = ''): WaitOptions => ({
    namespace,
    deployments: names,
    timeoutMs: config.rolloutTimeoutSeconds * 1000,
    pendingGraceSeconds: config.schedulingGraceSeconds,
    pollMs: context.pollMs,
    now: context.now,
    sleep: context.sleep,
    onProgress: line => log(`${prefix}${redact(line)}`)
  })
  // The calls of a wait retry an API outage until the wait's own deadline (and a little after, for its last list).
  const until = (timeoutMs: number): number => now() + timeoutMs + 10_000

  // A gate that did not pass wrote no Deployment: there is nothing to verify, and what it wrote goes back.
  const gateStopped = applied.gate !== undefined && !passed(applied.gate)
  let verify: VerifyRecord | undefined
  if (!stop && !error && !gateStopped) {
    verify = await verifyRelease({
      kubectl: work.withDeadline(until(config.rolloutTimeoutSeconds * 1000)),
      namespace,
      deployments: decision.deployments,
      roles,
      watch: { ...watchOptions(decision.deployments), replicasAtStart: keda.replicasAtStart },
      kedaVerdict: config.autoscaling === 'keda' ? () => keda.verify() : undefined,
      smokeChecks: config.smokeChecks,
      ...(start.image ? { images: expectedPodImages(decision.objects, start.image) } : {}),
      celeryApp: config.celeryApp,
      kedaWorker: config.autoscaling === 'keda',
      taskSafety,
      signal: AbortSignal.any(signals),
      timeline: context.timeline,
      group: context.group,
      log,
      redact
    })
    if (verify.stopped) stop = stopOf(verify.stopped.error, verify.stopped.during)
    if (verify.images?.warning) context.warn(redact(`deploy-gke-workers: ${verify.images.warning}`))
  }
  taskSafety?.stop()
  if (stop?.kind === 'cancelled') log(`Cancelled (${stop.reason}) during ${stop.during}.`)

  const good = !stop && !error && verify !== undefined && verified(verify, decision.deployments)
  let diagnostics: { events: DeployOutcome['diagnostics']; error?: string } | undefined
  if (!good && !stop && verify?.snapshot && verify.rollouts.some(r => r.outcome !== 'complete')) {
    const seen = verify.snapshot
    try {
      const found = await timedGroup(context, 'After the failure')('Diagnostics', () =>
        diagnoseFailedRollouts(work, namespace, verify!.rollouts, seen, { log, redact })
      )
      diagnostics = { events: found }
    } catch (failure) {
      stop = stopOf(failure, 'the diagnostics of the failure')
      if (!stop)
        diagnostics = {
          events: undefined,
          error: `Diagnostics could not be collected: ${redact((failure as Error).message)}`
        }
    }
  }

  // A run that lost its lock writes nothing more: what it changed is the new holder's to judge.
  const lost = stop?.kind === 'lock-lost'
  failure.deadline = until(config.rolloutTimeoutSeconds * 1000)
  const cleanup = fenced.withDeadline(cleanupDeadline)
  let undo: UndoRecord | undefined
  if (!good && !lost && (config.rollbackOnFailure || gateStopped) && applied.journalWritten) {
    const startOnly = stop?.kind === 'cancelled'
    undo = await timedGroup(context, startOnly ? 'After the cancellation' : 'After the failure')(
      startOnly ? 'Cancelled: rolling back what this run changed' : 'Rollback',
      async () => {
        await lock.writeJournal(journalAt('undoing')).catch(() => undefined)
        if (!startOnly) await keda.holdForUndo(decision.undo.deployments.map(d => d.name))
        return undoChanges({
          kubectl: cleanup,
          namespace,
          target: decision.undo,
          before,
          intendedTemplates: decision.intendedTemplates,
          intendedSecretData: dryRunSecret,
          inheritedDeployments: new Set(start.inherited?.undo.deployments.map(d => d.name) ?? []),
          secretBefore: start.inherited?.undo.secret
            ? undefined
            : before.get(identityKey({ kind: 'Secret', name: config.secretName, namespace })),
          keepSecretKeys: applied.retired.some(r => r.done) ? kedaKeysOf(rendered) : undefined,
          // A cancelled run starts the undo and does not wait for it; a cancellation during the watch stops the
          // watch, not the undo.
          watch: startOnly
            ? undefined
            : async names => {
                const started = now()
                try {
                  const watched = await waitForRollouts(cleanup.withSignal(context.signal), {
                    ...watchOptions(names, 'rollback '),
                    // Held for the rollback like the rollout (keda-rollout.ts): it starts from the held count.
                    replicasAtStart: keda.replicasAtStart,
                    signal: context.signal
                  })
                  addRolloutSteps(context.timeline, 'Rollback', started, watched.results)
                  return watched.results
                } catch (failure) {
                  if (failure instanceof CancelledError && !(failure instanceof LockLostError)) return []
                  throw failure
                }
              },
          log,
          redact
        })
      }
    )
  }
  // Cancelled while the failure was being undone: the undo went out, its watch stopped.
  if (!stop && context.signal?.aborted) {
    stop = { kind: 'cancelled', reason: cancellationReason(context.signal), during: 'the rollback' }
    log(`Cancelled (${stop.reason}) during the rollback: it was started, not watched to the end.`)
  }
  const cancelled = stop?.kind === 'cancelled'

  const notesAfter: string[] = []
  if (!good && applied.retired.some(r => r.done)) {
    // The new autoscaler is not what failed; bringing the old one back would make two fight again.
    notesAfter.push(
      `The autoscaler switch stays (autoscaling ${config.autoscaling}): ${applied.retired
        .filter(r => r.done)
        .map(r => `${r.kind}/${r.name}`)
        .join(', ')} ${applied.retired.filter(r => r.done).length === 1 ? 'is' : 'are'} not restored`
    )
  }
  // The hold ends last, after diagnostics and the undo: once the annotation goes, KEDA scales the idle worker to
  // zero at its next poll, and the failed pod's logs or the undo's rollout would go with it.
  if (!lost) await keda.release()

  // What the run leaves is read from the cluster, not assumed from the calls' answers: a verified run's from the
  // rollout watch's last view (no call of its own), any other's by a read at the end (a cancelled run's bounded
  // by its cutoff).
  const final =
    good && verify?.snapshot
      ? new Map(
          verify.snapshot.deployments.map(d => [
            identityKey({ kind: 'Deployment', name: d.metadata.name, namespace }),
            { ...d, kind: 'Deployment' } as LiveObjectMeta
          ])
        )
      : await getLiveObjects(
          reader.withDeadline(now() + 30_000),
          identityInput(
            rendered.objects
              .map(o => o.object)
              .filter(
                o => o.kind === 'Deployment' || (o.kind === 'Secret' && o.metadata.name === config.secretName)
              )
          )
        ).catch(() => undefined)

  // Settled: verified, or every change undone and watched back. Otherwise the journal stays in the Lease for the
  // post step or the next run, and so does the copy of the previous Secret values it points to.
  const settled = good || (undo?.complete === true && !cancelled) || (!applied.journalWritten && !lost)
  if (!lost) {
    // The copy of the previous Secret values (this run's, or the interrupted run's it took over) has served.
    if (settled && decision.undo.secret?.backup !== undefined) {
      await cleanup
        .run(['delete', 'secret', UNDO_SECRET_NAME, '-n', namespace, '--ignore-not-found', '--wait=false'])
        .catch((failure: unknown) =>
          notesAfter.push(
            `The copy of the previous Secret values (Secret ${UNDO_SECRET_NAME}) could not be deleted: ${redact((failure as Error).message)}`
          )
        )
    }
    const phase = undo && cancelled ? 'undo-started' : undo ? 'undoing' : 'applying'
    await lock
      .release({
        // Not the fenced runner: the release proves the lock itself, and a fence inside it would wait on it.
        kubectl: reader.withDeadline(now() + 15_000),
        ...(settled ? {} : { journal: journalAt(phase) })
      })
      .catch((failure: unknown) => {
        context.warn(`could not release the deploy lock (it lapses by itself): ${(failure as Error).message}`)
      })
  }

  const outcome = judge({
    image: start.image?.deployed ?? config.image,
    namespace,
    secretName: config.secretName,
    roles,
    decision,
    before,
    intendedSecretData: dryRunSecret,
    apply: applied,
    verify,
    undo,
    stop,
    error,
    rollbackOnFailure: config.rollbackOnFailure,
    final,
    inherited: start.inherited,
    outages: describeOutages(context.kubectl.availability.outages(), now()),
    notes: [...notes, ...notesAfter],
    redact
  })
  if (start.image) outcome.image = start.image
  if (diagnostics?.events) outcome.diagnostics = diagnostics.events
  if (diagnostics?.error) outcome.diagnosticsError = diagnostics.error
  if (!settled && !lost) {
    outcome.notes.push(
      `The deploy lock's Lease keeps this run's journal: the next deploy to namespace ${namespace} (or this run's post step) verifies what this run left, and undoes to the release before it on failure`
    )
  }
  if (!cancelled) {
    outcome.autoscaler = await readAutoscaler(reader.withDeadline(now() + 15_000), {
      config,
      applied: outcome.applied,
      worker: final?.get(identityKey({ kind: 'Deployment', name: roles.worker ?? '', namespace })) as
        Deployment | undefined
    }).catch(() => undefined)
  }
  return outcome
}

// An object found as the action would leave it, reported as an apply that changed nothing.
function unchangedObject(object: KubeObject, live: Map<string, LiveObjectMeta>): AppliedObject {
  const current = live.get(
    identityKey({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace })
  )!
  return {
    kind: object.kind,
    name: object.metadata.name,
    namespace: object.metadata.namespace,
    action: 'unchanged',
    podTemplateChanged: false,
    resourceVersion: current.metadata.resourceVersion,
    applied: current
  }
}

function dataOf(object: LiveObjectMeta | undefined): Record<string, string> | undefined {
  return (object as { data?: Record<string, string> } | undefined)?.data
}

// The values of a Secret's keys, the plain ones (DB_USER, DB_NAME) aside: they are not secrets.
function decodedSecretValues(secret: LiveObjectMeta): string[] {
  return Object.entries(dataOf(secret) ?? {})
    .filter(([key]) => !PLAIN_SECRET_KEYS.includes(key))
    .map(([, value]) => Buffer.from(value, 'base64').toString('utf8'))
}

// The Secret keys only KEDA reads, as this run writes them (base64), when it splits REDIS_URL for KEDA.
function kedaKeysOf(rendered: RenderedManifests): Record<string, string> {
  const secret = rendered.objects.find(o => o.role === 'secret')?.object
  const data = (secret?.data ?? {}) as Record<string, string>
  return Object.fromEntries(
    Object.entries(data).filter(([key]) => (Object.values(REDIS_KEYS) as string[]).includes(key))
  )
}
