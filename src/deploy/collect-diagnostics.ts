// Gathers what explains a failed rollout: the warning events of its objects and the log tail of each failing
// container (the previous instance for one that crashed).

import type { Kubectl } from '../kube/kubectl.js'
import type { NamespaceSnapshot } from '../kube/objects.js'
import type { Event } from '../kube/types.js'
import type { ContainerLog } from '../report/diagnostics.js'
import type { PodFailure } from './pod-failures.js'

const LOG_TAIL_LINES = 40
const MAX_LOGS = 6

export function eventsFor(snapshot: NamespaceSnapshot, objectNames: Set<string>): Event[] {
  return snapshot.events.filter(e => objectNames.has(e.involvedObject?.name ?? ''))
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
    const previous = (failure.restartCount ?? 0) > 0
    const args = ['logs', failure.pod, '-c', failure.container, '-n', namespace, `--tail=${LOG_TAIL_LINES}`]
    if (previous) args.push('--previous')
    try {
      const result = await kubectl.run(args, { retry: false })
      logs.push({ pod: failure.pod, container: failure.container, previous, text: result.stdout })
    } catch (error) {
      logs.push({
        pod: failure.pod,
        container: failure.container,
        previous,
        text: `(log not available: ${(error as Error).message})`
      })
    }
  }
  return logs
}
