import { eventLastSeen } from '../kube/types.js'
import type { Container, ContainerStateTerminated, ContainerStatus, Event, Pod } from '../kube/types.js'

export interface PodFailure {
  pod: string
  /** Empty for pod-level problems (scheduling). */
  container: string
  reason: string
  message: string
  /** True: the rollout cannot succeed, stop waiting. False: worth showing, but it may still resolve. */
  fatal: boolean
  restartCount?: number
  lastExitCode?: number
  /** The container is a native sidecar (init container with restartPolicy Always), e.g. cloud-sql-proxy. */
  sidecar: boolean
}

export interface PodFailureOptions {
  now: Date
  /** How long an unschedulable pod is normal: Autopilot adds nodes on demand, which takes minutes. */
  pendingGraceSeconds: number
  /** CrashLoopBackOff becomes fatal at this restart count; unset: at once. */
  crashLoopRestarts?: number
}

// Waiting reasons the kubelet will not get out of without a new spec, image or Secret.
const FATAL_WAITING_REASONS = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError'
])
const CRASH_LOOP = 'CrashLoopBackOff'
const OOM_KILLED = 'OOMKilled'
// The runtime could not start the process at all (e.g. `exec: "celery": executable file not found`).
const START_ERROR = 'StartError'

/**
 * Problems in a rollout's pods, fatal ones (stop waiting, the rollout cannot succeed) and not-yet-fatal ones
 * (a pod waiting for Autopilot to add a node, a container that restarted). Normal start-up states
 * (ContainerCreating, PodInitializing, running) give nothing.
 */
export function detectPodFailures(pods: Pod[], events: Event[], options: PodFailureOptions): PodFailure[] {
  const failures: PodFailure[] = []
  for (const pod of pods) {
    // A pod on its way out no longer counts toward the rollout, and its containers exit 143 on the way.
    if (pod.metadata.deletionTimestamp) continue
    // Evicted or kubelet-rejected pods are replaced by the ReplicaSet; the replacement is what matters.
    if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue
    for (const status of pod.status?.initContainerStatuses ?? []) {
      const failure = containerFailure(
        pod,
        status,
        specOf(pod.spec?.initContainers, status.name),
        true,
        options
      )
      if (failure) failures.push(failure)
    }
    for (const status of pod.status?.containerStatuses ?? []) {
      const failure = containerFailure(pod, status, specOf(pod.spec?.containers, status.name), false, options)
      if (failure) failures.push(failure)
    }
    const scheduling = schedulingFailure(pod, events, options)
    if (scheduling) failures.push(scheduling)
  }
  return failures
}

function specOf(containers: Container[] | undefined, name: string): Container | undefined {
  return containers?.find(c => c.name === name)
}

function containerFailure(
  pod: Pod,
  status: ContainerStatus,
  spec: Container | undefined,
  isInit: boolean,
  options: PodFailureOptions
): PodFailure | undefined {
  const waiting = status.state?.waiting
  const current = status.state?.terminated
  const last = status.lastState?.terminated
  const restartCount = status.restartCount
  const base = {
    pod: pod.metadata.name,
    container: status.name,
    sidecar: isInit && spec?.restartPolicy === 'Always',
    ...(restartCount !== undefined ? { restartCount } : {})
  }
  const withExit = (t: ContainerStateTerminated | undefined) => (t ? { lastExitCode: t.exitCode } : {})

  // OOMKilled first: under CrashLoopBackOff it is the cause, and the back-off message alone hides it.
  const oom = [current, last].find(t => t?.reason === OOM_KILLED)
  if (oom) {
    const limit = spec?.resources?.limits?.memory
    const parts = [
      limit
        ? `exceeded its memory limit ${limit}`
        : 'was killed for running out of memory (no memory limit set)',
      `exit code ${oom.exitCode}`
    ]
    if (restartCount) parts.push(`${restartCount} restarts`)
    return { ...base, ...withExit(oom), reason: OOM_KILLED, fatal: true, message: parts.join(', ') }
  }

  if (waiting?.reason && FATAL_WAITING_REASONS.has(waiting.reason)) {
    const message = waiting.message || (status.image ? `image "${status.image}"` : '')
    return { ...base, ...withExit(last), reason: waiting.reason, fatal: true, message }
  }

  if (waiting?.reason === CRASH_LOOP) {
    const fatal = options.crashLoopRestarts === undefined || (restartCount ?? 0) >= options.crashLoopRestarts
    const message = [describeTermination(last), waiting.message].filter(Boolean).join('; ')
    return { ...base, ...withExit(last), reason: CRASH_LOOP, fatal, message }
  }

  if (current?.reason === START_ERROR) {
    return {
      ...base,
      ...withExit(current),
      reason: START_ERROR,
      fatal: true,
      message: describeTermination(current)
    }
  }

  // Exited non-zero but not yet in back-off: the kubelet restarts it and CrashLoopBackOff follows if it repeats.
  const exited = current && current.exitCode !== 0 ? current : undefined
  const restartedAfterFailure = !exited && restartCount && last && last.exitCode !== 0 ? last : undefined
  const crash = exited ?? restartedAfterFailure
  if (crash) {
    const restarts = restartCount ? `, ${restartCount} restarts` : ''
    return {
      ...base,
      ...withExit(crash),
      reason: crash.reason || 'Error',
      fatal: false,
      message: `${describeTermination(crash)}${restarts}`
    }
  }
  return undefined
}

function describeTermination(t: ContainerStateTerminated | undefined): string {
  if (!t) return ''
  const reason = t.reason ? ` (${t.reason})` : ''
  const detail = t.message?.trim() ? `: ${t.message.trim()}` : ''
  return `last exit code ${t.exitCode}${reason}${detail}`
}

function eventsAbout(pod: Pod, events: Event[]): Event[] {
  const { name, namespace, uid } = pod.metadata
  return events.filter(e => {
    const ref = e.involvedObject
    if (ref.kind !== 'Pod' || ref.name !== name) return false
    if (namespace && ref.namespace && ref.namespace !== namespace) return false
    return !(uid && ref.uid && ref.uid !== uid)
  })
}

function latest(events: Event[], reason: string): Event | undefined {
  return events.filter(e => e.reason === reason).sort((a, b) => eventLastSeen(b) - eventLastSeen(a))[0]
}

/**
 * An unschedulable pod is normal on Autopilot while a node is being added, so it becomes fatal only once it
 * is older than the grace period; the last FailedScheduling message says why the scheduler refused it.
 */
function schedulingFailure(pod: Pod, events: Event[], options: PodFailureOptions): PodFailure | undefined {
  if (pod.status?.phase !== 'Pending' || pod.spec?.nodeName) return undefined
  const scheduled = pod.status.conditions?.find(c => c.type === 'PodScheduled')
  const about = eventsAbout(pod, events)
  const failedScheduling = latest(about, 'FailedScheduling')
  const unschedulable = scheduled?.status === 'False' && scheduled.reason === 'Unschedulable'
  if (!unschedulable && !failedScheduling) return undefined
  // Scheduled after the event was written: the event is history.
  if (scheduled?.status === 'True') return undefined

  const created = pod.metadata.creationTimestamp ? Date.parse(pod.metadata.creationTimestamp) : NaN
  const ageSeconds = Number.isNaN(created)
    ? 0
    : Math.max(0, Math.floor((options.now.getTime() - created) / 1000))
  const fatal = ageSeconds >= options.pendingGraceSeconds

  const parts = [failedScheduling?.message || scheduled?.message || 'the scheduler found no node for the pod']
  const scaleUp = latest(about, 'TriggeredScaleUp')
  const noScaleUp = latest(about, 'NotTriggerScaleUp')
  if (scaleUp && eventLastSeen(scaleUp) >= (noScaleUp ? eventLastSeen(noScaleUp) : 0)) {
    parts.push('the cluster autoscaler triggered a node scale-up')
  } else if (noScaleUp?.message) {
    parts.push(noScaleUp.message)
  }
  parts.push(
    fatal
      ? `still unscheduled after ${ageSeconds}s (grace ${options.pendingGraceSeconds}s)`
      : `pending for ${ageSeconds}s of a ${options.pendingGraceSeconds}s grace for node scale-up`
  )
  return {
    pod: pod.metadata.name,
    container: '',
    reason: 'Unschedulable',
    fatal,
    sidecar: false,
    message: parts.join('; ')
  }
}

/** One line for logs and errors, e.g. `pod celery-worker-abc12 container app: ImagePullBackOff — Back-off pulling image "x:v9"`. */
export function summarizeFailure(failure: PodFailure): string {
  const where = failure.container
    ? `pod ${failure.pod} container ${failure.container}${failure.sidecar ? ' (sidecar)' : ''}`
    : `pod ${failure.pod}`
  const message = failure.message.replace(/\s*[\r\n]+\s*/g, ' ').trim()
  return message ? `${where}: ${failure.reason} — ${message}` : `${where}: ${failure.reason}`
}
