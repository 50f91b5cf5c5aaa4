// Watches the worker and beat rollouts at the same time and stops as soon as the outcome is known: complete,
// the progress deadline passed, or a pod of the new ReplicaSet is in a state it cannot leave by itself
// (ImagePullBackOff, CrashLoopBackOff, a missing Secret key, OOMKilled, unschedulable past the grace).

import { CancelledError, cancellationReason, type Kubectl } from '../kube/kubectl.js'
import { readWorkloadSnapshot, type NamespaceSnapshot } from '../kube/objects.js'
import type { Deployment, Event, Pod } from '../kube/types.js'
import { detectPodFailures, type PodFailure } from './pod-failures.js'
import { assessDeployment, findNewReplicaSet, podsOfReplicaSet } from './rollout-state.js'

export type RolloutOutcome = 'complete' | 'failed' | 'timeout'

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
}

export interface WaitResult {
  results: RolloutResult[]
  snapshot: NamespaceSnapshot
}

// Each poll is one kubectl call. Often at first, when most rollouts end and a failing pod shows its reason;
// less often as a long rollout (an Autopilot node scale-up) goes on.
export function pollIntervalMs(elapsedMs: number): number {
  if (elapsedMs < 10_000) return 500
  if (elapsedMs < 60_000) return 1000
  return 2000
}
// A ReplicaFailure (pods rejected at creation: quota, Autopilot's admission policies) may clear up while old
// pods terminate during a rolling update; one that lasts this long will not.
export const REPLICA_FAILURE_GRACE_MS = 30_000

export async function waitForRollouts(kubectl: Kubectl, options: WaitOptions): Promise<WaitResult> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms)))
  const started = now()
  const pending = new Set(options.deployments)
  const results = new Map<string, RolloutResult>()
  const lastMessage = new Map<string, string>()
  const replicaFailureSince = new Map<string, number>()
  let snapshot: NamespaceSnapshot

  for (;;) {
    snapshot = await readWorkloadSnapshot(kubectl, options.namespace)
    const elapsed = now() - started
    for (const name of [...pending]) {
      const verdict = judge(name, snapshot, { ...options, nowMs: now(), replicaFailureSince })
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
        const verdict = judge(name, snapshot, { ...options, nowMs: now(), replicaFailureSince })
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
    const pause = sleep(
      Math.min(options.pollMs ?? pollIntervalMs(elapsed), Math.max(0, options.timeoutMs - elapsed))
    )
    const signal = options.signal
    await (signal
      ? Promise.race([
          pause,
          new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true }))
        ])
      : pause)
    if (signal?.aborted) throw new CancelledError(cancellationReason(signal))
  }
  return { results: options.deployments.map(name => results.get(name)!), snapshot }
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
  options: { pendingGraceSeconds: number; nowMs: number; replicaFailureSince: Map<string, number> }
): Verdict {
  const deployment = snapshot.deployments.find(d => d.metadata.name === name)
  if (!deployment) return { message: `deployment "${name}" not found yet`, failures: [], pods: [] }
  const state = assessDeployment(deployment)
  const pods = newPods(deployment, snapshot)
  const failures = detectPodFailures(pods, eventsOf(pods, snapshot.events), {
    now: new Date(options.nowMs),
    pendingGraceSeconds: options.pendingGraceSeconds
  })
  const base = { revision: state.revision, failures, pods }
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

function newPods(deployment: Deployment, snapshot: NamespaceSnapshot): Pod[] {
  const replicaSet = findNewReplicaSet(deployment, snapshot.replicaSets)
  return replicaSet ? podsOfReplicaSet(replicaSet, snapshot.pods) : []
}

function eventsOf(pods: Pod[], events: Event[]): Event[] {
  const names = new Set(pods.map(p => p.metadata.name))
  return events.filter(e => e.involvedObject?.kind === 'Pod' && names.has(e.involvedObject.name ?? ''))
}
