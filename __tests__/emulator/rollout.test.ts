import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { request } from 'node:https'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { Harness } from './harness.js'
import { golden, manifest, startHarness, waitFor } from './harness.js'

const SSA = ['apply', '--server-side', '--field-manager=deploy-gke-workers']
const NS = ['-n', 'noesis2']

interface Rs {
  metadata: {
    name: string
    annotations: Record<string, string>
    labels: Record<string, string>
    ownerReferences: Array<Record<string, unknown>>
  }
  spec: { replicas: number; template: { spec: { containers: Array<{ image: string }> } } }
}

async function replicaSets(h: Harness, app: string): Promise<Rs[]> {
  const r = await h.kubectl('get', 'rs', ...NS, '-l', `app=${app}`, '-o', 'json')
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout).items as Rs[]
}

// Collect watch events (newline-delimited JSON) until `done` says so or the timeout passes.
function watch(
  h: Harness,
  path: string,
  done: (events: Array<{ type: string; object: Record<string, unknown> }>) => boolean,
  timeoutMs = 5000
) {
  return new Promise<Array<{ type: string; object: Record<string, unknown> }>>((resolve, reject) => {
    const events: Array<{ type: string; object: Record<string, unknown> }> = []
    const req = request(
      `${h.emu.url}${path}`,
      { ca: h.emu.caPem, headers: { Authorization: `Bearer ${h.emu.token}` } },
      res => {
        let buf = ''
        const finish = (): void => {
          clearTimeout(timer)
          req.destroy()
          resolve(events)
        }
        const timer = setTimeout(finish, timeoutMs)
        res.on('data', (c: Buffer) => {
          buf += c.toString()
          let i: number
          while ((i = buf.indexOf('\n')) >= 0) {
            events.push(JSON.parse(buf.slice(0, i)))
            buf = buf.slice(i + 1)
          }
          if (done(events)) finish()
        })
        res.on('end', finish)
      }
    )
    req.on('error', e => (e.message.includes('socket hang up') ? undefined : reject(e)))
    req.end()
  })
}

describe('rollouts', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    h.emu.control.setImageScenario('example.com/never-ready:v1', { kind: 'neverReady' })
    for (const f of ['00-namespace.yaml', '10-rest-v1.yaml']) {
      const r = await h.kubectl(...SSA, '-f', manifest(f))
      assert.equal(r.code, 0, r.stderr)
    }
  })
  after(() => h.stop())

  test('rollout to v2 replaces the ReplicaSet; status and RS annotations look like the real controller', async () => {
    let r = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-worker', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    r = await h.kubectl(...SSA, '-f', manifest('10-rest-v2.yaml'))
    assert.equal(r.code, 0, r.stderr)
    r = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-worker', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    const d = JSON.parse((await h.kubectl('get', 'deploy', 'celery-worker', ...NS, '-o', 'json')).stdout)
    assert.equal(d.metadata.generation, 2)
    assert.equal(d.status.observedGeneration, 2)
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '2')
    assert.equal(d.status.updatedReplicas, 2)
    assert.equal(d.status.availableReplicas, 2)
    assert.equal(d.status.unavailableReplicas, undefined)
    const progressing = d.status.conditions.find((c: { type: string }) => c.type === 'Progressing')
    assert.equal(progressing.reason, 'NewReplicaSetAvailable')
    assert.match(progressing.message, /^ReplicaSet "celery-worker-[a-z0-9]+" has successfully progressed\.$/)
    // golden seq 72: the same status fields and the same two field managers after the v2 rollout
    const g = golden(72).responseBody as {
      status: Record<string, unknown>
      metadata: { managedFields: Array<Record<string, unknown>> }
    }
    assert.deepEqual(Object.keys(d.status).sort(), Object.keys(g.status).sort())
    const live = h.emu.control.getObject(
      '/apis/apps/v1/namespaces/noesis2/deployments/celery-worker'
    ) as typeof g
    const managers = (x: typeof g): unknown =>
      x.metadata.managedFields.map(m => [m.manager, m.operation, m.subresource])
    assert.deepEqual(managers(live), managers(g))
    const rss = await replicaSets(h, 'celery-worker')
    assert.equal(rss.length, 2)
    const current = rss.find(x => x.metadata.annotations['deployment.kubernetes.io/revision'] === '2') as Rs
    assert.equal(current.metadata.name, `celery-worker-${current.metadata.labels['pod-template-hash']}`)
    assert.equal(current.metadata.annotations['deployment.kubernetes.io/desired-replicas'], '2')
    assert.equal(current.metadata.annotations['deployment.kubernetes.io/max-replicas'], '3')
    assert.deepEqual(current.metadata.ownerReferences[0], {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'celery-worker',
      uid: d.metadata.uid,
      controller: true,
      blockOwnerDeletion: true
    })
    await waitFor('old pods gone', async () => {
      const pods = JSON.parse(
        (await h.kubectl('get', 'pods', ...NS, '-l', 'app=celery-worker', '-o', 'json')).stdout
      ).items
      return pods.length === 2
    })
  })

  test('rollout undo reuses the old ReplicaSet, which becomes revision 3', async () => {
    const before = await replicaSets(h, 'celery-worker')
    const v1 = before.find(x => x.metadata.annotations['deployment.kubernetes.io/revision'] === '1') as Rs
    let r = await h.kubectl('rollout', 'undo', ...NS, 'deploy/celery-worker')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /rolled back/)
    r = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-worker', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    const after = await replicaSets(h, 'celery-worker')
    assert.equal(after.length, 2)
    const reused = after.find(x => x.metadata.name === v1.metadata.name) as Rs
    assert.equal(reused.metadata.annotations['deployment.kubernetes.io/revision'], '3')
    assert.equal(reused.metadata.annotations['deployment.kubernetes.io/revision-history'], '1')
    assert.equal(reused.spec.replicas, 2)
    assert.equal(reused.spec.template.spec.containers[0].image, 'example.com/app:v1')
    const log = h.emu.control.requestLog()
    assert.ok(
      log.some(
        x =>
          x.method === 'PATCH' &&
          x.path.startsWith('/apis/apps/v1/namespaces/noesis2/deployments/celery-worker') &&
          x.status === 200
      )
    )
  })

  test('rollout restart of a Recreate deployment rolls new pods and bumps the revision', async () => {
    let r = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-beat', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    r = await h.kubectl('rollout', 'restart', ...NS, 'deploy/celery-beat')
    assert.equal(r.code, 0, r.stderr)
    r = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-beat', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    const d = JSON.parse((await h.kubectl('get', 'deploy', 'celery-beat', ...NS, '-o', 'json')).stdout)
    assert.equal(d.metadata.generation, 2)
    assert.equal(d.metadata.annotations['deployment.kubernetes.io/revision'], '2')
    assert.ok(d.spec.template.metadata.annotations['kubectl.kubernetes.io/restartedAt'])
    const live = h.emu.control.getObject('/apis/apps/v1/namespaces/noesis2/deployments/celery-beat') as {
      metadata: { managedFields: Array<{ manager: string }> }
    }
    assert.ok(live.metadata.managedFields.some(m => m.manager === 'kubectl-rollout'))
  })

  test('rollout status fails on ProgressDeadlineExceeded before its own timeout', async () => {
    const spec = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'never-ready-app', namespace: 'noesis2', labels: { app: 'never-ready-app' } },
      spec: {
        replicas: 1,
        progressDeadlineSeconds: 2,
        selector: { matchLabels: { app: 'never-ready-app' } },
        template: {
          metadata: { labels: { app: 'never-ready-app' } },
          spec: { containers: [{ name: 'app', image: 'example.com/never-ready:v1' }] }
        }
      }
    }
    const created = await h.raw(
      'PATCH',
      '/apis/apps/v1/namespaces/noesis2/deployments/never-ready-app?fieldManager=deploy-gke-workers&fieldValidation=Strict',
      spec,
      {
        'Content-Type': 'application/apply-patch+yaml'
      }
    )
    assert.equal(created.status, 201, created.text)
    const started = Date.now()
    const r = await h.kubectl('rollout', 'status', ...NS, 'deploy/never-ready-app', '--timeout=30s')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /deployment "never-ready-app" exceeded its progress deadline/)
    assert.ok(Date.now() - started < 15_000)
    const d = JSON.parse((await h.kubectl('get', 'deploy', 'never-ready-app', ...NS, '-o', 'json')).stdout)
    const conds = Object.fromEntries(d.status.conditions.map((c: { type: string }) => [c.type, c]))
    assert.equal(conds.Progressing.status, 'False')
    assert.match(
      conds.Progressing.message,
      /^ReplicaSet "never-ready-app-[a-z0-9]+" has timed out progressing\.$/
    )
    assert.equal(conds.Available.reason, 'MinimumReplicasUnavailable')
    assert.equal(d.status.unavailableReplicas, 1)
    const events = JSON.parse(
      (await h.kubectl('get', 'events', ...NS, '--field-selector', 'reason=Unhealthy', '-o', 'json')).stdout
    ).items
    assert.ok(events.length >= 1)
  })

  // A pod that is simply slow writes nothing while it waits (a never-ready one writes Unhealthy events): the
  // deadline must pass with nothing in the namespace changing, which the controller's skip of a quiet
  // namespace has to allow for.
  test('a quiet rollout (pods slow to start, nothing else happening) still exceeds its progress deadline', async () => {
    const ns = 'quiet-deadline'
    h.emu.control.setImageScenario('example.com/slow:v1', { kind: 'healthy', readyAfterMs: 600_000 })
    const objects = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'slow-app', namespace: ns, labels: { app: 'slow-app' } },
        spec: {
          replicas: 1,
          progressDeadlineSeconds: 1,
          selector: { matchLabels: { app: 'slow-app' } },
          template: {
            metadata: { labels: { app: 'slow-app' } },
            spec: { containers: [{ name: 'app', image: 'example.com/slow:v1' }] }
          }
        }
      }
    ]
    for (const [i, object] of objects.entries()) {
      const file = join(h.dir, `quiet-deadline-${i}.json`)
      await writeFile(file, JSON.stringify(object))
      const applied = await h.kubectl(...SSA, '-f', file)
      assert.equal(applied.code, 0, applied.stderr)
    }
    const r = await h.kubectl('rollout', 'status', '-n', ns, 'deploy/slow-app', '--timeout=30s')
    assert.equal(r.code, 1, r.stdout)
    assert.match(r.stderr, /deployment "slow-app" exceeded its progress deadline/)
    const d = JSON.parse((await h.kubectl('get', 'deploy', 'slow-app', '-n', ns, '-o', 'json')).stdout)
    const progressing = d.status.conditions.find((c: { type: string }) => c.type === 'Progressing')
    assert.equal(progressing.reason, 'ProgressDeadlineExceeded')
  })

  test('watch replays events after a resourceVersion and answers a too-old one with 410 Expired', async () => {
    const base = '/apis/apps/v1/namespaces/noesis2/deployments'
    const list = await h.raw('GET', `${base}?fieldSelector=metadata.name%3Dcelery-beat`)
    const rv = (list.json().metadata as { resourceVersion: string }).resourceVersion
    const patch = await h.raw(
      'PATCH',
      `${base}/celery-beat?fieldManager=test`,
      { metadata: { annotations: { 'example.com/touched': 'yes' } } },
      { 'Content-Type': 'application/merge-patch+json' }
    )
    assert.equal(patch.status, 200)
    const events = await watch(
      h,
      `${base}?watch=true&fieldSelector=metadata.name%3Dcelery-beat&resourceVersion=${rv}`,
      ev => ev.length >= 1
    )
    assert.equal(events[0].type, 'MODIFIED')
    const meta = events[0].object.metadata as { annotations: Record<string, string>; resourceVersion: string }
    assert.equal(meta.annotations['example.com/touched'], 'yes')
    assert.ok(Number(meta.resourceVersion) > Number(rv))
    const expired = await watch(h, `${base}?watch=true&resourceVersion=5`, ev => ev.length >= 1)
    assert.equal(expired[0].type, 'ERROR')
    assert.equal((expired[0].object as { code: number }).code, 410)
    assert.equal((expired[0].object as { reason: string }).reason, 'Expired')
    const fresh = await watch(
      h,
      `${base}?watch=true&fieldSelector=metadata.name%3Dcelery-worker`,
      ev => ev.length >= 1
    )
    assert.equal(fresh[0].type, 'ADDED')
    const w = await h.kubectl(
      'get',
      'deploy',
      'celery-beat',
      ...NS,
      '--watch',
      '--request-timeout=1s',
      '-o',
      'name'
    )
    assert.match(w.stdout, /deployment.apps\/celery-beat/)
  })

  test('deleting a Deployment deletes its ReplicaSets and pods', async () => {
    const r = await h.kubectl('delete', 'deploy', 'never-ready-app', ...NS)
    assert.equal(r.code, 0, r.stderr)
    await waitFor('dependents gone', async () => {
      const rs = JSON.parse(
        (await h.kubectl('get', 'rs,pods', ...NS, '-l', 'app=never-ready-app', '-o', 'json')).stdout
      ).items
      return rs.length === 0
    })
  })
})
