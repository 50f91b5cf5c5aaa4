// Compares the worker's Celery settings with how Kubernetes stops its pods, and says, for each way tasks would be
// lost or run twice on the next deploy, which tasks, what happens to them, and the setting that fixes it. Pure.
//
// How a deploy stops an old worker (what the findings assume; each claim is run against a real Celery worker in
// __tests__/smoke/celery-shutdown.test.ts): the pod is deleted, the preStop hook runs, the kubelet sends SIGTERM to
// PID 1, and after terminationGracePeriodSeconds it kills whatever is left (SIGKILL, exit 137). SIGTERM to the
// main Celery process is a warm shutdown: it stops taking tasks, finishes the running ones and exits 0. A task
// is acknowledged when it starts unless acks_late is on; a message not acknowledged when its worker is killed
// stays in kombu's `unacked` hash on Redis and is delivered again once visibility_timeout has passed since it
// was reserved.

import type { CelerySettings, TaskSettings, WorkerStopFacts } from './task-safety-settings.js'

export type TaskSafetyFindingId =
  | 'prestop-signals-pool'
  | 'cold-shutdown-on-sigterm'
  | 'soft-shutdown-inactive'
  | 'soft-shutdown-beyond-grace'
  | 'sigterm-not-to-worker'
  | 'lost-at-grace'
  | 'rerun-after-grace'
  | 'visibility-timeout-short'
  | 'prefetch'
  | 'killed-workers'

export interface TaskSafetyFinding {
  id: TaskSafetyFindingId
  // The tasks it concerns, for people: "every task (12)", or names.
  tasks: string
  // What happens on the next deploy.
  happens: string
  // The setting or template change that fixes it.
  fix: string
}

// Time the worker needs after its last task to close its connections (and requeue what it reserved).
const CLOSE_SECONDS = 10
const SHOWN_TASKS = 5
const REDIS_TRANSPORTS = ['redis', 'rediss', 'sentinel']
const VISIBILITY_TRANSPORTS = [...REDIS_TRANSPORTS, 'sqs']
// Pools that enforce a hard time limit (solo and threads ignore it).
const LIMITING_POOLS = ['prefork', 'processes', 'gevent', 'eventlet']

// One task as the worker runs it: its own settings over the worker's options over the app's.
interface EffectiveTask {
  name: string
  acksLate: boolean
  rejectOnWorkerLost: boolean
  // Enforced hard limit in seconds; undefined: none.
  limit?: number
  softLimit?: number
}

export function effectiveTasks(settings: CelerySettings, stop: WorkerStopFacts): EffectiveTask[] {
  const pool = stop.options.pool ?? settings.pool
  const enforced = LIMITING_POOLS.includes(pool)
  const limitOf = (task: Partial<TaskSettings>): number | undefined => {
    const limit = task.timeLimit ?? stop.options.timeLimit ?? settings.timeLimit
    return enforced && limit !== undefined && limit > 0 ? limit : undefined
  }
  // No task registered: what the app's defaults make of any task.
  const tasks: Array<Partial<TaskSettings> & { name: string }> =
    settings.tasks.length > 0
      ? settings.tasks
      : [{ name: '(any task)', acksLate: settings.acksLate, rejectOnWorkerLost: settings.rejectOnWorkerLost }]
  return tasks.map(task => {
    const soft = task.softTimeLimit ?? stop.options.softTimeLimit ?? settings.softTimeLimit
    return {
      name: task.name,
      acksLate: task.acksLate ?? settings.acksLate,
      rejectOnWorkerLost: task.rejectOnWorkerLost ?? settings.rejectOnWorkerLost,
      ...(limitOf(task) !== undefined ? { limit: limitOf(task) } : {}),
      ...(soft !== undefined && soft > 0 ? { softLimit: soft } : {})
    }
  })
}

export function taskSafetyFindings(settings: CelerySettings, stop: WorkerStopFacts): TaskSafetyFinding[] {
  const tasks = effectiveTasks(settings, stop)
  const findings: TaskSafetyFinding[] = []
  const total = Math.max(settings.tasksTotal, tasks.length)
  const named = (group: EffectiveTask[]): string => namesOf(group, tasks.length, total)
  // The subject of a sentence about runs: "A run of any task", "A run of app.a, app.b".
  const aRunOf = (group: EffectiveTask[]): string =>
    group.length === tasks.length && tasks.length > 1 ? 'A run of any task' : `A run of ${named(group)}`
  const drain = stop.drainSeconds
  const grace = `${stop.graceSeconds} s`
  const safeLimit = Math.max(1, drain - CLOSE_SECONDS)
  const redis = REDIS_TRANSPORTS.includes(settings.transport ?? '')
  const visibility = settings.visibilityTimeout
  const comesBack =
    redis || settings.transport === 'sqs'
      ? `delivered again only once visibility_timeout (${visibility ?? '?'} s) has passed since it was reserved, and run again from the start`
      : 'delivered again when the broker sees the connection close, and run again from the start'
  const multiplier = stop.options.prefetchMultiplier ?? settings.prefetchMultiplier

  // What a pool process dying mid-task does to each kind of task (a cold shutdown, or a signal to the pool).
  const poolDeath = (): string => {
    const early = tasks.filter(t => !t.acksLate)
    const failed = tasks.filter(t => t.acksLate && !t.rejectOnWorkerLost)
    const requeued = tasks.filter(t => t.acksLate && t.rejectOnWorkerLost)
    return [
      early.length > 0 ? `${named(early)}: lost (acknowledged when they started)` : '',
      failed.length > 0
        ? `${named(failed)}: recorded as failed with WorkerLostError and not delivered again (acks_late without task_reject_on_worker_lost)`
        : '',
      requeued.length > 0 ? `${named(requeued)}: delivered again and run from the start` : ''
    ]
      .filter(Boolean)
      .join('; ')
  }
  // A cold shutdown terminates the pool, then closes the broker connection, which puts back what was not
  // acknowledged (Celery 5.2, run in the tests): acks_late tasks return to the queue, whatever
  // reject_on_worker_lost says.
  const coldDeath = (): string => {
    const early = tasks.filter(t => !t.acksLate)
    const late = tasks.filter(t => t.acksLate)
    return [
      early.length > 0 ? `${named(early)}: lost (acknowledged when they started)` : '',
      late.length > 0 ? `${named(late)}: put back in the queue and run again from the start` : ''
    ]
      .filter(Boolean)
      .join('; ')
  }
  const poolFix =
    tasks.some(t => !t.acksLate || !t.rejectOnWorkerLost) &&
    ' (and task_acks_late = True with task_reject_on_worker_lost = True, so a task cut off is delivered again)'

  if (stop.preStop.kind === 'signals-pool') {
    findings.push({
      id: 'prestop-signals-pool',
      tasks: named(tasks),
      happens: `The preStop hook (${stop.preStop.command ?? 'pkill -f'}) sends the signal to every process whose command line matches, Celery's pool processes too: they exit at once instead of finishing their tasks, so each task running in an old worker is cut off when the deploy stops it. ${poolDeath()}.`,
      fix: `Signal only the main worker process, which then finishes its tasks: pkill -TERM -o -f '[c]elery.*worker' (-o: the oldest matching process), as the action's own template does${poolFix || ''}.`
    })
  }

  const remapped = settings.remapSigterm === 'SIGQUIT'
  const softShutdown = settings.softShutdownSupported && (settings.softShutdownTimeout ?? 0) > 0
  if (remapped && !softShutdown) {
    findings.push({
      id: 'cold-shutdown-on-sigterm',
      tasks: named(tasks),
      happens: `REMAP_SIGTERM=SIGQUIT makes SIGTERM a cold shutdown ${settings.softShutdownSupported ? 'and worker_soft_shutdown_timeout is 0' : `and Celery ${settings.celery} has no soft shutdown (5.5+)`}: each task running when the deploy stops an old worker is terminated at once. ${coldDeath()}.`,
      fix: `Remove REMAP_SIGTERM from the worker's environment (SIGTERM is then a warm shutdown that finishes running tasks)${settings.softShutdownSupported ? `, or set worker_soft_shutdown_timeout = ${safeLimit} (below the grace period)` : ''}.`
    })
  }
  if ((settings.softShutdownTimeout ?? 0) > 0 && !(settings.softShutdownSupported && remapped)) {
    findings.push({
      id: 'soft-shutdown-inactive',
      tasks: named(tasks),
      happens: settings.softShutdownSupported
        ? `worker_soft_shutdown_timeout is ${settings.softShutdownTimeout} s, but a soft shutdown follows SIGTERM only with REMAP_SIGTERM=SIGQUIT: a deploy's SIGTERM is a plain warm shutdown, which the kill at the end of the grace period (${grace}) ends with the tasks still running.`
        : `worker_soft_shutdown_timeout is set (${settings.softShutdownTimeout} s), but Celery ${settings.celery} has no soft shutdown (it came with 5.5): the setting does nothing, and a deploy's SIGTERM is a plain warm shutdown.`,
      fix: settings.softShutdownSupported
        ? "Set REMAP_SIGTERM=SIGQUIT in the worker's environment (the env input), so SIGTERM starts the soft shutdown."
        : "Upgrade to Celery 5.5 and set REMAP_SIGTERM=SIGQUIT in the worker's environment, or remove the setting and rely on the warm shutdown within the grace period."
    })
  }
  if (softShutdown && remapped && (settings.softShutdownTimeout ?? 0) >= drain) {
    findings.push({
      id: 'soft-shutdown-beyond-grace',
      tasks: named(tasks),
      happens: `The soft shutdown (worker_soft_shutdown_timeout ${settings.softShutdownTimeout} s) lasts as long as the time the pod has to stop (${drain} s): the kill comes first, before the cold shutdown that would requeue the running tasks.`,
      fix: `worker_soft_shutdown_timeout = ${safeLimit} (the grace period less ${CLOSE_SECONDS} s for the cold shutdown to requeue).`
    })
  }
  if (stop.preStop.kind === 'none' && settings.pid1CeleryWorker === false) {
    findings.push({
      id: 'sigterm-not-to-worker',
      tasks: named(tasks),
      happens: `The worker has no preStop hook and PID 1 of its container is ${settings.pid1Program ? `"${settings.pid1Program}"` : 'not the Celery worker'}: the kubelet's SIGTERM goes there, so unless it passes the signal on, Celery never starts a warm shutdown and is killed at the end of the grace period (${grace}) with every task it runs.`,
      fix: "Run celery as the container's command (command: [celery], or exec celery in a wrapper script), or add the preStop hook of the action's template: pkill -TERM -o -f '[c]elery.*worker' and wait."
    })
  }

  // Runs that can outlast the time the pod has to stop: no enforced limit, or one at or past it.
  const unbounded = (t: EffectiveTask): boolean => t.limit === undefined || t.limit >= drain
  const limitText = (group: EffectiveTask[]): string =>
    group.every(t => t.limit === undefined)
      ? (limitsIgnored(stop, settings) ?? 'no hard time limit')
      : `hard time limits up to ${Math.max(...group.map(t => t.limit ?? Infinity))} s, or none`
  const early = tasks.filter(t => !t.acksLate && unbounded(t))
  if (early.length > 0) {
    findings.push({
      id: 'lost-at-grace',
      tasks: named(early),
      happens: `${aRunOf(early)} still going ${drain} s after an old worker is told to stop is killed with it, and lost: Celery acknowledged it when it started (acks_late off; ${limitText(early)}).`,
      fix: `task_acks_late = True (or acks_late=True on these tasks), so a killed run is delivered again, and a time limit below ${drain} s (task_time_limit = ${safeLimit}, or time_limit on the task), so a run ends before the kill.`
    })
  }
  const late = tasks.filter(t => t.acksLate && unbounded(t))
  if (late.length > 0) {
    findings.push({
      id: 'rerun-after-grace',
      tasks: named(late),
      happens: `${aRunOf(late)} still going ${drain} s after an old worker is told to stop is killed with it and, with acks_late, ${comesBack} (${limitText(late)}).`,
      fix: `A time limit below ${drain} s (task_time_limit = ${safeLimit}, or time_limit on the task), or a grace period longer than the longest run: terminationGracePeriodSeconds in the worker's template (now ${stop.graceSeconds}).`
    })
  }

  if (VISIBILITY_TRANSPORTS.includes(settings.transport ?? '') && visibility !== undefined) {
    // A limit at or past the timeout, or none: a run can outlast it.
    const twice = tasks.filter(t => t.acksLate && (t.limit === undefined || t.limit >= visibility))
    if (twice.length > 0) {
      const bounded = twice.every(t => t.limit !== undefined)
      const longest = Math.max(...twice.map(t => t.limit ?? 0))
      findings.push({
        id: 'visibility-timeout-short',
        tasks: named(twice),
        happens: `${aRunOf(twice)} not acknowledged within visibility_timeout (${visibility} s) of being reserved is delivered to another worker while the first still runs it: it runs twice (${bounded ? `time limits up to ${longest} s` : 'no time limit keeps a run shorter'}).`,
        fix: bounded
          ? `broker_transport_options = {'visibility_timeout': ${longest * 2}} (longer than the longest time limit plus the time a task waits reserved).`
          : `A time limit on each of these tasks (task_time_limit, or time_limit on the task) well below visibility_timeout (${visibility} s), or broker_transport_options' visibility_timeout above the longest run plus the time a task waits reserved.`
      })
    }
  }
  if (multiplier !== 1) {
    const concurrency = stop.options.concurrency ?? settings.concurrency ?? settings.cpuCount
    const held =
      multiplier === 0
        ? 'reserves every task it can get ahead of running them (worker_prefetch_multiplier 0: no limit)'
        : `reserves up to ${concurrency ? `${multiplier * concurrency} tasks` : `${multiplier} tasks per pool process`} ahead of running them (worker_prefetch_multiplier ${multiplier}${concurrency ? ` × ${concurrency} processes` : ''})`
    findings.push({
      id: 'prefetch',
      tasks: 'tasks waiting in the queues',
      happens: `An old worker ${held}: during its warm shutdown the reserved ones wait instead of running elsewhere (up to ${grace}), and if it is killed at the end they are ${redis ? `delivered again only after visibility_timeout (${visibility ?? '?'} s)` : 'delivered again when the broker sees the connection close'}.`,
      fix: 'worker_prefetch_multiplier = 1 with task_acks_late = True (a pool process then reserves only the task it runs).'
    })
  }
  return findings
}

// Hard time limits the pool does not enforce (solo, threads) are no limit.
function limitsIgnored(stop: WorkerStopFacts, settings: CelerySettings): string | undefined {
  const pool = stop.options.pool ?? settings.pool
  const any = settings.tasks.some(t => t.timeLimit) || (stop.options.timeLimit ?? settings.timeLimit)
  return !LIMITING_POOLS.includes(pool) && any
    ? `the ${pool} pool does not enforce the hard time limits set`
    : undefined
}

// Which tasks, for people: all of them by count, else the first names. `listed` of the app's `total` tasks were
// read (the check reports at most 200).
export function namesOf(group: Array<{ name: string }>, listed: number, total: number): string {
  if (group.length === listed && listed > 1) {
    return listed === total ? `every task (${total})` : `every task read (${listed} of ${total})`
  }
  const shown = group.slice(0, SHOWN_TASKS).map(t => t.name)
  return group.length > SHOWN_TASKS
    ? `${shown.join(', ')} and ${group.length - SHOWN_TASKS} more`
    : shown.join(', ')
}

// The old workers the deploy killed at the grace deadline, when tasks they may have run had acks_late off.
export function killedWorkersFinding(
  killed: string[],
  settings: CelerySettings | undefined,
  stop: WorkerStopFacts
): TaskSafetyFinding | undefined {
  if (killed.length === 0) return undefined
  const tasks = settings ? effectiveTasks(settings, stop) : []
  const early = tasks.filter(t => !t.acksLate)
  if (settings && early.length === 0) return undefined
  const total = settings ? Math.max(settings.tasksTotal, tasks.length) : 0
  const names = namesOf(early, tasks.length, total)
  const pods = killed.length === 1 ? `pod ${killed[0]}` : `pods ${killed.join(', ')}`
  return {
    id: 'killed-workers',
    tasks: settings ? names : 'unknown (the task-safety check did not run)',
    happens: `${killed.length} old worker${killed.length === 1 ? ' was' : 's were'} killed at the end of the grace period (${stop.graceSeconds} s) during this deploy (${pods}): ${settings ? `the runs of ${names} they had started are lost (acks_late off)` : 'whether the tasks they ran are lost depends on acks_late, which was not read'}.`,
    fix: `task_acks_late = True (or acks_late=True on those tasks), and time limits below ${Math.max(1, stop.drainSeconds - CLOSE_SECONDS)} s so a warm shutdown finishes them.`
  }
}
