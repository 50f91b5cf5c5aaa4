// The pre-deploy gate: the command run once in the new image, as a Job, after the objects the Deployments read
// (Namespace, ServiceAccount, Secret, configuration) are applied and before any Deployment is written
// (apply-phase.ts calls it in between). Never throws: the record says how it went, and a gate that did not pass
// stops the apply there.
//
// The Job is a write of the run: applied through the fenced runner (a run that lost its lock creates none),
// server-side, under a name fixed for the run attempt (render/gate-job.ts gateJobName), so an apply sent again
// after a lost answer finds its own Job, unchanged, and follows it. What can happen meanwhile:
// - the command fails, or its pod cannot start: named as soon as it shows (gate-state.ts), with the log tail; a
//   Job that would still start its pod later (a pull error, a pod waiting for a node) is deleted then, so the
//   command never runs after the run said it failed;
// - the run is cancelled: the Job is deleted, foreground (its pod goes with it), by the clean-up runner, which
//   GitHub's seconds bound and the cancellation does not stop;
// - the API fails: the calls retry until the gate's deadline; one that fails past it ends the gate as an error,
//   and the Job (created or not: the answer may be what was lost) is deleted;
// - the runner is paused past the lease, and another run took the lock: the fence stops every call, this run
//   writes nothing more (not even the deletion), and the Job ends by its own deadline (activeDeadlineSeconds).

import { serverSideApply } from '../kube/apply.js'
import { CancelledError, type Kubectl } from '../kube/kubectl.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { Event, Pod } from '../k8s/types.js'
import type { ContainerLog } from '../report/diagnostics.js'
import type { Timeline } from '../report/timeline.js'
import { APP_CONTAINER_NAME } from '../render/workload.js'
import { readContainerLog } from './collect-diagnostics.js'
import { LockLostError, type LockLoss } from './deploy-lock.js'
import { watchGate } from './gate-watch.js'
import type { PodFailure } from './pod-failures.js'
import type { Permission } from './preflight.js'

export type GateResult = 'passed' | 'failed' | 'timeout' | 'cancelled' | 'lock-lost' | 'error'

export interface GateRecord {
  job: string
  namespace: string
  image: string
  command: string
  timeoutSeconds: number
  result: GateResult
  // One line for people: how it ended, or the cause (cluster text inside: redacted where it is shown).
  message: string
  // Kubernetes' word for a failure (Error, OOMKilled, ImagePullBackOff, DeadlineExceeded, FailedCreate).
  reason?: string
  startedMs: number
  durationMs: number
  // The Job's pod as last seen (its spec and state explain a failure), and what failed in it.
  pod?: Pod
  failure?: PodFailure
  events: Event[]
  // The command's log tail (and a failing sidecar's), bounded when read.
  logs: ContainerLog[]
  // The Job deleted by this run (a cancellation, a failure it would outlive), foreground: its pod goes with it.
  deleted?: { done: boolean; message: string }
  // A cancellation or the lock lost, for the transaction's stop.
  stopped?: CancelledError
}

export interface GateContext {
  // Fenced by the lock and cancelled with the run; retries an outage until the gate's own deadline.
  kubectl: Kubectl
  // Fenced, not cancelled, bounded: the Job's deletion goes out even after a cancellation.
  cleanup: Kubectl
  job: KubeObject
  namespace: string
  timeoutSeconds: number
  pendingGraceSeconds: number
  signal?: AbortSignal
  // Set once the lock is lost (the signal above then fires too): the run writes nothing more.
  lockLost?: () => LockLoss | undefined
  timeline?: Timeline
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  log: (line: string) => void
  redact: (text: string) => string
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  pollMs?: number
}

// Past the Job's own deadline, how long the watch waits for the job controller to say so.
export const GATE_WATCH_GRACE_MS = 30_000

export function passed(record: GateRecord | undefined): boolean {
  return record?.result === 'passed'
}

// The run's headline when the gate stopped it (not a cancellation or a lost lock: those have their own).
export function gateHeadline(record: GateRecord): string {
  const what = `the pre-deploy command (Job ${record.job})`
  const cause =
    record.result === 'error'
      ? `The pre-deploy gate could not run: ${record.message}`
      : record.result === 'timeout'
        ? `Pre-deploy gate timed out: ${what}: ${record.message}`
        : `Pre-deploy gate failed: ${what}: ${record.message}`
  return `${cause}; no Deployment was changed`
}

export async function runGate(context: GateContext): Promise<GateRecord> {
  const { kubectl, namespace, log, redact } = context
  const now = context.now ?? Date.now
  const name = context.job.metadata.name
  const record: GateRecord = {
    job: name,
    namespace,
    image: commandContainer(context.job)?.image ?? '',
    command: commandContainer(context.job)?.command?.at(-1) ?? '',
    timeoutSeconds: context.timeoutSeconds,
    result: 'error',
    message: '',
    startedMs: now(),
    durationMs: 0,
    events: [],
    logs: []
  }
  await context.group('Pre-deploy gate', async () => {
    log(
      `Job ${name}: ${redact(record.command)} (image ${record.image}, pre_deploy_timeout ${context.timeoutSeconds}s)`
    )
    let applied = false
    try {
      const result = await serverSideApply(kubectl, [context.job], new Map(), {
        dryRun: false,
        trusted: true
      })
      applied = true
      const uid = result.objects.find(o => o.kind === 'Job')?.applied.metadata.uid
      if (!uid) throw new Error(`the API server's answer to the apply of Job ${name} carried no uid`)
      const watched = await watchGate(kubectl, {
        namespace,
        job: name,
        uid,
        container: APP_CONTAINER_NAME,
        timeoutMs: context.timeoutSeconds * 1000 + GATE_WATCH_GRACE_MS,
        pendingGraceSeconds: context.pendingGraceSeconds,
        pollMs: context.pollMs,
        now: context.now,
        sleep: context.sleep,
        signal: context.signal,
        onProgress: line => log(`Job ${name}: ${redact(line)}`)
      })
      const { verdict } = watched
      record.events = watched.events
      if (verdict.pod) record.pod = verdict.pod
      if (verdict.failure) record.failure = verdict.failure
      if (verdict.reason) record.reason = verdict.reason
      record.result = watched.timedOut ? 'timeout' : verdict.outcome === 'passed' ? 'passed' : 'failed'
      record.message = watched.timedOut
        ? `no verdict ${Math.round((context.timeoutSeconds * 1000 + GATE_WATCH_GRACE_MS) / 1000)}s after the Job was created (its deadline, pre_deploy_timeout, had passed): ${verdict.message}`
        : verdict.message
      record.logs = await logsOf(kubectl, namespace, verdict.pod, verdict.failure)
      // A Job still at work would run the command after this run reported its failure.
      if (record.result !== 'passed' && !verdict.finished) record.deleted = await deleteJob(context, name)
    } catch (error) {
      const loss = error instanceof LockLostError ? error.loss : context.lockLost?.()
      if (loss && error instanceof CancelledError) {
        record.result = 'lock-lost'
        record.stopped = error
        record.message = `the deploy lock was lost: ${loss.reason}; Job ${name} is left to end by its deadline (pre_deploy_timeout)`
      } else if (error instanceof CancelledError) {
        record.result = 'cancelled'
        record.stopped = error
        record.message = `cancelled (${error.reason})`
        record.deleted = await deleteJob(context, name)
      } else {
        record.result = 'error'
        record.message = `${applied ? 'following' : 'creating'} Job ${name} failed: ${redact((error as Error).message)}`
        // Created or not (a lost answer), it must not run the command after this run gave up.
        record.deleted = await deleteJob(context, name)
      }
    }
    record.durationMs = now() - record.startedMs
    log(`Job ${name}: ${record.result}${record.result === 'passed' ? '' : `: ${redact(record.message)}`}`)
    if (record.deleted) log(`Job ${name}: ${redact(record.deleted.message)}`)
  })
  context.timeline?.add({
    section: 'Deploy',
    name: 'pre-deploy gate',
    startMs: record.startedMs,
    endMs: record.startedMs + record.durationMs,
    state: record.result === 'passed' ? 'done' : 'failed'
  })
  return record
}

// The container that runs the command: the Job's only regular container.
function commandContainer(job: KubeObject): { image?: string; command?: string[] } | undefined {
  const spec = (
    job.spec as { template?: { spec?: { containers?: Array<{ image?: string; command?: string[] }> } } }
  )?.template?.spec
  return spec?.containers?.[0]
}

// The command's log (when its container ran) and a failing container's (a sidecar in a crash loop: its
// previous instance's), each bounded at the source.
async function logsOf(
  kubectl: Kubectl,
  namespace: string,
  pod: Pod | undefined,
  failure: PodFailure | undefined
): Promise<ContainerLog[]> {
  if (!pod) return []
  const wanted: Array<{ container: string; previous: boolean }> = []
  const app = pod.status?.containerStatuses?.find(s => s.name === APP_CONTAINER_NAME)
  if (app && (app.state?.running || app.state?.terminated))
    wanted.push({ container: APP_CONTAINER_NAME, previous: false })
  if (failure?.container && failure.container !== APP_CONTAINER_NAME && (failure.restartCount ?? 0) > 0) {
    wanted.push({ container: failure.container, previous: true })
  }
  const logs: ContainerLog[] = []
  for (const w of wanted)
    logs.push(await readContainerLog(kubectl, namespace, { pod: pod.metadata.name, ...w }))
  return logs
}

// Foreground: the Job is gone only once its pod is; --wait=false: the call returns once the deletion is
// accepted (the pod's grace period is the kubelet's to spend, not the run's seconds). Idempotent.
async function deleteJob(context: GateContext, name: string): Promise<{ done: boolean; message: string }> {
  try {
    await context.cleanup.run([
      'delete',
      'job',
      name,
      '-n',
      context.namespace,
      '--cascade=foreground',
      '--ignore-not-found',
      '--wait=false'
    ])
    return { done: true, message: `Job ${name} deleted (foreground: its pod is stopped and removed with it)` }
  } catch (error) {
    return {
      done: false,
      message: `Job ${name} could not be deleted, so it runs until its deadline (pre_deploy_timeout): ${context.redact((error as Error).message)}`
    }
  }
}

// What the gate needs beyond the apply's own access (asked only when pre_deploy_command is set).
export function gatePermissions(namespace: string): Permission[] {
  return [
    ...['create', 'patch', 'get', 'list', 'watch', 'delete'].map(verb => ({
      verb,
      resource: 'jobs.batch',
      namespace
    })),
    { verb: 'watch', resource: 'pods', namespace },
    { verb: 'get', resource: 'pods/log', namespace }
  ]
}
