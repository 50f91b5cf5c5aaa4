// Cancelled or killed at the moments that used to leave a mixed cluster behind, on the real control plane and
// through dist/: at the start of a failure's rollback, during its watch, while the diagnostics read a log, during
// the smoke checks, and a main step killed after its apply (then its post step, then the next run). The undo goes
// out whatever the signal (a cancellation stops waiting, never the undo's writes), within GitHub's seconds, and
// the status and summary say what the cluster holds.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { cancelLikeGitHub, clusterState } from '../support/cluster-state.js'
import { plain } from '../support/report.js'
import type { ControlPlaneRig } from '../support/rig.js'
import type { ActionRun } from '../support/run-action.js'
import { FAST_TIMING } from '../rig/control-plane/kubelet-stages.js'

let e2e: E2E
let rig: ControlPlaneRig
let cluster: ReturnType<typeof clusterState>
before(async () => {
  // Pods take 3 s to start, so that a rollback's rollout lasts long enough to be cancelled in.
  e2e = await startControlPlaneE2E({ controlPlane: { timing: { ...FAST_TIMING, startMs: 3000 } } })
  rig = e2e.rig
  cluster = clusterState(rig)
})
after(async () => e2e?.stop())

const secretData = (key: string): string => `SECRET_KEY=${key}\nREDIS_URL=${e2e.rig.services.redis.url()}`

// A namespace at v1 with Secret key-one; the run under test deploys `image` with key-two.
async function deployedAtV1(ns: string): Promise<void> {
  const first = await e2e.run(ns, { image: `${REGISTRY}:v1`, secret_data: secretData('key-one') })
  assert.equal(first.outputs.status, 'deployed', first.stdout)
}

async function assertBackAtV1(ns: string): Promise<void> {
  assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v1`)
  assert.equal(await cluster.image(ns, 'celery-beat'), `${REGISTRY}:v1`)
  assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-one')
}

// Deploys v1, then `inputs` (with Secret key-two), cancels it as GitHub does once its output shows `moment`, and
// returns the cancelled run after its post step. `slow`: requests of the namespace's pods whose path holds it
// take 20 s, so the signal lands while the run waits on them.
async function cancelledAt(
  ns: string,
  inputs: Record<string, string>,
  moment: RegExp,
  slow?: string
): Promise<ActionRun> {
  await deployedAtV1(ns)
  if (slow) {
    rig.controlPlane.faults.set({
      seed: 6,
      latencyMs: 20_000,
      only: (_method, path) => path.includes(`/namespaces/${ns}/pods/`) && path.includes(slow)
    })
  }
  try {
    const run = await e2e.start(ns, {
      secret_data: secretData('key-two'),
      rollout_timeout: '120s',
      ...inputs
    })
    await run.waitForOutput(moment)
    const took = await cancelLikeGitHub(run)
    const result = await run.done
    assert.ok(took < 7500, `ended ${took} ms after SIGINT`)
    assert.equal((await run.post()).exitCode, 0)
    return result
  } finally {
    if (slow) rig.controlPlane.faults.set(undefined)
  }
}

describe('cancelled at the moments that matter', () => {
  const cases: Array<{
    name: string
    ns: string
    inputs: Record<string, string>
    moment: RegExp
    slow?: string
    during: string
  }> = [
    {
      name: 'at the start of a failure\u2019s rollback: the rollback still goes out, the status says cancelled',
      ns: 'cp-cancel-undo-start',
      inputs: { image: `${REGISTRY}:v2-image-not-found` },
      moment: /::group::Rollback/,
      during: 'the rollback'
    },
    {
      name: 'during the rollback\u2019s watch: cancelled, the cluster restored, and said so',
      ns: 'cp-cancel-undo-watch',
      inputs: { image: `${REGISTRY}:v2-image-not-found` },
      moment: /rollback celery-(worker|beat): Waiting for deployment/,
      during: 'the rollback'
    },
    {
      name: 'while the diagnostics read a crashed pod\u2019s log: the rollback is started, not abandoned',
      ns: 'cp-cancel-diagnostics',
      inputs: { image: `${REGISTRY}:v2-crash-loop` },
      moment: /::group::Diagnostics/,
      slow: '/log',
      during: 'the diagnostics of the failure'
    },
    {
      name: 'during the smoke checks: a cancellation, not failed checks, and the unverified release undone',
      ns: 'cp-cancel-smoke',
      inputs: { image: `${REGISTRY}:v2`, smoke_checks: 'true' },
      moment: /::group::Smoke checks/,
      slow: '/exec',
      during: 'the smoke checks'
    }
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const result = await cancelledAt(c.ns, c.inputs, c.moment, c.slow)
      assert.equal(result.outputs.status, 'cancelled', result.stdout)
      assert.match(
        plain(result.summary),
        new RegExp(
          `Cancelled \\(SIGINT\\) during ${c.during}; rollback started for celery-worker, celery-beat`
        )
      )
      // No undo step was cut short by the signal, and no check reported as failed for it.
      assert.doesNotMatch(result.stdout, /failed: cancelled|rollback failed/)
      assert.doesNotMatch(plain(result.summary), /smoke check .* failed/i)
      assert.deepEqual(JSON.parse(result.outputs.smoke_results ?? '[]'), [])
      await assertBackAtV1(c.ns)
      const lease = await cluster.lease(c.ns)
      assert.equal(lease?.holder, undefined, 'released')
      assert.equal(lease?.journal?.phase, 'undo-started', 'the next run verifies the rollback it started')
    })
  }

  test('main step killed after its apply: the post step starts the undo from the journal; the next run of the same bad image says so and rolls back', async () => {
    const ns = 'cp-killed-after-apply'
    await deployedAtV1(ns)
    const killed = await e2e.start(ns, {
      image: `${REGISTRY}:v2-never-ready`,
      secret_data: secretData('key-two'),
      rollout_timeout: '300s'
    })
    await killed.waitForOutput(/celery-worker: Waiting for deployment/)
    killed.signal('SIGKILL')
    await killed.done
    const held = await cluster.lease(ns)
    assert.ok(held?.holder, 'the killed run still held the lock')
    assert.equal(held.journal?.phase, 'applying')
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v2-never-ready`)

    const post = await killed.post()
    assert.equal(post.exitCode, 0, post.stdout)
    assert.match(
      post.stdout,
      /deploy of \S+:v2-never-ready was not verified: rollback to the release before it started for celery-worker, celery-beat/
    )
    const left = await cluster.lease(ns)
    assert.equal(left?.holder, undefined)
    assert.equal(left?.journal?.phase, 'undo-started')
    await assertBackAtV1(ns)

    // Re-running the bad image: the earlier run is named, its release treated as unverified, and rolled back.
    const next = await e2e.run(ns, {
      image: `${REGISTRY}:v2-never-ready`,
      secret_data: secretData('key-two'),
      rollout_timeout: '20s'
    })
    assert.equal(next.outputs.status, 'rolled-back', next.stdout)
    assert.match(
      plain(next.summary),
      /run https:\/\/github\.com\/noesis2\/noesis2\/actions\/runs\/4242 by octocat deploying \S+:v2-never-ready was interrupted after its first write/
    )
    assert.doesNotMatch(plain(next.summary), /nothing to roll back/)
    await assertBackAtV1(ns)
    assert.equal(await cluster.lease(ns), undefined, 'settled: the journal is gone')
    assert.equal(await cluster.exists(ns, 'secret', 'deploy-gke-workers-undo'), false)
  })
})
