import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Harness, RawResponse } from './harness.js'
import { manifest, startHarness } from './harness.js'

describe('auth can-i, faults and the control API', () => {
  let h: Harness
  before(async () => {
    h = await startHarness()
    const r = await h.kubectl(
      'apply',
      '--server-side',
      '--field-manager=t',
      '-f',
      manifest('00-namespace.yaml')
    )
    assert.equal(r.code, 0, r.stderr)
  })
  after(() => h.stop())

  test('auth can-i answers yes, and no once access is denied (protobuf SSAR from kubectl)', async () => {
    let r = await h.kubectl('auth', 'can-i', 'create', 'deployments', '-n', 'noesis2')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout.trim(), 'yes')
    h.emu.control.denyAccess({
      verb: 'create',
      resource: 'deployments',
      namespace: 'noesis2',
      user: 'system:serviceaccount:noesis2:noesis2-worker-sa'
    })
    r = await h.kubectl(
      'auth',
      'can-i',
      'create',
      'deployments',
      '-n',
      'noesis2',
      '--as=system:serviceaccount:noesis2:noesis2-worker-sa'
    )
    assert.equal(r.code, 1)
    assert.equal(r.stdout.trim(), 'no')
    h.emu.control.denyAccess({ verb: 'delete', resource: 'secrets', namespace: 'noesis2' })
    r = await h.kubectl('auth', 'can-i', 'delete', 'secrets', '-n', 'noesis2')
    assert.equal(r.stdout.trim(), 'no')
    const sent = h.emu.control
      .requestLog()
      .filter(x => x.path.startsWith('/apis/authorization.k8s.io/v1/selfsubjectaccessreviews'))
    assert.ok(sent.length >= 3 && sent.every(x => x.status === 201))
    const json = await h.raw('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      spec: {
        resourceAttributes: { namespace: 'noesis2', verb: 'create', group: 'apps', resource: 'deployments' }
      }
    })
    assert.equal(json.status, 201)
    assert.deepEqual(json.json().status, { allowed: true })
    const denied = await h.raw('DELETE', '/api/v1/namespaces/noesis2/secrets/anything')
    assert.equal(denied.status, 403)
  })

  test('seeded 503 faults with Retry-After repeat exactly between runs', async () => {
    const run = async (): Promise<number[]> => {
      h.emu.control.setFaults({
        seed: 42,
        errorRate: 0.5,
        statuses: [503, 429],
        retryAfterSeconds: 2,
        only: (_m, p) => p.startsWith('/api/v1/namespaces')
      })
      const codes: number[] = []
      const samples: RawResponse[] = []
      for (let i = 0; i < 12; i++) {
        const r = await h.raw('GET', '/api/v1/namespaces/noesis2')
        codes.push(r.status)
        samples.push(r)
      }
      h.emu.control.setFaults(undefined)
      for (const s of samples.filter(x => x.status === 503 || x.status === 429)) {
        assert.equal(s.headers['retry-after'], '2')
        assert.equal(s.json().kind, 'Status')
      }
      return codes
    }
    const first = await run()
    const second = await run()
    assert.deepEqual(first, second)
    assert.ok(first.includes(200) && first.some(c => c !== 200), first.join(','))
    const version = await h.raw('GET', '/version')
    assert.equal(version.status, 200)
  })

  test('a reset fault destroys the connection; the client sees a transport error', async () => {
    h.emu.control.setFaults({
      seed: 1,
      resetRate: 1,
      only: (m, p) => m === 'GET' && p.startsWith('/api/v1/namespaces/noesis2')
    })
    await assert.rejects(h.raw('GET', '/api/v1/namespaces/noesis2'))
    h.emu.control.setFaults(undefined)
    const ok = await h.raw('GET', '/api/v1/namespaces/noesis2')
    assert.equal(ok.status, 200)
  })

  test('control HTTP API mirrors the programmatic one', async () => {
    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(`${h.emu.controlUrl}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' }
      })
    assert.equal(
      (await post('/scenario', { image: 'example.com/x:v1', scenario: { kind: 'neverReady' } })).status,
      200
    )
    assert.equal((await post('/exec', { match: ['true'] })).status, 200)
    assert.equal((await post('/exec', { match: 'true' })).status, 400)
    assert.equal((await post('/faults', { seed: 3, errorRate: 1, statuses: [500] })).status, 200)
    const failed = await h.raw('GET', '/api/v1/namespaces')
    assert.equal(failed.status, 500)
    assert.equal((await post('/faults', {})).status, 200)
    const log = (await (await fetch(`${h.emu.controlUrl}/requests`)).json()) as Array<{
      path: string
      status: number
    }>
    assert.ok(log.some(x => x.path === '/api/v1/namespaces' && x.status === 500))
    assert.equal((await post('/reset', {})).status, 200)
    assert.equal(h.emu.control.getObject('/api/v1/namespaces/noesis2'), undefined)
  })
})
