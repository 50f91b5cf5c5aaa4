// Failing deploys against the real control plane: the deployment controller, the garbage collector and
// `rollout undo` are the real ones, the pods fail the way kwok's stages make them (../rig/control-plane/
// kubelet-stages.ts), chosen by a marker in the image (../rig/scenario-images.ts).

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { lockLease } from '../support/lease.js'
import { ganttOf, headline } from '../support/report.js'
import type { ControlPlaneRig } from '../support/rig.js'

let e2e: E2E<ControlPlaneRig>
let rig: ControlPlaneRig
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
})
after(async () => e2e?.stop())

const PROXY = 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0'

async function liveImage(namespace: string, deployment: string): Promise<string> {
  const live = await rig.kubectlJson<{
    spec: { template: { spec: { containers: Array<{ name: string; image: string }> } } }
  }>('get', 'deployment', deployment, '-n', namespace)
  return live.spec.template.spec.containers.find(c => c.name === 'app')!.image
}

async function secretValue(namespace: string, key: string): Promise<string | undefined> {
  const secret = await rig.kubectlJson<{ data: Record<string, string> }>(
    'get',
    'secret',
    'app-secrets',
    '-n',
    namespace
  )
  return secret.data[key] === undefined ? undefined : Buffer.from(secret.data[key], 'base64').toString()
}

describe('failing deploys on a real API server', () => {
  test('an image that does not exist fails fast, and the Deployments and the Secret go back', async () => {
    const ns = 'cp-pull'
    const good = 'SECRET_KEY=django-insecure-example-key\nREDIS_URL=redis://:good-pass@10.0.0.5:6379/0'
    const first = await e2e.run(ns, { image: `${REGISTRY}:p1`, secret_data: good })
    assert.equal(first.outputs.status, 'deployed', first.stdout)

    const started = Date.now()
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:p2-image-not-found`,
      secret_data: good.replace('good-pass', 'new-pass'),
      rollout_timeout: '120s'
    })
    const seconds = (Date.now() - started) / 1000
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    assert.ok(seconds < 40, `named after ${seconds}s, long before the 120s timeout`)
    assert.match(run.stdout, /container app: (ImagePullBackOff|ErrImagePull)/)
    // What a person reads first: one finding for both Deployments, the cause and the remedy.
    const [finding, ...more] = headline(run.summary)
    assert.deepEqual(more, [])
    assert.equal(finding.subjects, 'celery-worker, celery-beat')
    assert.match(
      finding.cause,
      /^image \S+:p2-image-not-found was not found \((ImagePullBackOff|ErrImagePull)/
    )
    assert.match(finding.fix, /gcloud artifacts docker images list /)
    assert.match(run.stdout, /^::error title=celery-worker%2C celery-beat%3A image not found::/m)
    assert.ok((await ganttOf(run.summary)).some(t => t.critical && t.name === 'celery-worker'))
    assert.match(run.summary, /failed to resolve reference/)
    assert.match(run.summary, /rolled back to the template of revision 1/)
    assert.match(run.summary, /Secret app-secrets: its previous values were restored/)
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:p1`)
    assert.equal(await liveImage(ns, 'celery-beat'), `${REGISTRY}:p1`)
    assert.equal(await secretValue(ns, 'REDIS_URL'), 'redis://:good-pass@10.0.0.5:6379/0')
    // The real controller reuses the old ReplicaSet: the undo is the newest revision.
    assert.equal(run.outputs.worker_revision, '3')
  })

  test('a crash-looping app is named with its exit code and restarts', async () => {
    const ns = 'cp-crash'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:c1` })).outputs.status, 'deployed')
    const run = await e2e.run(ns, { image: `${REGISTRY}:c2-crash-loop` })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    assert.match(run.stdout, /container app: CrashLoopBackOff/)
    assert.match(run.summary, /last exit code 1/)
    const [worker] = headline(run.summary)
    assert.equal(worker.subjects, 'celery-worker')
    assert.match(
      worker.cause,
      /^container app exits with code 1, an error in the application \(CrashLoopBackOff/
    )
    assert.match(worker.fix, /the command run: celery -A noesis2 worker /)
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:c1`)
  })

  test('a crash-looping Cloud SQL proxy sidecar is named, and a first deploy has nothing to roll back', async () => {
    const ns = 'cp-proxy'
    const run = await e2e.run(ns, { image: `${REGISTRY}:x1`, cloud_sql_proxy_image: `${PROXY}-crash-loop` })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed')
    assert.match(run.stdout, /container cloud-sql-proxy(?: \(sidecar\))?: CrashLoopBackOff/)
    assert.match(
      run.summary,
      /first deploy of this Deployment: there is no previous revision to roll back to/
    )
    // The crashed instance's log, read through the apiserver from the node (kwok serves it), and its last
    // line in the headline, the remedy naming the private IP.
    assert.match(run.summary, /instance does not have IP of type PRIVATE/)
    const [proxy] = headline(run.summary)
    assert.match(
      proxy.cause,
      /^the Cloud SQL Auth Proxy sidecar \(cloud-sql-proxy\) exits with code 1 .*; its last log line: .*instance does not have IP of type PRIVATE/
    )
    assert.match(proxy.fix, /roles\/cloudsql\.client .*private IP/)
  })

  test('an OOMKilled worker is named with its memory limit', async () => {
    const run = await e2e.run('cp-oom', { image: `${REGISTRY}:o1-oom-killed` })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /container app: OOMKilled/)
    const [worker] = headline(run.summary)
    assert.match(
      worker.cause,
      /^container app ran out of memory at its limit of 1Gi \(OOMKilled, exit code 137/
    )
  })

  test('an image the nodes may not pull: the registry\u2019s 403 and the reader role', async () => {
    const run = await e2e.run('cp-denied', { image: `${REGISTRY}:d1-image-denied` })
    assert.equal(run.exitCode, 1)
    const [finding] = headline(run.summary)
    assert.match(
      finding.cause,
      /^the nodes may not pull image \S+:d1-image-denied \((ImagePullBackOff|ErrImagePull): 403 Forbidden/
    )
    assert.match(finding.fix, /roles\/artifactregistry\.reader on repository app/)
  })

  test('a rollout that never becomes ready times out and is rolled back', async () => {
    const ns = 'cp-timeout'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:t1` })).outputs.status, 'deployed')
    const run = await e2e.run(ns, { image: `${REGISTRY}:t2-never-ready`, rollout_timeout: '5s' })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    assert.match(run.summary, /timeout/)
    const [worker] = headline(run.summary)
    assert.match(
      worker.cause,
      /^container app never passes its readiness probe and rollout_timeout \(5s\) ran out \(Unhealthy/
    )
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:t1`)
  })

  test('a deploy lock held by another run stops this one before it changes anything', async () => {
    const ns = 'cp-lock'
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
    const run = await e2e.run(ns, { image: `${REGISTRY}:l1`, lock_timeout: '0' })
    assert.equal(run.exitCode, 1)
    assert.match(
      run.stdout,
      /another deploy is in progress in namespace cp-lock \(run https:\/\/github\.com\/noesis2\/noesis2\/actions\/runs\/1/
    )
    assert.equal((await rig.kubectl('get', 'deployments', '-n', ns, '-o', 'name')).stdout.trim(), '')
    const [lock] = headline(run.summary)
    assert.equal(lock.subjects, 'deploy lock')
    assert.match(lock.fix, /kubectl delete lease deploy-gke-workers -n cp-lock/)
  })

  test('an expired deploy lock is taken over (a real resourceVersion precondition), and released', async () => {
    const ns = 'cp-stale-lock'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      lockLease(ns, 'noesis2/noesis2/runs/2/attempts/1/deploy', Date.now() - 7_200_000, 60)
    ])
    const run = await e2e.run(ns, { image: `${REGISTRY}:l2` })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.equal((await rig.kubectl('get', 'leases', '-n', ns, '-o', 'name')).stdout.trim(), '')
  })

  test('transient API errors (503, 429, 500 on a seeded share of requests) are retried and the deploy succeeds', async () => {
    rig.controlPlane.faults.set({
      seed: 11,
      errorRate: 0.15,
      statuses: [503, 429, 500],
      retryAfterSeconds: 1
    })
    try {
      const run = await e2e.run('cp-faults', { image: `${REGISTRY}:f1` })
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      assert.equal(run.outputs.status, 'deployed')
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    assert.ok(
      rig.requestLog().filter(r => [503, 429, 500].includes(r.status)).length > 0,
      'faults were injected'
    )
  })

  test('connections reset on a seeded share of requests are retried too', async () => {
    rig.controlPlane.faults.set({ seed: 5, resetRate: 0.08 })
    try {
      const run = await e2e.run('cp-resets', { image: `${REGISTRY}:f2` })
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
})
