// The task-safety check's Python run for real (Debian's python3-celery, 5.2 here) against real Celery app modules,
// one per unsafe or safe setting: what it reads (the table of its answers) and what the action concludes when
// it compares them with the worker Deployment the action renders (grace period 90 s, the preStop hook that asks
// the main process for a warm shutdown). Celery 5.5's soft shutdown is not installable here: the cases that
// need 5.5 are in __tests__/unit/task-safety.test.ts, on reports written by hand.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseInputs } from '../../src/inputs.js'
import { loadTemplates } from '../../src/render/load-templates.js'
import { renderManifests } from '../../src/render/render-manifests.js'
import { interpretSmokeOutput, lastJsonReport } from '../../src/deploy/smoke-checks.js'
import { taskSafetyCheckSpec } from '../../src/deploy/task-safety.js'
import { taskSafetyFindings } from '../../src/deploy/task-safety-findings.js'
import {
  parseCelerySettings,
  workerStopFacts,
  type CelerySettings,
  type WorkerStopFacts
} from '../../src/deploy/task-safety-settings.js'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import { REPO_ROOT } from '../support/run-action.js'
import { MissingToolError, podEnv, pythonWithDrivers, runArgv } from '../rig/services.js'

const BROKER_PASSWORD = 'br0ker-s3cret-pw'
const BROKER = `redis://:${BROKER_PASSWORD}@127.0.0.1:6399/0`

let python: string
let root: string
let stop: WorkerStopFacts

before(async () => {
  python = pythonWithDrivers()
  try {
    execFileSync(python, ['-c', 'import celery, redis'], { stdio: 'ignore' })
  } catch {
    throw new MissingToolError('python3-celery and python3-redis (for the task-safety check)')
  }
  root = mkdtempSync(path.join(tmpdir(), 'task-safety-apps-'))
  const config = parseInputs(EXAMPLE_INPUTS, { eventName: 'push' })
  const rendered = renderManifests(await loadTemplates(path.join(REPO_ROOT, 'manifests')), config, {})
  stop = workerStopFacts(rendered.objects.find(o => o.role === 'worker')!.object)
})
after(() => rmSync(root, { recursive: true, force: true }))

// A module `name` (a file, or a package when given several files) in a directory of its own.
function appModule(name: string, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(root, `${name}-`))
  for (const [file, source] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    writeFileSync(path.join(dir, file), source)
  }
  return dir
}

const HEADER = `import os\nfrom celery import Celery\napp = Celery('app', broker=os.environ['CELERY_BROKER_URL'])\n`
const TASKS = `@app.task(name='app.send_mail')\ndef send_mail(address): pass\n@app.task(name='app.build_index')\ndef build_index(): pass\n`

interface Answer {
  run: { exitCode: number; stdout: string; stderr: string }
  report: Record<string, unknown>
  settings: CelerySettings
}

async function check(dir: string, celeryApp: string, env: Record<string, string> = {}): Promise<Answer> {
  const spec = taskSafetyCheckSpec(celeryApp)
  const run = await runArgv(spec.argv, {
    python,
    cwd: dir,
    env: podEnv({ CELERY_BROKER_URL: BROKER, ...env }),
    killAfterMs: 60_000
  })
  const report = lastJsonReport(run.stdout)
  assert.ok(report, `no report: ${run.stdout}${run.stderr}`)
  assert.equal(report.ok, true, JSON.stringify(report))
  const settings = parseCelerySettings(report)
  assert.ok(typeof settings !== 'string', String(settings))
  return { run, report, settings }
}

const ids = (settings: CelerySettings, facts = stop) =>
  taskSafetyFindings(settings, facts)
    .map(f => f.id)
    .sort()

describe('the task-safety check against real Celery app modules (the worker Deployment the action renders)', () => {
  const cases: Array<{
    name: string
    source: string
    env?: Record<string, string>
    reads: Partial<CelerySettings>
    findings: string[]
  }> = [
    {
      name: "Celery's defaults: acks on start, no time limit, prefetch 4, visibility 1 h",
      source: HEADER + TASKS,
      reads: {
        acksLate: false,
        rejectOnWorkerLost: false,
        prefetchMultiplier: 4,
        transport: 'redis',
        visibilityTimeout: 3600,
        visibilityTimeoutSet: false,
        pool: 'prefork',
        tasksTotal: 2
      },
      findings: ['lost-at-grace', 'prefetch']
    },
    {
      name: 'safe: acks_late, reject_on_worker_lost, a 60 s limit under the 90 s grace, prefetch 1, visibility 2 h',
      source:
        HEADER +
        `app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, task_time_limit=60, task_soft_time_limit=50, worker_prefetch_multiplier=1, broker_transport_options={'visibility_timeout': 7200})\n` +
        TASKS,
      reads: {
        acksLate: true,
        rejectOnWorkerLost: true,
        timeLimit: 60,
        softTimeLimit: 50,
        prefetchMultiplier: 1,
        visibilityTimeout: 7200,
        visibilityTimeoutSet: true
      },
      findings: []
    },
    {
      name: 'acks_late without a time limit: killed at the grace deadline, and a run past visibility_timeout runs twice',
      source: HEADER + `app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1)\n` + TASKS,
      reads: { acksLate: true },
      findings: ['rerun-after-grace', 'visibility-timeout-short']
    },
    {
      name: 'a time limit longer than the grace period, acks on start',
      source: HEADER + `app.conf.update(task_time_limit=600, worker_prefetch_multiplier=1)\n` + TASKS,
      reads: { timeLimit: 600 },
      findings: ['lost-at-grace']
    },
    {
      name: 'one task overrides acks_late and its time limit (the others are safe)',
      source:
        HEADER +
        `app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, task_time_limit=60, worker_prefetch_multiplier=1)\n` +
        TASKS +
        `@app.task(name='app.export', acks_late=False, time_limit=3600)\ndef export(): pass\n`,
      reads: { acksLate: true, tasksTotal: 3 },
      findings: ['lost-at-grace']
    },
    {
      name: 'visibility_timeout shorter than the time limit of acks_late tasks',
      source:
        HEADER +
        `app.conf.update(task_acks_late=True, task_time_limit=60, worker_prefetch_multiplier=1, broker_transport_options={'visibility_timeout': 30})\n` +
        TASKS,
      reads: { visibilityTimeout: 30, visibilityTimeoutSet: true },
      findings: ['visibility-timeout-short']
    },
    {
      name: 'REMAP_SIGTERM=SIGQUIT on Celery 5.2: SIGTERM is a cold shutdown',
      source:
        HEADER +
        `app.conf.update(task_acks_late=True, task_time_limit=60, worker_prefetch_multiplier=1)\n` +
        TASKS,
      env: { REMAP_SIGTERM: 'SIGQUIT' },
      reads: { remapSigterm: 'SIGQUIT', softShutdownSupported: false },
      findings: ['cold-shutdown-on-sigterm']
    },
    {
      name: 'worker_soft_shutdown_timeout on Celery 5.2 (it came with 5.5): read, and does nothing',
      source:
        HEADER +
        `app.conf.update(task_acks_late=True, task_time_limit=60, worker_prefetch_multiplier=1, worker_soft_shutdown_timeout=20)\n` +
        TASKS,
      reads: { softShutdownTimeout: 20, softShutdownSupported: false },
      findings: ['soft-shutdown-inactive']
    },
    {
      name: 'the solo pool does not enforce time limits',
      source:
        HEADER +
        `app.conf.update(task_time_limit=30, worker_pool='solo', worker_prefetch_multiplier=1)\n` +
        TASKS,
      reads: { pool: 'solo', timeLimit: 30 },
      findings: ['lost-at-grace']
    }
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const dir = appModule('app', { 'app.py': c.source })
      const { settings } = await check(dir, 'app', c.env)
      for (const [field, value] of Object.entries(c.reads)) {
        assert.deepEqual(settings[field as keyof CelerySettings], value, `${field}`)
      }
      assert.deepEqual(ids(settings), [...c.findings].sort())
    })
  }

  test('per task: the names, acks_late, reject_on_worker_lost and limits of each registered task; no Celery built-in', async () => {
    const dir = appModule('app', {
      'app.py':
        HEADER +
        `app.conf.update(task_acks_late=True)\n` +
        TASKS +
        `@app.task(name='app.export', acks_late=False, reject_on_worker_lost=True, time_limit=3600, soft_time_limit=3500)\ndef export(): pass\n`
    })
    const { settings } = await check(dir, 'app')
    assert.deepEqual(settings.tasks, [
      { name: 'app.build_index', acksLate: true, rejectOnWorkerLost: false },
      {
        name: 'app.export',
        acksLate: false,
        rejectOnWorkerLost: true,
        timeLimit: 3600,
        softTimeLimit: 3500
      },
      { name: 'app.send_mail', acksLate: true, rejectOnWorkerLost: false }
    ])
    const lost = taskSafetyFindings(settings, stop).find(f => f.id === 'lost-at-grace')
    assert.equal(lost?.tasks, 'app.export')
  })

  test('a Django-style project: the package found as celery -A finds it, settings under the CELERY namespace, tasks from the imports', async () => {
    const dir = appModule('proj', {
      'proj/__init__.py': 'from .celery import app\n',
      'proj/celery.py': `import os
from celery import Celery
class Settings:
    CELERY_BROKER_URL = os.environ['CELERY_BROKER_URL']
    CELERY_TASK_ACKS_LATE = True
    CELERY_TASK_TIME_LIMIT = 3000
    CELERY_WORKER_SOFT_SHUTDOWN_TIMEOUT = 20
    CELERY_BROKER_TRANSPORT_OPTIONS = {'visibility_timeout': 600}
app = Celery('proj')
app.config_from_object(Settings, namespace='CELERY')
app.conf.imports = ['proj.tasks']
`,
      'proj/tasks.py': `from .celery import app\n@app.task\ndef rebuild(): pass\n`
    })
    const { settings } = await check(dir, 'proj')
    assert.deepEqual(settings.tasks, [
      { name: 'proj.tasks.rebuild', acksLate: true, rejectOnWorkerLost: false }
    ])
    assert.equal(settings.timeLimit, 3000)
    assert.equal(settings.visibilityTimeout, 600)
    assert.equal(settings.softShutdownTimeout, 20)
    assert.deepEqual(ids(settings), [
      'prefetch',
      'rerun-after-grace',
      'soft-shutdown-inactive',
      'visibility-timeout-short'
    ])
  })

  test("the worker's own options override the app's: --time-limit and --prefetch-multiplier in the Deployment's args", async () => {
    const dir = appModule('app', { 'app.py': HEADER + `app.conf.update(task_acks_late=True)\n` + TASKS })
    const { settings } = await check(dir, 'app')
    assert.deepEqual(ids(settings), ['prefetch', 'rerun-after-grace', 'visibility-timeout-short'])
    const tuned = { ...stop, options: { timeLimit: 60, prefetchMultiplier: 1 } }
    assert.deepEqual(ids(settings, tuned), [])
  })

  test('the old preStop hook (pkill -f without -o) signals the pool: every running task is cut off', async () => {
    const dir = appModule('app', {
      'app.py':
        HEADER +
        `app.conf.update(task_acks_late=True, task_time_limit=60, worker_prefetch_multiplier=1)\n` +
        TASKS +
        `@app.task(name='app.charge', reject_on_worker_lost=True)\ndef charge(): pass\n`
    })
    const { settings } = await check(dir, 'app')
    const findings = taskSafetyFindings(settings, {
      ...stop,
      preStop: {
        kind: 'signals-pool',
        command:
          "pkill -TERM -f '[c]elery.*worker'; while pgrep -f '[c]elery.*worker' >/dev/null; do sleep 1; done"
      }
    })
    assert.deepEqual(
      findings.map(f => f.id),
      ['prestop-signals-pool']
    )
    assert.match(
      findings[0].happens,
      /app\.build_index, app\.send_mail: recorded as failed with WorkerLostError and not delivered again .*; app\.charge: delivered again/
    )
  })

  test('an app that cannot be loaded: the check fails with the reason, the broker password hidden', async () => {
    const dir = appModule('app', {
      'app.py': `import os\nraise RuntimeError('cannot reach ' + os.environ['CELERY_BROKER_URL'])\n`
    })
    const spec = taskSafetyCheckSpec('app')
    const run = await runArgv(spec.argv, {
      python,
      cwd: dir,
      env: podEnv({ CELERY_BROKER_URL: BROKER }),
      killAfterMs: 60_000
    })
    const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
    assert.equal(verdict.ok, false)
    // The broker URL is a secret as a whole (it carries the password).
    assert.equal(verdict.detail, 'celery -A app: the app cannot be loaded: RuntimeError: cannot reach ***')
    assert.ok(!`${run.stdout}${run.stderr}`.includes(BROKER_PASSWORD))
  })

  test('no celery in the image: says so', async () => {
    const dir = appModule('app', { 'celery.py': "raise ImportError('no celery here')\n", 'app.py': HEADER })
    const spec = taskSafetyCheckSpec('app')
    const run = await runArgv(spec.argv, {
      python,
      cwd: dir,
      env: podEnv({ PYTHONPATH: dir }),
      killAfterMs: 60_000
    })
    const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
    assert.equal(verdict.ok, false)
    assert.match(verdict.detail, /celery cannot be imported in this container: ImportError: no celery here/)
  })

  test('a task body or argument is never read: the report holds names and settings only, within its bound', async () => {
    const many = Array.from(
      { length: 260 },
      (_, i) =>
        `@app.task(name='app.t${String(i).padStart(3, '0')}_${'x'.repeat(150)}')\ndef t${i}(secret_argument): return 'body-${i}'\n`
    ).join('')
    const dir = appModule('app', { 'app.py': HEADER + many })
    const { run, settings } = await check(dir, 'app')
    assert.equal(settings.tasks.length, 200)
    assert.equal(settings.tasksTotal, 260)
    assert.ok(!run.stdout.includes('body-'), 'no task body')
    assert.ok(!run.stdout.includes('secret_argument'), 'no argument')
    assert.ok(run.stdout.length < taskSafetyCheckSpec('app').outputLimit!, `${run.stdout.length} characters`)
    assert.equal(taskSafetyFindings(settings, stop)[0].tasks, 'every task read (200 of 260)')
  })
})
