// The one place that runs kubectl: argument arrays (never a shell), an explicit --kubeconfig, JSON parsing,
// retries with backoff on transient API/network failures, and errors that carry the command and stderr.
import { spawn } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { redactAndClip } from '../redact.js'
import { ApiAvailability } from './api-availability.js'
import {
  isAuthorizationFailure,
  isTransientKubectlFailure,
  isUnreachable,
  retryAfterHintMs
} from './transient-errors.js'

export { isTransientKubectlFailure } from './transient-errors.js'

export interface RetryPolicy {
  attempts: number
  baseDelayMs: number
  maxDelayMs: number
}

export interface KubectlOptions {
  kubeconfig: string
  bin?: string
  env?: NodeJS.ProcessEnv
  beforeCall?: () => Promise<void>
  retry?: RetryPolicy
  sleep?: (ms: number) => Promise<void>
  log?: (line: string) => void
  redact?: (text: string) => string
  // Source of jitter in [0, 1); injectable so tests can predict the delays.
  random?: () => number
  // Cancels every call: a running kubectl is killed (its whole process group), a waiting retry stops, and new
  // calls fail at once, each with a CancelledError. See withSignal().
  signal?: AbortSignal
  // Awaited before every attempt of every call, after beforeCall: the deploy lock's fence, which throws once the
  // run may no longer write (see withFence()).
  fence?: () => Promise<void>
  // Transient failures are retried until this moment (ms, by `now`) instead of a fixed number of attempts, and no
  // attempt outlives it (see withDeadline()). A function when the moment may move (nearer, once a run is
  // cancelled).
  deadlineMs?: number | (() => number)
  // A bound that stops attempts and retries without making them unlimited until then (as deadlineMs does):
  // undefined while there is none. A cancelled run's seconds.
  cutoffMs?: () => number | undefined
  // Shared by every runner derived from this one: when the API was away (for the report, and for telling a
  // restarting server's authorization answers from real ones).
  availability?: ApiAvailability
  now?: () => number
}

// The run was cancelled (the runner's SIGINT/SIGTERM, or the deploy lock lost): not a kubectl failure, and never
// retried.
export class CancelledError extends Error {
  // What the run was doing, when the code that noticed knows it better than the caller.
  during?: string
  constructor(readonly reason: string) {
    super(`cancelled (${reason})`)
    this.name = 'CancelledError'
  }
}

export function cancellationReason(signal: AbortSignal): string {
  return typeof signal.reason === 'string' ? signal.reason : 'cancelled'
}

export interface RunOptions {
  stdin?: string
  okExitCodes?: number[]
  // Decides, beyond the exit code, whether a result is an answer: `auth can-i` exits 1 both for "no" and
  // for a failed request, and only the latter may be retried.
  accept?: (result: { exitCode: number; stdout: string; stderr: string }) => boolean
  timeoutMs?: number
  retry?: boolean
}

export interface RunResult {
  stdout: string
  stderr: string
  exitCode: number
  attempts: number
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 8000 }
// Under a deadline the waits between attempts stay short: the API coming back is noticed within this.
const DEADLINE_MAX_DELAY_MS = 2000
export const DEFAULT_REQUEST_TIMEOUT = '60s'
// A server's Retry-After is honoured, but not beyond this: a deploy step must not stall for minutes.
const MAX_RETRY_AFTER_MS = 60_000
// After a timeout's SIGTERM, how long kubectl gets to exit before SIGKILL.
const KILL_GRACE_MS = 2000
const STDERR_TAIL_LINES = 12
const STDERR_TAIL_CHARS = 2000

export class KubectlError extends Error {
  readonly command: string[]
  readonly exitCode: number
  readonly stderr: string
  readonly transient: boolean
  readonly timedOut: boolean
  readonly attempts: number

  constructor(
    message: string,
    details: {
      command: string[]
      exitCode: number
      stderr: string
      transient: boolean
      timedOut?: boolean
      attempts: number
    }
  ) {
    super(message)
    this.name = 'KubectlError'
    this.command = details.command
    this.exitCode = details.exitCode
    this.stderr = details.stderr
    this.transient = details.transient
    this.timedOut = details.timedOut ?? false
    this.attempts = details.attempts
  }
}

interface AttemptOutcome {
  stdout: string
  stderr: string
  exitCode: number
  timedOut: boolean
  cancelled?: boolean
  spawnError?: Error
}

export class Kubectl {
  private readonly bin: string
  private readonly policy: RetryPolicy
  private readonly sleep: (ms: number) => Promise<void>
  private readonly log: (line: string) => void
  private readonly redact: (text: string) => string
  private readonly random: () => number
  private readonly now: () => number
  readonly availability: ApiAvailability

  constructor(private readonly opts: KubectlOptions) {
    this.bin = opts.bin ?? 'kubectl'
    this.policy = opts.retry ?? DEFAULT_RETRY
    this.sleep = opts.sleep ?? (ms => new Promise(resolve => setTimeout(resolve, ms)))
    this.log = opts.log ?? (() => {})
    this.redact = opts.redact ?? (text => text)
    this.random = opts.random ?? Math.random
    this.now = opts.now ?? Date.now
    this.availability = opts.availability ?? new ApiAvailability(this.now)
  }

  // The API groups this run's kubectl calls have discovered, from the discovery cache they share
  // (KUBECACHEDIR: discovery/<host>/servergroups.json, as client-go's disk cache writes it). undefined when
  // no call has run discovery yet, or there is no cache of the run's own: then the caller asks the server.
  async discoveredGroups(): Promise<Set<string> | undefined> {
    const cache = this.opts.env?.KUBECACHEDIR
    if (!cache) return undefined
    const root = path.join(cache, 'discovery')
    const hosts = await readdir(root).catch(() => [] as string[])
    const groups = new Set<string>()
    let found = false
    for (const host of hosts) {
      const text = await readFile(path.join(root, host, 'servergroups.json'), 'utf8').catch(() => undefined)
      if (text === undefined) continue
      try {
        for (const group of (JSON.parse(text) as { groups?: Array<{ name?: string }> }).groups ?? [])
          if (group.name !== undefined) groups.add(group.name)
        found = true
      } catch {
        return undefined
      }
    }
    return found ? groups : undefined
  }

  // The same runner, but every call it makes is cancelled by `signal`: the deploy's own calls use it, the
  // clean-up after a cancellation (rollback, releasing the lock) uses the runner without it.
  withSignal(signal: AbortSignal | undefined): Kubectl {
    return new Kubectl({ ...this.opts, availability: this.availability, signal })
  }

  // The same runner, but no attempt of any call starts before `fence` has resolved: the deploy's writes use it,
  // so that a run that lost its lock (or cannot prove it still holds it) writes nothing more.
  withFence(fence: () => Promise<void>): Kubectl {
    const outer = this.opts.fence
    return new Kubectl({
      ...this.opts,
      availability: this.availability,
      fence: outer ? async () => (await outer(), fence()) : fence
    })
  }

  // The same runner, retrying transient failures (an API server restarting, a 503, a 429) until `deadlineMs`
  // rather than a fixed number of times: a wait that has a deadline of its own (a rollout, a rollback, the
  // seconds a cancelled run has left) waits an outage out instead of failing in its first seconds.
  withDeadline(deadlineMs: number | (() => number) | undefined): Kubectl {
    return new Kubectl({ ...this.opts, availability: this.availability, deadlineMs })
  }

  // The same runner, never attempting or retrying past `cutoff` once it says a moment.
  withCutoff(cutoffMs: () => number | undefined): Kubectl {
    return new Kubectl({ ...this.opts, availability: this.availability, cutoffMs })
  }

  // The moment this runner's calls give up, if it has one: the deadline or the cutoff, whichever comes first.
  deadline(): number | undefined {
    const option = this.opts.deadlineMs
    const deadline = typeof option === 'function' ? option() : option
    const cutoff = this.opts.cutoffMs?.()
    if (deadline === undefined) return cutoff
    return cutoff === undefined ? deadline : Math.min(deadline, cutoff)
  }

  private throwIfCancelled(): void {
    const signal = this.opts.signal
    if (signal?.aborted) throw new CancelledError(cancellationReason(signal))
  }

  async run(args: string[], runOpts: RunOptions = {}): Promise<RunResult> {
    const shown = this.describe(args)
    const okExitCodes = runOpts.okExitCodes ?? [0]
    const maxAttempts =
      runOpts.retry === false
        ? 1
        : this.opts.deadlineMs !== undefined
          ? Infinity
          : Math.max(1, this.policy.attempts)

    for (let attempt = 1; ; attempt++) {
      this.throwIfCancelled()
      if (this.opts.beforeCall) await this.opts.beforeCall()
      if (this.opts.fence) await this.opts.fence()
      const deadline = this.deadline()
      const remaining = deadline === undefined ? undefined : deadline - this.now()
      if (remaining !== undefined && remaining <= 0) {
        throw new KubectlError(`${shown} not attempted: its deadline had passed`, {
          command: args,
          exitCode: -1,
          stderr: '',
          transient: true,
          timedOut: true,
          attempts: attempt - 1
        })
      }
      // Without a limit of its own, a call must not hang on a dead connection (kubectl waits forever by
      // default); a call with timeoutMs (exec, logs) is bounded by that instead, since a stream may rightly take
      // longer. Under a deadline neither may outlive it.
      const timeoutMs =
        remaining === undefined ? runOpts.timeoutMs : Math.min(runOpts.timeoutMs ?? Infinity, remaining)
      const requestTimeout =
        runOpts.timeoutMs === undefined
          ? [
              `--request-timeout=${remaining === undefined ? DEFAULT_REQUEST_TIMEOUT : `${Math.max(1, Math.min(60, Math.ceil(remaining / 1000)))}s`}`
            ]
          : []
      const argv = ['--kubeconfig', this.opts.kubeconfig, ...requestTimeout, ...args]
      this.log(`${shown} (attempt ${attempt}${Number.isFinite(maxAttempts) ? `/${maxAttempts}` : ''})`)
      const sentAt = this.now()
      const outcome = await this.spawnOnce(argv, { ...runOpts, timeoutMs })
      if (outcome.cancelled) this.throwIfCancelled()

      if (outcome.spawnError) {
        throw new KubectlError(`${shown} could not start: ${this.redact(outcome.spawnError.message)}`, {
          command: argv,
          exitCode: -1,
          stderr: '',
          transient: false,
          attempts: attempt
        })
      }
      if (outcome.timedOut) {
        // A call cut short by the deadline is an unanswered call, like any other the API left waiting.
        const cutByDeadline = runOpts.timeoutMs === undefined || timeoutMs !== runOpts.timeoutMs
        if (cutByDeadline) this.availability.noteUnavailable(sentAt)
        throw new KubectlError(
          `${shown} timed out after ${timeoutMs} ms and was killed${this.tailSuffix(outcome.stderr)}`,
          {
            command: argv,
            exitCode: outcome.exitCode,
            stderr: this.redact(outcome.stderr),
            transient: cutByDeadline,
            timedOut: true,
            attempts: attempt
          }
        )
      }
      const accepted = runOpts.accept ? runOpts.accept(outcome) : true
      const answered = okExitCodes.includes(outcome.exitCode) && accepted
      const unreachable = !answered && isUnreachable(outcome.stderr, outcome.exitCode)
      // A 401 or 403 from a server that was away a moment ago, or that is not ready, is its authorizer warming up
      // after a restart (its roles not loaded yet), not a refusal. Asked only by calls that wait out outages.
      const warmingUp =
        !answered &&
        !unreachable &&
        isAuthorizationFailure(outcome.stderr) &&
        (this.availability.recentlyUnavailable() ||
          (this.opts.deadlineMs !== undefined && (await this.serverWarmingUp())))
      if (unreachable || warmingUp) this.availability.noteUnavailable(sentAt)
      else this.availability.noteAnswer()
      if (answered) {
        return {
          stdout: outcome.stdout,
          stderr: outcome.stderr,
          exitCode: outcome.exitCode,
          attempts: attempt
        }
      }

      const transient = isTransientKubectlFailure(outcome.stderr, outcome.exitCode) || warmingUp
      const delay = transient ? this.backoffMs(attempt, outcome.stderr) : 0
      const deadlineNow = this.deadline()
      const outOfTime = deadlineNow !== undefined && this.now() + delay >= deadlineNow
      if (!transient || attempt >= maxAttempts || outOfTime) {
        const gaveUp = !transient
          ? ''
          : deadline !== undefined
            ? ` (gave up at its deadline after ${attempt} attempts)`
            : maxAttempts > 1
              ? ` (gave up after ${attempt} attempts)`
              : ''
        throw new KubectlError(
          `${shown} failed (exit ${outcome.exitCode})${gaveUp}${this.tailSuffix(outcome.stderr)}`,
          {
            command: argv,
            exitCode: outcome.exitCode,
            stderr: this.redact(outcome.stderr),
            transient,
            attempts: attempt
          }
        )
      }

      this.log(
        `${shown}: transient failure (exit ${outcome.exitCode}), retrying in ${delay} ms: ${lastLine(this.redact(outcome.stderr))}`
      )
      await this.interruptibleSleep(delay)
    }
  }

  // Whether the API server is starting: its /readyz, which every authenticated user may read once the server's
  // roles are loaded, is refused (401, 403), failing (500: a check not passed yet) or unreachable. A server that
  // answers `ok` meant its refusal.
  private async serverWarmingUp(): Promise<boolean> {
    const probe = await this.spawnOnce(
      ['--kubeconfig', this.opts.kubeconfig, '--request-timeout=5s', 'get', '--raw', '/readyz'],
      { timeoutMs: 7000 }
    )
    return !(probe.exitCode === 0 && probe.stdout.trim() === 'ok') && !probe.cancelled
  }

  private async interruptibleSleep(ms: number): Promise<void> {
    const signal = this.opts.signal
    if (!signal) return this.sleep(ms)
    await Promise.race([
      this.sleep(ms),
      new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true }))
    ])
    this.throwIfCancelled()
  }

  async json<T>(args: string[], runOpts: RunOptions = {}): Promise<T> {
    const jsonArgs = [...args, '-o', 'json']
    const result = await this.run(jsonArgs, runOpts)
    try {
      return JSON.parse(result.stdout) as T
    } catch (error) {
      const excerpt = redactAndClip(this.redact, result.stdout.trim(), 200)
      const reason = result.stdout.trim() === '' ? 'empty output' : `${(error as Error).message}: ${excerpt}`
      throw new KubectlError(`${this.describe(jsonArgs)} did not print JSON (${reason})`, {
        command: ['--kubeconfig', this.opts.kubeconfig, ...jsonArgs],
        exitCode: result.exitCode,
        stderr: this.redact(result.stderr),
        transient: false,
        attempts: result.attempts
      })
    }
  }

  // Exponential backoff with jitter (delay halved at most) so parallel callers do not retry in lockstep.
  private backoffMs(attempt: number, stderr: string): number {
    const cap =
      this.opts.deadlineMs === undefined
        ? this.policy.maxDelayMs
        : Math.min(this.policy.maxDelayMs, DEADLINE_MAX_DELAY_MS)
    const exponential = Math.min(cap, this.policy.baseDelayMs * 2 ** (Math.min(attempt, 30) - 1))
    const jittered = Math.round(exponential * (0.5 + 0.5 * this.random()))
    const hint = retryAfterHintMs(stderr)
    // Under a deadline the server's hint is honoured up to the same short cap: the deadline is the run's.
    const hintCap = this.opts.deadlineMs === undefined ? MAX_RETRY_AFTER_MS : DEADLINE_MAX_DELAY_MS
    return hint === undefined ? jittered : Math.max(jittered, Math.min(hint, hintCap))
  }

  // The kubeconfig flag is left out of messages: it is the same on every call and only adds noise.
  private describe(args: string[]): string {
    return this.redact(['kubectl', ...args.map(quoteForDisplay)].join(' '))
  }

  private tailSuffix(stderr: string): string {
    const tail = stderrTail(this.redact(stderr))
    return tail ? `: ${tail}` : ''
  }

  // A long-running kubectl (`get --raw <collection>?watch=true`) whose output is a stream of JSON objects: each
  // one is handed to onObject as it completes. Not retried: a watch that ends is the caller's to replace (it
  // falls back to reading the objects). stop() ends it; `ended` settles when kubectl has exited.
  watch(args: string[], onObject: (object: unknown) => void): { stop(): void; ended: Promise<void> } {
    const argv = ['--kubeconfig', this.opts.kubeconfig, ...args]
    this.log(`${this.describe(args)} (watch)`)
    const child = spawn(this.bin, argv, {
      env: this.opts.env,
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true
    })
    const splitter = new JsonStreamSplitter(onObject)
    // Decoded as a stream: a character split across two chunks must not turn into two replacement marks.
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => splitter.push(chunk))
    const stop = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM')
      } catch {
        // already gone
      }
    }
    this.opts.signal?.addEventListener('abort', stop, { once: true })
    const ended = new Promise<void>(resolve => {
      child.on('error', () => resolve())
      child.on('close', () => {
        this.opts.signal?.removeEventListener('abort', stop)
        resolve()
      })
    })
    return { stop, ended }
  }

  private spawnOnce(argv: string[], runOpts: RunOptions): Promise<AttemptOutcome> {
    return new Promise(resolve => {
      // Own process group, so a timeout also kills whatever kubectl started (the gcloud dispatcher re-executes a
      // version-specific kubectl).
      const child = spawn(this.bin, argv, {
        env: this.opts.env,
        stdio: [runOpts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        detached: true
      })
      const stdout: Buffer[] = []
      const stderr: Buffer[] = []
      let timedOut = false
      let settled = false
      const timers: NodeJS.Timeout[] = []

      const killGroup = (signal: NodeJS.Signals): void => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, signal)
        } catch {
          // already gone
        }
      }
      let cancelled = false
      const signal = this.opts.signal
      const onAbort = (): void => {
        cancelled = true
        killGroup('SIGTERM')
        timers.push(setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const finish = (outcome: AttemptOutcome): void => {
        if (settled) return
        settled = true
        for (const timer of timers) clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        resolve({ ...outcome, cancelled })
      }

      child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk))
      child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk))
      child.on('error', error =>
        finish({ stdout: '', stderr: '', exitCode: -1, timedOut: false, spawnError: error })
      )
      child.on('close', (code, signal) =>
        finish({
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
          exitCode: code ?? (signal ? -1 : 0),
          timedOut
        })
      )

      if (runOpts.timeoutMs !== undefined) {
        timers.push(
          setTimeout(() => {
            timedOut = true
            killGroup('SIGTERM')
            timers.push(setTimeout(() => killGroup('SIGKILL'), KILL_GRACE_MS))
          }, runOpts.timeoutMs)
        )
      }

      if (child.stdin) {
        // kubectl may exit before reading stdin (e.g. a bad flag); that EPIPE is not the failure to report.
        child.stdin.on('error', () => {})
        child.stdin.end(runOpts.stdin)
      }
    })
  }
}

function quoteForDisplay(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

function stderrTail(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map(line => line.trimEnd())
    .filter(line => line !== '')
  const tail = lines.slice(-STDERR_TAIL_LINES).join('\n')
  return tail.length > STDERR_TAIL_CHARS ? `...${tail.slice(-STDERR_TAIL_CHARS)}` : tail
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n')
  return lines[lines.length - 1] ?? ''
}

// Splits text that arrives in chunks into the top-level JSON objects it holds, one after another.
class JsonStreamSplitter {
  private buffer = ''
  private depth = 0
  private inString = false
  private escaped = false
  private scanned = 0

  constructor(private readonly onObject: (object: unknown) => void) {}

  push(text: string): void {
    this.buffer += text
    for (let i = this.scanned; i < this.buffer.length; i++) {
      const ch = this.buffer[i]
      if (this.inString) {
        if (this.escaped) this.escaped = false
        else if (ch === '\\') this.escaped = true
        else if (ch === '"') this.inString = false
        continue
      }
      if (ch === '"') this.inString = true
      else if (ch === '{') this.depth++
      else if (ch === '}' && --this.depth === 0) {
        const start = this.buffer.indexOf('{')
        const text = this.buffer.slice(start, i + 1)
        this.buffer = this.buffer.slice(i + 1)
        i = -1
        try {
          this.onObject(JSON.parse(text))
        } catch {
          // not an object after all: skip it
        }
      }
    }
    this.scanned = this.buffer.length
  }
}
