import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Harness } from './harness.js'
import { manifest, startHarness } from './harness.js'

const SSA = ['apply', '--server-side', '--field-manager=deploy-gke-workers']
const WORKER = '/apis/apps/v1/namespaces/noesis2/deployments/celery-worker'

interface Meta {
  resourceVersion: string
  generation?: number
  managedFields?: unknown[]
}
const metaOf = (h: Harness, path: string): Meta =>
  (h.emu.control.getObject(path) as { metadata: Meta }).metadata

describe('kubectl apply against the emulator', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
  })
  after(() => h.stop())

  test('version reports the configured server minor', async () => {
    const r = await h.kubectl('version', '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).serverVersion.minor, '32')
    assert.match(JSON.parse(r.stdout).serverVersion.gitVersion, /^v1\.32\.\d+-emulator$/)
  })

  test('server-side apply creates everything, then rollout status succeeds', async () => {
    let r = await h.kubectl(...SSA, '-f', manifest('00-namespace.yaml'))
    assert.equal(r.code, 0, r.stderr)
    r = await h.kubectl(...SSA, '-f', manifest('10-rest-v1.yaml'))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /deployment.apps\/celery-worker serverside-applied/)
    const creates = h.emu.control
      .requestLog()
      .filter(x => x.method === 'PATCH' && x.path.includes('fieldManager=deploy-gke-workers'))
    assert.ok(
      creates.every(x => x.status === 201),
      JSON.stringify(creates)
    )
    r = await h.kubectl('rollout', 'status', '-n', 'noesis2', 'deploy/celery-worker', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /successfully rolled out/)
  })

  test('re-applying unchanged manifests changes no resourceVersion, generation or managedFields', async () => {
    await new Promise(r => setTimeout(r, 300)) // let the controllers settle after the rollout
    const before = metaOf(h, WORKER)
    const secretBefore = metaOf(h, '/api/v1/namespaces/noesis2/secrets/app-secrets')
    const r = await h.kubectl(...SSA, '-f', manifest('10-rest-v1.yaml'))
    assert.equal(r.code, 0, r.stderr)
    const after = metaOf(h, WORKER)
    assert.equal(after.resourceVersion, before.resourceVersion)
    assert.equal(after.generation, 1)
    assert.deepEqual(after.managedFields, before.managedFields)
    assert.equal(
      metaOf(h, '/api/v1/namespaces/noesis2/secrets/app-secrets').resourceVersion,
      secretBefore.resourceVersion
    )
  })

  test('diff --server-side is clean for applied manifests and exits 1 with the change', async () => {
    let r = await h.kubectl(
      'diff',
      '--server-side',
      '--field-manager=deploy-gke-workers',
      '-f',
      manifest('10-rest-v1.yaml')
    )
    assert.equal(r.code, 0, r.stdout + r.stderr)
    r = await h.kubectl(
      'diff',
      '--server-side',
      '--field-manager=deploy-gke-workers',
      '-f',
      manifest('10-rest-v2.yaml')
    )
    assert.equal(r.code, 1, r.stderr)
    assert.match(r.stdout, /-\s+image: example.com\/app:v1\n\+\s+image: example.com\/app:v2/)
    assert.match(r.stdout, /-\s+generation: 1\n\+\s+generation: 2/)
  })

  test('apply --server-side --dry-run=server shows the change and persists nothing', async () => {
    const before = metaOf(h, WORKER)
    const r = await h.kubectl(...SSA, '--dry-run=server', '-f', manifest('10-rest-v3.yaml'), '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    const items = JSON.parse(r.stdout).items as Array<{
      kind: string
      metadata: Meta
      spec: { template: { spec: { containers: Array<{ image: string }> } } }
    }>
    const worker = items.find(i => i.kind === 'Deployment' && JSON.stringify(i).includes('celery-worker'))
    assert.ok(worker)
    assert.equal(worker.metadata.generation, 2)
    assert.equal(worker.metadata.resourceVersion, before.resourceVersion)
    assert.equal(worker.spec.template.spec.containers[0].image, 'example.com/app:v3')
    const live = h.emu.control.getObject(WORKER) as {
      metadata: Meta
      spec: { template: { spec: { containers: Array<{ image: string }> } } }
    }
    assert.equal(live.metadata.resourceVersion, before.resourceVersion)
    assert.equal(live.spec.template.spec.containers[0].image, 'example.com/app:v1')
  })

  test('a namespace created only in a dry run does not exist for the objects in it', async () => {
    const r = await h.kubectl('apply', '--dry-run=server', '-f', manifest('30-newns-and-deploy.yaml'))
    assert.equal(r.code, 1)
    assert.match(r.stdout, /namespace\/noesis2-brand-new created \(server dry run\)/)
    assert.match(r.stderr, /namespaces "noesis2-brand-new" not found/)
    assert.equal(h.emu.control.getObject('/api/v1/namespaces/noesis2-brand-new'), undefined)
  })

  test('client-side apply creates, re-apply sends no patch, get -o json lists without item kinds on the wire', async () => {
    let r = await h.kubectl('apply', '-f', manifest('60-lease.yaml'))
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /lease.coordination.k8s.io\/celery-beat-leader created/)
    const lease = h.emu.control.getObject(
      '/apis/coordination.k8s.io/v1/namespaces/noesis2/leases/celery-beat-leader'
    ) as { metadata: Meta }
    assert.equal(lease.metadata.generation, undefined)
    r = await h.kubectl('apply', '-f', manifest('60-lease.yaml'))
    assert.match(r.stdout, /unchanged/)
    r = await h.kubectl('apply', '-f', manifest('61-lease-updated.yaml'))
    assert.match(r.stdout, /configured/)
    const updated = h.emu.control.getObject(
      '/apis/coordination.k8s.io/v1/namespaces/noesis2/leases/celery-beat-leader'
    ) as { metadata: Meta; spec: { holderIdentity: string } }
    assert.equal(updated.spec.holderIdentity, 'celery-beat-pod-b')
    assert.ok(Number(updated.metadata.resourceVersion) > Number(lease.metadata.resourceVersion))
    const raw = await h.raw('GET', '/apis/apps/v1/namespaces/noesis2/deployments?limit=500')
    const list = raw.json() as {
      kind: string
      metadata: { resourceVersion: string }
      items: Array<Record<string, unknown>>
    }
    assert.equal(list.kind, 'DeploymentList')
    assert.ok(list.metadata.resourceVersion)
    assert.ok(list.items.every(i => i.kind === undefined && i.apiVersion === undefined))
    r = await h.kubectl('get', 'deploy', '-n', 'noesis2', '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    assert.deepEqual(
      (JSON.parse(r.stdout).items as Array<{ metadata: { name: string } }>).map(i => i.metadata.name),
      ['celery-beat', 'celery-worker']
    )
  })

  test('PUT with a stale resourceVersion is a 409 Conflict', async () => {
    const path = '/apis/coordination.k8s.io/v1/namespaces/noesis2/leases/celery-beat-leader'
    const cur = h.emu.control.getObject(path) as { metadata: Meta }
    const ok = await h.raw('PUT', path, { ...cur, spec: { holderIdentity: 'x' } })
    assert.equal(ok.status, 200, ok.text)
    const stale = await h.raw('PUT', path, { ...cur, spec: { holderIdentity: 'y' } })
    assert.equal(stale.status, 409)
    assert.match(
      String(stale.json().message),
      /the object has been modified; please apply your changes to the latest version and try again/
    )
  })
})
