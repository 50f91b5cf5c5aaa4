// The deploy lock as a fence, on the real control plane and through dist/: a run whose process is paused past
// its lease (a stalled runner) loses the lock to the next run and, when it wakes, writes nothing more: no undo
// over the newer deploy, no Secret of its own put back. A runner lost for good leaves its journal in the Lease;
// the next run, once the lease has lapsed, takes the journal over, says so, and restores the last verified
// release (the Secret from the copy of its previous values) when the interrupted release fails again.
// Each test waits out a real 60 s lease: they are slow by nature.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { clusterState } from '../support/cluster-state.js'
import { plain } from '../support/report.js'
import type { ControlPlaneRig } from '../support/rig.js'

let e2e: E2E
let rig: ControlPlaneRig
let cluster: ReturnType<typeof clusterState>
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
  cluster = clusterState(rig)
})
after(async () => e2e?.stop())

const secretData = (key: string): string => `SECRET_KEY=${key}\nREDIS_URL=${e2e.rig.services.redis.url()}`

describe('the deploy lock as a fence', () => {
  test('a run paused past its lease loses the lock to the next run and, resumed, writes nothing over it', async () => {
    const ns = 'cp-paused'
    assert.equal(
      (await e2e.run(ns, { image: `${REGISTRY}:v1`, secret_data: secretData('key-one') })).outputs.status,
      'deployed'
    )
    const stalled = await e2e.start(ns, {
      image: `${REGISTRY}:v2-never-ready`,
      secret_data: secretData('key-two'),
      rollout_timeout: '30s'
    })
    await stalled.waitForOutput(/celery-worker: Waiting for deployment/)
    stalled.signal('SIGSTOP')

    const newer = await e2e.start(
      ns,
      { image: `${REGISTRY}:v3`, secret_data: secretData('key-three'), lock_timeout: '150s' },
      { env: { GITHUB_RUN_ID: '4343' } }
    )
    const result = await newer.done
    assert.equal(result.exitCode, 0, result.stdout)
    assert.equal(result.outputs.status, 'deployed')
    assert.match(
      plain(result.summary),
      /runs\/4242 by octocat deploying \S+:v2-never-ready was interrupted after its first write/
    )
    await newer.post()
    const writesBefore = writes(ns)

    stalled.signal('SIGCONT')
    const old = await stalled.done
    assert.equal(old.exitCode, 1)
    assert.equal(old.outputs.status, 'failed', old.stdout)
    assert.match(
      plain(old.summary),
      /\*\*deploy lock\*\*: the deploy lock in namespace cp-paused was (taken over by \S+|removed while this run held it) \(during the rollouts\)/
    )
    assert.match(plain(old.summary), /This run stopped writing and undid nothing/)
    assert.match(old.stdout, /this run stopped writing at \S+ and undid nothing/)
    assert.equal((await stalled.post()).exitCode, 0)

    assert.deepEqual(
      writes(ns).slice(writesBefore.length),
      [],
      'the resumed run wrote nothing to the workloads or the Secret'
    )
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v3`)
    assert.equal(await cluster.image(ns, 'celery-beat'), `${REGISTRY}:v3`)
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-three')
    assert.equal(await cluster.lease(ns), undefined)
  })

  test('a runner lost after its apply: the next run takes its journal over and restores the last verified release', async () => {
    const ns = 'cp-runner-lost'
    assert.equal(
      (await e2e.run(ns, { image: `${REGISTRY}:v1`, secret_data: secretData('key-one') })).outputs.status,
      'deployed'
    )
    const lost = await e2e.start(ns, {
      image: `${REGISTRY}:v2-never-ready`,
      secret_data: secretData('key-two'),
      rollout_timeout: '300s'
    })
    await lost.waitForOutput(/celery-worker: Waiting for deployment/)
    // The runner is gone: no post step.
    lost.signal('SIGKILL')
    await lost.done
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-two')
    assert.equal(
      await cluster.secretValue(ns, 'SECRET_KEY', 'deploy-gke-workers-undo'),
      'key-one',
      'the previous values, kept aside'
    )

    const next = await e2e.run(
      ns,
      {
        image: `${REGISTRY}:v2-never-ready`,
        secret_data: secretData('key-two'),
        lock_timeout: '120s',
        rollout_timeout: '15s'
      },
      { env: { GITHUB_RUN_ID: '4444' } }
    )
    assert.equal(next.outputs.status, 'rolled-back', next.stdout)
    assert.match(
      plain(next.summary),
      /runs\/4242 by octocat deploying \S+:v2-never-ready was interrupted after its first write \(it was applying or verifying/
    )
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v1`)
    assert.equal(await cluster.image(ns, 'celery-beat'), `${REGISTRY}:v1`)
    assert.equal(
      await cluster.secretValue(ns, 'SECRET_KEY'),
      'key-one',
      'restored from the copy the lost run made'
    )
    assert.equal(await cluster.exists(ns, 'secret', 'deploy-gke-workers-undo'), false)
    assert.equal(await cluster.lease(ns), undefined)
  })
})

// The writes to the namespace's workloads and Secret, in order (the Lease aside: a run that lost its lock may
// still try to renew it, and is refused).
function writes(namespace: string): string[] {
  return rig
    .requestLog()
    .filter(
      r =>
        r.method !== 'GET' &&
        r.path.includes(`/namespaces/${namespace}/`) &&
        !r.path.includes('/leases/') &&
        !r.path.includes('dryRun=All')
    )
    .map(r => `${r.method} ${r.path.split('?')[0]}`)
}
