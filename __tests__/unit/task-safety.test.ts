// The pure parts of the task-safety step, from tables: how the rendered Deployment stops the worker (grace
// period, preStop hook, the worker's options), the findings for settings only Celery 5.5 has (soft shutdown;
// the check's answers on the installed 5.2 are in __tests__/smoke/task-safety-check.test.ts), how an old
// worker's last state reads (drained, killed), the summary's text (escaped, redacted), the input, and strict.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { parseInputs, InputError } from '../../src/inputs.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import type { Pod } from '../../src/k8s/types.js'
import { classifyStop, describeStops, type OldWorkerStop } from '../../src/deploy/old-worker-stops.js'
import { killedWorkersFinding, taskSafetyFindings } from '../../src/deploy/task-safety-findings.js'
import {
  workerStopFacts,
  type CelerySettings,
  type WorkerStopFacts
} from '../../src/deploy/task-safety-settings.js'
import type { TaskSafetyRecord } from '../../src/deploy/task-safety.js'
import { verified } from '../../src/deploy/verify.js'
import { createRedactor } from '../../src/redact.js'
import {
  explainTaskSafety,
  renderTaskSafety,
  taskSafetyWarnings
} from '../../src/report/task-safety-report.js'

const TEMPLATE_HOOK =
  "pkill -TERM -o -f '[c]elery.*worker'; while pgrep -f '[c]elery.*worker' >/dev/null; do sleep 1; done"

function worker(pod: Record<string, unknown>, app: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'celery-worker' },
    spec: {
      selector: { matchLabels: { app: 'celery-worker' } },
      template: { spec: { ...pod, containers: [{ name: 'app', image: 'x', ...app }] } }
    }
  }
}
const shell = (script: string) => ({ lifecycle: { preStop: { exec: { command: ['sh', '-c', script] } } } })

describe('how the rendered Deployment stops the worker', () => {
  const cases: Array<{ name: string; deployment: KubeObject; expect: Partial<WorkerStopFacts> }> = [
    {
      name: "the action's template: 90 s, a warm shutdown of the main process",
      deployment: worker({ terminationGracePeriodSeconds: 90 }, shell(TEMPLATE_HOOK)),
      expect: {
        graceSeconds: 90,
        drainSeconds: 90,
        preStop: { kind: 'signals-main', command: TEMPLATE_HOOK }
      }
    },
    {
      name: 'the old hook: pkill -f without -o reaches the pool',
      deployment: worker(
        { terminationGracePeriodSeconds: 90 },
        shell("pkill -TERM -f '[c]elery.*worker'; while pgrep -f '[c]elery.*worker'; do sleep 1; done")
      ),
      expect: {
        preStop: {
          kind: 'signals-pool',
          command: "pkill -TERM -f '[c]elery.*worker'; while pgrep -f '[c]elery.*worker'; do sleep 1; done"
        }
      }
    },
    {
      name: 'pkill --oldest, or by parent: the main process only',
      deployment: worker({}, shell("pkill --oldest -f 'celery worker'")),
      expect: {
        graceSeconds: 30,
        preStop: { kind: 'signals-main', command: "pkill --oldest -f 'celery worker'" }
      }
    },
    {
      name: 'a hook that sleeps first leaves less time for the tasks',
      deployment: worker({ terminationGracePeriodSeconds: 60 }, shell('sleep 15; kill -TERM 1')),
      expect: {
        graceSeconds: 60,
        drainSeconds: 45,
        preStop: { kind: 'sleeps', command: 'sleep 15; kill -TERM 1', sleepSeconds: 15 }
      }
    },
    {
      name: "Kubernetes' own sleep action",
      deployment: worker(
        { terminationGracePeriodSeconds: 60 },
        { lifecycle: { preStop: { sleep: { seconds: 5 } } } }
      ),
      expect: { drainSeconds: 55, preStop: { kind: 'sleeps', command: 'sleep 5', sleepSeconds: 5 } }
    },
    {
      name: 'no hook, no grace period: SIGTERM to PID 1 after 0 s, 30 s to stop',
      deployment: worker({}),
      expect: { graceSeconds: 30, drainSeconds: 30, preStop: { kind: 'none' } }
    },
    {
      name: 'kill 1 as an argv',
      deployment: worker({}, { lifecycle: { preStop: { exec: { command: ['kill', '-TERM', '1'] } } } }),
      expect: { preStop: { kind: 'signals-main', command: 'kill -TERM 1' } }
    },
    {
      name: 'an HTTP hook is not understood',
      deployment: worker({}, { lifecycle: { preStop: { httpGet: { path: '/stop', port: 8080 } } } }),
      expect: { preStop: { kind: 'other', command: 'an HTTP GET' } }
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const facts = workerStopFacts(c.deployment)
      for (const [key, value] of Object.entries(c.expect)) {
        assert.deepEqual(facts[key as keyof WorkerStopFacts], value, key)
      }
    })
  }

  test("the worker's options, in either form", () => {
    const facts = workerStopFacts(
      worker(
        {},
        {
          args: [
            '-A',
            'noesis2',
            'worker',
            '--time-limit=300',
            '--soft-time-limit',
            '240',
            '-c',
            '4',
            '--prefetch-multiplier=1',
            '-P',
            'solo'
          ]
        }
      )
    )
    assert.deepEqual(facts.options, {
      timeLimit: 300,
      softTimeLimit: 240,
      concurrency: 4,
      prefetchMultiplier: 1,
      pool: 'solo'
    })
  })
})

// A Celery 5.5 app with everything safe; each case changes what it names.
const SAFE: CelerySettings = {
  celery: '5.5.2',
  kombu: '5.5.3',
  softShutdownSupported: true,
  acksLate: true,
  rejectOnWorkerLost: true,
  timeLimit: 60,
  prefetchMultiplier: 1,
  pool: 'prefork',
  transport: 'redis',
  visibilityTimeout: 3600,
  visibilityTimeoutSet: false,
  tasks: [
    { name: 'app.a', acksLate: true, rejectOnWorkerLost: true },
    { name: 'app.b', acksLate: true, rejectOnWorkerLost: true }
  ],
  tasksTotal: 2,
  problems: []
}
const STOP: WorkerStopFacts = workerStopFacts(
  worker({ terminationGracePeriodSeconds: 90 }, shell(TEMPLATE_HOOK))
)

describe('findings for Celery 5.5 settings (soft shutdown)', () => {
  const cases: Array<{
    name: string
    settings: Partial<CelerySettings>
    stop?: WorkerStopFacts
    ids: string[]
    says?: RegExp
  }> = [
    { name: 'safe', settings: {}, ids: [] },
    {
      name: 'soft shutdown set, REMAP_SIGTERM not: a SIGTERM is a plain warm shutdown',
      settings: { softShutdownTimeout: 60 },
      ids: ['soft-shutdown-inactive'],
      says: /a soft shutdown follows SIGTERM only with REMAP_SIGTERM=SIGQUIT/
    },
    {
      name: 'soft shutdown with REMAP_SIGTERM, within the grace period',
      settings: { softShutdownTimeout: 60, remapSigterm: 'SIGQUIT' },
      ids: []
    },
    {
      name: 'soft shutdown with REMAP_SIGTERM, as long as the grace period: the kill comes first',
      settings: { softShutdownTimeout: 90, remapSigterm: 'SIGQUIT' },
      ids: ['soft-shutdown-beyond-grace'],
      says: /worker_soft_shutdown_timeout = 80/
    },
    {
      name: 'REMAP_SIGTERM without a soft shutdown timeout: a cold shutdown',
      settings: { remapSigterm: 'SIGQUIT' },
      ids: ['cold-shutdown-on-sigterm'],
      says: /worker_soft_shutdown_timeout is 0/
    },
    {
      name: 'no preStop and PID 1 is a shell that keeps the signal',
      settings: { pid1CeleryWorker: false, pid1Program: 'sh' },
      stop: workerStopFacts(worker({ terminationGracePeriodSeconds: 90 })),
      ids: ['sigterm-not-to-worker'],
      says: /PID 1 of its container is "sh"/
    },
    {
      name: 'no preStop and PID 1 is the worker: the kubelet signals it',
      settings: { pid1CeleryWorker: true },
      stop: workerStopFacts(worker({ terminationGracePeriodSeconds: 90 })),
      ids: []
    },
    {
      name: 'prefetch without a limit',
      settings: { prefetchMultiplier: 0 },
      ids: ['prefetch'],
      says: /worker_prefetch_multiplier 0: no limit/
    },
    {
      name: 'a preStop that sleeps 40 s leaves 50 s: a 60 s limit no longer fits',
      settings: {},
      stop: workerStopFacts(worker({ terminationGracePeriodSeconds: 90 }, shell('sleep 40; kill -TERM 1'))),
      ids: ['rerun-after-grace'],
      says: /still going 50 s after/
    },
    {
      name: 'AMQP: a killed acks_late run comes back when the connection closes (no visibility timeout)',
      settings: { transport: 'amqp', visibilityTimeout: undefined, timeLimit: undefined },
      ids: ['rerun-after-grace'],
      says: /delivered again when the broker sees the connection close/
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const findings = taskSafetyFindings({ ...SAFE, ...c.settings }, c.stop ?? STOP)
      assert.deepEqual(
        findings.map(f => f.id),
        c.ids
      )
      if (c.says) assert.match(findings.map(f => `${f.happens} ${f.fix}`).join(' '), c.says)
    })
  }
})

describe('how an old worker stopped, from its last state', () => {
  // Deleted at 12:00:00 with 90 s of grace: the deadline is 12:01:30.
  const pod = (terminated?: { exitCode: number; finishedAt: string }): Pod => ({
    metadata: {
      name: 'celery-worker-old-1',
      deletionTimestamp: '2026-01-01T12:01:30Z',
      deletionGracePeriodSeconds: 90
    },
    status: {
      containerStatuses: [
        {
          name: 'app',
          state: terminated
            ? { terminated: { ...terminated, startedAt: '2026-01-01T11:00:00Z' } }
            : { running: { startedAt: '2026-01-01T11:00:00Z' } }
        }
      ]
    }
  })
  const cases: Array<{ name: string; pod: Pod; gone: boolean; now?: string; expect: OldWorkerStop }> = [
    {
      name: 'exit 0 after 12 s: drained',
      pod: pod({ exitCode: 0, finishedAt: '2026-01-01T12:00:12Z' }),
      gone: true,
      expect: { pod: 'celery-worker-old-1', how: 'drained', seconds: 12, exitCode: 0 }
    },
    {
      name: 'exit 137 at the deadline: killed',
      pod: pod({ exitCode: 137, finishedAt: '2026-01-01T12:01:30Z' }),
      gone: true,
      expect: { pod: 'celery-worker-old-1', how: 'killed', seconds: 90, exitCode: 137 }
    },
    {
      name: 'exit 143 at the deadline: killed there',
      pod: pod({ exitCode: 143, finishedAt: '2026-01-01T12:01:31Z' }),
      gone: true,
      expect: { pod: 'celery-worker-old-1', how: 'killed', seconds: 91, exitCode: 143 }
    },
    {
      name: 'exit 1 early: exited',
      pod: pod({ exitCode: 1, finishedAt: '2026-01-01T12:00:02Z' }),
      gone: true,
      expect: { pod: 'celery-worker-old-1', how: 'exited', seconds: 2, exitCode: 1 }
    },
    {
      name: 'gone without a final state',
      pod: pod(),
      gone: true,
      expect: { pod: 'celery-worker-old-1', how: 'unknown' }
    },
    {
      name: 'still running 30 s in',
      pod: pod(),
      gone: false,
      now: '2026-01-01T12:00:30Z',
      expect: { pod: 'celery-worker-old-1', how: 'stopping', seconds: 30 }
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(classifyStop(c.pod, c.gone, Date.parse(c.now ?? '2026-01-01T13:00:00Z')), c.expect)
    })
  }

  test("the deletion as first seen counts: the kubelet's final delete (grace 0) moves the pod's own fields", () => {
    const final = pod({ exitCode: 0, finishedAt: '2026-01-01T12:00:07Z' })
    final.metadata.deletionTimestamp = '2026-01-01T12:00:07Z'
    final.metadata.deletionGracePeriodSeconds = 0
    const first = {
      deadlineMs: Date.parse('2026-01-01T12:01:30Z'),
      startedMs: Date.parse('2026-01-01T12:00:00Z')
    }
    assert.deepEqual(classifyStop(final, true, 0, first), {
      pod: 'celery-worker-old-1',
      how: 'drained',
      seconds: 7,
      exitCode: 0
    })
  })

  test('the one line', () => {
    const stops: OldWorkerStop[] = [
      { pod: 'a', how: 'drained', seconds: 4, exitCode: 0 },
      { pod: 'b', how: 'drained', seconds: 12, exitCode: 0 },
      { pod: 'c', how: 'drained', seconds: 7, exitCode: 0 }
    ]
    assert.equal(describeStops(stops), '3 old workers stopped: 3 drained cleanly in 4–12 s, 0 killed')
    assert.equal(
      describeStops([
        ...stops.slice(0, 1),
        { pod: 'd', how: 'killed', seconds: 90, exitCode: 137 },
        { pod: 'e', how: 'stopping', seconds: 3 }
      ]),
      '3 old workers stopped: 1 drained cleanly in 4 s, 1 killed, 1 still stopping'
    )
    assert.equal(describeStops([]), undefined)
  })

  test('killed workers are a finding of their own only when tasks had acks_late off', () => {
    const early = {
      ...SAFE,
      tasks: [{ name: 'app.a', acksLate: false, rejectOnWorkerLost: false }],
      tasksTotal: 1
    }
    assert.equal(killedWorkersFinding(['old-1'], SAFE, STOP), undefined)
    assert.equal(killedWorkersFinding([], early, STOP), undefined)
    const finding = killedWorkersFinding(['old-1', 'old-2'], early, STOP)
    assert.equal(finding?.id, 'killed-workers')
    assert.match(
      finding!.happens,
      /^2 old workers were killed at the end of the grace period \(90 s\) during this deploy \(pods old-1, old-2\): the runs of app\.a they had started are lost/
    )
    assert.match(killedWorkersFinding(['old-1'], undefined, STOP)!.happens, /acks_late, which was not read/)
  })
})

function record(over: Partial<TaskSafetyRecord> = {}): TaskSafetyRecord {
  const settings: CelerySettings = {
    ...SAFE,
    acksLate: false,
    timeLimit: undefined,
    tasks: [
      { name: 'app.<img src=x onerror=alert(1)>', acksLate: false, rejectOnWorkerLost: false },
      { name: 'app.@octocat', acksLate: false, rejectOnWorkerLost: false },
      { name: 'app.safe', acksLate: true, rejectOnWorkerLost: true }
    ],
    tasksTotal: 3
  }
  const findings = taskSafetyFindings(settings, STOP)
  return {
    mode: 'warn',
    check: { ran: true, pod: 'celery-worker-new-1', durationMs: 900, settings },
    stop: STOP,
    findings,
    oldWorkers: [{ pod: 'celery-worker-old-1', how: 'drained', seconds: 4, exitCode: 0 }],
    oldWorkersLine: '1 old worker stopped: 1 drained cleanly in 4 s, 0 killed',
    queues: {
      before: {
        pod: 'celery-worker-old-1',
        atMs: 1_000,
        ok: true,
        queues: [{ name: 'celery', waiting: 12, byPriority: { '0': 9, '3': 3 } }],
        unacked: 2
      },
      after: {
        pod: 'celery-worker-new-1',
        atMs: 43_000,
        ok: false,
        error: 'the broker did not answer: redis://:hunter2-pass@10.0.0.5',
        queues: []
      }
    },
    blocking: false,
    ...over
  }
}

describe('what the summary and the annotations say', () => {
  const redact = createRedactor(['hunter2-pass'])

  test('the section: findings with their fix, task names escaped, the old workers, the queues 42 s apart, secrets redacted', () => {
    const text = renderTaskSafety(record(), redact)
    assert.match(text, /### Task safety \(warn\)/)
    assert.match(
      text,
      /Read in pod celery-worker-new-1: Celery 5\.5\.2 \(kombu 5\.5\.3\), 3 registered tasks, broker redis; the worker gets 90 s to stop/
    )
    assert.match(text, /tasks lost at the end of the grace period/)
    assert.match(text, /\*\*Fix:\*\* task\\_acks\\_late = True/)
    assert.ok(!text.includes('<img'), 'HTML escaped')
    assert.ok(text.includes('&lt;img'), text)
    assert.ok(!text.includes('@octocat'), 'no mention')
    assert.match(text, /1 old worker stopped: 1 drained cleanly in 4 s, 0 killed/)
    assert.match(text, /\| celery \| 12 \(priority 3: 3\) \| not read \|/)
    assert.match(text, /\| reserved, not acknowledged \(unacked\) \| 2 \| not read \|/)
    assert.match(text, /After: not read: the broker did not answer/)
    assert.ok(!text.includes('hunter2'), 'redacted')
  })

  test('warn: one warning per finding; strict: the failure findings, and the verification fails', () => {
    const warn = record()
    assert.equal(taskSafetyWarnings(warn).length, warn.findings.length)
    assert.match(taskSafetyWarnings(warn)[0].title, /^task safety: /)
    assert.deepEqual(explainTaskSafety(warn), [])

    const strict = record({ mode: 'strict', blocking: true })
    assert.deepEqual(taskSafetyWarnings(strict), [])
    const findings = explainTaskSafety(strict)
    assert.equal(findings.length, strict.findings.length)
    assert.equal(findings[0].class, 'task-safety')
    assert.equal(findings[0].remedy, strict.findings[0].fix)

    const base = { rollouts: [], beatProblems: [], smoke: [] }
    assert.equal(verified({ ...base, taskSafety: warn }, []), true)
    assert.equal(verified({ ...base, taskSafety: strict }, []), false)
  })

  test('strict with a check that could not read the app', () => {
    const failed = record({
      mode: 'strict',
      blocking: true,
      findings: [],
      check: { ran: false, pod: 'p', error: 'celery -A noesis2: the app cannot be loaded: ImportError: x' }
    })
    const [finding] = explainTaskSafety(failed)
    assert.equal(finding.title, 'not checked')
    assert.match(finding.cause, /the app cannot be loaded/)
  })
})

describe('the task_safety input', () => {
  const image = 'europe-west3-docker.pkg.dev/p/app/web:1'
  test('warn by default; strict and off (any case)', () => {
    assert.equal(parseInputs({ image }, { eventName: 'push' }).taskSafety, 'warn')
    assert.equal(parseInputs({ image, task_safety: 'strict' }, { eventName: 'push' }).taskSafety, 'strict')
    assert.equal(parseInputs({ image, task_safety: 'OFF' }, { eventName: 'push' }).taskSafety, 'off')
  })
  test('anything else is refused, naming the input and the rule', () => {
    assert.throws(
      () => parseInputs({ image, task_safety: 'yes' }, { eventName: 'push' }),
      (error: unknown) =>
        error instanceof InputError &&
        error.problems.includes('task_safety: "yes" must be one of warn, strict, off')
    )
  })
})
