// The smoke checks as they run in the pods of the real control plane: the real Python of the action, exec'd
// with the Deployment's env, against a real PostgreSQL and Redis. A wrong password in the inputs is a failed
// check with the server's own words, the deploy is rolled back, and the Secret's previous values come back with
// the previous pods.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { clusterState } from '../support/cluster-state.js'
import type { ControlPlaneRig } from '../support/rig.js'
import type { ActionRun } from '../support/run-action.js'

let e2e: E2E
let rig: ControlPlaneRig
let state: ReturnType<typeof clusterState>
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
  state = clusterState(rig)
})
after(async () => e2e?.stop())

function smokeResults(run: ActionRun): Array<{ name: string; ok: boolean; detail: string }> {
  return JSON.parse(run.outputs.smoke_results) as Array<{ name: string; ok: boolean; detail: string }>
}

// The log as a person sees it (the runner's own ::add-mask:: lines left out).
function shownLog(run: ActionRun): string {
  return run.stdout
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
}

describe('smoke checks in the pods, against the real services', () => {
  test('a wrong db_password: PostgreSQL refuses the login, the check fails, the release and the Secret go back', async () => {
    const ns = 'smoke-database'
    const first = await e2e.run(ns, { image: `${REGISTRY}:m1` })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    assert.ok(
      smokeResults(first).every(r => r.ok),
      first.outputs.smoke_results
    )
    const goodUrl = await state.secretValue(ns, 'DATABASE_URL')

    const run = await e2e.run(ns, { image: `${REGISTRY}:m2`, db_password: 'not-the-password' })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    const database = smokeResults(run).find(r => r.name === 'database')
    assert.equal(database?.ok, false)
    assert.match(database!.detail, /password authentication failed for user "noesis2_app"/)
    assert.match(run.stdout, /::error title=smoke check database%3A failed::smoke check database: failed: /)
    assert.match(run.summary, /\| database \| celery-worker-[a-z0-9-]+ \| FAIL \|/)
    assert.equal(await state.image(ns, 'celery-worker'), `${REGISTRY}:m1`)
    assert.equal(await state.secretValue(ns, 'DATABASE_URL'), goodUrl)
    assert.ok(!shownLog(run).includes('not-the-password') && !run.summary.includes('not-the-password'))
  })

  test('a bad Redis password in secret_data: WRONGPASS from Redis, the old values come back with the old pods', async () => {
    const ns = 'smoke-redis'
    const good = rig.services.inputs.secret_data
    const first = await e2e.run(ns, { image: `${REGISTRY}:s1`, secret_data: good })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    const bad = good.replace(rig.services.redis.password, 'bad-redis-pass')
    const run = await e2e.run(ns, { image: `${REGISTRY}:s1`, secret_data: bad })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    const redis = smokeResults(run).find(r => r.name === 'redis')
    assert.equal(redis?.ok, false)
    assert.match(redis!.detail, /WRONGPASS/)
    assert.match(run.summary, /celery-worker restarted: Secret app-secrets changed/)
    assert.match(run.summary, /Secret app-secrets: its previous values were restored/)
    assert.equal(await state.secretValue(ns, 'REDIS_URL'), rig.services.redis.url())
    for (const text of [shownLog(run), run.summary]) assert.ok(!text.includes('bad-redis-pass'))
  })

  test('a worker command that starts no worker: the process check finds none in the pod', async () => {
    const ns = 'smoke-no-worker'
    // The container's main process runs something else (a shell, as a wrong entrypoint would).
    rig.controlPlane.pods.set(
      { namespace: ns, pod: 'celery-worker' },
      { main: ['sh', '-c', 'sleep infinity'] }
    )
    const run = await e2e.run(ns, { image: `${REGISTRY}:w1`, task_safety: 'off' })
    assert.equal(run.exitCode, 1)
    const worker = smokeResults(run).find(r => r.name === 'worker-process')
    assert.equal(worker?.ok, false)
    assert.match(worker!.detail, /no process matches celery\.\*worker/)
    assert.ok(
      smokeResults(run)
        .filter(r => r.name !== 'worker-process')
        .every(r => r.ok),
      run.outputs.smoke_results
    )
  })
})
