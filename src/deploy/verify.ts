// Verify: both rollouts watched at once, then the beat guard and the smoke checks in the new pods. The API
// server going away meanwhile (a restart, a 503, a 429, its authorizer warming up) is waited out until the
// rollout deadline: the calls retry until then, and the report says how long the API was away. Never throws: a
// cancellation or a lost lock is recorded with the step it stopped.

import { CancelledError, cancellationReason, type Kubectl } from '../kube/kubectl.js'
import type { NamespaceSnapshot } from '../kube/objects.js'
import type { Timeline } from '../report/timeline.js'
import type { SmokeCheckChoice } from '../inputs.js'
import { checkBeatGuard } from './beat-guard.js'
import { kedaRefuses, type KedaVerdict } from './keda-verdict.js'
import { runSmokeChecks } from './run-smoke-checks.js'
import { checkNewPodImages, type ExpectedPodImages, type PodImageReport } from './verify-pod-images.js'
import type { SmokeCheckResult } from './smoke-checks.js'
import type { TaskSafetyRecord, TaskSafetyRun } from './task-safety.js'
import { waitForRollouts, type RolloutResult, type WaitOptions } from './wait-rollouts.js'

export interface VerifyRecord {
  rollouts: RolloutResult[]
  beatProblems: string[]
  smoke: SmokeCheckResult[]
  // Which bytes the new pods run, against the digest resolved before any write.
  images?: PodImageReport
  // The task-safety check, how the old workers stopped, the queues (task_safety not off).
  taskSafety?: TaskSafetyRecord
  // The watch as it ended, for the diagnostics of a failure.
  snapshot?: NamespaceSnapshot
  // KEDA's verdict on the worker's ScaledObject, read after the checks passed (autoscaling: keda).
  keda?: KedaVerdict[]
  // What stopped the verification before it could judge (the API away past the deadline, say).
  error?: string
  // A cancellation, or the lock lost, in the step named.
  stopped?: { error: CancelledError; during: string }
}

export interface VerifyContext {
  // Cancelled with the run (and when the lock is lost); its deadline is the rollouts'.
  kubectl: Kubectl
  namespace: string
  deployments: string[]
  roles: { worker?: string; beat?: string }
  watch: WaitOptions
  smokeChecks: SmokeCheckChoice[]
  // The image the pods must run (none: not checked).
  images?: ExpectedPodImages
  celeryApp: string
  kedaWorker: boolean
  // Releases the hold on the worker and reads KEDA's verdict, once every other check passed.
  kedaVerdict?: () => Promise<KedaVerdict[]>
  // Started before the apply (task-safety.ts); its check runs in the worker's smoke-check exec.
  taskSafety?: TaskSafetyRun
  signal?: AbortSignal
  timeline?: Timeline
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  log: (line: string) => void
  redact: (text: string) => string
}

export function verified(record: VerifyRecord, deployments: string[]): boolean {
  return (
    record.error === undefined &&
    record.rollouts.length === deployments.length &&
    record.rollouts.every(r => r.outcome === 'complete') &&
    record.images?.problem === undefined &&
    record.beatProblems.length === 0 &&
    record.smoke.every(r => r.ok) &&
    !kedaRefuses(record.keda) &&
    record.taskSafety?.blocking !== true
  )
}

export async function verifyRelease(context: VerifyContext): Promise<VerifyRecord> {
  const { kubectl, namespace, roles, log, redact } = context
  const record: VerifyRecord = { rollouts: [], beatProblems: [], smoke: [] }
  let during = 'the rollouts'
  const rolloutsStarted = Date.now()
  let safetyResult: SmokeCheckResult | undefined
  // Why the task-safety check did not run in the smoke checks' exec. (A rollout that did not complete returns
  // before any of this: no task-safety record, and its watch of the old workers ends with the deploy.)
  let safetyNotRun: string | undefined
  try {
    const watch = await context.group('Rollouts', () =>
      waitForRollouts(kubectl, { ...context.watch, deployments: context.deployments, signal: context.signal })
    )
    record.rollouts = watch.results
    record.snapshot = watch.snapshot
    addRolloutSteps(context.timeline, 'Rollouts', rolloutsStarted, watch.results)
    if (!watch.results.every(r => r.outcome === 'complete')) return record
    if (context.images) {
      record.images = checkNewPodImages(watch.results, context.images)
      if (record.images.problem) log(`Image check failed: ${redact(record.images.problem.cause)}`)
      else if (record.images.matching.length > 0 && record.images.mismatching.length === 0)
        log(
          `Every new pod runs ${record.images.expected ?? 'the resolved image'} (${record.images.matching.length} containers checked).`
        )
      if (record.images.problem) return record
    }
    const podsOf = (name: string | undefined) => watch.results.find(r => r.deployment === name)?.pods ?? []
    if (roles.beat) {
      during = 'the beat guard'
      const guardStarted = Date.now()
      record.beatProblems = await checkBeatGuard(kubectl, {
        namespace,
        beatDeployment: roles.beat,
        beatPods: podsOf(roles.beat),
        autoscalers: watch.snapshot.autoscalers
      })
      context.timeline?.add({
        section: 'Checks',
        name: 'beat guard',
        startMs: guardStarted,
        endMs: Date.now(),
        state: record.beatProblems.length > 0 ? 'failed' : 'done'
      })
    }
    safetyNotRun = record.beatProblems.length > 0 ? 'the beat guard failed' : undefined
    if (record.beatProblems.length === 0 && (context.smokeChecks.length > 0 || context.taskSafety)) {
      during = 'the smoke checks'
      const smokeStarted = Date.now()
      record.smoke = await context.group('Smoke checks', async () => {
        const results = await runSmokeChecks(kubectl, {
          namespace,
          celeryApp: context.celeryApp,
          choices: context.smokeChecks,
          podsByTarget: { worker: podsOf(roles.worker), beat: podsOf(roles.beat) },
          workerScaledToZero:
            context.kedaWorker &&
            watch.snapshot.deployments.find(d => d.metadata.name === roles.worker)?.spec?.replicas === 0,
          extraChecks: context.taskSafety ? [context.taskSafety.spec] : []
        })
        safetyResult = results.find(r => r.name === 'task-safety')
        for (const r of results.filter(r => r.name !== 'task-safety')) {
          log(
            `${r.skipped ? 'skip' : r.ok ? 'pass' : 'FAIL'} ${r.name}${r.pod ? ` (${r.pod})` : ''}: ${redact(r.detail)} [${r.durationMs} ms]`
          )
        }
        return results.filter(r => r.name !== 'task-safety')
      })
      // The checks run side by side: each bar starts with the group.
      for (const r of record.smoke) {
        context.timeline?.add({
          section: 'Checks',
          name: r.name,
          startMs: smokeStarted,
          endMs: smokeStarted + r.durationMs,
          state: r.ok ? 'done' : 'failed'
        })
      }
    }
    if (context.kedaVerdict && record.beatProblems.length === 0 && record.smoke.every(r => r.ok)) {
      during = "KEDA's check of the ScaledObject"
      record.keda = await context.group('KEDA', context.kedaVerdict)
    }
  } catch (error) {
    if (error instanceof CancelledError) record.stopped = { error, during }
    else record.error = redact(error instanceof Error ? error.message : String(error))
  }
  if (context.taskSafety) {
    const stoppedEarly = record.stopped || record.error !== undefined
    const notRun = stoppedEarly ? 'the verification was stopped' : safetyNotRun
    const started = Date.now()
    record.taskSafety = await context.group('Task safety', () =>
      context.taskSafety!.finish({
        kubectl,
        result: safetyResult,
        notRun,
        workerPods: record.rollouts.find(r => r.deployment === roles.worker)?.pods ?? [],
        // The old workers' grace periods end within the rollout's deadline in any normal rollout.
        settleUntilMs: rolloutsStarted + context.watch.timeoutMs,
        signal: context.signal,
        log: line => log(redact(line))
      })
    )
    // Cancelled (or the lock lost) while waiting for the old workers or reading the queues: the run stops here,
    // as in any other step of the verification.
    if (!record.stopped && context.signal?.aborted) {
      record.stopped = {
        error: new CancelledError(cancellationReason(context.signal)),
        during: 'the task-safety check'
      }
    }
    if (!notRun) {
      context.timeline?.add({
        section: 'Checks',
        name: 'task safety',
        startMs: started,
        endMs: Date.now(),
        state: record.taskSafety.blocking ? 'failed' : 'done'
      })
    }
  }
  return record
}

// One bar per watched Deployment: they are watched together, so each starts with the watch.
export function addRolloutSteps(
  timeline: Timeline | undefined,
  section: string,
  startMs: number,
  results: RolloutResult[]
): void {
  for (const r of results) {
    timeline?.add({
      section,
      name: r.deployment,
      startMs,
      endMs: startMs + r.durationMs,
      state: r.outcome === 'complete' ? 'done' : 'failed'
    })
  }
}
