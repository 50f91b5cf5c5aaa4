// Gathers what explains a failed rollout: the warning events of its objects and the log tail of each failing
// container (the previous instance for one that crashed).

import { CancelledError, type Kubectl } from '../kube/kubectl.js'
import type { NamespaceSnapshot } from '../kube/objects.js'
import type { Event } from '../k8s/types.js'
import { renderDiagnosticsText, type ContainerLog } from '../report/diagnostics.js'
import type { RolloutResult } from './wait-rollouts.js'
import type { PodFailure } from './pod-failures.js'
import { boundLines } from '../untrusted-text.js'
import { findNewReplicaSet, podsOfReplicaSet } from './rollout-state.js'

const LOG_TAIL_LINES = 40
const MAX_LOGS = 6
// A log is read bounded at the source (the kubelet sends at most this much of the tail) and again on arrival.
const MAX_LOG_BYTES = 64 * 1024

/**
 * The events of this run: about the new ReplicaSet of each Deployment and its pods, and the Deployment's own
 * events that name that ReplicaSet (`Scaled up replica set …`). The previous release's pods and ReplicaSets
 * are left out: they are not what failed. Matched by names the cluster gave, not by time (the runner's clock
 * and the cluster's differ).
 */
export function eventsOfThisRun(snapshot: NamespaceSnapshot, deployments: string[]): Event[] {
  const replicaSets = new Set<string>()
  const pods = new Set<string>()
  for (const name of deployments) {
    const deployment = snapshot.deployments.find(d => d.metadata.name === name)
    const replicaSet = deployment ? findNewReplicaSet(deployment, snapshot.replicaSets) : undefined
    if (!replicaSet) continue
    replicaSets.add(replicaSet.metadata.name)
    for (const pod of podsOfReplicaSet(replicaSet, snapshot.pods)) pods.add(pod.metadata.name)
  }
  const names = new Set(deployments)
  return snapshot.events.filter(e => {
    const ref = e.involvedObject
    if (ref?.kind === 'Pod') return pods.has(ref.name ?? '')
    if (ref?.kind === 'ReplicaSet') return replicaSets.has(ref.name ?? '')
    if (ref?.kind === 'Deployment' && names.has(ref.name ?? '')) {
      return [...replicaSets].some(rs => (e.message ?? '').includes(rs))
    }
    return false
  })
}

// --limit-bytes cuts the tail's end wherever the limit falls, maybe inside a line (and a secret): a log that
// reached the limit loses its last, partial line. Then no more than the limit is kept, in whole lines.
function boundedLog(text: string): string {
  const limited = Buffer.byteLength(text, 'utf8') >= MAX_LOG_BYTES - 4
  const whole = limited ? text.slice(0, text.lastIndexOf('\n') + 1) : text
  return boundLines(whole, MAX_LOG_BYTES)
}

export async function collectLogs(
  kubectl: Kubectl,
  namespace: string,
  failures: PodFailure[]
): Promise<ContainerLog[]> {
  const logs: ContainerLog[] = []
  const seen = new Set<string>()
  for (const failure of failures) {
    if (!failure.container || logs.length >= MAX_LOGS) continue
    const key = `${failure.pod}/${failure.container}`
    if (seen.has(key)) continue
    seen.add(key)
    // A container that never started (image pull, config error) has no log to read.
    if (/ImagePull|ErrImage|InvalidImageName|CreateContainerConfigError/.test(failure.reason)) continue
    logs.push(
      await readContainerLog(kubectl, namespace, {
        pod: failure.pod,
        container: failure.container,
        previous: (failure.restartCount ?? 0) > 0
      })
    )
  }
  return logs
}

// The tail of one container's log (its previous instance's, for one that crashed and was restarted), bounded
// at the source and again on arrival; a log that cannot be read says why instead.
export async function readContainerLog(
  kubectl: Kubectl,
  namespace: string,
  from: { pod: string; container: string; previous: boolean }
): Promise<ContainerLog> {
  const { pod, container, previous } = from
  const args = [
    'logs',
    pod,
    '-c',
    container,
    '-n',
    namespace,
    `--tail=${LOG_TAIL_LINES}`,
    `--limit-bytes=${MAX_LOG_BYTES}`
  ]
  if (previous) args.push('--previous')
  try {
    const result = await kubectl.run(args, { retry: false })
    return { pod, container, previous, text: boundedLog(result.stdout) }
  } catch (error) {
    // A cancelled run stops reading: its undo comes first.
    if (error instanceof CancelledError) throw error
    return { pod, container, previous, text: `(log not available: ${(error as Error).message})` }
  }
}

// What explains the rollouts that did not complete: their pods' failures, this run's events, and the log tails of
// the failing containers; said in the log too (escaped for it).
export async function diagnoseFailedRollouts(
  kubectl: Kubectl,
  namespace: string,
  rollouts: RolloutResult[],
  snapshot: NamespaceSnapshot,
  output: { log: (line: string) => void; redact: (text: string) => string }
): Promise<{ events: Event[]; logs: ContainerLog[] }> {
  const failures = rollouts.flatMap(r => r.failures)
  const logs = await collectLogs(
    kubectl,
    namespace,
    failures.filter(f => f.fatal || (f.restartCount ?? 0) > 0)
  )
  const events = eventsOfThisRun(
    snapshot,
    rollouts.map(r => r.deployment)
  )
  output.log(renderDiagnosticsText({ failures, events, logs, redact: output.redact }))
  return { events, logs }
}
