// Where the pre-deploy gate's Job stands, from the Job, its pod and their events as last seen. Pure. The same
// failure classes as a rollout's pods, named as soon as they show: a pull error, a missing Secret key, a sidecar
// in a crash loop, an unschedulable pod past the grace (pod-failures.ts), and what only a pod that is not
// restarted has: its command's exit (code, OOMKilled), the Job's deadline, a pod the Job may not create.

import { eventLastSeen, type Event, type Job, type Pod } from '../k8s/types.js'
import { collapseLineBreaks } from '../untrusted-text.js'
import { detectPodFailures, type PodFailure } from './pod-failures.js'

export type GateOutcome = 'passed' | 'failed'

export interface GateVerdict {
  // undefined while the command runs (or its pod starts).
  outcome?: GateOutcome
  // One line: the progress, or the cause.
  message: string
  // Kubernetes' word for a failure: the container's reason (Error, OOMKilled, ImagePullBackOff, ...),
  // DeadlineExceeded, FailedCreate.
  reason?: string
  // The Job's pod, the newest when there were several.
  pod?: Pod
  // The container state that explains a failure.
  failure?: PodFailure
  // The Job has ended (a Complete or Failed condition, or its pod has): nothing of it runs any more.
  finished: boolean
}

export interface GateStateOptions {
  now: number
  // How long the pod may wait for a node (scheduling_grace).
  pendingGraceSeconds: number
  // The container that runs the command.
  container: string
  // Since when (ms, the runner's clock) the Job's pod could not be created, kept by the caller between looks.
  failedCreateSince?: number
}

// A pod the Job may not create (quota, an admission policy such as Autopilot's) may be let through once
// something else is deleted; one that lasts this long will not be (as a ReplicaSet's, wait-rollouts.ts).
export const FAILED_CREATE_GRACE_MS = 30_000

export function judgeGate(
  job: Job | undefined,
  pods: Pod[],
  events: Event[],
  options: GateStateOptions
): GateVerdict {
  const pod = newest(pods.filter(p => !p.metadata.deletionTimestamp)) ?? newest(pods)
  const condition = (type: string) =>
    job?.status?.conditions?.find(c => c.type === type && c.status === 'True')
  const complete = condition('Complete') ?? condition('SuccessCriteriaMet')
  if (complete || pod?.status?.phase === 'Succeeded') {
    return { outcome: 'passed', message: 'the command exited 0', pod, finished: true }
  }

  // The Job gave up: its deadline (the pod it stops then ends Failed too, killed, which is not the command's
  // own exit), or (backoffLimit 0) its one pod failed.
  const failed = condition('FailureTarget') ?? condition('Failed')
  const deadline = failed?.reason === 'DeadlineExceeded'
  const ended = pod?.status?.phase === 'Failed' && !deadline ? exitOf(pod, options.container) : undefined
  // A pod that failed because it was deleted: the Job's condition says why, in a moment.
  if (ended && (!pod!.metadata.deletionTimestamp || failed)) {
    return { outcome: 'failed', ...ended, pod, finished: true }
  }
  if (failed) {
    const reason = failed.reason ?? 'Failed'
    // The pod as the Job found it when it gave up (still pulling, pending, running), before the deletion that
    // followed: a pod on its way out is no longer judged by detectPodFailures.
    const live = pod ? { ...pod, metadata: { ...pod.metadata, deletionTimestamp: undefined } } : undefined
    const last = live ? detectPodFailures([live], eventsOfPod(live, events), podOptions(options)) : []
    const state = live ? progressOf(live) : 'no pod had been created'
    return {
      outcome: 'failed',
      reason,
      message: `${oneLine(failed.message ?? reason)}; ${state}${last[0] ? ` (${failureLine(last[0])})` : ''}`,
      pod,
      ...(last[0] ? { failure: last[0] } : {}),
      finished: true
    }
  }

  if (pod) {
    const failures = detectPodFailures([pod], eventsOfPod(pod, events), podOptions(options))
    const fatal = failures.find(f => f.fatal)
    if (fatal) {
      return {
        outcome: 'failed',
        reason: fatal.reason,
        message: failureLine(fatal),
        pod,
        failure: fatal,
        finished: false
      }
    }
    const shown = failures[0]
    return {
      message: shown ? `${progressOf(pod)} (${failureLine(shown)})` : progressOf(pod),
      pod,
      finished: false
    }
  }

  const refused = failedCreate(job, events)
  if (refused) {
    const since = options.failedCreateSince ?? options.now
    const waited = options.now - since
    return waited >= FAILED_CREATE_GRACE_MS
      ? { outcome: 'failed', reason: 'FailedCreate', message: refused, finished: false }
      : { message: `its pod could not be created yet: ${refused}`, reason: 'FailedCreate', finished: false }
  }
  return { message: job ? 'waiting for the Job to create its pod' : 'waiting for the Job', finished: false }
}

function podOptions(options: GateStateOptions) {
  return { now: new Date(options.now), pendingGraceSeconds: options.pendingGraceSeconds }
}

// The command's container as the pod ended: its exit code and reason (OOMKilled, Error, StartError), or the
// pod's own reason when it never ran (Evicted, a node lost).
function exitOf(pod: Pod, container: string): Pick<GateVerdict, 'reason' | 'message' | 'failure'> {
  const status = pod.status?.containerStatuses?.find(s => s.name === container)
  const terminated = status?.state?.terminated ?? status?.lastState?.terminated
  if (terminated) {
    const reason = terminated.reason || 'Error'
    const detail = terminated.message?.trim() ? `: ${oneLine(terminated.message.trim())}` : ''
    const failure: PodFailure = {
      pod: pod.metadata.name,
      container,
      reason,
      message: `exit code ${terminated.exitCode} (${reason})${detail}`,
      fatal: true,
      lastExitCode: terminated.exitCode,
      sidecar: false,
      restartCount: status?.restartCount ?? 0
    }
    return {
      reason,
      message: `the command exited with code ${terminated.exitCode} (${reason})${detail}`,
      failure
    }
  }
  const reason = pod.status?.reason ?? 'Failed'
  const message = oneLine(pod.status?.message ?? 'the pod failed before its command ran')
  return {
    reason,
    message,
    failure: { pod: pod.metadata.name, container: '', reason, message, fatal: true, sidecar: false }
  }
}

// The newest Warning FailedCreate of the Job (`pods "…" is forbidden: …`), while it has no pod.
function failedCreate(job: Job | undefined, events: Event[]): string | undefined {
  if (!job) return undefined
  const refusals = events
    .filter(
      e =>
        e.type === 'Warning' &&
        e.reason === 'FailedCreate' &&
        e.involvedObject.kind === 'Job' &&
        e.involvedObject.name === job.metadata.name &&
        (!job.metadata.uid || !e.involvedObject.uid || e.involvedObject.uid === job.metadata.uid)
    )
    .sort((a, b) => eventLastSeen(b) - eventLastSeen(a))
  return refusals[0] ? oneLine(refusals[0].message ?? 'FailedCreate') : undefined
}

function eventsOfPod(pod: Pod, events: Event[]): Event[] {
  return events.filter(e => e.involvedObject.kind === 'Pod' && e.involvedObject.name === pod.metadata.name)
}

function progressOf(pod: Pod): string {
  const name = pod.metadata.name
  if (pod.metadata.deletionTimestamp) return `pod ${name} is being deleted`
  if (pod.status?.phase === 'Failed' || pod.status?.phase === 'Succeeded') return `pod ${name} had ended`
  const app = pod.status?.containerStatuses?.find(s => s.state?.running)
  if (pod.status?.phase === 'Running' && app) return `pod ${name} runs the command`
  const waiting = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    .map(s => s.state?.waiting?.reason)
    .find(Boolean)
  return `pod ${name} is starting${waiting ? ` (${waiting})` : ''}`
}

function failureLine(failure: PodFailure): string {
  const where = failure.container
    ? `container ${failure.container}${failure.sidecar ? ' (sidecar)' : ''}`
    : `pod ${failure.pod}`
  const message = oneLine(failure.message)
  return message ? `${where}: ${failure.reason}: ${message}` : `${where}: ${failure.reason}`
}

function newest(pods: Pod[]): Pod | undefined {
  return [...pods].sort((a, b) => time(b.metadata.creationTimestamp) - time(a.metadata.creationTimestamp))[0]
}

function time(stamp: string | undefined): number {
  const ms = stamp ? Date.parse(stamp) : NaN
  return Number.isNaN(ms) ? 0 : ms
}

function oneLine(text: string): string {
  return collapseLineBreaks(text, ' ').trim()
}
