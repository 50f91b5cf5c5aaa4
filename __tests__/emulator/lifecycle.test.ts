import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Harness } from './harness.js'
import { manifest, startHarness, waitFor } from './harness.js'

const NS = ['-n', 'noesis2']

describe('human output, scale, strategic patches and namespace deletion', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    for (const f of ['00-namespace.yaml', '10-rest-v1.yaml']) {
      const r = await h.kubectl('apply', '--server-side', '--field-manager=t', '-f', manifest(f))
      assert.equal(r.code, 0, r.stderr)
    }
    const r = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-worker', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
  })
  after(() => h.stop())

  test('kubectl get prints Table columns', async () => {
    let r = await h.kubectl('get', 'deploy', ...NS)
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\n/)
    assert.match(r.stdout, /celery-worker\s+2\/2\s+2\s+2\s+\d+s/)
    r = await h.kubectl('get', 'pods', ...NS, '-l', 'app=celery-worker')
    assert.match(r.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/)
    assert.match(r.stdout, /celery-worker-[a-z0-9]+-[a-z0-9]{5}\s+1\/1\s+Running\s+0/)
    r = await h.kubectl('get', 'events', ...NS)
    assert.match(r.stdout, /^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE\n/)
    assert.match(
      r.stdout,
      /Normal\s+ScalingReplicaSet\s+deployment\/celery-worker\s+Scaled up replica set celery-worker-/
    )
    r = await h.kubectl('get', 'deploy', 'celery-beat', ...NS, '--watch', '--request-timeout=1s')
    assert.match(r.stdout, /^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\ncelery-beat\s+1\/1/)
  })

  test('kubectl scale goes through the scale subresource without a new revision', async () => {
    const r = await h.kubectl('scale', ...NS, 'deploy/celery-worker', '--replicas=3')
    assert.equal(r.code, 0, r.stderr)
    assert.ok(
      h.emu.control
        .requestLog()
        .some(x => x.method === 'PATCH' && x.path.includes('/deployments/celery-worker/scale'))
    )
    const st = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-worker', '--timeout=20s')
    assert.equal(st.code, 0, st.stderr)
    const d = JSON.parse((await h.kubectl('get', 'deploy', 'celery-worker', ...NS, '-o', 'json')).stdout)
    assert.equal(d.status.readyReplicas, 3)
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '1')
  })

  test('strategic merge patch merges containers and env by name and honours $patch: delete', async () => {
    const path = '/apis/apps/v1/namespaces/noesis2/deployments/celery-beat'
    const smp = { 'Content-Type': 'application/strategic-merge-patch+json' }
    let r = await h.raw(
      'PATCH',
      `${path}?dryRun=All`,
      {
        spec: { template: { spec: { containers: [{ name: 'app', env: [{ name: 'EXTRA', value: '1' }] }] } } }
      },
      smp
    )
    assert.equal(r.status, 200, r.text)
    type D = {
      metadata: { generation: number }
      spec: {
        template: {
          spec: { containers: Array<{ name: string; image: string; env: Array<{ name: string }> }> }
        }
      }
    }
    let d = r.json() as unknown as D
    assert.equal(d.spec.template.spec.containers.length, 1)
    assert.equal(d.spec.template.spec.containers[0].image, 'example.com/app:v1')
    assert.deepEqual(
      d.spec.template.spec.containers[0].env.map(e => e.name),
      ['SECRET_KEY', 'DB_USER', 'DB_PASSWORD', 'DATABASE_URL', 'REDIS_URL', 'EXTRA']
    )
    assert.equal(d.metadata.generation, 2)
    r = await h.raw(
      'PATCH',
      `${path}?dryRun=All`,
      {
        spec: {
          template: { spec: { containers: [{ name: 'app', env: [{ name: 'DB_USER', $patch: 'delete' }] }] } }
        }
      },
      smp
    )
    d = r.json() as unknown as D
    assert.deepEqual(
      d.spec.template.spec.containers[0].env.map(e => e.name),
      ['SECRET_KEY', 'DB_PASSWORD', 'DATABASE_URL', 'REDIS_URL']
    )
    const live = h.emu.control.getObject(path) as D
    assert.equal(live.metadata.generation, 1)
    r = await h.raw('PATCH', path, [{ op: 'replace', path: '/spec/replicas', value: 1 }], {
      'Content-Type': 'application/json-patch+json'
    })
    assert.equal(r.status, 200, r.text)
  })

  test('revisionHistoryLimit prunes old ReplicaSets', async () => {
    const path = '/apis/apps/v1/namespaces/noesis2/deployments/celery-beat'
    const smp = { 'Content-Type': 'application/strategic-merge-patch+json' }
    let r = await h.raw('PATCH', path, { spec: { revisionHistoryLimit: 1 } }, smp)
    assert.equal(r.status, 200, r.text)
    for (const tag of ['v2', 'v3', 'v4']) {
      r = await h.raw(
        'PATCH',
        path,
        { spec: { template: { spec: { containers: [{ name: 'app', image: `example.com/app:${tag}` }] } } } },
        smp
      )
      assert.equal(r.status, 200, r.text)
      const st = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-beat', '--timeout=20s')
      assert.equal(st.code, 0, st.stderr)
    }
    await waitFor('old ReplicaSets pruned to one', async () => {
      const rs = JSON.parse(
        (await h.kubectl('get', 'rs', ...NS, '-l', 'app=celery-beat', '-o', 'json')).stdout
      ).items as Array<{ metadata: { annotations: Record<string, string> } }>
      const revisions = rs.map(x => x.metadata.annotations['deployment.kubernetes.io/revision']).sort()
      return revisions.join(',') === '3,4'
    })
  })

  // The controllers skip a Deployment or ReplicaSet whose namespace has not changed since they last synced it:
  // a change made while one sits settled must still wake both.
  test('a pod deleted under a settled Deployment is replaced and the Deployment reports the loss', async () => {
    type Pod = {
      metadata: { name: string; deletionTimestamp?: string }
      spec: { containers: Array<{ image: string }> }
    }
    const livePods = async (): Promise<Pod[]> =>
      (
        JSON.parse((await h.kubectl('get', 'pods', ...NS, '-l', 'app=celery-beat', '-o', 'json')).stdout)
          .items as Pod[]
      ).filter(p => !p.metadata.deletionTimestamp)
    const st = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-beat', '--timeout=20s')
    assert.equal(st.code, 0, st.stderr)
    const [before] = await livePods()
    // The replacement never becomes ready, so the Deployment's drop in availability stays to be seen.
    h.emu.control.setImageScenario(before.spec.containers[0].image, { kind: 'neverReady' })
    const r = await h.kubectl('delete', 'pod', before.metadata.name, ...NS, '--wait=false')
    assert.equal(r.code, 0, r.stderr)
    const [replacement] = await waitFor('a replacement pod', async () => {
      const pods = (await livePods()).filter(p => p.metadata.name !== before.metadata.name)
      return pods.length === 1 && pods
    })
    assert.ok(replacement)
    await waitFor('the Deployment to report no available replica', async () => {
      const d = JSON.parse((await h.kubectl('get', 'deploy', 'celery-beat', ...NS, '-o', 'json')).stdout)
      return d.status.availableReplicas === undefined && d.status.unavailableReplicas === 1
    })
  })

  test('deleting the namespace removes everything in it', async () => {
    const r = await h.kubectl('delete', 'namespace', 'noesis2', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    await waitFor('namespace gone', () => h.emu.control.getObject('/api/v1/namespaces/noesis2') === undefined)
    assert.equal(
      h.emu.control.getObject('/apis/apps/v1/namespaces/noesis2/deployments/celery-worker'),
      undefined
    )
    const pods = await h.raw('GET', '/api/v1/pods')
    assert.deepEqual(pods.json().items, [])
  })
})
