// The API server going away while a deploy runs, on the real control plane: kube-apiserver killed (its clients'
// connections, watches included, close at once) and started again, its caches empty; every answer a 503; a
// transient 500 in the dry run. A deploy waits an outage out until its deadline and says how long the API was
// away; a cancelled one still ends inside GitHub's seconds with a summary and a status.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { cancelLikeGitHub, clusterState } from '../support/cluster-state.js'
import { plain } from '../support/report.js'
import type { ControlPlaneRig } from '../support/rig.js'
import { FAST_TIMING } from '../rig/control-plane/kubelet-stages.js'

let e2e: E2E
let rig: ControlPlaneRig
let cluster: ReturnType<typeof clusterState>
before(async () => {
  // Pods take 4 s to start: a restart of the API server lands in the middle of a rollout.
  e2e = await startControlPlaneE2E({ controlPlane: { timing: { ...FAST_TIMING, startMs: 4000 } } })
  rig = e2e.rig
  cluster = clusterState(rig)
})
after(async () => e2e?.stop())

describe('the API server away during a deploy', () => {
  test('kube-apiserver killed mid-rollout and back 10 s later: waited out, the deploy verified, the outage reported', async () => {
    const ns = 'cp-restart'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:r1` })).outputs.status, 'deployed')
    const run = await e2e.start(ns, { image: `${REGISTRY}:r2`, rollout_timeout: '120s' })
    await run.waitForOutput(/celery-worker: Waiting for deployment "celery-worker" rollout to finish/)
    const { downForMs } = await rig.controlPlane.restartApiServer(10_000)
    const result = await run.done
    assert.equal(result.exitCode, 0, result.stdout)
    assert.equal(result.outputs.status, 'deployed')
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:r2`)
    assert.equal(await cluster.image(ns, 'celery-beat'), `${REGISTRY}:r2`)
    const outage =
      /the API server was unreachable for ([\d.]+)s from \S+ \(\d+ failed calls?\); the run waited for it/.exec(
        plain(result.summary)
      )
    assert.ok(outage, result.summary)
    assert.ok(
      Number(outage[1]) <= downForMs / 1000 + 5,
      `reported ${outage[1]}s for an outage of ${downForMs} ms`
    )
    assert.equal((await run.post()).exitCode, 0)
    assert.equal(await cluster.lease(ns), undefined, 'the lock was released')
  })

  test('a dry run answered 500 for 8 s (longer than four retries) is waited out, not reported as a rejected manifest', async () => {
    const ns = 'cp-dry-run-500'
    // From the first dry-run request on, every one is refused for 8 s.
    let since: number | undefined
    let refused = 0
    rig.controlPlane.faults.set({
      seed: 5,
      errorRate: 1,
      statuses: [500],
      only: (method, path) => {
        if (method !== 'PATCH' || !path.includes(`/namespaces/${ns}/`) || !path.includes('dryRun=All'))
          return false
        since ??= Date.now()
        const refusing = Date.now() - since < 8000
        if (refusing) refused++
        return refusing
      }
    })
    try {
      const run = await e2e.run(ns, { image: `${REGISTRY}:d1` })
      assert.equal(run.exitCode, 0, run.stdout)
      assert.equal(run.outputs.status, 'deployed')
      assert.ok(refused >= 5, `the dry run was refused ${refused} times`)
      assert.doesNotMatch(run.summary, /rejected the manifests/)
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
  })

  test('cancelled while every answer is a 503: the step ends before the kill, with a status and a summary', async () => {
    const ns = 'cp-cancel-503'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:c1` })).outputs.status, 'deployed')
    const run = await e2e.start(ns, { image: `${REGISTRY}:c2-never-ready`, rollout_timeout: '300s' })
    await run.waitForOutput(/celery-worker: Waiting for deployment "celery-worker" rollout to finish/)
    rig.controlPlane.faults.set({ seed: 9, errorRate: 1, statuses: [503], retryAfterSeconds: 1 })
    let took: number
    try {
      took = await cancelLikeGitHub(run)
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    const result = await run.done
    assert.ok(took < 10_000, `ended ${took} ms after SIGINT (GitHub kills it at 10 s)`)
    assert.notEqual(result.exitCode, 137, 'not killed')
    assert.equal(result.outputs.status, 'cancelled', result.stdout)
    assert.match(plain(result.summary), /Cancelled \(SIGINT\) during the rollouts/)
    // The undo could not reach the API: the summary says so instead of claiming it.
    assert.match(plain(result.summary), /### Where things stand/)
    assert.match(
      plain(result.summary),
      /Deployment\/celery-worker \| (could not be read at the end of the run|revision \d+)/
    )
    // The API is back: the post step releases what the run could not, and the next deploy verifies it all.
    assert.equal((await run.post()).exitCode, 0)
    const next = await e2e.run(ns, { image: `${REGISTRY}:c3` })
    assert.equal(next.outputs.status, 'deployed', next.stdout)
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:c3`)
  })
})
