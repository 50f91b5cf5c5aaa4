import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import YAML from 'yaml'
import type { Harness } from './harness.js'
import { golden, manifest, startHarness } from './harness.js'

const SSA = ['apply', '--server-side', '--field-manager=deploy-gke-workers']
const APPLY_Q = '?fieldManager=deploy-gke-workers&fieldValidation=Strict&force=false'
const applyHeaders = { 'Content-Type': 'application/apply-patch+yaml' }

function docs(name: string): Array<Record<string, unknown>> {
  return YAML.parseAllDocuments(readFileSync(manifest(name), 'utf8')).map(
    d => d.toJSON() as Record<string, unknown>
  )
}

// The Status fields a client reads: code, status, reason, message, details.
function statusFields(body: Record<string, unknown>): unknown {
  const { kind, apiVersion, status, reason, message, details, code } = body
  return { kind, apiVersion, status, reason, message, details, code }
}

describe('error bodies match the golden apiserver', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    for (const f of ['00-namespace.yaml', '10-rest-v1.yaml']) {
      const r = await h.kubectl(...SSA, '-f', manifest(f))
      assert.equal(r.code, 0, r.stderr)
    }
  })
  after(() => h.stop())

  test('404 for a missing deployment (golden seq 121) and kubectl says NotFound', async () => {
    const g = golden(121)
    const r = await h.raw('GET', '/apis/apps/v1/namespaces/noesis2/deployments/does-not-exist')
    assert.equal(r.status, g.status)
    assert.deepEqual(statusFields(r.json()), statusFields(g.responseBody))
    const k = await h.kubectl('get', 'deploy', 'does-not-exist', '-n', 'noesis2')
    assert.equal(k.code, 1)
    assert.match(k.stderr, /Error from server \(NotFound\): deployments.apps "does-not-exist" not found/)
  })

  test('core-group 404 has no group (namespace), lease 404 names its group', async () => {
    const ns = await h.raw('GET', '/api/v1/namespaces/nope')
    assert.deepEqual(ns.json().details, { name: 'nope', kind: 'namespaces' })
    const g = golden(236)
    const lease = await h.raw(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/noesis2/leases/celery-beat-leader'
    )
    assert.deepEqual(statusFields(lease.json()), statusFields(g.responseBody))
  })

  test('409 AlreadyExists on create (golden seq 131)', async () => {
    const g = golden(131)
    const r = await h.raw(
      'POST',
      '/apis/apps/v1/namespaces/noesis2/deployments?fieldManager=kubectl-create&fieldValidation=Strict',
      g.requestBody
    )
    assert.equal(r.status, 409)
    assert.deepEqual(statusFields(r.json()), statusFields(g.responseBody))
    const k = await h.kubectl('create', '-f', manifest('43-beat-for-create.yaml'))
    assert.equal(k.code, 1)
    assert.match(k.stderr, /AlreadyExists/)
  })

  test('422 for negative replicas and for an uppercase name, via SSA and POST (golden 147, 152, 157)', async () => {
    for (const seq of [147, 152, 157]) {
      const g = golden(seq)
      const path = g.path.split('?')[0]
      const r =
        g.method === 'PATCH'
          ? await h.raw('PATCH', path + APPLY_Q, g.requestBody, applyHeaders)
          : await h.raw('POST', path + '?fieldManager=kubectl-create&fieldValidation=Strict', g.requestBody)
      assert.equal(r.status, 422, `seq ${seq}: ${r.text}`)
      assert.deepEqual(statusFields(r.json()), statusFields(g.responseBody), `seq ${seq}`)
    }
    const k = await h.kubectl(...SSA, '-f', manifest('41-worker-replicas-negative.yaml'))
    assert.equal(k.code, 1)
    assert.match(
      k.stderr,
      /The Deployment "celery-worker" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0/
    )
  })

  test('unknown field: client-side apply gets 422 (seq 137), server-side apply 500 without reason (seq 142)', async () => {
    const csa = await h.kubectl('apply', '-f', manifest('40-worker-unknown-field.yaml'))
    assert.equal(csa.code, 1)
    assert.match(
      csa.stderr,
      /strict decoding error: unknown field "spec.template.spec.containers\[0\].imagePullPolicyy"/
    )
    const g137 = golden(137)
    const r137 = await h.raw('PATCH', g137.path, g137.requestBody, {
      'Content-Type': 'application/strategic-merge-patch+json'
    })
    assert.equal(r137.status, 422)
    assert.deepEqual(statusFields(r137.json()), statusFields(g137.responseBody))

    const g142 = golden(142)
    const r142 = await h.raw('PATCH', g142.path, g142.requestBody, applyHeaders)
    assert.equal(r142.status, 500)
    assert.deepEqual(statusFields(r142.json()), statusFields(g142.responseBody))
    const ssa = await h.kubectl(...SSA, '-f', manifest('40-worker-unknown-field.yaml'))
    assert.equal(ssa.code, 1)
    assert.match(ssa.stderr, /field not declared in schema/)
  })

  test('POST and PUT with an unknown field under fieldValidation=Strict are rejected', async () => {
    const [deploy] = docs('43-beat-for-create.yaml')
    const bad = structuredClone(deploy) as { metadata: { name: string }; spec: Record<string, unknown> }
    bad.metadata.name = 'strict-probe'
    bad.spec.replicaz = 3
    const r = await h.raw('POST', '/apis/apps/v1/namespaces/noesis2/deployments?fieldValidation=Strict', bad)
    assert.equal(r.status, 400)
    assert.match(String(r.json().message), /strict decoding error: unknown field "spec.replicaz"/)
    const lax = await h.raw(
      'POST',
      '/apis/apps/v1/namespaces/noesis2/deployments?fieldValidation=Ignore&dryRun=All',
      bad
    )
    assert.equal(lax.status, 201, lax.text)
    assert.equal((lax.json().spec as Record<string, unknown>).replicaz, undefined)
  })

  test('SSA by a second manager changing an owned field: 409 FieldManagerConflict (seq 162), --force-conflicts wins', async () => {
    const g = golden(162)
    const r = await h.raw('PATCH', g.path, g.requestBody, applyHeaders)
    assert.equal(r.status, 409)
    assert.deepEqual(statusFields(r.json()), statusFields(g.responseBody))
    const forced = await h.kubectl(
      'apply',
      '--server-side',
      '--field-manager=someone-else',
      '--force-conflicts',
      '--dry-run=server',
      '-f',
      manifest('44-worker-other-manager.yaml')
    )
    assert.equal(forced.code, 0, forced.stderr)
  })

  test('validation: selector must match template labels; selector is immutable; HPA min > max', async () => {
    const [deploy] = docs('43-beat-for-create.yaml')
    const d = structuredClone(deploy) as {
      metadata: { name: string }
      spec: { selector: { matchLabels: Record<string, string> } }
    }
    d.metadata.name = 'mismatch'
    d.spec.selector.matchLabels = { app: 'other' }
    let r = await h.raw('POST', '/apis/apps/v1/namespaces/noesis2/deployments', d)
    assert.equal(r.status, 422)
    assert.match(
      String(r.json().message),
      /^Deployment.apps "mismatch" is invalid: spec.template.metadata.labels: Invalid value: .*`selector` does not match template `labels`/
    )
    r = await h.raw(
      'PATCH',
      '/apis/apps/v1/namespaces/noesis2/deployments/celery-beat',
      {
        spec: {
          selector: { matchLabels: { app: 'celery-beat', tier: 'x' } },
          template: { metadata: { labels: { tier: 'x' } } }
        }
      },
      { 'Content-Type': 'application/strategic-merge-patch+json' }
    )
    assert.equal(r.status, 422)
    assert.match(String(r.json().message), /spec.selector: Invalid value: .*field is immutable/)
    const hpa = docs('10-rest-v1.yaml').find(x => x.kind === 'HorizontalPodAutoscaler') as {
      metadata: { name: string }
      spec: Record<string, unknown>
    }
    hpa.metadata.name = 'bad-hpa'
    hpa.spec.minReplicas = 6
    r = await h.raw('POST', '/apis/autoscaling/v2/namespaces/noesis2/horizontalpodautoscalers', hpa)
    assert.equal(r.status, 422)
    assert.equal((r.json().details as Record<string, unknown>).kind, 'HorizontalPodAutoscaler')
  })

  test('401 without a valid token', async () => {
    const r = await h.raw('GET', '/api/v1/namespaces', undefined, { Authorization: 'Bearer wrong' })
    assert.equal(r.status, 401)
    assert.equal(r.json().reason, 'Unauthorized')
  })
})

describe('golden SSA responses', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
  })
  after(() => h.stop())

  test('create responses carry the golden defaults (seq 13, 20, 21, 22, 23, 24) and no-op re-apply keeps everything', async () => {
    const created: Record<number, Record<string, unknown>> = {}
    for (const seq of [13, 20, 21, 22, 23, 24]) {
      const g = golden(seq)
      const r = await h.raw('PATCH', g.path, g.requestBody, applyHeaders)
      assert.equal(r.status, g.status, `seq ${seq}: ${r.text}`)
      const got = r.json()
      created[seq] = got
      const strip = (o: Record<string, unknown>): unknown => {
        const { metadata, ...rest } = o as { metadata: Record<string, unknown> }
        const { uid, resourceVersion, creationTimestamp, managedFields, ...m } = metadata
        void uid
        void resourceVersion
        void creationTimestamp
        const mf = (managedFields as Array<Record<string, unknown>> | undefined)?.map(
          ({ time, ...e }) => (void time, e)
        )
        return { ...rest, metadata: m, managedFields: mf }
      }
      assert.deepEqual(strip(got), strip(g.responseBody), `seq ${seq}`)
    }
    for (const [seq, first] of Object.entries(created)) {
      const g = golden(Number(seq))
      const r = await h.raw('PATCH', g.path, g.requestBody, applyHeaders)
      assert.equal(r.status, 200)
      const again = r.json()
      const m = (o: Record<string, unknown>): Record<string, unknown> => o.metadata as Record<string, unknown>
      if (Number(seq) === 22 || Number(seq) === 23) continue // the controllers write these in between
      assert.equal(m(again).resourceVersion, m(first).resourceVersion, `seq ${seq}`)
      assert.deepEqual(m(again).managedFields, m(first).managedFields, `seq ${seq}`)
    }
  })
})
