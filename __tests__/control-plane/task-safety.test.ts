// task_safety end to end, through dist/, on the real control plane with real exec: `kubectl exec` into a kwok pod
// runs the command on this machine (the rig's pod runtime), where python3 is Debian's with Celery 5.2, the pod's
// app is a real Celery app module (this test's, as the image's working directory) and its broker a real Redis
// (REDIS_URL in the Deployment's env, from secret_data). So the check the action sends reads a real app, the
// queue readings count real Redis lists, and the old workers stop as kwok's stages make them (stops-clean: exit 0
// after 1.5 s; stops-killed: exit 137 at the grace deadline).

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import type { ControlPlaneRig } from '../support/rig.js'
import { REPO_ROOT, type ActionWorkspace } from '../support/run-action.js'
import { cancelLikeGitHub } from '../support/cluster-state.js'
import { plain } from '../support/report.js'
import { templatesWith } from '../support/templates.js'
import { TestRedis } from '../rig/services.js'

const NS = {
  warn: 'ts-warn',
  strictSafe: 'ts-strict-safe',
  strictUnsafe: 'ts-strict-unsafe',
  killed: 'ts-killed',
  brokerDown: 'ts-broker-down',
  cancel: 'ts-cancel'
}
// Each namespace's "pods" use a Redis database of their own.
const DB: Record<string, number> = {
  [NS.warn]: 1,
  [NS.strictSafe]: 2,
  [NS.strictUnsafe]: 3,
  [NS.killed]: 4,
  [NS.cancel]: 5
}

// Celery's defaults: acknowledged on start, no time limit, prefetch 4.
const UNSAFE_APP = `import os
from celery import Celery
app = Celery('unsafeapp', broker=os.environ['REDIS_URL'])
@app.task(name='unsafeapp.send_invoice')
def send_invoice(invoice_id): pass
@app.task(name='unsafeapp.rebuild_index')
def rebuild_index(): pass
`
const SAFE_APP = `import os
from celery import Celery
app = Celery('safeapp', broker=os.environ['REDIS_URL'])
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, task_time_limit=60,
                worker_prefetch_multiplier=1, broker_transport_options={'visibility_timeout': 7200})
@app.task(name='safeapp.send_invoice')
def send_invoice(invoice_id): pass
`

let e2e: E2E
let rig: ControlPlaneRig
let redis: TestRedis
let apps: string
const workspaces: ActionWorkspace[] = []

before(async () => {
  redis = await TestRedis.start([])
  apps = await mkdtemp(path.join(os.tmpdir(), 'dgw-task-safety-'))
  await writeFile(path.join(apps, 'unsafeapp.py'), UNSAFE_APP)
  await writeFile(path.join(apps, 'safeapp.py'), SAFE_APP)
  e2e = await startControlPlaneE2E()
  // The image's working directory, where `celery -A` finds this test's apps.
  for (const ns of Object.values(NS)) e2e.rig.controlPlane.pods.set({ namespace: ns }, { workDir: apps })
  rig = e2e.rig
})
after(async () => {
  await e2e?.stop()
  await Promise.all(workspaces.map(w => w.remove()))
  await redis?.stop()
  await rm(apps, { recursive: true, force: true })
})

// The Deployment's REDIS_URL for a namespace's pods: its own database of the test's Redis. A broker nothing
// answers on (port 1) for brokerDown: the app loads, its queues cannot be read.
function broker(namespace: string): { secret_data: string } {
  const url =
    namespace === NS.brokerDown
      ? 'redis://:hunter2-broker@127.0.0.1:1/0'
      : `redis://127.0.0.1:${redis.port}/${DB[namespace]}`
  return { secret_data: `SECRET_KEY=django-insecure-example-key\nREDIS_URL=${url}` }
}

function redisCli(db: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('redis-cli', ['-p', String(redis.port), '-n', String(db), ...args], (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim())
    )
  )
}

// The `kubectl exec` calls the action made into one namespace's pods, by pod: each starts with a GET (the
// WebSocket upgrade; here kubectl then falls back to SPDY with a POST of the same request, as kwok's exec asks).
function execsInto(namespace: string): string[] {
  return rig
    .requestLog()
    .filter(
      r => r.method === 'GET' && r.path.includes(`/namespaces/${namespace}/pods/`) && r.path.includes('/exec')
    )
    .map(r => decodeURIComponent(r.path.split('/pods/')[1].split('/exec')[0]))
}

// The built-in worker template with another grace period.
async function workerTemplateWithGrace(seconds: number): Promise<string> {
  const template = (
    await readFile(path.join(REPO_ROOT, 'manifests', '30-worker-deployment.yaml'), 'utf8')
  ).replace('terminationGracePeriodSeconds: 90', `terminationGracePeriodSeconds: ${seconds}`)
  return templatesWith({ '30-worker-deployment.yaml': template }, workspaces)
}

async function workerPods(namespace: string): Promise<string[]> {
  const pods = await rig.kubectlJson<{ items: Array<{ metadata: { name: string } }> }>(
    'get',
    'pods',
    '-n',
    namespace,
    '-l',
    'app=celery-worker'
  )
  return pods.items.map(p => p.metadata.name)
}

describe('task_safety on the real control plane, the real check against a real Celery app and Redis', () => {
  test('warn: the findings and their fixes in the summary and as warnings; the old worker drained; the queues before and after', async () => {
    const ns = NS.warn
    const first = await e2e.run(ns, {
      ...broker(ns),
      image: `${REGISTRY}:v1-stops-clean`,
      task_safety: '',
      celery_app: 'unsafeapp',
      worker_queues: 'celery,reports'
    })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    assert.match(first.summary, /### Task safety \(warn\)/)
    assert.match(first.summary, /Before: no worker pod was running to read them in\./)
    const [oldPod] = await workerPods(ns)

    // Tasks waiting, one at priority 3 (kombu's list "reports\x06\x163"), one reserved by a worker.
    await redisCli(DB[ns], 'LPUSH', 'celery', 'm1', 'm2', 'm3')
    await redisCli(DB[ns], 'LPUSH', 'reports\x06\x163', 'm4')
    await redisCli(DB[ns], 'HSET', 'unacked', 'tag-1', 'reserved')

    const execsBefore = execsInto(ns).length
    // task_safety empty: the default, warn; no smoke checks, so the check is alone in its exec.
    const run = await e2e.run(ns, {
      ...broker(ns),
      image: `${REGISTRY}:v2`,
      smoke_checks: 'false',
      task_safety: '',
      celery_app: 'unsafeapp',
      worker_queues: 'celery,reports'
    })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    // What the real check read, and what it means on the next deploy, with the fix.
    assert.match(
      run.summary,
      /Read in pod celery-worker-[a-z0-9-]+: Celery 5\.2\.\d+ \(kombu [\d.]+\), 2 registered tasks, broker redis; the worker gets 90 s to stop \(terminationGracePeriodSeconds\), preStop: signals the main worker process \(warm shutdown\)\./
    )
    assert.match(
      run.summary,
      /tasks lost at the end of the grace period\*\* \(every task \(2\)\): A run of any task still going 90 s after an old worker is told to stop is killed with it, and lost/
    )
    assert.match(run.summary, /\*\*Fix:\*\* task\\_acks\\_late = True/)
    assert.match(run.summary, /prefetched tasks wait out the shutdown/)
    // As warnings on the run page, titled (the runner's command escapes the title's colon as %3A).
    assert.match(run.stdout, /::warning title=task safety%3A tasks lost at the end of the grace period::/)
    assert.match(run.stdout, /::warning title=task safety%3A prefetched tasks wait out the shutdown::/)
    // The old release's worker stopped on its own.
    assert.match(run.summary, /1 old worker stopped: 1 drained cleanly in [0-3] s, 0 killed/)
    assert.match(
      run.summary,
      new RegExp(`\\| ${oldPod} \\| drained \\(warm shutdown, exit 0\\) \\| [0-3] s \\| 0 \\|`)
    )
    // The queues: read in the old pod before the apply, in a new one after; nothing consumed them.
    assert.match(run.summary, /\| celery \| 3 \| 3 \|/)
    assert.match(run.summary, /\| reports \| 1 \(priority 3: 1\) \| 1 \(priority 3: 1\) \|/)
    assert.match(run.summary, /\| reserved, not acknowledged \(unacked\) \| 1 \| 1 \|/)
    assert.match(
      run.summary,
      new RegExp(
        `Read \\d+ s apart, before in pod ${oldPod} \\(the release before\\), after in pod celery-worker-`
      )
    )
    // Counting only: the messages are where they were.
    assert.equal(await redisCli(DB[ns], 'LLEN', 'celery'), '3')
    assert.equal(await redisCli(DB[ns], 'HGET', 'unacked', 'tag-1'), 'reserved')
    // Three execs: the queues in the old pod, the check (smoke_checks off: alone in its batch), the queues after.
    const execs = execsInto(ns).slice(execsBefore)
    assert.equal(execs.length, 3, execs.join(', '))
    assert.equal(execs[0], oldPod)
  })

  test('strict, a safe app: deployed, the check in the same exec as the smoke checks', async () => {
    const ns = NS.strictSafe
    const run = await e2e.run(ns, {
      ...broker(ns),
      image: `${REGISTRY}:v1`,
      celery_app: 'safeapp',
      task_safety: 'strict',
      smoke_checks: 'redis'
    })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.match(run.summary, /### Task safety \(strict\)/)
    assert.match(run.summary, /No way found in which these settings lose or repeat tasks on a deploy\./)
    const [redisCheck] = JSON.parse(run.outputs.smoke_results) as Array<{
      name: string
      ok: boolean
      pod: string
    }>
    assert.equal(redisCheck.name, 'redis')
    assert.equal(redisCheck.ok, true)
    // smoke_results keeps to the smoke checks; the check and the Redis PING shared the worker's one exec.
    assert.equal(JSON.parse(run.outputs.smoke_results).length, 1)
    const intoWorker = execsInto(ns).filter(pod => pod === redisCheck.pod)
    assert.equal(intoWorker.length, 2, 'the batch (check and PING), then the queues after')
  })

  test('strict, an unsafe app: the verification fails and the release is rolled back', async () => {
    const ns = NS.strictUnsafe
    const first = await e2e.run(ns, {
      ...broker(ns),
      image: `${REGISTRY}:v1`,
      celery_app: 'unsafeapp',
      task_safety: 'off'
    })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    const run = await e2e.run(ns, {
      ...broker(ns),
      image: `${REGISTRY}:v2`,
      celery_app: 'unsafeapp',
      task_safety: 'strict'
    })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    assert.match(
      run.summary,
      /\*\*task safety\*\*: A run of any task still going 90 s after an old worker is told to stop is killed with it, and lost/
    )
    assert.match(run.stdout, /::error title=task safety%3A tasks lost at the end of the grace period::/)
    const worker = await rig.kubectlJson<{
      spec: { template: { spec: { containers: Array<{ image: string }> } } }
    }>('get', 'deployment', 'celery-worker', '-n', ns)
    assert.equal(worker.spec.template.spec.containers[0].image, `${REGISTRY}:v1`)
  })

  test('old workers killed at the grace deadline with acks_late off: the drain table and a finding of their own', async () => {
    const ns = NS.killed
    const common = {
      manifests: await workerTemplateWithGrace(2),
      celery_app: 'unsafeapp',
      beat: 'false',
      autoscaling: 'none',
      worker_min_replicas: '3'
    }
    const first = await e2e.run(ns, {
      ...broker(ns),
      ...common,
      image: `${REGISTRY}:v1-stops-killed`,
      task_safety: 'off'
    })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    const old = await workerPods(ns)
    assert.equal(old.length, 3)

    const run = await e2e.run(ns, {
      ...broker(ns),
      ...common,
      image: `${REGISTRY}:v2`,
      task_safety: 'warn'
    })
    assert.equal(run.outputs.status, 'deployed', run.stdout)
    assert.match(run.summary, /3 old workers stopped: 0 drained cleanly, 3 killed/)
    for (const pod of old) {
      assert.match(
        run.summary,
        new RegExp(`\\| ${pod} \\| killed at the grace deadline \\| [1-3] s \\| 137 \\|`)
      )
    }
    assert.match(run.summary, /old workers killed with acks\\_late off/)
    assert.match(
      run.summary,
      /3 old workers were killed at the end of the grace period \(2 s\) during this deploy/
    )
    assert.match(run.stdout, /::warning title=task safety%3A old workers killed with acks_late off::/)
  })

  test('queues that cannot be read are a note, not a failure: the check still reads the app', async () => {
    const ns = NS.brokerDown
    const run = await e2e.run(ns, {
      ...broker(ns),
      image: `${REGISTRY}:v1`,
      celery_app: 'safeapp',
      task_safety: 'strict',
      // The Redis check would fail on this broker, and rightly: the test is about the task-safety check.
      smoke_checks: 'worker,beat,database'
    })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.match(run.summary, /No way found in which these settings lose or repeat tasks on a deploy\./)
    assert.match(run.summary, /After: not read: the broker did not answer: /)
    // The password is a secret_data value: masked (the runner's own ::add-mask:: lines), shown nowhere.
    const shown = run.stdout
      .split('\n')
      .filter(line => !line.startsWith('::add-mask::'))
      .join('\n')
    assert.ok(!run.summary.includes('hunter2') && !shown.includes('hunter2'), 'the password is not shown')
  })

  test('cancelled while waiting for an old worker to stop: the run stops within GitHub\u2019s seconds and starts the undo', async () => {
    const ns = NS.cancel
    const common = {
      manifests: await workerTemplateWithGrace(60),
      celery_app: 'safeapp',
      beat: 'false',
      autoscaling: 'none'
    }
    const first = await e2e.run(ns, {
      ...broker(ns),
      ...common,
      image: `${REGISTRY}:v1-stops-killed`,
      task_safety: 'off'
    })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    // The old worker holds on to the end of its 60 s: the run waits for it in the task-safety step.
    const run = await e2e.start(ns, {
      ...broker(ns),
      ...common,
      image: `${REGISTRY}:v2`,
      task_safety: 'warn'
    })
    await run.waitForOutput(/::group::Task safety/, 60_000)
    const took = await cancelLikeGitHub(run)
    const result = await run.done
    assert.ok(took < 7500, `ended ${took} ms after SIGINT`)
    assert.equal(result.outputs.status, 'cancelled', result.stdout)
    assert.match(
      plain(result.summary),
      /Cancelled \(SIGINT\) during the task-safety check; rollback started for celery-worker/
    )
    assert.equal((await run.post()).exitCode, 0)
  })
})
