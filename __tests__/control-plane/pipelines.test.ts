// What real pipelines do to a deploy, against the real control plane: GitHub cancels a step (SIGINT, SIGTERM
// 7.5 s later, then a kill), `concurrency: cancel-in-progress` supersedes a run with a newer one, two runs
// meet at the deploy lock, and a runner dies without cleaning up.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { cancelLikeGitHub } from '../support/cluster-state.js'
import { lockLease } from '../support/lease.js'
import type { ControlPlaneRig } from '../support/rig.js'

let e2e: E2E
let rig: ControlPlaneRig
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
})
after(async () => e2e?.stop())

interface Lease {
  metadata: { annotations?: Record<string, string> }
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string }
}

async function liveImage(namespace: string, deployment: string): Promise<string> {
  const live = await rig.kubectlJson<{
    spec: { template: { spec: { containers: Array<{ name: string; image: string }> } } }
  }>('get', 'deployment', deployment, '-n', namespace)
  return live.spec.template.spec.containers.find(c => c.name === 'app')!.image
}

async function lease(namespace: string): Promise<Lease | undefined> {
  const result = await rig.kubectl('get', 'lease', 'deploy-gke-workers', '-n', namespace, '-o', 'json')
  return result.code === 0 ? (JSON.parse(result.stdout) as Lease) : undefined
}

// A cancelled run releases the lock (no holder) and leaves its journal: the undo it started was not watched, so
// the next run verifies what is there.
async function releasedWithJournal(namespace: string): Promise<{ phase: string }> {
  const left = await lease(namespace)
  assert.ok(left, 'the Lease stays with the journal')
  assert.equal(left.spec.holderIdentity, '', 'nobody holds the lock')
  return JSON.parse(left.metadata.annotations?.['deploy-gke-workers/journal'] ?? '{}') as { phase: string }
}

describe('cancellation', () => {
  test('cancelled during the pre-flight: nothing changes, status cancelled, a summary', async () => {
    const ns = 'cp-cancel-preflight'
    // Slow access checks, so the cancel lands inside the pre-flight whatever the machine's speed.
    rig.controlPlane.faults.set({
      seed: 1,
      latencyMs: 1500,
      only: (_method, path) => path.includes('selfsubjectaccessreviews')
    })
    try {
      const run = await e2e.start(ns, { image: `${REGISTRY}:v1` })
      await run.waitForOutput(/::group::Pre-flight checks/)
      await cancelLikeGitHub(run)
      const result = await run.done
      assert.equal(result.outputs.status, 'cancelled', result.stdout)
      assert.notEqual(result.exitCode, 0)
      assert.match(result.summary, /deploy-gke-workers: cancelled/)
      assert.match(
        result.summary,
        /Cancelled \(SIGINT\) during the pre-flight checks, before any change: nothing was changed/
      )
      assert.equal((await run.post()).exitCode, 0)
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    assert.equal(e2e.writesTo(ns), 0, 'nothing reached the namespace')
  })

  test('cancelled right after the apply: the rollback starts, the lock goes, within GitHub\u2019s 7.5 s', async () => {
    const ns = 'cp-cancel-apply'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:v1` })).outputs.status, 'deployed')
    const run = await e2e.start(ns, { image: `${REGISTRY}:v2-never-ready`, rollout_timeout: '300s' })
    await run.waitForOutput(/HorizontalPodAutoscaler\/celery-worker-hpa (unchanged|configured|created)/)
    const took = await cancelLikeGitHub(run)
    const result = await run.done
    assert.ok(took < 7500, `the cancelled run ended ${took} ms after SIGINT`)
    assert.equal(result.outputs.status, 'cancelled', result.stdout)
    assert.match(
      result.summary,
      /Cancelled \(SIGINT\) during the (apply|rollouts); rollback started for celery-worker, celery-beat/
    )
    assert.match(result.summary, /### Rollback/)
    assert.equal((await releasedWithJournal(ns)).phase, 'undo-started')
    assert.equal((await run.post()).exitCode, 0)
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:v1`)
    assert.equal(await liveImage(ns, 'celery-beat'), `${REGISTRY}:v1`)
  })

  test('cancelled mid-rollout: both Deployments back at their previous template, no lock left', async () => {
    const ns = 'cp-cancel-rollout'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:v1` })).outputs.status, 'deployed')
    const run = await e2e.start(ns, { image: `${REGISTRY}:v2-never-ready`, rollout_timeout: '300s' })
    await run.waitForOutput(/celery-worker: Waiting for deployment "celery-worker" rollout to finish/)
    const took = await cancelLikeGitHub(run)
    const result = await run.done
    assert.ok(took < 7500, `ended ${took} ms after SIGINT`)
    assert.equal(result.outputs.status, 'cancelled')
    assert.match(result.summary, /during the rollouts; rollback started for celery-worker, celery-beat/)
    assert.equal((await releasedWithJournal(ns)).phase, 'undo-started')
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:v1`)
    assert.equal(await liveImage(ns, 'celery-beat'), `${REGISTRY}:v1`)
    assert.ok(result.outputs.worker_revision, 'the revision outputs are written')
  })

  test('a run superseded by a newer one (cancel-in-progress): the newer run takes the lock and deploys', async () => {
    const ns = 'cp-superseded'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:v1` })).outputs.status, 'deployed')
    const older = await e2e.start(ns, { image: `${REGISTRY}:v2-never-ready`, rollout_timeout: '300s' })
    await older.waitForOutput(/::group::Rollouts/)
    const newer = await e2e.start(
      ns,
      { image: `${REGISTRY}:v3`, lock_timeout: '60s' },
      { env: { GITHUB_RUN_ID: '4343' } }
    )
    await newer.waitForOutput(
      /Waiting for the deploy lock: another deploy is in progress in namespace cp-superseded \(run https:\/\/github\.com\/noesis2\/noesis2\/actions\/runs\/4242/
    )
    await cancelLikeGitHub(older)
    assert.equal((await older.done).outputs.status, 'cancelled')
    const result = await newer.done
    assert.equal(result.exitCode, 0, result.stdout)
    assert.equal(result.outputs.status, 'deployed')
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:v3`)
    await Promise.all([older.post(), newer.post()])
  })
})

describe('the deploy lock', () => {
  test('a lock whose holder stopped renewing lapses, and the waiting run takes it over', async () => {
    const ns = 'cp-lock-lapse'
    // An 8 s lease last renewed two hours ago (a run that died): it lapses only once this run has seen it
    // unchanged for 8 s by its own clock; the holder's renewTime says nothing.
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      lockLease(ns, 'noesis2/noesis2/runs/8/attempts/1/deploy', Date.now() - 7_200_000, 8)
    ])
    const run = await e2e.run(ns, { image: `${REGISTRY}:w2`, lock_timeout: '60s' })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.match(run.stdout, /Waiting for the deploy lock/)
    assert.equal(run.outputs.status, 'deployed')
    assert.equal(await lease(ns), undefined, 'released at the end')
  })

  test('a killed run leaves a short lease that its post step releases; without it, it lapses within a minute', async () => {
    const ns = 'cp-killed'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:k1` })).outputs.status, 'deployed')
    const killed = await e2e.start(ns, { image: `${REGISTRY}:k2-never-ready`, rollout_timeout: '300s' })
    await killed.waitForOutput(/Holding lease deploy-gke-workers/)
    killed.signal('SIGKILL')
    await killed.done
    const left = await lease(ns)
    assert.ok(left, 'the killed run could not release its lock')
    assert.equal(left.spec.leaseDurationSeconds, 60)
    const renewedAgo = Date.now() - Date.parse(left.spec.renewTime ?? '')
    assert.ok(renewedAgo < 60_000, `renewed ${renewedAgo} ms ago: it lapses within a minute`)
    // The runner still runs the post step of a killed step: it releases the lock.
    assert.equal((await killed.post()).exitCode, 0)
    assert.equal(await lease(ns), undefined)
    const next = await e2e.run(ns, { image: `${REGISTRY}:k3` })
    assert.equal(next.outputs.status, 'deployed', next.stdout)
  })
})
