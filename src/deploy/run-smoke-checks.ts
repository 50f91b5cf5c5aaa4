// Runs the smoke checks with `kubectl exec` in a ready pod of each rolled-out Deployment.

import type { SmokeCheckChoice } from '../inputs.js'
import { KubectlError, type Kubectl } from '../kube/kubectl.js'
import type { Pod } from '../kube/types.js'
import { isPodReady } from './rollout-state.js'
import {
  buildSmokeChecks,
  interpretSmokeOutput,
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
  }).filter(spec => wanted.has(spec.name))

  // The checks are independent reads of different things (a process, the database, Redis), in one or two
  // pods: run at once, in the order given in the results.
  return Promise.all(specs.map(spec => runOne(spec)))

  async function runOne(spec: SmokeCheckSpec): Promise<SmokeCheckResult> {
    const atZero = options.workerScaledToZero === true && spec.target === 'worker'
    const inBeat = atZero && (spec.name === 'database' || spec.name === 'redis')
    const pod = options.podsByTarget[inBeat ? 'beat' : spec.target].find(isPodReady)
    if (!pod && atZero) {
      return {
        name: spec.name,
        pod: '',
        ok: true,
        skipped: true,
        durationMs: 0,
        detail: 'skipped: the worker is scaled to zero (KEDA); the first queued task starts a pod'
      }
    }
    if (!pod) {
      return {
        name: spec.name,
        pod: '',
        ok: false,
        durationMs: 0,
        detail: `no ready ${spec.target} pod to run it in`
      }
    }
    const started = now()
    try {
      // A check is read-only but not worth repeating: a retry would hide a flaky dependency.
      const run = await kubectl.run(smokeExecArgs(spec, pod.metadata.name, options.namespace), {
        okExitCodes: Array.from({ length: 256 }, (_, code) => code),
        timeoutMs: smokeExecTimeoutMs(spec),
        retry: false
      })
      const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
      return {
        name: spec.name,
        pod: pod.metadata.name,
        ok: verdict.ok,
        durationMs: now() - started,
        detail: verdict.detail
      }
    } catch (error) {
      // The error's own message quotes the whole command (a Python script): say what failed, not how.
      const detail =
        error instanceof KubectlError
          ? error.timedOut
            ? `kubectl exec timed out after ${Math.round(smokeExecTimeoutMs(spec) / 1000)}s`
            : `kubectl exec failed (exit ${error.exitCode}): ${lastLines(error.stderr)}`
          : String(error)
      return {
        name: spec.name,
        pod: pod.metadata.name,
        ok: false,
        durationMs: now() - started,
        detail: detail.slice(0, 500)
      }
    }
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' ')
}
