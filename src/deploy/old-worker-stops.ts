// How the old release's workers stopped: a list of the worker's pods before the apply, then one API watch of
// them from that list's resourceVersion (nothing in between is missed), kept until the old pods the rollout
// deletes are gone. For each, the app container's last state says whether it exited on its own within the grace
// period (a warm shutdown: how long it took, from the deletion to the container's exit) or was killed (exit 137,
// or still running at the grace deadline). One list and one kubectl process for the whole deploy; never throws.

import { CancelledError, type Kubectl } from '../kube/kubectl.js'
import type { Pod } from '../k8s/types.js'
import { APP_CONTAINER } from './smoke-checks.js'

export interface OldWorkerStop {
  pod: string
  // drained: exited 0 before the deadline; exited: another exit code before it; killed: 137, or at the deadline;
  // stopping: still stopping when the run stopped looking; unknown: gone without a final state.
  how: 'drained' | 'exited' | 'killed' | 'stopping' | 'unknown'
  // From the deletion (the preStop hook and SIGTERM) to the container's exit, or to the last look.
  seconds?: number
  exitCode?: number
}

export interface OldWorkerWatch {
  // Waits (at most until `untilMs`) for every old pod being deleted to be gone or to have its app container
  // stopped.
  settle(untilMs: number, signal?: AbortSignal): Promise<void>
  stops(): OldWorkerStop[]
  // Why the record may be incomplete (the watch could not start, or ended early).
  note(): string | undefined
  stop(): void
}

export function labelSelector(matchLabels: Record<string, string>): string {
  return Object.entries(matchLabels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',')
}

export async function watchOldWorkers(
  kubectl: Kubectl,
  options: { namespace: string; matchLabels: Record<string, string>; now?: () => number }
): Promise<OldWorkerWatch> {
  const now = options.now ?? Date.now
  const path = `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods?labelSelector=${encodeURIComponent(labelSelector(options.matchLabels))}`
  let list: { metadata?: { resourceVersion?: string }; items?: Pod[] }
  try {
    list = JSON.parse((await kubectl.run(['get', '--raw', path])).stdout) as typeof list
  } catch (error) {
    const why =
      error instanceof CancelledError ? 'the run was cancelled' : (error as Error).message.split('\n')[0]
    return noWatch(`the worker's pods could not be listed before the apply (${why})`)
  }
  // Old pods: those there before the apply, not already on their way out. `deletion` is the deletion as first
  // seen: the kubelet's final delete (grace 0) moves deletionTimestamp and deletionGracePeriodSeconds to the end.
  const tracked = new Map<string, { pod: Pod; gone: boolean; deletion?: Deletion }>()
  for (const pod of list.items ?? []) {
    if (!pod.metadata.deletionTimestamp) tracked.set(pod.metadata.name, { pod, gone: false })
  }
  const resourceVersion = list.metadata?.resourceVersion
  if (tracked.size === 0 || !resourceVersion || typeof kubectl.watch !== 'function') {
    return noWatch(tracked.size === 0 ? undefined : 'the old pods could not be watched')
  }
  let ended = false
  let wake: (() => void) | undefined
  const watcher = kubectl.watch(
    ['get', '--raw', `${path}&watch=true&resourceVersion=${encodeURIComponent(resourceVersion)}`],
    value => {
      const event = value as { type?: string; object?: Pod }
      const name = event.object?.metadata?.name
      if (event.type === 'ERROR') {
        ended = true
        wake?.()
        return
      }
      const known = name !== undefined ? tracked.get(name) : undefined
      if (!known || !event.object) return
      if (event.type === 'MODIFIED' || event.type === 'DELETED') {
        tracked.set(name!, {
          pod: event.object,
          gone: event.type === 'DELETED',
          deletion: known.deletion ?? deletionOf(event.object)
        })
        wake?.()
      }
    }
  )
  void watcher.ended.then(() => {
    ended = true
    wake?.()
  })
  const pending = (): Pod[] =>
    [...tracked.values()]
      .filter(t => !t.gone && t.pod.metadata.deletionTimestamp && !appTerminated(t.pod))
      .map(t => t.pod)
  return {
    async settle(untilMs, signal) {
      while (!ended && !signal?.aborted) {
        const waiting = pending()
        if (waiting.length === 0) return
        // No longer than the last grace deadline (and a little after, for the kubelet's report), nor the caller's.
        const deadline = Math.min(
          untilMs,
          Math.max(...waiting.map(p => tracked.get(p.metadata.name)?.deletion?.deadlineMs ?? 0)) + 5000
        )
        if (now() >= deadline) return
        await new Promise<void>(resolve => {
          const timer = setTimeout(resolve, deadline - now())
          const done = (): void => {
            clearTimeout(timer)
            signal?.removeEventListener('abort', done)
            resolve()
          }
          wake = done
          signal?.addEventListener('abort', done, { once: true })
        })
        wake = undefined
      }
    },
    stops: () =>
      [...tracked.values()]
        .filter(t => t.pod.metadata.deletionTimestamp)
        .map(t => classifyStop(t.pod, t.gone, now(), t.deletion)),
    note: () =>
      ended && pending().length > 0
        ? 'the watch of the old pods ended before they were gone: how some stopped is not known'
        : undefined,
    stop: () => watcher.stop()
  }
}

function noWatch(note: string | undefined): OldWorkerWatch {
  return { settle: async () => undefined, stops: () => [], note: () => note, stop: () => undefined }
}

function appStatus(pod: Pod) {
  const statuses = pod.status?.containerStatuses ?? []
  return statuses.find(s => s.name === APP_CONTAINER) ?? (statuses.length === 1 ? statuses[0] : undefined)
}

function appTerminated(pod: Pod): boolean {
  return appStatus(pod)?.state?.terminated !== undefined
}

// A graceful deletion: deletionTimestamp is the grace deadline (the deletion's time plus the grace period).
export interface Deletion {
  deadlineMs: number
  startedMs: number
}

export function deletionOf(pod: Pod): Deletion | undefined {
  const deadline = Date.parse(pod.metadata.deletionTimestamp ?? '')
  const grace = pod.metadata.deletionGracePeriodSeconds
  if (!Number.isFinite(deadline) || typeof grace !== 'number') return undefined
  return { deadlineMs: deadline, startedMs: deadline - grace * 1000 }
}

// The verdict on one pod of the old release that was deleted, from its last known state and the deletion as it
// was first seen (default: as the pod shows it).
export function classifyStop(
  pod: Pod,
  gone: boolean,
  nowMs: number,
  deletion: Deletion | undefined = deletionOf(pod)
): OldWorkerStop {
  const name = pod.metadata.name
  const started = deletion?.startedMs
  const deadline = deletion?.deadlineMs
  const terminated = appStatus(pod)?.state?.terminated
  const since = (ms: number | undefined): { seconds?: number } =>
    started !== undefined && ms !== undefined && Number.isFinite(ms)
      ? { seconds: Math.max(0, Math.round((ms - started) / 1000)) }
      : {}
  if (terminated) {
    const finished = Date.parse(terminated.finishedAt ?? '')
    const atDeadline = deadline !== undefined && Number.isFinite(finished) && finished >= deadline
    const killed =
      terminated.exitCode === 137 || terminated.signal === 9 || (atDeadline && terminated.exitCode !== 0)
    return {
      pod: name,
      how: killed ? 'killed' : terminated.exitCode === 0 ? 'drained' : 'exited',
      exitCode: terminated.exitCode,
      ...since(finished)
    }
  }
  if (gone) return { pod: name, how: 'unknown' }
  return { pod: name, how: 'stopping', ...since(nowMs) }
}

// "3 old workers stopped: 3 drained cleanly in 4–12 s, 0 killed".
export function describeStops(stops: OldWorkerStop[]): string | undefined {
  if (stops.length === 0) return undefined
  const of = (how: OldWorkerStop['how']) => stops.filter(s => s.how === how)
  const drained = of('drained')
  const range = (group: OldWorkerStop[]): string => {
    const seconds = group.map(s => s.seconds).filter((s): s is number => s !== undefined)
    if (seconds.length === 0) return ''
    const low = Math.min(...seconds)
    const high = Math.max(...seconds)
    return low === high ? ` in ${low} s` : ` in ${low}–${high} s`
  }
  const parts = [`${drained.length} drained cleanly${range(drained)}`, `${of('killed').length} killed`]
  const exited = of('exited')
  if (exited.length > 0) {
    parts.push(
      `${exited.length} exited with ${[...new Set(exited.map(s => s.exitCode))].map(c => `code ${c}`).join(', ')}`
    )
  }
  if (of('stopping').length > 0) parts.push(`${of('stopping').length} still stopping`)
  if (of('unknown').length > 0) parts.push(`${of('unknown').length} gone without a final state`)
  return `${stops.length} old worker${stops.length === 1 ? '' : 's'} stopped: ${parts.join(', ')}`
}
