// The two sides the task-safety check compares, as plain values: what the worker's Celery app says (the report
// of smoke-scripts/task-safety.ts, read in a new worker pod, checked field by field here since a pod may print
// anything) and how Kubernetes stops the worker (the rendered Deployment: its grace period, its preStop hook,
// the worker's command-line options, which override the app's settings).

import { isRecord, type KubeObject } from '../k8s/kube-object.js'
import { appContainerOf, podSpecOf } from '../render/workload.js'

export interface TaskSettings {
  name: string
  acksLate: boolean
  rejectOnWorkerLost: boolean
  // The task's own limits in seconds (undefined: the worker's default applies).
  timeLimit?: number
  softTimeLimit?: number
}

export interface CelerySettings {
  celery: string
  kombu: string
  // Celery 5.5 or later: worker_soft_shutdown_timeout exists.
  softShutdownSupported: boolean
  acksLate: boolean
  rejectOnWorkerLost: boolean
  timeLimit?: number
  softTimeLimit?: number
  // 0 means no limit at all.
  prefetchMultiplier: number
  concurrency?: number
  cpuCount?: number
  pool: string
  softShutdownTimeout?: number
  remapSigterm?: string
  // The broker transport's name (redis, rediss, sentinel, sqs, amqp, ...).
  transport?: string
  // What the transport uses: broker_transport_options' visibility_timeout, else the transport's default.
  visibilityTimeout?: number
  visibilityTimeoutSet: boolean
  pid1CeleryWorker?: boolean
  pid1Program?: string
  tasks: TaskSettings[]
  tasksTotal: number
  problems: string[]
}

const MAX_TASKS = 200
const MAX_PROBLEMS = 5

// The check's report, or why it cannot be read. Anything of the wrong type is refused, not guessed at.
export function parseCelerySettings(report: Record<string, unknown>): CelerySettings | string {
  const conf = report.conf
  if (!isRecord(conf)) return 'the report has no settings'
  const problem = (field: string) => `the report's ${field} is not what the check prints`
  const tasks: TaskSettings[] = []
  if (!Array.isArray(report.tasks)) return problem('tasks')
  for (const entry of report.tasks.slice(0, MAX_TASKS)) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') return problem('tasks')
    const [name, acksLate, reject, timeLimit, softTimeLimit] = entry as unknown[]
    tasks.push({
      name: name as string,
      acksLate: acksLate === true,
      rejectOnWorkerLost: reject === true,
      ...optionalSeconds('timeLimit', timeLimit),
      ...optionalSeconds('softTimeLimit', softTimeLimit)
    })
  }
  const multiplier = seconds(conf.worker_prefetch_multiplier)
  const timeout = seconds(report.visibility_timeout)
  const timeoutDefault = seconds(report.visibility_timeout_default)
  return {
    celery: text(report.celery) ?? 'unknown',
    kombu: text(report.kombu) ?? 'unknown',
    softShutdownSupported: report.soft_shutdown_supported === true,
    acksLate: conf.task_acks_late === true,
    rejectOnWorkerLost: conf.task_reject_on_worker_lost === true,
    ...optionalSeconds('timeLimit', conf.task_time_limit),
    ...optionalSeconds('softTimeLimit', conf.task_soft_time_limit),
    // Celery's default is 4.
    prefetchMultiplier: multiplier ?? 4,
    ...optionalSeconds('concurrency', conf.worker_concurrency),
    ...optionalSeconds('cpuCount', report.cpu_count),
    pool: text(conf.worker_pool) ?? 'prefork',
    ...optionalSeconds('softShutdownTimeout', conf.worker_soft_shutdown_timeout),
    ...(text(report.remap_sigterm) ? { remapSigterm: text(report.remap_sigterm) } : {}),
    ...(text(report.transport) ? { transport: text(report.transport) } : {}),
    ...((timeout ?? timeoutDefault) !== undefined ? { visibilityTimeout: timeout ?? timeoutDefault } : {}),
    visibilityTimeoutSet: timeout !== undefined,
    ...(typeof report.pid1_celery_worker === 'boolean'
      ? { pid1CeleryWorker: report.pid1_celery_worker }
      : {}),
    ...(text(report.pid1_program) ? { pid1Program: text(report.pid1_program) } : {}),
    tasks,
    tasksTotal:
      typeof report.tasks_total === 'number' && report.tasks_total >= tasks.length
        ? Math.floor(report.tasks_total)
        : tasks.length,
    problems: (Array.isArray(report.problems) ? report.problems : [])
      .filter((p): p is string => typeof p === 'string')
      .slice(0, MAX_PROBLEMS)
  }
}

function seconds(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined
}

function optionalSeconds<K extends string>(key: K, value: unknown): Partial<Record<K, number>> {
  const number = seconds(value)
  return number === undefined ? {} : ({ [key]: number } as Record<K, number>)
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

// How the worker's pods are stopped, from the rendered Deployment.
export interface WorkerStopFacts {
  deployment: string
  // terminationGracePeriodSeconds (Kubernetes' default: 30).
  graceSeconds: number
  preStop: PreStopFacts
  // How long tasks can run after the stop begins: the grace period less a preStop that sleeps first.
  drainSeconds: number
  // The worker's own options, which override the app's settings.
  options: WorkerOptions
}

export interface PreStopFacts {
  kind:
    | 'none'
    // signals only the main worker process (pkill -o / --oldest, kill 1): a warm shutdown
    | 'signals-main'
    // signals every process matching a pattern, Celery's pool processes too (pkill -f without -o)
    | 'signals-pool'
    // sleeps before anything else
    | 'sleeps'
    | 'other'
  // The command as it is written, for the finding (at most 300 characters).
  command?: string
  sleepSeconds?: number
}

export interface WorkerOptions {
  timeLimit?: number
  softTimeLimit?: number
  prefetchMultiplier?: number
  concurrency?: number
  pool?: string
}

const DEFAULT_GRACE_SECONDS = 30

export function workerStopFacts(deployment: KubeObject): WorkerStopFacts {
  const podSpec = podSpecOf(deployment)
  const grace = podSpec?.terminationGracePeriodSeconds
  const graceSeconds = typeof grace === 'number' && grace >= 0 ? grace : DEFAULT_GRACE_SECONDS
  const app = podSpec ? appContainerOf(podSpec) : undefined
  const preStop = preStopOf(app?.lifecycle)
  return {
    deployment: deployment.metadata.name,
    graceSeconds,
    preStop,
    drainSeconds: Math.max(0, graceSeconds - (preStop.sleepSeconds ?? 0)),
    options: workerOptions((app?.args ?? []).map(String))
  }
}

function preStopOf(lifecycle: unknown): PreStopFacts {
  const hook = isRecord(lifecycle) && isRecord(lifecycle.preStop) ? lifecycle.preStop : undefined
  if (!hook) return { kind: 'none' }
  if (isRecord(hook.sleep) && typeof hook.sleep.seconds === 'number') {
    return { kind: 'sleeps', command: `sleep ${hook.sleep.seconds}`, sleepSeconds: hook.sleep.seconds }
  }
  const argv = isRecord(hook.exec) && Array.isArray(hook.exec.command) ? hook.exec.command.map(String) : []
  if (argv.length === 0) return { kind: 'other', command: isRecord(hook.httpGet) ? 'an HTTP GET' : undefined }
  // `sh -c SCRIPT` is read as its script; any other argv as its words.
  const shell = ['sh', 'bash', '/bin/sh', '/bin/bash'].includes(argv[0]) && argv[1] === '-c'
  const script = shell ? (argv[2] ?? '') : argv.join(' ')
  const command = script.length > 300 ? `${script.slice(0, 300)}…` : script
  const words = script.split(/[\s;&|()]+/).filter(Boolean)
  const sleep = words[0] === 'sleep' ? Number(words[1]) : NaN
  if (Number.isFinite(sleep) && sleep > 0) return { kind: 'sleeps', command, sleepSeconds: sleep }
  const pkill = words.indexOf('pkill')
  if (pkill >= 0) {
    const options = words.slice(pkill + 1).filter(w => w.startsWith('-'))
    const one = options.some(o => ['-o', '--oldest', '-n', '--newest'].includes(o) || /^-[a-zA-Z]*o/.test(o))
    const pattern = options.some(o => o === '-f' || o === '--full' || /^-[a-zA-Z]*f/.test(o))
    const parent = options.some(o => o === '-P' || o === '--parent')
    return { kind: pattern && !one && !parent ? 'signals-pool' : 'signals-main', command }
  }
  if (words[0] === 'kill' && words.at(-1) === '1') return { kind: 'signals-main', command }
  return { kind: 'other', command }
}

// --time-limit, --soft-time-limit, --prefetch-multiplier, -c/--concurrency, -P/--pool; as "--x v" or "--x=v".
function workerOptions(args: string[]): WorkerOptions {
  const value = (short: string | undefined, long: string): string | undefined => {
    for (let i = 0; i < args.length; i++) {
      if (args[i] === long || (short !== undefined && args[i] === short)) return args[i + 1]
      if (args[i].startsWith(`${long}=`)) return args[i].slice(long.length + 1)
    }
    return undefined
  }
  const numberOf = (text: string | undefined): number | undefined => {
    const n = text === undefined ? NaN : Number(text)
    return Number.isFinite(n) && n >= 0 ? n : undefined
  }
  const options: WorkerOptions = {}
  const timeLimit = numberOf(value(undefined, '--time-limit'))
  const softTimeLimit = numberOf(value(undefined, '--soft-time-limit'))
  const prefetch = numberOf(value(undefined, '--prefetch-multiplier'))
  const concurrency = numberOf(value('-c', '--concurrency'))
  const pool = value('-P', '--pool')
  if (timeLimit !== undefined) options.timeLimit = timeLimit
  if (softTimeLimit !== undefined) options.softTimeLimit = softTimeLimit
  if (prefetch !== undefined) options.prefetchMultiplier = prefetch
  if (concurrency !== undefined) options.concurrency = concurrency
  if (pool) options.pool = pool
  return options
}
