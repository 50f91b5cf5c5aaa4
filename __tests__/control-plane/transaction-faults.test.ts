// The deploy transaction under faults a real API server and a real pipeline produce, end to end through dist/
// on the real control plane: every write of one object refused, a reply lost after the server did the work, two
// matrix legs of one job, a lock holder whose clock is far behind. In each the run ends in a state its status and
// summary describe, read from the cluster.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { clusterState } from '../support/cluster-state.js'
import { lockLease } from '../support/lease.js'
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

describe('the transaction under faults', () => {
  test('every write of celery-beat refused (500): what did change is read from the cluster and undone', async () => {
    const ns = 'cp-beat-500'
    const first = await e2e.run(ns, { image: `${REGISTRY}:b1`, secret_data: secretData('key-one') })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    rig.controlPlane.faults.set({
      seed: 2,
      errorRate: 1,
      statuses: [500],
      only: (method, path) =>
        method !== 'GET' &&
        path.includes(`/namespaces/${ns}/deployments/celery-beat`) &&
        !path.includes('dryRun=All')
    })
    let run
    try {
      run = await e2e.run(ns, { image: `${REGISTRY}:b2`, secret_data: secretData('key-two') })
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    const summary = plain(run.summary)
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    assert.doesNotMatch(summary, /changed no Deployment and no Secret/)
    assert.match(summary, /Secret app-secrets: its previous values were restored/)
    assert.match(
      summary,
      /\| celery-worker \| 1 \| rolled back to the template of revision 1; rollout complete/
    )
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:b1`)
    assert.equal(await cluster.image(ns, 'celery-beat'), `${REGISTRY}:b1`)
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-one')
    assert.equal(
      await cluster.exists(ns, 'secret', 'deploy-gke-workers-undo'),
      false,
      'the copy served and went'
    )
    assert.equal(await cluster.lease(ns), undefined)
  })

  test('a restart whose reply is lost is sent again and restarts once', async () => {
    const ns = 'cp-restart-reply'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:s1` })).outputs.status, 'deployed')
    const revision = await cluster.revision(ns, 'celery-worker')
    const replicaSets = await cluster.replicaSets(ns, 'celery-worker')
    // The answer to the write that restarts the pods is lost once: the server did restart them.
    let dropped = 0
    rig.controlPlane.faults.set({
      seed: 4,
      dropReplyRate: 1,
      inspectBody: true,
      only: (method, path, body) =>
        method === 'PATCH' &&
        path.includes(`/namespaces/${ns}/deployments/celery-worker`) &&
        !path.includes('dryRun=All') &&
        (body ?? '').includes('kubectl.kubernetes.io/restartedAt') &&
        dropped++ === 0
    })
    let run
    try {
      // workflow_dispatch of the image already there: the pods are restarted.
      run = await e2e.run(ns, { image: `${REGISTRY}:s1` }, { eventName: 'workflow_dispatch' })
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.ok(
      rig
        .requestLog()
        .some(r => r.status === -2 && r.path.includes(`/namespaces/${ns}/deployments/celery-worker`)),
      'the server applied the restart and its answer was lost'
    )
    assert.equal(await cluster.revision(ns, 'celery-worker'), revision + 1, 'one restart, not two')
    assert.equal(await cluster.replicaSets(ns, 'celery-worker'), replicaSets + 1)
    assert.match(plain(run.summary), /celery-worker restarted: redeploy requested \(workflow_dispatch\)/)
  })

  test('two matrix legs of one job (same run, attempt and job): one waits for the other, never both at once', async () => {
    const ns = 'cp-matrix'
    const [a, b] = await Promise.all([
      e2e.start(ns, { image: `${REGISTRY}:leg-a`, lock_timeout: '120s' }),
      e2e.start(ns, { image: `${REGISTRY}:leg-b`, lock_timeout: '120s' })
    ])
    const [ra, rb] = await Promise.all([a.done, b.done])
    await Promise.all([a.post(), b.post()])
    assert.equal(ra.outputs.status, 'deployed', ra.stdout)
    assert.equal(rb.outputs.status, 'deployed', rb.stdout)
    const waited = [ra, rb].filter(r => /Waiting for the deploy lock/.test(r.stdout))
    assert.equal(waited.length, 1, 'exactly one leg waited for the other')
    // The leg that waited deployed last: its image is what runs.
    const last = waited[0] === ra ? 'leg-a' : 'leg-b'
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:${last}`)
  })

  test('a live holder whose clock is 90 s behind is not taken over: its lease keeps changing', async () => {
    const ns = 'cp-skew'
    const holder = 'noesis2/other/runs/77/attempts/1/deploy#skewed'
    const renew = () => rig.applyObjects([lockLease(ns, holder, Date.now() - 90_000, 60)])
    await rig.applyObjects([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }])
    await renew()
    let renewing = true
    const loop = (async () => {
      while (renewing) {
        await new Promise(resolve => setTimeout(resolve, 2000))
        if (renewing) await renew()
      }
    })()
    let run
    try {
      run = await e2e.run(ns, { image: `${REGISTRY}:k1`, lock_timeout: '8s' })
    } finally {
      renewing = false
      await loop
    }
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed')
    assert.match(
      run.stdout,
      /another deploy is in progress in namespace cp-skew \(holder noesis2\/other\/runs\/77/
    )
    assert.equal((await rig.kubectl('get', 'deployments', '-n', ns, '-o', 'name')).stdout.trim(), '')
    assert.equal((await cluster.lease(ns))?.holder, holder, 'the live holder still holds it')
  })
})
