// A deploy through an API that misbehaves the way a real one and its network do: the rig's fault proxy in front
// of the real kube-apiserver answers a seeded share of requests with 503/429/500 or resets them, refuses one
// request a test names, or fails every read of a namespace's pods. Each test has a namespace of its own and
// narrows its faults to it where it can.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { clusterState } from '../support/cluster-state.js'
import type { ControlPlaneRig } from '../support/rig.js'

let e2e: E2E
let rig: ControlPlaneRig
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
})
after(async () => e2e?.stop())

describe('deploy through a misbehaving API', () => {
  test('transient API errors (503, 429, 500 on a seeded share of requests, exec upgrades included) are retried and the deploy succeeds', async () => {
    rig.controlPlane.faults.set({
      seed: 11,
      errorRate: 0.15,
      statuses: [503, 429, 500],
      retryAfterSeconds: 1
    })
    try {
      const run = await e2e.run('faults-transient', { image: `${REGISTRY}:f1` })
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      assert.equal(run.outputs.status, 'deployed')
      const smoke = JSON.parse(run.outputs.smoke_results) as Array<{ ok: boolean }>
      assert.ok(smoke.length === 4 && smoke.every(s => s.ok), run.outputs.smoke_results)
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    assert.ok(
      rig.requestLog().filter(r => [503, 429, 500].includes(r.status)).length > 0,
      'faults were injected'
    )
  })

  test('connections reset on a seeded share of requests are retried too', async () => {
    // Not on exec upgrades: kubectl reports a reset one as "error: unexpected EOF", which the smoke checks do not
    // take for an exec that never started (run-smoke-checks.ts), so the check would fail instead of being made
    // again. A refused upgrade (500) is made again: the test after the next.
    rig.controlPlane.faults.set({
      seed: 5,
      resetRate: 0.08,
      only: (_method, requestPath) => !requestPath.includes('/exec')
    })
    try {
      const run = await e2e.run('faults-resets', { image: `${REGISTRY}:f2` })
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      assert.equal(run.outputs.status, 'deployed')
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    assert.ok(
      rig.requestLog().some(r => r.status === -1),
      'connections were reset'
    )
  })

  test('a first deploy whose Lease is refused once (500) beside its new Namespace: one call each, then deployed', async () => {
    const ns = 'faults-lease'
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`
    // A 500, not a 503: kubectl itself retries a 503 that carries Retry-After, and the action would never see it.
    let asked = 0
    rig.controlPlane.faults.set({
      seed: 1,
      errorRate: 1,
      statuses: [500],
      only: (method, requestPath) => method === 'POST' && requestPath.startsWith(leases) && asked++ < 1
    })
    try {
      const run = await e2e.run(ns, { image: `${REGISTRY}:l3` })
      assert.equal(run.exitCode, 0, run.stdout)
      assert.equal(run.outputs.status, 'deployed')
      const posts = rig
        .requestLog()
        .filter(r => r.method === 'POST' && r.path.startsWith(leases))
        .map(r => r.status)
      assert.deepEqual(posts, [500, 201], 'the Lease was posted again after the refusal')
      const lockGroup = run.stdout.slice(run.stdout.indexOf('::group::Deploy lock'))
      const creates = lockGroup
        .slice(0, lockGroup.indexOf('::endgroup::'))
        .split('\n')
        .filter(line => /^::debug::kubectl create --validate=false -f -/.test(line))
      // The Namespace and the Lease together; the Namespace alone (it exists: fine); the Lease alone.
      assert.equal(creates.length, 3, lockGroup)
      assert.match(run.summary, /\| Namespace \| faults-lease \| created \|/)
      assert.equal((await rig.kubectl('get', 'leases', '-n', ns, '-o', 'name')).stdout.trim(), '')
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
  })

  test('an exec the API refuses before it starts (500 on its upgrade) is made again, once; the other pod\u2019s exec once', async () => {
    const ns = 'faults-exec'
    const execOf = (pod: string): RegExp =>
      new RegExp(`^/api/v1/namespaces/${ns}/pods/${pod}-[a-z0-9-]+/exec\\?`)
    // kubectl asks for a WebSocket upgrade first, then (refused) for SPDY: the first two requests into the
    // worker's pod are one whole kubectl exec, refused.
    let asked = 0
    rig.controlPlane.faults.set({
      seed: 1,
      errorRate: 1,
      statuses: [500],
      only: (_method, requestPath) => execOf('celery-worker').test(requestPath) && asked++ < 2
    })
    try {
      const run = await e2e.run(ns, { image: `${REGISTRY}:x1`, task_safety: 'off' })
      assert.equal(run.exitCode, 0, run.stdout)
      assert.equal(run.outputs.status, 'deployed')
      const results = JSON.parse(run.outputs.smoke_results) as Array<{ name: string; ok: boolean }>
      assert.ok(results.length === 4 && results.every(r => r.ok), run.outputs.smoke_results)
      // Each kubectl process the runner starts logs one line, ending with its attempt.
      const execs = (pod: string): number =>
        run.stdout
          .split('\n')
          .filter(line =>
            new RegExp(`^::debug::kubectl exec -n ${ns} ${pod}-.* \\(attempt \\d+\\)$`).test(line)
          ).length
      assert.equal(execs('celery-worker'), 2, 'the refused exec was made again, once')
      assert.equal(execs('celery-beat'), 1, 'the other pod\u2019s exec, not refused, was made once')
      assert.deepEqual(
        rig
          .requestLog()
          .filter(r => execOf('celery-worker').test(r.path))
          .map(r => r.status)
          .slice(0, 2),
        [500, 500]
      )
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
  })

  test('an API that stops answering the pods\u2019 reads after the apply: the error is reported, the rollback tried, nothing claimed', async () => {
    const ns = 'faults-pods-500'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:w1` })).outputs.status, 'deployed')
    // From now on every read of the namespace's pods fails with 500: waited out until the rollout deadline (a
    // short one here), then given up.
    rig.controlPlane.faults.set({
      seed: 3,
      errorRate: 1,
      statuses: [500],
      only: (method, requestPath) =>
        method === 'GET' && requestPath.startsWith(`/api/v1/namespaces/${ns}/pods`)
    })
    try {
      const run = await e2e.run(ns, { image: `${REGISTRY}:w2`, rollout_timeout: '5s' })
      assert.equal(run.exitCode, 1)
      assert.equal(run.outputs.status, 'failed', 'a rollback that could not be watched is not claimed')
      assert.match(run.summary, /^- \*\*deploy\*\*: /m, 'the error heads the summary')
      assert.match(run.summary, /### Rollback/)
      assert.match(run.summary, /rolled back to the template of revision 1/)
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    assert.equal(
      await clusterState(rig).image(ns, 'celery-worker'),
      `${REGISTRY}:w1`,
      'the undo itself went through'
    )
  })
})
