// Follows the pre-deploy gate's Job until it has passed or failed, as the rollouts are followed
// (wait-rollouts.ts): one list of the Job and one of its pods (by the Job's uid, exact even if a Job of the same
// name existed before), then one API watch of each from its list's resourceVersion, so every change wakes the
// verdict at once and two kubectl processes serve the whole run of the command. A watch that ends (the server's
// timeout, a restart) turns the rest into lists; a list every RESYNC_MS besides, in case a watch goes quiet. The
// events are read only while something is wrong (they hold the scheduler's and the kubelet's words).

import type { Kubectl } from '../kube/kubectl.js'
import { LookPacer } from '../kube/look-pacer.js'
import type { KubeList } from '../kube/objects.js'
import type { Event, Job, Pod } from '../k8s/types.js'
import { judgeGate, type GateVerdict } from './gate-state.js'
import { EVENTS_EVERY_MS, pollIntervalMs, RESYNC_MS, WATCHED_LOOK_MS } from './wait-rollouts.js'

export interface GateWatchOptions {
  namespace: string
  job: string
  uid: string
  // The container that runs the command.
  container: string
  // The watch's own bound: past the Job's deadline (the job controller's verdict normally comes first).
  timeoutMs: number
  pendingGraceSeconds: number
  pollMs?: number
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  onProgress?: (line: string) => void
  signal?: AbortSignal
}

export interface GateWatchResult {
  verdict: GateVerdict
  // No verdict within timeoutMs.
  timedOut: boolean
  job?: Job
  // Every pod of the Job seen, each as last seen (one deleted since included: its name is the log's address).
  pods: Pod[]
  events: Event[]
  durationMs: number
}

interface Collection<T> {
  metadata?: { resourceVersion?: string }
  items: T[]
}

interface WatchEvent {
  type?: string
  object?: { metadata?: { name?: string; resourceVersion?: string } }
}

export async function watchGate(kubectl: Kubectl, options: GateWatchOptions): Promise<GateWatchResult> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms)))
  const started = now()
  const ns = encodeURIComponent(options.namespace)
  const paths = {
    job: `/apis/batch/v1/namespaces/${ns}/jobs?fieldSelector=${encodeURIComponent(`metadata.name=${options.job}`)}`,
    pods: `/api/v1/namespaces/${ns}/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/controller-uid=${options.uid}`)}`
  }
  let job: Job | undefined
  // The Job was read at least once: not finding it later means it was deleted.
  let jobSeen = false
  const pods = new Map<string, Pod>()
  const seen = new Map<string, Pod>()
  let events: { readAt: number; items: Event[] } | undefined
  let failedCreateSince: number | undefined

  const read = async <T>(path: string): Promise<Collection<T>> =>
    JSON.parse((await kubectl.run(['get', '--raw', path])).stdout) as Collection<T>
  const list = async (): Promise<{ job?: string; pods?: string }> => {
    const jobs = await read<Job>(paths.job)
    const podList = await read<Pod>(paths.pods)
    job = jobs.items.find(j => j.metadata.uid === options.uid)
    if (job) jobSeen = true
    pods.clear()
    for (const pod of podList.items) {
      pods.set(pod.metadata.name, pod)
      seen.set(pod.metadata.name, pod)
    }
    return { job: jobs.metadata?.resourceVersion, pods: podList.metadata?.resourceVersion }
  }

  const pacer = new LookPacer(sleep)
  const onChange = pacer.notify
  const versions = await list()
  let listedAt = now()
  const watches = startWatches(kubectl, paths, versions, {
    job: (type, object) => {
      if ((object as Job).metadata?.uid !== options.uid) return
      job = type === 'DELETED' ? undefined : (object as Job)
      if (job) jobSeen = true
    },
    pods: (type, object) => {
      const pod = object as Pod
      if (type === 'DELETED') pods.delete(pod.metadata.name)
      else pods.set(pod.metadata.name, pod)
      seen.set(pod.metadata.name, pod)
    },
    changed: onChange
  })

  let lastMessage = ''
  try {
    for (let look = 0; ; look++) {
      pacer.startLook()
      const watching = watches?.live() === true && now() - listedAt < RESYNC_MS
      if (look > 0 && !watching) {
        await list()
        listedAt = now()
      }
      let verdict = judge()
      const elapsed = now() - started
      // Something is wrong (a container waiting for a reason, the pod not placed, no pod after a moment): the
      // events say why.
      if (verdict.outcome === undefined && troubled(verdict, elapsed)) {
        if (!events || now() - events.readAt >= EVENTS_EVERY_MS) {
          events = {
            readAt: now(),
            items: (await kubectl.json<KubeList<Event>>(['get', 'events', '-n', options.namespace])).items
          }
        }
        verdict = judge()
      }
      if (verdict.reason === 'FailedCreate' && verdict.outcome === undefined) failedCreateSince ??= now()
      else if (verdict.reason !== 'FailedCreate') failedCreateSince = undefined
      if (verdict.message !== lastMessage) {
        options.onProgress?.(verdict.message)
        lastMessage = verdict.message
      }
      if (verdict.outcome !== undefined || elapsed >= options.timeoutMs) {
        // A failure is explained by its events too (for the report): read once if never read.
        if (verdict.outcome === 'failed' && !events) {
          events = {
            readAt: now(),
            items: (await kubectl.json<KubeList<Event>>(['get', 'events', '-n', options.namespace])).items
          }
          verdict = { ...judge(), outcome: verdict.outcome }
        }
        return {
          verdict,
          timedOut: verdict.outcome === undefined,
          ...(job ? { job } : {}),
          pods: [...seen.values()],
          events: ofThisJob(events?.items ?? []),
          durationMs: elapsed
        }
      }
      const interval = options.pollMs ?? (watches?.live() ? WATCHED_LOOK_MS : pollIntervalMs(elapsed))
      await pacer.rest(Math.min(interval, Math.max(0, options.timeoutMs - elapsed)), {
        woken: watches !== undefined,
        signal: options.signal
      })
    }
  } finally {
    watches?.stop()
  }

  function judge(): GateVerdict {
    if (!job && jobSeen) {
      return {
        outcome: 'failed',
        reason: 'JobDeleted',
        message: `Job ${options.job} was deleted before its command ended (by someone else, or a namespace deletion)`,
        pod: [...seen.values()].at(-1),
        finished: true
      }
    }
    return judgeGate(job, [...pods.values()], events?.items ?? [], {
      now: now(),
      pendingGraceSeconds: options.pendingGraceSeconds,
      container: options.container,
      ...(failedCreateSince !== undefined ? { failedCreateSince } : {})
    })
  }

  // The events of this Job and of its pods, for the report.
  function ofThisJob(items: Event[]): Event[] {
    return items.filter(e =>
      e.involvedObject.kind === 'Job'
        ? e.involvedObject.name === options.job
        : e.involvedObject.kind === 'Pod' && seen.has(e.involvedObject.name ?? '')
    )
  }
}

// A verdict without an outcome that is not plain progress: a container in trouble, no pod after a moment.
function troubled(verdict: GateVerdict, elapsedMs: number): boolean {
  if (!verdict.pod) return elapsedMs >= EVENTS_EVERY_MS
  const pod = verdict.pod
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
  return (
    pod.status?.conditions?.some(c => c.type === 'PodScheduled' && c.status === 'False') === true ||
    statuses.some(
      s =>
        (s.state?.waiting?.reason !== undefined &&
          !['ContainerCreating', 'PodInitializing'].includes(s.state.waiting.reason)) ||
        (s.restartCount ?? 0) > 0
    )
  )
}

// The Job's and its pods' watches, from their lists' resourceVersions. undefined when a list gave none (a server
// that is not etcd-backed) or the runner cannot stream: the caller then lists.
function startWatches(
  kubectl: Kubectl,
  paths: { job: string; pods: string },
  versions: { job?: string; pods?: string },
  on: {
    job: (type: string, object: unknown) => void
    pods: (type: string, object: unknown) => void
    changed: () => void
  }
): { live(): boolean; stop(): void } | undefined {
  if (!versions.job || !versions.pods || typeof kubectl.watch !== 'function') return undefined
  let ended = false
  const start = (path: string, version: string, apply: (type: string, object: unknown) => void) => {
    const watcher = kubectl.watch(
      ['get', '--raw', `${path}&watch=true&allowWatchBookmarks=true&resourceVersion=${version}`],
      value => {
        const event = value as WatchEvent
        if (ended) return
        if (event.type === 'ERROR') return end()
        if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED') return
        if (!event.object?.metadata?.name) return
        apply(event.type, event.object)
        on.changed()
      }
    )
    void watcher.ended.then(() => end())
    return watcher
  }
  const watchers = [start(paths.job, versions.job, on.job), start(paths.pods, versions.pods, on.pods)]
  // One watch ended: the view is no longer complete, and lists take over.
  function end(): void {
    if (ended) return
    ended = true
    for (const watcher of watchers) watcher?.stop()
    on.changed()
  }
  return {
    live: () => !ended,
    stop: () => {
      if (ended) return
      ended = true
      for (const watcher of watchers) watcher.stop()
    }
  }
}
