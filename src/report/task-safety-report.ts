// What the job summary, the annotations and the failure findings say about task safety: the findings (what
// happens to which tasks on the next deploy, and the fix), the settings they come from, how the old workers
// stopped, and the queues before and after. Task names and errors come from the pod: escaped (inline/table) and
// redacted here, cut only after that (redactFinding).

import type { QueueReading } from '../deploy/queue-readings.js'
import type { TaskSafetyFinding } from '../deploy/task-safety-findings.js'
import type { TaskSafetyRecord } from '../deploy/task-safety.js'
import type { Redact } from '../redact.js'
import type { Finding } from './finding.js'
import { details, inline, table } from './markdown.js'

const TITLES: Record<TaskSafetyFinding['id'], string> = {
  'prestop-signals-pool': "the preStop hook signals Celery's pool processes",
  'cold-shutdown-on-sigterm': 'SIGTERM is a cold shutdown',
  'soft-shutdown-inactive': 'the soft shutdown does not apply',
  'soft-shutdown-beyond-grace': 'the soft shutdown outlasts the grace period',
  'sigterm-not-to-worker': 'SIGTERM does not reach the worker',
  'lost-at-grace': 'tasks lost at the end of the grace period',
  'rerun-after-grace': 'tasks killed at the end of the grace period and run again',
  'visibility-timeout-short': 'tasks run twice (visibility timeout)',
  prefetch: 'prefetched tasks wait out the shutdown',
  'killed-workers': 'old workers killed with acks_late off'
}

export function taskSafetyTitle(finding: TaskSafetyFinding): string {
  return TITLES[finding.id]
}

// Under strict, what failed the verification, as findings of the failure report.
export function explainTaskSafety(record: TaskSafetyRecord | undefined): Finding[] {
  if (!record?.blocking) return []
  if (record.findings.length === 0) {
    return [
      {
        class: 'task-safety',
        subjects: ['task safety'],
        title: 'not checked',
        cause: `the worker's Celery settings could not be read: ${record.check.error ?? 'no report'}`,
        pods: record.check.pod ? [record.check.pod] : [],
        remedy:
          'task_safety: strict needs the check to read the app as the worker loads it (celery -A celery_app, python3 with celery in the image): see the error; task_safety: warn deploys and reports it instead.'
      }
    ]
  }
  return record.findings.map(finding => ({
    class: 'task-safety' as const,
    subjects: ['task safety'],
    title: TITLES[finding.id],
    cause: `${finding.happens} (tasks: ${finding.tasks})`,
    pods: finding.id === 'killed-workers' || !record.check.pod ? [] : [record.check.pod],
    remedy: finding.fix
  }))
}

// Under warn, each finding as a warning annotation (and a check that could not read the app as one more).
export function taskSafetyWarnings(
  record: TaskSafetyRecord | undefined
): Array<{ title: string; message: string }> {
  if (!record || record.blocking) return []
  const warnings = record.findings.map(finding => ({
    title: `task safety: ${TITLES[finding.id]}`,
    message: `${finding.happens}\nFix: ${finding.fix}`
  }))
  if (record.check.error !== undefined) {
    warnings.push({
      title: 'task safety: not checked',
      message: `The worker's Celery settings could not be read: ${record.check.error}`
    })
  }
  return warnings
}

export function renderTaskSafety(record: TaskSafetyRecord, redact: Redact): string {
  const parts = [`### Task safety (${record.mode})`]
  const { check, stop } = record
  const stopping = `the worker gets ${stop.graceSeconds} s to stop (terminationGracePeriodSeconds), preStop: ${preStopText(record)}`
  if (check.settings) {
    const s = check.settings
    parts.push(
      inline(
        redact(
          `Read in pod ${check.pod}: Celery ${s.celery} (kombu ${s.kombu}), ${s.tasksTotal} registered tasks, broker ${s.transport ?? 'unknown'}; ${stopping}.`
        )
      )
    )
  } else {
    parts.push(inline(redact(`Not checked: ${check.skipped ?? check.error ?? 'no report'}; ${stopping}.`)))
  }
  if (record.findings.length > 0) {
    parts.push(
      record.findings
        .map(
          f =>
            `- ⚠️ **${inline(TITLES[f.id])}** (${inline(redact(f.tasks))}): ${inline(redact(f.happens))}\n  - **Fix:** ${inline(redact(f.fix))}`
        )
        .join('\n')
    )
  } else if (check.settings) {
    parts.push('No way found in which these settings lose or repeat tasks on a deploy.')
  }
  if (check.settings) parts.push(details('The settings compared', settingsTable(record, redact)))
  if (record.oldWorkersLine || record.oldWorkersNote) {
    parts.push('#### How the old workers stopped')
    if (record.oldWorkersLine) parts.push(inline(record.oldWorkersLine))
    if (record.oldWorkers.length > 0) {
      parts.push(
        table(
          ['pod', 'how', 'time from the stop', 'exit code'],
          record.oldWorkers.map(s => [
            s.pod,
            HOW[s.how],
            s.seconds !== undefined ? `${s.seconds} s` : '',
            s.exitCode !== undefined ? String(s.exitCode) : ''
          ])
        )
      )
    }
    if (record.oldWorkersNote) parts.push(inline(record.oldWorkersNote))
  }
  const queues = queuesSection(record.queues.before, record.queues.after, redact)
  if (queues) parts.push(queues)
  return parts.join('\n\n')
}

const HOW: Record<TaskSafetyRecord['oldWorkers'][number]['how'], string> = {
  drained: 'drained (warm shutdown, exit 0)',
  exited: 'exited before the deadline',
  killed: 'killed at the grace deadline',
  stopping: 'still stopping',
  unknown: 'gone, no final state'
}

function preStopText(record: TaskSafetyRecord): string {
  const preStop = record.stop.preStop
  switch (preStop.kind) {
    case 'none':
      return 'none (the kubelet sends SIGTERM to PID 1)'
    case 'signals-main':
      return 'signals the main worker process (warm shutdown)'
    case 'signals-pool':
      return 'signals every matching process, the pool too'
    case 'sleeps':
      return `sleeps ${preStop.sleepSeconds ?? '?'} s first (${record.stop.drainSeconds} s left for the tasks)`
    default:
      return preStop.command ? `${preStop.command}` : 'not understood'
  }
}

function settingsTable(record: TaskSafetyRecord, redact: Redact): string {
  const s = record.check.settings!
  const options = record.stop.options
  const overrides = (pick: (t: (typeof s.tasks)[number]) => boolean): string => {
    const differing = s.tasks.filter(pick).length
    return differing > 0 ? ` (${differing} task${differing === 1 ? '' : 's'} differ)` : ''
  }
  const seconds = (value: number | undefined): string => (value === undefined ? 'none' : `${value} s`)
  const rows: string[][] = [
    ['task_acks_late', `${onOff(s.acksLate)}${overrides(t => t.acksLate !== s.acksLate)}`],
    [
      'task_reject_on_worker_lost',
      `${onOff(s.rejectOnWorkerLost)}${overrides(t => t.rejectOnWorkerLost !== s.rejectOnWorkerLost)}`
    ],
    [
      'task_time_limit',
      `${seconds(options.timeLimit ?? s.timeLimit)}${options.timeLimit !== undefined ? ' (--time-limit)' : ''}${overrides(t => t.timeLimit !== undefined)}`
    ],
    [
      'task_soft_time_limit',
      `${seconds(options.softTimeLimit ?? s.softTimeLimit)}${overrides(t => t.softTimeLimit !== undefined)}`
    ],
    [
      'visibility_timeout',
      s.visibilityTimeout === undefined
        ? 'none (not a Redis or SQS broker)'
        : `${s.visibilityTimeout} s${s.visibilityTimeoutSet ? '' : ' (the default)'}`
    ],
    ['worker_prefetch_multiplier', String(options.prefetchMultiplier ?? s.prefetchMultiplier)],
    [
      'pool, concurrency',
      `${options.pool ?? s.pool}, ${options.concurrency ?? s.concurrency ?? `${s.cpuCount ?? '?'} (CPUs)`}`
    ],
    [
      'worker_soft_shutdown_timeout',
      s.softShutdownSupported
        ? seconds(s.softShutdownTimeout)
        : `${s.softShutdownTimeout !== undefined ? `${s.softShutdownTimeout} s, ` : ''}not in Celery ${s.celery} (5.5+)`
    ],
    ['REMAP_SIGTERM', s.remapSigterm ?? 'not set'],
    ['terminationGracePeriodSeconds', `${record.stop.graceSeconds} s`],
    ['preStop', preStopText(record)]
  ]
  return table(
    ['setting', 'value'],
    rows.map(([name, value]) => [name, redact(value)])
  )
}

function onOff(value: boolean): string {
  return value ? 'on' : 'off'
}

function queuesSection(
  before: QueueReading | undefined,
  after: QueueReading | undefined,
  redact: Redact
): string | undefined {
  if (!before && !after) return undefined
  const parts = ['#### Queues before and after']
  const names = [...new Set([...(before?.queues ?? []), ...(after?.queues ?? [])].map(q => q.name))]
  const waiting = (reading: QueueReading | undefined, name: string): string => {
    if (!reading) return '–'
    if (!reading.ok) return 'not read'
    const queue = reading.queues.find(q => q.name === name)
    if (!queue) return '–'
    const steps = Object.entries(queue.byPriority).filter(([step]) => step !== '0')
    return steps.length > 0
      ? `${queue.waiting} (priority ${steps.map(([step, n]) => `${step}: ${n}`).join(', ')})`
      : String(queue.waiting)
  }
  const unacked = (reading: QueueReading | undefined): string =>
    !reading ? '–' : !reading.ok || reading.unacked === undefined ? 'not read' : String(reading.unacked)
  if (names.length > 0 || before?.ok || after?.ok) {
    parts.push(
      table(
        ['queue', 'waiting before', 'waiting after'],
        [
          ...names.map(name => [name, waiting(before, name), waiting(after, name)]),
          ['reserved, not acknowledged (unacked)', unacked(before), unacked(after)]
        ]
      )
    )
  }
  const notes: string[] = []
  if (before?.ok && after?.ok)
    notes.push(
      `Read ${Math.round((after.atMs - before.atMs) / 1000)} s apart, before in pod ${before.pod} (the release before), after in pod ${after.pod}.`
    )
  if (!before) notes.push('Before: no worker pod was running to read them in.')
  else if (!before.ok) notes.push(`Before: not read: ${before.error ?? ''}`)
  if (!after) notes.push('After: not read.')
  else if (!after.ok) notes.push(`After: not read: ${after.error ?? ''}`)
  parts.push(inline(redact(notes.join(' '))))
  return parts.join('\n\n')
}
