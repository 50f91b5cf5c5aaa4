// End-to-end edges of a deploy: Autopilot scale-up (Pending within and beyond the grace), an out-of-memory
// worker, credentials that lack RBAC (caught before any write), an autoscaler aimed at beat, and a run with
// no cluster_name that uses the kubeconfig already in place.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { REGISTRY, startE2E, type E2E } from '../support/e2e.js'
import type { Rig } from '../support/rig.js'
import { lockLease } from '../support/lease.js'
import type { ActionRun } from '../support/run-action.js'

let e2e: E2E
let rig: Rig
before(async () => {
  e2e = await startE2E()
  rig = e2e.rig
})
after(async () => e2e?.stop())

function deploy(
  namespace: string,
  inputs: Record<string, string>,
  env: Record<string, string | undefined> = {}
): Promise<ActionRun> {
  return e2e.run(namespace, inputs, { env })
}

function writesTo(namespace: string): number {
  return e2e.writesTo(namespace)
}

describe('deploy edges', () => {
  test('pods Pending while Autopilot adds a node, within the grace: the deploy succeeds', async () => {
    const image = `${REGISTRY}:scale-up`
    rig.kube.control.setImageScenario(image, {
      kind: 'pending',
      forMs: 1500,
      then: { kind: 'healthy', readyAfterMs: 200 }
    })
    const run = await deploy('edge-pending', { image, scheduling_grace: '60s' })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
  })

  test('pods unschedulable beyond the grace fail the rollout with the scheduler\u2019s reason', async () => {
    const image = `${REGISTRY}:no-node`
    rig.kube.control.setImageScenario(image, { kind: 'pending', forMs: 600_000 })
    const run = await deploy('edge-unschedulable', { image, scheduling_grace: '2s' })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed')
    assert.match(run.stdout, /Unschedulable/)
    assert.match(run.summary, /^- \*\*celery-worker\*\*: no node can run the pod: /m)
  })

  test('an OOMKilled worker is named with its memory limit', async () => {
    const image = `${REGISTRY}:oom`
    rig.kube.control.setImageScenario(image, { kind: 'oomKilled', container: 'app' })
    const run = await deploy('edge-oom', { image })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /container app: OOMKilled/)
    assert.match(run.summary, /1Gi/, 'the memory limit that was hit')
  })

  test('credentials without RBAC for the apply are caught before any write', async () => {
    const ns = 'edge-rbac'
    rig.kube.control.denyAccess({
      verb: 'patch',
      resource: 'horizontalpodautoscalers',
      group: 'autoscaling',
      namespace: ns
    })
    const run = await deploy(ns, { image: `${REGISTRY}:rbac` })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /Pre-flight checks failed; nothing was changed/)
    assert.match(run.stdout, /may not patch horizontalpodautoscalers\.autoscaling in namespace edge-rbac/)
    assert.equal(writesTo(ns), 0)
  })

  test('an autoscaler aimed at beat trips the beat guard and the deploy is rolled back', async () => {
    const ns = 'edge-beat'
    assert.equal((await deploy(ns, { image: `${REGISTRY}:b1` })).outputs.status, 'deployed')
    await rig.applyObjects([
      {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'beat-hpa', namespace: ns },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'celery-beat' },
          minReplicas: 1,
          maxReplicas: 3
        }
      }
    ])
    const run = await deploy(ns, { image: `${REGISTRY}:b2` })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back')
    assert.match(
      run.summary,
      /HorizontalPodAutoscaler beat-hpa targets celery-beat; beat must never be autoscaled/
    )
  })

  test('without cluster_name the kubeconfig in place is used, and said so', async () => {
    const kubeconfig = path.join(rig.directory, 'in-place-kubeconfig')
    await rig.kube.writeKubeconfig(kubeconfig)
    const run = await deploy(
      'edge-in-place',
      { image: `${REGISTRY}:k1`, cluster_name: '', location: '' },
      { KUBECONFIG: kubeconfig, GOOGLE_APPLICATION_CREDENTIALS: undefined }
    )
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.match(run.stdout, /cluster_name is empty: using the kubeconfig in place/)
    assert.equal(run.outputs.kubeconfig, undefined, 'the action wrote no kubeconfig of its own')
  })

  test('values of a Secret the action did not write are masked and redacted too', async () => {
    const ns = 'edge-live-secret'
    const livePassword = 'live-only-secret-pass'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'app-secrets', namespace: ns },
        stringData: {
          SECRET_KEY: 'live-django-key',
          DATABASE_URL: 'postgresql://u:p@db/x',
          REDIS_URL: `redis://:${livePassword}@10.0.0.9:6379/0`
        }
      }
    ])
    const image = `${REGISTRY}:crash-with-url`
    rig.kube.control.setImageScenario(image, {
      kind: 'crashLoop',
      container: 'app',
      exitCode: 1,
      log: `redis.exceptions.ConnectionError: Error connecting to redis://:${livePassword}@10.0.0.9:6379/0\n`
    })
    const run = await deploy(ns, { image, secret_data: '', db_user: '', db_password: '', db_name: '' })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, new RegExp(`^::add-mask::${livePassword}$`, 'm'))
    const log = run.stdout
      .split('\n')
      .filter(line => !line.startsWith('::add-mask::'))
      .join('\n')
    assert.ok(!log.includes(livePassword), 'log')
    assert.ok(!run.summary.includes(livePassword), 'summary')
    assert.match(run.summary, /redis\.exceptions\.ConnectionError/, 'the log tail itself is shown')
  })

  test('a deploy lock held by another run stops this one before it changes anything', async () => {
    const ns = 'edge-lock'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      lockLease(
        ns,
        'noesis2/noesis2/runs/1/attempts/1/deploy',
        Date.now(),
        3600,
        'https://github.com/noesis2/noesis2/actions/runs/1'
      )
    ])
    const run = await deploy(ns, { image: `${REGISTRY}:l1`, lock_timeout: '0' })
    assert.equal(run.exitCode, 1)
    assert.match(
      run.stdout,
      /another deploy is in progress in namespace edge-lock \(run https:\/\/github\.com\/noesis2\/noesis2\/actions\/runs\/1/
    )
    assert.match(run.stdout, /kubectl delete lease deploy-gke-workers -n edge-lock/)
    const deployments = await rig.kubectl('get', 'deployments', '-n', ns, '-o', 'name')
    assert.equal(deployments.stdout.trim(), '', 'nothing was deployed')
  })

  test('a first deploy whose Lease is refused once (500) beside its new Namespace: one call each, then deployed', async () => {
    const ns = 'edge-lease-503'
    const leases = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`
    // The emulator asks `only` twice per request (its latency, then its fault): the first request's two. A 500,
    // not a 503: kubectl itself retries a 503 that carries Retry-After, and the action would never see it.
    let asked = 0
    rig.kube.control.setFaults({
      seed: 1,
      errorRate: 1,
      statuses: [500],
      only: (method, requestPath) => method === 'POST' && requestPath.startsWith(leases) && asked++ < 2
    })
    try {
      const run = await deploy(ns, { image: `${REGISTRY}:l3` })
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
      assert.match(run.summary, /\| Namespace \| edge-lease-503 \| created \|/)
      const left = await rig.kubectl('get', 'leases', '-n', ns, '-o', 'name')
      assert.equal(left.stdout.trim(), '', 'the lock was released')
    } finally {
      rig.kube.control.setFaults(undefined)
    }
  })

  test('an expired deploy lock (a run that died) is taken over, and released afterwards', async () => {
    const ns = 'edge-stale-lock'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      lockLease(ns, 'noesis2/noesis2/runs/2/attempts/1/deploy', Date.now() - 7_200_000, 60)
    ])
    const run = await deploy(ns, { image: `${REGISTRY}:l2` })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    const leases = await rig.kubectl('get', 'leases', '-n', ns, '-o', 'name')
    assert.equal(leases.stdout.trim(), '', 'the lock was released')
  })
})
