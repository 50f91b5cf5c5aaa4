import { eventLastSeen } from '../k8s/types.js'
import { collapseLineBreaks } from '../untrusted-text.js'
import type { Container, ContainerStateTerminated, ContainerStatus, Event, Pod } from '../k8s/types.js'

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
  /**
   * CrashLoopBackOff becomes fatal at this restart count (default 2): the first back-off can be a dependency
   * that was not up yet, a second one rarely is.
   */
  crashLoopRestarts?: number
  /**
   * How long an image pull may keep failing with a transient-looking or unknown error (registry 5xx, timeout,
   * rate limit) before it is fatal (default 90). Counted from the first pull failure event, else from the
   * pod's creation. Definitive errors (not found, access denied, bad reference) are fatal at once.
   */
  pullRetryGraceSeconds?: number
}

export const DEFAULT_CRASH_LOOP_RESTARTS = 2
export const DEFAULT_PULL_RETRY_GRACE_SECONDS = 90

// Waiting reasons the kubelet will not get out of without a new spec, image or Secret.
const FATAL_WAITING_REASONS = new Set([
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError'
])
// The kubelet retries these itself; whether that can help depends on the registry's answer.
const PULL_FAILURE_REASONS = new Set(['ImagePullBackOff', 'ErrImagePull'])
// Registry answers that no retry changes: the image, tag or repository does not exist, the node's identity may
// not read it, or the reference itself is malformed. Anything else (5xx, timeouts, TLS handshake, connection
// reset, `toomanyrequests`) may clear up, so it gets the pull grace. 401/403 only as whole numbers, so that
// digits inside a digest or tag do not count.
const DEFINITIVE_PULL_ERROR =
  /not ?found|manifest unknown|name unknown|denied|unauthorized|forbidden|\b40[13]\b|invalid reference format|no such host/i
// The kubelet's event for the failed pull itself (as opposed to `Error: ErrImagePull`), which carries the cause
// even when the container's waiting message is only `Back-off pulling image "…"`.
const PULL_ERROR_EVENT = /^Failed to pull image "[^"]*": /
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
      const spec = specOf(pod.spec?.initContainers, status.name)
      const failure = containerFailure(pod, status, spec, true, events, options)
      if (failure) failures.push(failure)
    }
    for (const status of pod.status?.containerStatuses ?? []) {
      const spec = specOf(pod.spec?.containers, status.name)
      const failure = containerFailure(pod, status, spec, false, events, options)
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
  events: Event[],
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
  const threshold = options.crashLoopRestarts ?? DEFAULT_CRASH_LOOP_RESTARTS

  // OOMKilled first: under CrashLoopBackOff it is the cause, and the back-off message alone hides it.
  const oom =
    current?.reason === OOM_KILLED
      ? current
      : waiting?.reason === CRASH_LOOP && last?.reason === OOM_KILLED
        ? last
        : undefined
  if (oom) {
    const message = describeOom(oom, spec, restartCount)
    return { ...base, ...withExit(oom), reason: OOM_KILLED, fatal: true, message }
  }

  if (waiting?.reason && FATAL_WAITING_REASONS.has(waiting.reason)) {
    const message = waiting.message || (status.image ? `image "${status.image}"` : '')
    return { ...base, ...withExit(last), reason: waiting.reason, fatal: true, message }
  }

  if (waiting?.reason && PULL_FAILURE_REASONS.has(waiting.reason)) {
    const pull = pullFailure(pod, status, spec, isInit, events, options)
    return { ...base, ...withExit(last), reason: waiting.reason, ...pull }
  }

  if (waiting?.reason === CRASH_LOOP) {
    const fatal = (restartCount ?? 0) >= threshold
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

  // Killed for memory once and started again: a single heavy task can do that, so it is worth showing but
  // only fatal once the kubelet backs off (above) or the container is down again.
  if (!current && last?.reason === OOM_KILLED) {
    const message = `restarted after an OOM kill: ${describeOom(last, spec, restartCount)}`
    return { ...base, ...withExit(last), reason: OOM_KILLED, fatal: false, message }
  }

  // Restarted after failing, as often as makes a crash loop, and not serving yet: that is the crash loop,
  // whether the moment sampled shows the back-off or the next short-lived start. Deciding by the waiting
  // reason alone would miss a loop whose starts outlast its back-offs, and wait out the kubelet's growing
  // back-off for a sample that shows it.
  if (!current && !status.ready && last && last.exitCode !== 0 && (restartCount ?? 0) >= threshold) {
    const message = `${describeTermination(last)}, ${restartCount} restarts`
    return { ...base, ...withExit(last), reason: CRASH_LOOP, fatal: true, message }
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

function describeOom(
  oom: ContainerStateTerminated,
  spec: Container | undefined,
  restartCount: number | undefined
): string {
  const limit = spec?.resources?.limits?.memory
  const parts = [
    limit
      ? `exceeded its memory limit ${limit}`
      : 'was killed for running out of memory (no memory limit set)',
    `exit code ${oom.exitCode}`
  ]
  if (restartCount) parts.push(`${restartCount} restarts`)
  return parts.join(', ')
}

/**
 * ErrImagePull / ImagePullBackOff. A registry that says the image is missing or off limits will say so again,
 * so that is fatal at once; anything else may be the registry having a bad minute, and the kubelet keeps
 * retrying, so it becomes fatal only after the pull grace.
 */
function pullFailure(
  pod: Pod,
  status: ContainerStatus,
  spec: Container | undefined,
  isInit: boolean,
  events: Event[],
  options: PodFailureOptions
): { fatal: boolean; message: string } {
  const waitingMessage = status.state?.waiting?.message || (status.image ? `image "${status.image}"` : '')
  const pullEvents = pullEventsOf(pod, status.name, isInit, events)
  const latestError = pullEvents
    .filter(e => PULL_ERROR_EVENT.test(e.message ?? ''))
    .sort((a, b) => eventLastSeen(b) - eventLastSeen(a))[0]?.message
  // ImagePullBackOff's own message is usually just `Back-off pulling image "…"`: the cause is in the event,
  // which names the image too, so it replaces the back-off message rather than following it.
  const eventCause = latestError?.replace(PULL_ERROR_EVENT, '')
  const message =
    latestError && eventCause && !waitingMessage.includes(eventCause) ? latestError : waitingMessage

  // The image reference is not the registry's answer: a tag like `v1.403` or a repository named `denied`
  // must not decide anything.
  const images = [status.image, spec?.image].filter((i): i is string => Boolean(i))
  const answer = images.reduce((text, image) => text.split(image).join(' '), message)
  if (DEFINITIVE_PULL_ERROR.test(answer)) return { fatal: true, message }

  const grace = options.pullRetryGraceSeconds ?? DEFAULT_PULL_RETRY_GRACE_SECONDS
  const firstFailure = Math.min(...pullEvents.map(eventFirstSeen).filter(ms => ms > 0))
  const since = Number.isFinite(firstFailure)
    ? firstFailure
    : Date.parse(pod.metadata.creationTimestamp ?? '')
  const seconds = Number.isNaN(since) ? 0 : Math.max(0, Math.floor((options.now.getTime() - since) / 1000))
  const fatal = seconds >= grace
  const progress = fatal
    ? `still failing to pull after ${seconds}s (grace ${grace}s)`
    : `failing to pull for ${seconds}s of a ${grace}s grace for registry errors`
  return { fatal, message: [message, progress].filter(Boolean).join('; ') }
}

/**
 * The kubelet's Warning events about pulling this container's image (`Failed to pull image …`,
 * `Error: ErrImagePull`, `Error: ImagePullBackOff`). Back-offs of crash restarts are left out: they say nothing
 * about the pull. Events without a fieldPath are taken as being about any container of the pod.
 */
function pullEventsOf(pod: Pod, container: string, isInit: boolean, events: Event[]): Event[] {
  const fieldPath = `spec.${isInit ? 'initContainers' : 'containers'}{${container}}`
  return eventsAbout(pod, events).filter(
    e =>
      e.type === 'Warning' &&
      (e.reason === 'Failed' || e.reason === 'BackOff') &&
      (!e.involvedObject.fieldPath || e.involvedObject.fieldPath === fieldPath) &&
      /pull/i.test(e.message ?? '')
  )
}

/** When an event was first seen (ms since epoch; 0 when unknown); legacy and events.k8s.io reporters alike. */
function eventFirstSeen(event: Event): number {
  const stamp = event.firstTimestamp ?? event.eventTime ?? event.metadata.creationTimestamp
  const ms = stamp ? Date.parse(stamp) : NaN
  return Number.isNaN(ms) ? 0 : ms
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
  const message = collapseLineBreaks(failure.message, ' ').trim()
  return message ? `${where}: ${failure.reason} — ${message}` : `${where}: ${failure.reason}`
}
