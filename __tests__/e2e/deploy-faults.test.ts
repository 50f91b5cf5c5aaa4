// End-to-end runs that need a rig of their own: a smoke check that fails, and an API server that answers a
// share of requests with 503/429/500 (the deploy must still succeed through retries).

import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startE2E, type E2E } from '../support/e2e.js'
import type { SmokeAnswers } from '../support/smoke-exec.js'

const sessions: E2E[] = []
after(async () => Promise.all(sessions.map(s => s.stop())))

async function session(smoke?: SmokeAnswers): Promise<E2E> {
  const e2e = await startE2E({ smoke })
  sessions.push(e2e)
  return e2e
}

describe('deploy against a misbehaving app or API', () => {
  test('a failed smoke check fails the step and rolls back', async () => {
    const e2e = await session({
      database: { ok: false, error: 'OperationalError: password authentication failed for user "noesis2"' }
    })
    const rig = e2e.rig
    const ns = 'e2e-smoke'
    // The first deploy skips the database check, so there is a good revision to go back to.
    const first = await e2e.run(ns, { image: `${REGISTRY}:m1`, smoke_checks: 'worker,beat,redis' })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    const run = await e2e.run(ns, { image: `${REGISTRY}:m2` })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back')
    assert.match(run.stdout, /::error title=smoke check database%3A failed::smoke check database: failed: /)
    assert.match(run.summary, /\| database \| celery-worker-[a-z0-9-]+ \| FAIL \|/)
    assert.match(run.summary, /password authentication failed/)
    const results = JSON.parse(run.outputs.smoke_results) as Array<{ name: string; ok: boolean }>
    assert.deepEqual(results.find(r => r.name === 'database')?.ok, false)
    const worker = await rig.kubectlJson<{
      spec: { template: { spec: { containers: Array<{ image: string }> } } }
    }>('get', 'deployment', 'celery-worker', '-n', ns)
    assert.equal(worker.spec.template.spec.containers[0].image, `${REGISTRY}:m1`)
  })

  test('a bad Secret value that fails a smoke check: the old values come back with the old pods', async () => {
    const e2e = await session({ redis: { ok: false, error: 'WRONGPASS invalid username-password pair' } })
    const rig = e2e.rig
    const ns = 'e2e-secret-rollback'
    const good = 'SECRET_KEY=django-insecure-example-key\nREDIS_URL=redis://:good-redis-pass@10.0.0.5:6379/0'
    const first = await e2e.run(ns, {
      image: `${REGISTRY}:s1`,
      secret_data: good,
      smoke_checks: 'worker,beat,database'
    })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    const bad = good.replace('good-redis-pass', 'bad-redis-pass')
    const run = await e2e.run(ns, { image: `${REGISTRY}:s1`, secret_data: bad })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back')
    assert.match(run.summary, /celery-worker restarted: Secret app-secrets changed/)
    assert.match(run.summary, /Secret app-secrets: its previous values were restored/)
    const secret = await rig.kubectlJson<{ data: Record<string, string> }>(
      'get',
      'secret',
      'app-secrets',
      '-n',
      ns
    )
    assert.equal(
      Buffer.from(secret.data.REDIS_URL, 'base64').toString(),
      'redis://:good-redis-pass@10.0.0.5:6379/0'
    )
    for (const text of [run.stdout, run.summary])
      assert.ok(
        !text
          .split('\n')
          .filter(l => !l.startsWith('::add-mask::'))
          .join('\n')
          .includes('bad-redis-pass')
      )
  })

  test('an exec the API refuses before it starts (500 on its upgrade) is made again, once; the other pod\u2019s exec once', async () => {
    const e2e = await session()
    const rig = e2e.rig
    const ns = 'e2e-exec-refused'
    const execOf = (pod: string): RegExp =>
      new RegExp(`^/api/v1/namespaces/${ns}/pods/${pod}-[a-z0-9-]+/exec\\?`)
    // The emulator asks `only` twice per request (its latency, then its answer). kubectl tries a websocket
    // upgrade, then SPDY: the first four askings refuse one whole kubectl exec of the worker's pod.
    let asked = 0
    rig.kube.control.setFaults({
      seed: 1,
      errorRate: 1,
      statuses: [500],
      only: (method, requestPath) => execOf('celery-worker').test(requestPath) && asked++ < 4
    })
    try {
      const run = await e2e.run(ns, { image: `${REGISTRY}:x1` })
      assert.equal(run.exitCode, 0, run.stdout)
      assert.equal(run.outputs.status, 'deployed')
      const results = JSON.parse(run.outputs.smoke_results) as Array<{ name: string; ok: boolean }>
      assert.ok(results.length > 0 && results.every(r => r.ok), run.outputs.smoke_results)
      const answers = (pod: string): number[] =>
        rig
          .requestLog()
          .filter(r => execOf(pod).test(r.path))
          .map(r => r.status)
      assert.deepEqual(answers('celery-worker'), [500, 500, 101], 'the refused exec was made again, once')
      assert.deepEqual(answers('celery-beat'), [101], 'the other pod\u2019s exec, not refused, was made once')
    } finally {
      rig.kube.control.setFaults(undefined)
    }
  })

  test('transient API errors (503, 429, 500 on a seeded share of requests) are retried and the deploy succeeds', async () => {
    const e2e = await session()
    const rig = e2e.rig
    // Not on exec: the emulator answers only websocket exec, so a refused upgrade's SPDY fallback gets a 400 a real
    // server would not give (exec faults have a test of their own above).
    rig.kube.control.setFaults({
      seed: 7,
      errorRate: 0.15,
      statuses: [503, 429, 500],
      retryAfterSeconds: 1,
      only: (_method, path) => !path.includes('/exec')
    })
    const run = await e2e.run('e2e-faults', { image: `${REGISTRY}:f1` })
    rig.kube.control.setFaults(undefined)
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'deployed')
    const injected = rig.kube.control.requestLog().filter(r => [503, 429, 500].includes(r.status)).length
    assert.ok(injected > 0, 'faults were injected')
  })

  test('an API that stops answering after the apply: the error is reported, the rollback tried, nothing claimed', async () => {
    const e2e = await session()
    const rig = e2e.rig
    const ns = 'e2e-watch-error'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:w1` })).outputs.status, 'deployed')
    // From now on every read of the namespace's pods fails with 500: waited out until the rollout deadline (a
    // short one here), then given up.
    rig.kube.control.setFaults({
      seed: 3,
      errorRate: 1,
      statuses: [500],
      only: (method, path) => method === 'GET' && path.startsWith(`/api/v1/namespaces/${ns}/pods`)
    })
    try {
      const run = await e2e.run(ns, { image: `${REGISTRY}:w2`, rollout_timeout: '5s' })
      assert.equal(run.exitCode, 1)
      assert.equal(run.outputs.status, 'failed', 'a rollback that could not be watched is not claimed')
      assert.match(run.summary, /^- \*\*deploy\*\*: /m, 'the error heads the summary')
      assert.match(run.summary, /### Rollback/)
      assert.match(run.summary, /rolled back to the template of revision 1/)
    } finally {
      rig.kube.control.setFaults(undefined)
    }
    const worker = await rig.kubectlJson<{
      spec: { template: { spec: { containers: Array<{ image: string }> } } }
    }>('get', 'deployment', 'celery-worker', '-n', ns)
    assert.equal(
      worker.spec.template.spec.containers[0].image,
      `${REGISTRY}:w1`,
      'the undo itself went through'
    )
  })
})
