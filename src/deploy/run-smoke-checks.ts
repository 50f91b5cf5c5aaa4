// Runs the smoke checks with `kubectl exec` in a ready pod of each rolled-out Deployment.

import type { SmokeCheckChoice } from '../inputs.js'
import { CancelledError, isTransientKubectlFailure, KubectlError, type Kubectl } from '../kube/kubectl.js'
import type { Pod } from '../k8s/types.js'
import { boundLines } from '../untrusted-text.js'
import { isPodReady } from './rollout-state.js'
import {
  batchExecArgs,
  batchExecTimeoutMs,
  buildSmokeChecks,
  canShareExec,
  splitBatchOutput,
  interpretSmokeOutput,
  lastJsonReport,
  MAX_DETAIL_CHARS,
  smokeExecArgs,
  smokeExecTimeoutMs,
  type SmokeCheckName,
  type SmokeCheckResult,
  type SmokeCheckSpec
} from './smoke-checks.js'

const CHOICE_TO_CHECK: Record<SmokeCheckChoice, SmokeCheckName> = {
  worker: 'worker-process',
  beat: 'beat-process',
  database: 'database',
  redis: 'redis',
  'celery-ping': 'celery-ping'
}

export interface SmokeRunOptions {
  namespace: string
  celeryApp: string
  choices: SmokeCheckChoice[]
  podsByTarget: { worker: Pod[]; beat: Pod[] }
  // KEDA has scaled the worker to zero replicas: its checks have no pod. The database and Redis checks run in
  // the beat pod instead (it reads the same Secret); the worker's own are skipped.
  workerScaledToZero?: boolean
  // Checks of the caller's to run in the same execs (the task-safety check, in the worker's batch), whatever
  // `choices` lists; their results come after the smoke checks'.
  extraChecks?: SmokeCheckSpec[]
  now?: () => number
}

export async function runSmokeChecks(
  kubectl: Kubectl,
  options: SmokeRunOptions
): Promise<SmokeCheckResult[]> {
  const now = options.now ?? Date.now
  const wanted = new Set(options.choices.map(c => CHOICE_TO_CHECK[c]))
  const specs = buildSmokeChecks({
    celeryApp: options.celeryApp,
    beat: wanted.has('beat-process'),
    database: wanted.has('database'),
    redis: wanted.has('redis'),
    celeryPing: wanted.has('celery-ping')
  })
    .filter(spec => wanted.has(spec.name))
    .concat(options.extraChecks ?? [])

  // The checks are independent reads of different things (a process, the database, Redis), in one or two
  // pods: run at once, the Python ones of each pod in one exec, reported in the order given.
  const placed = specs.map(spec => ({ spec, ...place(spec) }))
  const byPod = new Map<string, SmokeCheckSpec[]>()
  const alone: Array<{ spec: SmokeCheckSpec; pod: string }> = []
  for (const p of placed) {
    if (p.pod === undefined) continue
    if (canShareExec(p.spec)) byPod.set(p.pod, [...(byPod.get(p.pod) ?? []), p.spec])
    else alone.push({ spec: p.spec, pod: p.pod })
  }
  const ran = new Map<SmokeCheckSpec, SmokeCheckResult>()
  await Promise.all([
    ...[...byPod].map(async ([pod, group]) => {
      for (const [i, result] of (await runTogether(group, pod)).entries()) ran.set(group[i], result)
    }),
    ...alone.map(async ({ spec, pod }) => ran.set(spec, (await runTogether([spec], pod))[0]))
  ])
  return placed.map(p => p.result ?? ran.get(p.spec)!)

  // The pod a check runs in, or its result when it cannot run.
  function place(spec: SmokeCheckSpec): { pod?: string; result?: SmokeCheckResult } {
    const atZero = options.workerScaledToZero === true && spec.target === 'worker'
    const inBeat = atZero && (spec.name === 'database' || spec.name === 'redis')
    const pod = options.podsByTarget[inBeat ? 'beat' : spec.target].find(isPodReady)
    if (pod) return { pod: pod.metadata.name }
    if (atZero) {
      return {
        result: {
          name: spec.name,
          pod: '',
          ok: true,
          skipped: true,
          durationMs: 0,
          detail: 'skipped: the worker is scaled to zero (KEDA); the first queued task starts a pod'
        }
      }
    }
    return {
      result: {
        name: spec.name,
        pod: '',
        ok: false,
        durationMs: 0,
        detail: `no ready ${spec.target} pod to run it in`
      }
    }
  }

  // One exec for the checks of one pod: alone as itself, several through the batch script.
  async function runTogether(group: SmokeCheckSpec[], pod: string): Promise<SmokeCheckResult[]> {
    const single = group.length === 1
    const timeoutMs = single ? smokeExecTimeoutMs(group[0]) : batchExecTimeoutMs(group)
    const started = now()
    try {
      // Repeated only when it never ran: the API answered the exec with a transient error and nothing was
      // printed. A check that ran and failed is not: a retry would hide a flaky dependency.
      const run = await kubectl.run(
        single
          ? smokeExecArgs(group[0], pod, options.namespace)
          : batchExecArgs(group, pod, options.namespace),
        {
          okExitCodes: Array.from({ length: 256 }, (_, code) => code),
          accept: r => r.stdout.trim() !== '' || !execNeverStarted(r.stderr, r.exitCode),
          timeoutMs
        }
      )
      const durationMs = now() - started
      // The pod's output, bounded before anything reads it: a check alone (beat's process check) has no
      // batch script to cap it, and a pod may print anything.
      const stdout = boundLines(run.stdout, MAX_EXEC_OUTPUT_CHARS)
      const stderr = boundLines(run.stderr, MAX_EXEC_OUTPUT_CHARS)
      const runs = single
        ? [{ exitCode: run.exitCode, stdout, stderr, timedOut: false }]
        : splitBatchOutput(group, run.exitCode, stdout, stderr)
      return group.map((spec, i) => {
        const own = runs[i]
        const verdict = own.timedOut
          ? { ok: false, detail: `timed out after ${spec.timeoutSeconds}s` }
          : interpretSmokeOutput(spec, own.exitCode, own.stdout, own.stderr)
        const report = spec.keepReport && !own.timedOut ? lastJsonReport(own.stdout) : undefined
        return {
          name: spec.name,
          pod,
          ok: verdict.ok,
          durationMs,
          detail: verdict.detail,
          ...(report ? { report } : {})
        }
      })
    } catch (error) {
      // A cancelled run (or one that lost its lock) is not a failed check: it stops the checks.
      if (error instanceof CancelledError) throw error
      // The error's own message quotes the whole command (a Python script): say what failed, not how.
      const detail =
        error instanceof KubectlError
          ? error.timedOut
            ? `kubectl exec timed out after ${Math.round(timeoutMs / 1000)}s`
            : `kubectl exec failed (exit ${error.exitCode}): ${lastLines(boundLines(error.stderr, MAX_EXEC_OUTPUT_CHARS))}`
          : String(error)
      return group.map(spec => ({
        name: spec.name,
        pod,
        ok: false,
        durationMs: now() - started,
        // Redacted and shortened by whoever shows it, in that order.
        detail: boundLines(detail, MAX_DETAIL_CHARS, 'head')
      }))
    }
  }
}

// The batch script keeps 8,000 characters of each stream of each check, JSON-escaped in its one-line report
// (up to six characters each): room for that, for five checks, and no more.
const MAX_EXEC_OUTPUT_CHARS = 512 * 1024

// kubectl's own words when the exec request itself failed (the API or the kubelet connection), so the command
// never ran; a check's own stderr (a broker's "Connection refused") does not count.
const EXEC_NOT_STARTED =
  /^(error: unable to upgrade connection|error: error dialing backend|Error from server \(|Unable to connect to the server)/m

function execNeverStarted(stderr: string, exitCode: number): boolean {
  return EXEC_NOT_STARTED.test(stderr) && isTransientKubectlFailure(stderr, exitCode)
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' ')
}
