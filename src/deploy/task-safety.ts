// The task-safety step of a deploy (input task_safety: warn, strict, off). Three parts, one record:
// - before the apply, a watch of the old release's worker pods (old-worker-stops.ts), to say how each stopped;
// - in the verification, the check in a new worker pod, in the same exec as the smoke checks
//   (smoke-scripts/task-safety.ts), compared with the rendered Deployment (task-safety-findings.ts);
// - after the verification, the wait for the old workers to be gone (bounded by their grace period and the
//   rollout's deadline) and the queues read again (queue-readings.ts; the first reading is taken beside the
//   pre-flight checks).
// Under strict a finding, or a check that ran and could not read the app, fails the verification. Never throws.

import type { TaskSafetyMode } from '../inputs.js'
import type { Kubectl } from '../kube/kubectl.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { Pod } from '../k8s/types.js'
import {
  describeStops,
  watchOldWorkers,
  type OldWorkerStop,
  type OldWorkerWatch
} from './old-worker-stops.js'
import { readQueuesBeforeDeploy, readQueuesInPod, type QueueReading } from './queue-readings.js'
import { isPodReady } from './rollout-state.js'
import { APP_CONTAINER, type SmokeCheckResult, type SmokeCheckSpec } from './smoke-checks.js'
import { TASK_SAFETY_PY } from './smoke-scripts/task-safety.js'
import { killedWorkersFinding, taskSafetyFindings, type TaskSafetyFinding } from './task-safety-findings.js'
import {
  parseCelerySettings,
  workerStopFacts,
  type CelerySettings,
  type WorkerStopFacts
} from './task-safety-settings.js'

export type { TaskSafetyMode }

// Importing a Django project takes seconds on its own (as for celery inspect ping).
export const TASK_SAFETY_TIMEOUT_SECONDS = 30
// 200 tasks of up to 200 characters each fit.
const TASK_SAFETY_OUTPUT_CHARS = 64 * 1024

export interface TaskSafetyRecord {
  mode: 'warn' | 'strict'
  check: {
    pod?: string
    // The app's settings were read.
    ran: boolean
    // Why it did not run (the worker scaled to zero, the rollout failed), or why it failed.
    skipped?: string
    error?: string
    durationMs?: number
    settings?: CelerySettings
  }
  stop: WorkerStopFacts
  findings: TaskSafetyFinding[]
  oldWorkers: OldWorkerStop[]
  // "3 old workers stopped: 3 drained cleanly in 4–12 s, 0 killed"
  oldWorkersLine?: string
  oldWorkersNote?: string
  queues: { before?: QueueReading; after?: QueueReading }
  // strict, and a finding or a check that could not read the app: the verification fails.
  blocking: boolean
}

export function taskSafetyCheckSpec(celeryApp: string): SmokeCheckSpec {
  return {
    name: 'task-safety',
    target: 'worker',
    container: APP_CONTAINER,
    argv: ['python3', '-c', TASK_SAFETY_PY, String(TASK_SAFETY_TIMEOUT_SECONDS), celeryApp],
    timeoutSeconds: TASK_SAFETY_TIMEOUT_SECONDS,
    describe: `the Celery settings of celery -A ${celeryApp} against how the worker's pods are stopped`,
    outputLimit: TASK_SAFETY_OUTPUT_CHARS,
    keepReport: true
  }
}

export interface TaskSafetyRun {
  spec: SmokeCheckSpec
  finish(options: FinishOptions): Promise<TaskSafetyRecord>
  // Ends the watch of the old pods (idempotent; finish ends it too).
  stop(): void
}

export interface FinishOptions {
  kubectl: Kubectl
  // The check's result from the worker's batch, when it ran.
  result?: SmokeCheckResult
  // Not run, and why (the rollout failed, the beat guard failed, the run was stopped): nothing is waited for.
  notRun?: string
  workerPods: Pod[]
  // The old workers are waited for until then at the latest.
  settleUntilMs: number
  signal?: AbortSignal
  log: (line: string) => void
}

// Before the apply: the watch of the old workers starts here. Undefined with task_safety off or no worker.
export async function startTaskSafety(
  kubectl: Kubectl,
  options: {
    mode: TaskSafetyMode
    namespace: string
    celeryApp: string
    queues: string[]
    worker?: KubeObject
    // The reading taken beside the pre-flight checks (it may still be running).
    queuesBefore?: Promise<QueueReading | undefined>
    now?: () => number
  }
): Promise<TaskSafetyRun | undefined> {
  const { mode, worker } = options
  if (mode === 'off' || !worker) return undefined
  const now = options.now ?? Date.now
  const stop = workerStopFacts(worker)
  const matchLabels = selectorOf(worker)
  const watch: OldWorkerWatch | undefined = matchLabels
    ? await watchOldWorkers(kubectl, { namespace: options.namespace, matchLabels, now })
    : undefined
  return {
    spec: taskSafetyCheckSpec(options.celeryApp),
    stop: () => watch?.stop(),
    async finish(finish) {
      const check = checkOf(finish)
      if (!finish.notRun) await watch?.settle(finish.settleUntilMs, finish.signal)
      watch?.stop()
      const oldWorkers = watch?.stops() ?? []
      const pod = finish.notRun ? undefined : finish.workerPods.find(isPodReady)
      const after =
        pod && !finish.signal?.aborted
          ? await readQueuesInPod(finish.kubectl, pod.metadata.name, { ...options, now })
          : undefined
      const before = await options.queuesBefore
      const findings = check.settings ? taskSafetyFindings(check.settings, stop) : []
      const killed = killedWorkersFinding(
        oldWorkers.filter(s => s.how === 'killed').map(s => s.pod),
        check.settings,
        stop
      )
      if (killed) findings.push(killed)
      const record: TaskSafetyRecord = {
        mode,
        check,
        stop,
        findings,
        oldWorkers,
        ...(describeStops(oldWorkers) ? { oldWorkersLine: describeStops(oldWorkers) } : {}),
        ...(watch?.note() ? { oldWorkersNote: watch.note() } : {}),
        queues: { ...(before ? { before } : {}), ...(after ? { after } : {}) },
        blocking:
          mode === 'strict' &&
          !finish.notRun &&
          (findings.length > 0 || (check.error !== undefined && check.skipped === undefined))
      }
      logRecord(record, finish.log)
      return record
    }
  }
}

// The first reading of the queues, started beside the pre-flight checks (it does not hold them up). abandon()
// stops it when the run ends before the transaction (a pre-flight failure): its exec must not keep the run alive.
export function readQueuesBeforeAnyWrite(
  kubectl: Kubectl,
  options: {
    mode: TaskSafetyMode
    namespace: string
    celeryApp: string
    queues: string[]
    worker?: KubeObject
    // The run's cancellation.
    signal?: AbortSignal
  }
): { reading?: Promise<QueueReading | undefined>; abandon(): void } {
  const matchLabels = options.worker ? selectorOf(options.worker) : undefined
  if (options.mode === 'off' || !matchLabels) return { abandon: () => undefined }
  const abandoned = new AbortController()
  return {
    reading: readQueuesBeforeDeploy(
      kubectl.withSignal(
        options.signal ? AbortSignal.any([options.signal, abandoned.signal]) : abandoned.signal
      ),
      { ...options, matchLabels }
    ),
    abandon: () => abandoned.abort('the run ended before its first write')
  }
}

function checkOf(options: FinishOptions): TaskSafetyRecord['check'] {
  const result = options.result
  if (options.notRun) return { ran: false, skipped: options.notRun }
  if (!result) return { ran: false, skipped: 'no worker pod to run it in' }
  if (result.skipped) return { ran: false, skipped: result.detail, pod: result.pod }
  const base = { pod: result.pod, durationMs: result.durationMs }
  if (!result.ok || !result.report) return { ...base, ran: false, error: result.detail }
  const settings = parseCelerySettings(result.report)
  if (typeof settings === 'string') return { ...base, ran: false, error: settings }
  return { ...base, ran: true, settings }
}

function selectorOf(worker: KubeObject): Record<string, string> | undefined {
  const selector = (worker.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)
    ?.selector?.matchLabels
  return selector && Object.keys(selector).length > 0 ? selector : undefined
}

function logRecord(record: TaskSafetyRecord, log: (line: string) => void): void {
  const { check } = record
  if (check.settings) {
    log(
      `task safety (${check.pod}): Celery ${check.settings.celery}, ${check.settings.tasksTotal} registered tasks, broker ${check.settings.transport ?? 'unknown'}: ${record.findings.length === 0 ? 'no finding' : `${record.findings.length} finding${record.findings.length === 1 ? '' : 's'}`}`
    )
  } else {
    log(`task safety: not checked: ${check.skipped ?? check.error ?? 'unknown'}`)
  }
  for (const finding of record.findings) log(`  ${finding.id}: ${finding.happens} Fix: ${finding.fix}`)
  if (record.oldWorkersLine) log(record.oldWorkersLine)
}
