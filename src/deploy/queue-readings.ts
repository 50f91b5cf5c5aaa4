// The worker's queues read from inside a worker pod: before the first write (in a pod of the release being
// replaced, beside the pre-flight checks) and after the verification (in a new pod). Each reading is one
// `kubectl exec` of smoke-scripts/queue-lengths.ts through the batch script (which kills it at its deadline);
// it counts, never reads a message. A reading that fails is a note, never a failure of the deploy.

import { CancelledError, KubectlError, type Kubectl } from '../kube/kubectl.js'
import type { Pod } from '../k8s/types.js'
import { boundLines } from '../untrusted-text.js'
import { labelSelector } from './old-worker-stops.js'
import { isPodReady } from './rollout-state.js'
import { BATCH_KEY, BATCH_PY } from './smoke-scripts/batch.js'
import { QUEUE_LENGTHS_PY } from './smoke-scripts/queue-lengths.js'
import { APP_CONTAINER, encodeBatch, lastJsonReport, redactUrlCredentials } from './smoke-checks.js'

export interface QueueLength {
  name: string
  waiting: number
  // Per priority step (kombu's "name", "name\x06\x163", ...), only those that hold tasks.
  byPriority: Record<string, number>
}

export interface QueueReading {
  pod: string
  // When the reading came back (the runner's clock).
  atMs: number
  ok: boolean
  // Why it could not be read (one line, redacted by whoever shows it).
  error?: string
  queues: QueueLength[]
  // Tasks reserved by a worker and not yet acknowledged (kombu's `unacked` hash, all queues together).
  unacked?: number
}

export const QUEUE_READING_TIMEOUT_SECONDS = 30
// Room for kubectl itself (API round trips, the exec upgrade) on top of the script's own deadline.
const EXEC_OVERHEAD_MS = 15_000
const MAX_OUTPUT_CHARS = 64 * 1024
const MAX_ERROR_CHARS = 500

export interface QueueReadingOptions {
  namespace: string
  celeryApp: string
  queues: string[]
  now?: () => number
}

export async function readQueuesInPod(
  kubectl: Kubectl,
  pod: string,
  options: QueueReadingOptions
): Promise<QueueReading> {
  const now = options.now ?? Date.now
  const failed = (error: string): QueueReading => ({
    pod,
    atMs: now(),
    ok: false,
    error: oneLine(error),
    queues: []
  })
  const argv = [
    'python3',
    '-c',
    QUEUE_LENGTHS_PY,
    String(QUEUE_READING_TIMEOUT_SECONDS),
    options.celeryApp,
    options.queues.join(',')
  ]
  const batch = encodeBatch([{ name: 'queue-lengths', argv, timeout: QUEUE_READING_TIMEOUT_SECONDS }])
  let stdout: string
  try {
    const run = await kubectl.run(
      ['exec', '-n', options.namespace, pod, '-c', APP_CONTAINER, '--', 'python3', '-c', BATCH_PY, batch],
      {
        okExitCodes: Array.from({ length: 256 }, (_, code) => code),
        timeoutMs: QUEUE_READING_TIMEOUT_SECONDS * 1000 + EXEC_OVERHEAD_MS
      }
    )
    stdout = boundLines(run.stdout, MAX_OUTPUT_CHARS)
    if (run.exitCode !== 0 && !stdout.includes(BATCH_KEY)) {
      return failed(
        `kubectl exec exited ${run.exitCode}: ${lastLine(boundLines(run.stderr, MAX_OUTPUT_CHARS))}`
      )
    }
  } catch (error) {
    if (error instanceof CancelledError) return failed('the run was cancelled')
    return failed(
      error instanceof KubectlError
        ? error.timedOut
          ? 'kubectl exec timed out'
          : `kubectl exec failed: ${lastLine(boundLines(error.stderr, MAX_OUTPUT_CHARS))}`
        : String(error)
    )
  }
  const own = batchEntry(stdout)
  if (!own) return failed(`no reading from the pod: ${lastLine(stdout)}`)
  if (own.timed_out === true) return failed(`timed out after ${QUEUE_READING_TIMEOUT_SECONDS}s`)
  const report = lastJsonReport(String(own.stdout ?? ''))
  if (!report) {
    return failed(`no reading from the pod (exit ${String(own.exit)}): ${lastLine(String(own.stderr ?? ''))}`)
  }
  if (!report.ok) return failed(String(report.error ?? 'the queues could not be read'))
  const queues = Array.isArray(report.queues) ? report.queues : []
  return {
    pod,
    atMs: now(),
    ok: true,
    queues: queues.flatMap(q => {
      const entry = q as { name?: unknown; waiting?: unknown; by_priority?: unknown }
      if (typeof entry.name !== 'string' || !count(entry.waiting)) return []
      const byPriority: Record<string, number> = {}
      if (entry.by_priority && typeof entry.by_priority === 'object') {
        for (const [step, n] of Object.entries(entry.by_priority)) if (count(n)) byPriority[step] = n
      }
      return [{ name: entry.name, waiting: entry.waiting, byPriority }]
    }),
    ...(count(report.unacked) ? { unacked: report.unacked } : {})
  }
}

// Before the first write: in a ready pod of the worker as it runs now; undefined when none runs (a first
// deploy, a worker scaled to zero). Never throws.
export async function readQueuesBeforeDeploy(
  kubectl: Kubectl,
  options: QueueReadingOptions & { matchLabels: Record<string, string> }
): Promise<QueueReading | undefined> {
  let pods: Pod[]
  try {
    const run = await kubectl.run([
      'get',
      '--raw',
      `/api/v1/namespaces/${encodeURIComponent(options.namespace)}/pods?labelSelector=${encodeURIComponent(labelSelector(options.matchLabels))}`
    ])
    pods = (JSON.parse(run.stdout) as { items?: Pod[] }).items ?? []
  } catch (error) {
    if (error instanceof CancelledError) return undefined
    return {
      pod: '',
      atMs: (options.now ?? Date.now)(),
      ok: false,
      error: `the worker's pods could not be listed: ${oneLine((error as Error).message)}`,
      queues: []
    }
  }
  const pod = pods.find(p => !p.metadata.deletionTimestamp && isPodReady(p))
  return pod ? readQueuesInPod(kubectl, pod.metadata.name, options) : undefined
}

function count(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function batchEntry(stdout: string): Record<string, unknown> | undefined {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.trim().startsWith('{')) continue
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>
      const entries = parsed[BATCH_KEY]
      if (Array.isArray(entries)) return entries[0] as Record<string, unknown>
    } catch {
      // not the batch's line
    }
  }
  return undefined
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map(l => l.trim())
    .filter(Boolean)
  return lines[lines.length - 1] ?? ''
}

// One line, its URL passwords hidden; a line too long to show is left out whole, never cut.
function oneLine(text: string): string {
  const line = redactUrlCredentials(text.split('\n')[0] ?? '')
  return line.length > MAX_ERROR_CHARS ? `(an error of ${line.length} characters, too long to show)` : line
}
