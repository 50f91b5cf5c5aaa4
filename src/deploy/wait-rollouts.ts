// Watches the worker and beat rollouts at the same time and stops as soon as the outcome is known: complete,
// the progress deadline passed, or a pod of the new ReplicaSet is in a state it cannot leave by itself
// (ImagePullBackOff, CrashLoopBackOff, a missing Secret key, OOMKilled, unschedulable past the grace).
// A Deployment at zero replicas counts as rolled out for Kubernetes (and kubectl rollout status): one that
// started above zero and was scaled to zero (by KEDA, by hand) before any new pod was ready is "not verified",
// never "complete": no pod of its template ever ran.

import type { Kubectl } from '../kube/kubectl.js'
import { readWorkloadSnapshot, type KubeList, type NamespaceSnapshot } from '../kube/objects.js'
import type { Deployment, Event, Pod } from '../k8s/types.js'
import { LookPacer } from '../kube/look-pacer.js'
import { watchWorkloads } from '../kube/workload-watch.js'
import { detectPodFailures, type PodFailure } from './pod-failures.js'
import { assessDeployment, findNewReplicaSet, isPodReady, podsOfReplicaSet } from './rollout-state.js'

export type RolloutOutcome = 'complete' | 'failed' | 'timeout' | 'not-verified'

export interface RolloutResult {
  deployment: string
  outcome: RolloutOutcome
  message: string
  reason?: string
  durationMs: number
  revision?: string
  failures: PodFailure[]
  // Pods of the new ReplicaSet when the watch ended (for diagnostics and smoke checks).
  pods: Pod[]
}

export interface WaitOptions {
  namespace: string
  deployments: string[]
  timeoutMs: number
  pendingGraceSeconds: number
  // A fixed interval instead of pollIntervalMs' schedule.
  pollMs?: number
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  onProgress?: (line: string) => void
  // A cancelled run stops waiting at once (the kubectl calls stop through the runner's own signal).
  signal?: AbortSignal
  // Each Deployment's replicas as its rollout starts, where the caller knows better than the first look (a
  // worker it started from zero after the apply); the others are taken from the first look.
  replicasAtStart?: Record<string, number>
}

export interface WaitResult {
  results: RolloutResult[]
  snapshot: NamespaceSnapshot
}

// Without the watches (a server whose watch ended, a test double), each look is one kubectl call: often at
// first, when most rollouts end and a failing pod shows its reason; less often as a long rollout (an
// Autopilot node scale-up) goes on.
export function pollIntervalMs(elapsedMs: number): number {
  if (elapsedMs < 10_000) return 500
  if (elapsedMs < 60_000) return 1000
  return 2000
}
// With the watches, a look costs no call: every change wakes the loop at once, and this tick only moves the
// verdicts that depend on time alone (the scheduling grace, a lasting ReplicaFailure, the timeout).
export const WATCHED_LOOK_MS = 1000
// Still, a list this often: a watch that stays open but stops delivering (a proxy that holds the connection)
// must not freeze the view until rollout_timeout.
export const RESYNC_MS = 30_000
// Only the Deployments' watch left (no `watch` on pods or ReplicaSets): it tells at once when a rollout ends,
// so the lists in between are only there to catch a failing pod early.
export function deploymentsWatchedPollIntervalMs(elapsedMs: number): number {
  return elapsedMs < 60_000 ? 2000 : 5000
}
// While a new pod is in trouble its events explain why; with the watches they are read at most this often.
export const EVENTS_EVERY_MS = 2000
// A ReplicaFailure (pods rejected at creation: quota, Autopilot's admission policies) may clear up while old
// pods terminate during a rolling update; one that lasts this long will not.
export const REPLICA_FAILURE_GRACE_MS = 30_000
// The reason of a rollout that ended at zero replicas unverified.
export const SCALED_TO_ZERO = 'ScaledToZero'

export async function waitForRollouts(kubectl: Kubectl, options: WaitOptions): Promise<WaitResult> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms)))
  const started = now()
  const pending = new Set(options.deployments)
  const results = new Map<string, RolloutResult>()
  const lastMessage = new Map<string, string>()
  const replicaFailureSince = new Map<string, number>()
  // A change the watches report wakes the loop; one that comes while a look is being judged makes the next
  // look start at once.
  const pacer = new LookPacer(sleep)
  const onChange = pacer.notify
  // The first look lists everything once, the autoscalers too (for the beat guard); the watches go on from
  // it. A kubectl that cannot stream (test doubles) gets a list per look.
  const first = await readWorkloadSnapshot(kubectl, options.namespace, { events: false, autoscalers: true })
  let snapshot: NamespaceSnapshot = first
  const startedAboveZero = new Set(
    options.deployments.filter(name => {
      const given = options.replicasAtStart?.[name]
      const seen = first.deployments.find(d => d.metadata.name === name)?.spec?.replicas
      return (given ?? seen ?? 1) > 0
    })
  )
  // Deployments with a pod of their new template seen ready, at any look.
  const seenReady = new Set<string>()
  const watch = watchWorkloads(kubectl, options.namespace, first, onChange)
  let events: { readAt: number; items: Event[] } | undefined
  let listedAt = now()
  let reportedEnd = false

  try {
    for (let look = 0; ; look++) {
      const resync = now() - listedAt >= RESYNC_MS
      const watching = watch?.live() === true && !resync
      pacer.startLook()
      if (look > 0) {
        if (watching) snapshot = watch!.snapshot()
        else {
          snapshot = await readWorkloadSnapshot(kubectl, options.namespace, { events: false })
          listedAt = now()
        }
        // A Deployment the watch reports finished before its new pods have reached the pod watch (two streams,
        // no order between them): one list settles it, rather than a verdict on pods not seen yet.
        if (watching && [...pending].some(name => finishedAheadOfItsPods(name, snapshot))) {
          snapshot = await readWorkloadSnapshot(kubectl, options.namespace, { events: false })
          listedAt = now()
        }
      }
      // A pod of a rollout that is in trouble: its events say why (a pull error's cause, the scheduler's
      // message), so they are read for this look, and kept for the diagnostics.
      if ([...pending].some(name => troubled(name, snapshot))) {
        if (!watching) {
          snapshot = await readWorkloadSnapshot(kubectl, options.namespace, { events: true })
        } else {
          if (!events || now() - events.readAt >= EVENTS_EVERY_MS) {
            events = { readAt: now(), items: await readEvents(kubectl, options.namespace) }
          }
          snapshot = { ...snapshot, events: events.items }
        }
      }
      const elapsed = now() - started
      for (const name of [...pending]) {
        const verdict = judge(name, snapshot, {
          ...options,
          nowMs: now(),
          replicaFailureSince,
          startedAboveZero: startedAboveZero.has(name),
          seenReady
        })
        if (verdict.message !== lastMessage.get(name)) {
          options.onProgress?.(`${name}: ${verdict.message}`)
          lastMessage.set(name, verdict.message)
        }
        if (verdict.outcome !== undefined) {
          results.set(name, { ...verdict, outcome: verdict.outcome, deployment: name, durationMs: elapsed })
          pending.delete(name)
        }
      }
      if (pending.size === 0) break
      if (elapsed >= options.timeoutMs) {
        for (const name of pending) {
          const verdict = judge(name, snapshot, {
            ...options,
            nowMs: now(),
            replicaFailureSince,
            startedAboveZero: startedAboveZero.has(name),
            seenReady
          })
          results.set(name, {
            ...verdict,
            deployment: name,
            outcome: 'timeout',
            message: `not rolled out within ${Math.round(options.timeoutMs / 1000)}s: ${verdict.message}`,
            durationMs: elapsed,
            // Not-yet-fatal problems are the best explanation a timeout has.
            failures: verdict.failures
          })
        }
        break
      }
      if (watch && !watch.live() && !reportedEnd) {
        reportedEnd = true
        options.onProgress?.(
          'an API watch of the rollout ended (the server ended it, or `watch` on pods or ReplicaSets is not allowed): following the rollout by lists from here'
        )
      }
      const interval =
        options.pollMs ??
        (watch?.live()
          ? WATCHED_LOOK_MS
          : watch?.deploymentsLive()
            ? deploymentsWatchedPollIntervalMs(elapsed)
            : pollIntervalMs(elapsed))
      await pacer.rest(Math.min(interval, Math.max(0, options.timeoutMs - elapsed)), {
        woken: watch !== undefined,
        signal: options.signal
      })
    }
  } finally {
    watch?.stop()
  }
  const ordered = options.deployments.map(name => results.get(name)!)
  // A rollout that did not complete is explained by its events: make sure the diagnostics have them.
  if (ordered.some(r => r.outcome !== 'complete') && snapshot.events.length === 0) {
    snapshot = await readWorkloadSnapshot(kubectl, options.namespace, { events: true })
  }
  return { results: ordered, snapshot: { ...snapshot, autoscalers: first.autoscalers } }
}

async function readEvents(kubectl: Kubectl, namespace: string): Promise<Event[]> {
  return (await kubectl.json<KubeList<Event>>(['get', 'events', '-n', namespace])).items
}

// The Deployment's status says its rollout is complete, but fewer ready pods of its new ReplicaSet are known
// than it has replicas.
function finishedAheadOfItsPods(name: string, snapshot: NamespaceSnapshot): boolean {
  const deployment = snapshot.deployments.find(d => d.metadata.name === name)
  if (!deployment || assessDeployment(deployment).phase !== 'complete') return false
  return newPods(deployment, snapshot).filter(isPodReady).length < (deployment.spec?.replicas ?? 1)
}

interface Verdict {
  outcome?: RolloutOutcome
  message: string
  reason?: string
  revision?: string
  failures: PodFailure[]
  pods: Pod[]
}

function judge(
  name: string,
  snapshot: NamespaceSnapshot,
  options: {
    pendingGraceSeconds: number
    nowMs: number
    replicaFailureSince: Map<string, number>
    startedAboveZero: boolean
    seenReady: Set<string>
  }
): Verdict {
  const deployment = snapshot.deployments.find(d => d.metadata.name === name)
  if (!deployment) return { message: `deployment "${name}" not found yet`, failures: [], pods: [] }
  const state = assessDeployment(deployment)
  const pods = newPods(deployment, snapshot)
  if (pods.some(isPodReady)) options.seenReady.add(name)
  const failures = detectPodFailures(pods, eventsOf(pods, snapshot.events), {
    now: new Date(options.nowMs),
    pendingGraceSeconds: options.pendingGraceSeconds
  })
  const base = { revision: state.revision, failures, pods }
  if (
    state.phase === 'complete' &&
    state.desired === 0 &&
    options.startedAboveZero &&
    !options.seenReady.has(name)
  ) {
    return {
      ...base,
      outcome: 'not-verified',
      reason: SCALED_TO_ZERO,
      message: `deployment "${name}" was scaled to 0 replicas during its rollout, before any pod of its new template was ready: the new template is not verified`
    }
  }
  if (state.phase === 'complete') return { ...base, outcome: 'complete', message: state.message }
  if (state.phase === 'failed')
    return { ...base, outcome: 'failed', message: state.message, reason: state.reason }
  const fatal = failures.filter(f => f.fatal)
  if (fatal.length > 0) {
    return { ...base, outcome: 'failed', message: state.message, reason: fatal[0].reason, failures }
  }
  if (state.replicaFailure) {
    const since = options.replicaFailureSince.get(name) ?? options.nowMs
    options.replicaFailureSince.set(name, since)
    const message = `${state.replicaFailure.reason}: ${state.replicaFailure.message}`
    if (options.nowMs - since >= REPLICA_FAILURE_GRACE_MS) {
      return { ...base, outcome: 'failed', message, reason: state.replicaFailure.reason }
    }
    return { ...base, message: `${state.message} (${message})` }
  }
  options.replicaFailureSince.delete(name)
  return { ...base, message: state.message }
}

// Whether a rollout's new pods show anything but a normal start: a container waiting for another reason than
// being created, restarted or terminated, or a pod the scheduler could not place.
const STARTING = new Set(['ContainerCreating', 'PodInitializing'])
function troubled(name: string, snapshot: NamespaceSnapshot): boolean {
  const deployment = snapshot.deployments.find(d => d.metadata.name === name)
  if (!deployment) return false
  return newPods(deployment, snapshot).some(pod => {
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    const unscheduled = pod.status?.conditions?.some(c => c.type === 'PodScheduled' && c.status === 'False')
    return (
      unscheduled ||
      statuses.some(
        s =>
          (s.state?.waiting?.reason !== undefined && !STARTING.has(s.state.waiting.reason)) ||
          (s.restartCount ?? 0) > 0 ||
          (s.state?.terminated !== undefined && s.state.terminated.exitCode !== 0)
      )
    )
  })
}

function newPods(deployment: Deployment, snapshot: NamespaceSnapshot): Pod[] {
  const replicaSet = findNewReplicaSet(deployment, snapshot.replicaSets)
  return replicaSet ? podsOfReplicaSet(replicaSet, snapshot.pods) : []
}

function eventsOf(pods: Pod[], events: Event[]): Event[] {
  const names = new Set(pods.map(p => p.metadata.name))
  return events.filter(e => e.involvedObject?.kind === 'Pod' && names.has(e.involvedObject.name ?? ''))
}
