// Smoke checks run with `kubectl exec` in a ready pod after a rollout. This module only builds the commands and
// reads their output; the kubectl runner executes them.
//
// Choices, and why:
// - Everything but celery-ping runs `python3 -c <snippet>`: a Django image always has python3 (official python
//   images, Debian's python3 and virtualenvs all provide that name; plain `python` is missing without
//   python-is-python3), it has the app's database driver, and it needs neither a shell nor procps.
// - Process checks read /proc in Python instead of `pgrep -f`: slim images lack pgrep, and through `sh -c` the
//   pattern would match the shell's own command line and always pass.
// - celery-ping goes through `sh -c` for one reason: the node name is celery@<pod hostname> ($HOSTNAME, which
//   Kubernetes sets to the pod name); the app name and timeout are passed as positional parameters, never
//   pasted into the script. It assumes the worker keeps Celery's default node name (celery@%h).
import { deflateSync } from 'node:zlib'
import { BATCH_KEY, BATCH_PY } from './smoke-scripts/batch.js'
import { DATABASE_CHECK_PY } from './smoke-scripts/database.js'
import { PROCESS_CHECK_PY } from './smoke-scripts/process.js'
import { REDIS_CHECK_PY } from './smoke-scripts/redis.js'

export type SmokeCheckName =
  | 'worker-process'
  | 'beat-process'
  | 'database'
  | 'redis'
  | 'celery-ping'
  // Not a smoke check: the task-safety check (task-safety.ts) rides in the worker's batch.
  | 'task-safety'

export interface SmokeCheckSpec {
  name: SmokeCheckName
  // Which Deployment's pod the check runs in.
  target: 'worker' | 'beat'
  container: string
  argv: string[]
  // The check's own budget; give kubectl exec a little more (see smokeExecTimeoutMs).
  timeoutSeconds: number
  describe: string
  // Characters of stdout the batch keeps, for a check whose one-line report is longer than the usual 8,000.
  outputLimit?: number
  // The check's JSON report is kept on its result (for a caller that reads more than ok and detail).
  keepReport?: boolean
}

export interface SmokeCheckResult {
  name: SmokeCheckName
  pod: string
  ok: boolean
  // Not run, and not a failure: the worker is scaled to zero (KEDA), so there is no pod to run it in.
  skipped?: boolean
  durationMs: number
  detail: string
  // The check's own JSON report, when its spec asks to keep it.
  report?: Record<string, unknown>
}

export const DEFAULT_SMOKE_TIMEOUT_SECONDS = 10
export const APP_CONTAINER = 'app'
// `celery inspect` first imports the Django project, which takes seconds on its own.
const CELERY_STARTUP_SECONDS = 30
// Room for kubectl itself (API round trips, exec upgrade) on top of the check's budget.
const EXEC_OVERHEAD_SECONDS = 15
export const WORKER_PROCESS_PATTERN = 'celery.*worker'
export const BEAT_PROCESS_PATTERN = 'celery.*beat'

const CELERY_PING_SCRIPT =
  'exec celery -A "$1" inspect ping --json -d "celery@${HOSTNAME:-$(hostname)}" --timeout "$2"'

export function buildSmokeChecks(o: {
  celeryApp: string
  beat: boolean
  database: boolean
  redis: boolean
  celeryPing: boolean
  timeoutSeconds?: number
}): SmokeCheckSpec[] {
  const timeout = o.timeoutSeconds ?? DEFAULT_SMOKE_TIMEOUT_SECONDS
  if (!Number.isFinite(timeout) || timeout <= 0) {
    throw new Error(`smoke check timeout must be a positive number of seconds (got ${timeout})`)
  }
  const seconds = String(timeout)
  const checks: SmokeCheckSpec[] = [
    {
      name: 'worker-process',
      target: 'worker',
      container: APP_CONTAINER,
      argv: ['python3', '-c', PROCESS_CHECK_PY, seconds, WORKER_PROCESS_PATTERN],
      timeoutSeconds: timeout,
      describe: `a process matching ${WORKER_PROCESS_PATTERN} runs in the worker pod`
    }
  ]
  if (o.beat) {
    checks.push({
      name: 'beat-process',
      target: 'beat',
      container: APP_CONTAINER,
      argv: ['python3', '-c', PROCESS_CHECK_PY, seconds, BEAT_PROCESS_PATTERN],
      timeoutSeconds: timeout,
      describe: `a process matching ${BEAT_PROCESS_PATTERN} runs in the beat pod`
    })
  }
  if (o.database) {
    checks.push({
      name: 'database',
      target: 'worker',
      container: APP_CONTAINER,
      argv: ['python3', '-c', DATABASE_CHECK_PY, seconds],
      timeoutSeconds: timeout,
      describe: 'DATABASE_URL accepts a connection and SELECT 1 (psycopg 3 or psycopg2)'
    })
  }
  if (o.redis) {
    checks.push({
      name: 'redis',
      target: 'worker',
      container: APP_CONTAINER,
      argv: ['python3', '-c', REDIS_CHECK_PY, seconds],
      timeoutSeconds: timeout,
      describe: 'REDIS_URL answers PING'
    })
  }
  if (o.celeryPing) {
    checks.push({
      name: 'celery-ping',
      target: 'worker',
      container: APP_CONTAINER,
      argv: ['sh', '-c', CELERY_PING_SCRIPT, 'celery-ping', o.celeryApp, seconds],
      timeoutSeconds: timeout + CELERY_STARTUP_SECONDS,
      describe: `celery -A ${o.celeryApp} inspect ping answers from this pod's worker node`
    })
  }
  return checks
}

// The `kubectl` arguments (after the runner's --kubeconfig) that run one check in one pod.
export function smokeExecArgs(spec: SmokeCheckSpec, pod: string, namespace: string): string[] {
  return ['exec', '-n', namespace, pod, '-c', spec.container, '--', ...spec.argv]
}

export function smokeExecTimeoutMs(spec: SmokeCheckSpec): number {
  return (spec.timeoutSeconds + EXEC_OVERHEAD_SECONDS) * 1000
}

// Python checks of one pod share one `kubectl exec` (smoke-scripts/batch.ts): one kubectl process and one
// exec round trip for the worker's process, database and Redis checks instead of three. celery-ping stays on
// its own: it needs a shell, not python3.
export function canShareExec(spec: SmokeCheckSpec): boolean {
  return spec.argv[0] === 'python3'
}

export function batchExecArgs(specs: SmokeCheckSpec[], pod: string, namespace: string): string[] {
  const checks = specs.map(s => ({
    name: s.name,
    argv: s.argv,
    timeout: s.timeoutSeconds,
    ...(s.outputLimit !== undefined ? { limit: s.outputLimit } : {})
  }))
  return [
    'exec',
    '-n',
    namespace,
    pod,
    '-c',
    specs[0].container,
    '--',
    'python3',
    '-c',
    BATCH_PY,
    encodeBatch(checks)
  ]
}

// The checks as the batch script reads them (see smoke-scripts/batch.ts for why compressed).
export function encodeBatch(
  checks: Array<{ name: string; argv: string[]; timeout: number; limit?: number }>
): string {
  return deflateSync(Buffer.from(JSON.stringify(checks), 'utf8')).toString('base64')
}

export function batchExecTimeoutMs(specs: SmokeCheckSpec[]): number {
  return Math.max(...specs.map(smokeExecTimeoutMs))
}

export interface CheckRun {
  exitCode: number
  stdout: string
  stderr: string
  timedOut: boolean
}

// Each check's exit code and output, from the batch's report. Without one (no python3 in the image, the exec
// itself failed), every check gets what the exec gave, as if it had been exec'd alone.
export function splitBatchOutput(
  specs: SmokeCheckSpec[],
  exitCode: number,
  stdout: string,
  stderr: string
): CheckRun[] {
  const report = batchReport(stdout)
  return specs.map(spec => {
    const own = report?.find(r => r.name === spec.name)
    if (!own) return { exitCode, stdout, stderr, timedOut: false }
    return {
      exitCode: typeof own.exit === 'number' ? own.exit : -1,
      stdout: String(own.stdout ?? ''),
      stderr: String(own.stderr ?? ''),
      timedOut: own.timed_out === true
    }
  })
}

interface BatchEntry {
  name?: unknown
  exit?: unknown
  stdout?: unknown
  stderr?: unknown
  timed_out?: unknown
}

function batchReport(stdout: string): BatchEntry[] | undefined {
  const report = lastJsonLine(stdout, parsed => Array.isArray(parsed[BATCH_KEY]))
  return report?.[BATCH_KEY] as BatchEntry[] | undefined
}

// The last line of the output that is a JSON object `accept` takes: a report printed after other output.
function lastJsonLine(
  stdout: string,
  accept: (parsed: Record<string, unknown>) => boolean
): Record<string, unknown> | undefined {
  const lines = stdout.split('\n').map(line => line.trim())
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i].startsWith('{')) continue
    try {
      const parsed: unknown = JSON.parse(lines[i])
      if (parsed && typeof parsed === 'object' && accept(parsed as Record<string, unknown>)) {
        return parsed as Record<string, unknown>
      }
    } catch {
      // not our line
    }
  }
  return undefined
}

interface SnippetReport {
  ok: boolean
  error?: string
  [field: string]: unknown
}

export function interpretSmokeOutput(
  spec: SmokeCheckSpec,
  exitCode: number,
  stdout: string,
  stderr: string
): { ok: boolean; detail: string } {
  const verdict =
    spec.name === 'celery-ping'
      ? interpretCeleryPing(exitCode, stdout, stderr)
      : interpretSnippet(spec, exitCode, stdout, stderr)
  return { ok: verdict.ok, detail: withinDetailLimit(redactUrlCredentials(verdict.detail)) }
}

function interpretSnippet(
  spec: SmokeCheckSpec,
  exitCode: number,
  stdout: string,
  stderr: string
): { ok: boolean; detail: string } {
  const report = lastJsonReport(stdout)
  if (!report) return { ok: false, detail: noReportDetail(spec, exitCode, stdout, stderr) }
  if (!report.ok) return { ok: false, detail: String(report.error ?? `failed (exit ${exitCode})`) }
  if (exitCode !== 0) return { ok: false, detail: `reported success but exited ${exitCode}` }
  return { ok: true, detail: successDetail(spec.name, report) }
}

function successDetail(name: SmokeCheckName, report: SnippetReport): string {
  const ms = typeof report.ms === 'number' ? ` in ${report.ms} ms` : ''
  switch (name) {
    case 'database':
      return `SELECT 1 via ${String(report.driver)} on PostgreSQL ${String(report.server_version)}${ms}`
    case 'task-safety':
      return `Celery ${String(report.celery)}, ${Number(report.tasks_total)} registered tasks, broker ${String(report.transport)}${ms}`
    case 'redis': {
      const tls = report.tls === true ? 'TLS, ' : ''
      return `PONG from ${String(report.server)} (${tls}db ${String(report.db)})${ms}`
    }
    default: {
      const count = Number(report.count)
      const pids = Array.isArray(report.pids) ? report.pids.join(', ') : ''
      return `${count} process${count === 1 ? '' : 'es'} (pid ${pids}): ${String(report.command)}`
    }
  }
}

function noReportDetail(spec: SmokeCheckSpec, exitCode: number, stdout: string, stderr: string): string {
  const output = `${stderr}\n${stdout}`
  if (exitCode === 127 || /executable file not found|exec: "python3"|python3: not found/i.test(output)) {
    return `python3 is not available in container "${spec.container}" (exit ${exitCode}): ${lastLine(output)}`
  }
  return `no result from the check (exit ${exitCode})${lastLine(output) ? `: ${lastLine(output)}` : ''}`
}

// The snippet's one JSON report line ({"ok": ...}), if it printed one.
export function lastJsonReport(stdout: string): SnippetReport | undefined {
  return lastJsonLine(stdout, parsed => typeof parsed.ok === 'boolean') as SnippetReport | undefined
}

// `celery inspect ping --json` prints {"celery@pod": {"ok": "pong"}}; without --json support, text:
// "->  celery@pod: OK\n        pong". No reply: "Error: No nodes replied within time constraint", exit 69.
function interpretCeleryPing(
  exitCode: number,
  stdout: string,
  stderr: string
): { ok: boolean; detail: string } {
  const output = `${stdout}\n${stderr}`
  if (exitCode === 0) {
    const replied = pongNodesFromJson(stdout) ?? pongNodesFromText(stdout)
    if (replied.length > 0) return { ok: true, detail: `${replied.join(', ')} replied pong` }
  }
  if (/No nodes replied/i.test(output)) {
    return { ok: false, detail: `no worker node replied to celery inspect ping (exit ${exitCode})` }
  }
  if (exitCode === 127 || /celery: not found|executable file not found/i.test(output)) {
    return { ok: false, detail: `celery is not available in the container (exit ${exitCode})` }
  }
  const last = lastLine(output)
  return { ok: false, detail: `celery inspect ping failed (exit ${exitCode})${last ? `: ${last}` : ''}` }
}

function pongNodesFromJson(stdout: string): string[] | undefined {
  for (const line of stdout.split('\n').reverse()) {
    const trimmed = line.trim()
    if (!trimmed.startsWith('{')) continue
    try {
      const replies = JSON.parse(trimmed) as Record<string, { ok?: unknown }>
      return Object.entries(replies)
        .filter(([, reply]) => reply && reply.ok === 'pong')
        .map(([node]) => node)
    } catch {
      // not JSON
    }
  }
  return undefined
}

function pongNodesFromText(stdout: string): string[] {
  const nodes: string[] = []
  const pattern = /->[ \t]+(\S+):[ \t]+OK[ \t]*\n[ \t]*pong/g
  for (let match = pattern.exec(stdout); match; match = pattern.exec(stdout)) nodes.push(match[1])
  return nodes
}

// Output from the app can carry connection URLs (a traceback, a command line); keep user names, drop passwords.
// What /([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/gi replaces, in one pass: that pattern retries its scheme from
// every letter of a long word (quadratic: 400,000 letters from a pod held the run for minutes).
export function redactUrlCredentials(text: string): string {
  let out = ''
  let copied = 0
  for (let at = text.indexOf('://'); at >= 0; at = text.indexOf('://', at + 3)) {
    // The scheme: the letters, digits, + . - before `://`, starting at a letter.
    let start = at
    while (start > copied && isSchemeChar(text[start - 1])) start--
    while (start < at && !isLetter(text[start])) start++
    if (start === at) continue
    // The user information: up to `@`, with no `/`, `@` or white space before it.
    const from = at + 3
    let end = from
    while (end < text.length && text[end] !== '/' && text[end] !== '@' && !/\s/.test(text[end])) end++
    if (text[end] !== '@') continue
    const userinfo = text.slice(from, end)
    const colon = userinfo.indexOf(':')
    out += text.slice(copied, from) + (colon >= 0 ? `${userinfo.slice(0, colon)}:***` : '***') + '@'
    copied = end + 1
    at = end + 1 - 3
  }
  return out + text.slice(copied)
}

function isLetter(ch: string): boolean {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
}

function isSchemeChar(ch: string): boolean {
  return isLetter(ch) || (ch >= '0' && ch <= '9') || ch === '+' || ch === '.' || ch === '-'
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map(line => line.trim())
    .filter(line => line !== '')
  return lines[lines.length - 1] ?? ''
}

// A detail is one line of a check's output, redacted by whoever shows it. Never cut here (a cut before
// redaction could leave part of a secret that redaction no longer recognises): a line too long to show is
// left out whole.
export const MAX_DETAIL_CHARS = 2000

function withinDetailLimit(text: string): string {
  return text.length > MAX_DETAIL_CHARS
    ? `(a line of ${text.length} characters, too long to show; the check's output is in the pod)`
    : text
}
