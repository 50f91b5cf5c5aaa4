// Where both rigs can answer, they must agree: the same requests to the emulator and to the real kube-apiserver
// get the same status codes and messages, and the same deploy scenarios end the same way under the same
// assertions. The real server is the judge: a difference found here is fixed in the emulator.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:https'
import { startControlPlane, type ControlPlane } from '../rig/control-plane/index.js'
import { startKubeEmulator, type KubeEmulator } from '../rig/kube/index.js'
import { REGISTRY, startControlPlaneE2E, startE2E, type E2E } from '../support/e2e.js'
import type { AnyRig } from '../support/rig.js'

interface Answer {
  status: number
  message?: string
  reason?: string
  body: Record<string, unknown>
}

interface Server {
  call(method: string, path: string, body: string, contentType?: string): Promise<Answer>
}

function server(url: string, token: string, caPem: string): Server {
  return {
    call: (method, path, body, contentType = 'application/json') =>
      new Promise((resolve, reject) => {
        const req = request(
          url + path,
          { method, ca: caPem, headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType } },
          res => {
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => {
              const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
              resolve({
                status: res.statusCode ?? 0,
                message: parsed.message as string | undefined,
                reason: parsed.reason as string | undefined,
                body: parsed
              })
            })
          }
        )
        req.on('error', reject)
        req.end(body)
      })
  }
}

let emulator: KubeEmulator
let controlPlane: ControlPlane
let both: Array<[string, Server]>
before(async () => {
  ;[emulator, controlPlane] = await Promise.all([startKubeEmulator({ tickMs: 20 }), startControlPlane()])
  both = [
    ['emulator', server(emulator.url, emulator.token, emulator.caPem)],
    ['kube-apiserver', server(controlPlane.directUrl, controlPlane.adminToken, controlPlane.ca.certPem)]
  ]
  const namespace = JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'agree' } })
  for (const [, s] of both) assert.equal((await s.call('POST', '/api/v1/namespaces', namespace)).status, 201)
})
after(async () => {
  await Promise.all([emulator?.stop(), controlPlane?.stop()])
})

function deployment(name: string, spec: object = {}, container: object = {}, metadata: object = {}): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'agree', ...metadata },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image: `${REGISTRY}:v1`, ...container }] }
      },
      ...spec
    }
  })
}

const APPLY = 'application/apply-patch+yaml'
const ssa = (name: string, dryRun = false) =>
  `/apis/apps/v1/namespaces/agree/deployments/${name}?fieldManager=agree&fieldValidation=Strict&force=true${dryRun ? '&dryRun=All' : ''}`
const POST = '/apis/apps/v1/namespaces/agree/deployments?fieldManager=agree&fieldValidation=Strict'

// Values of the wrong type, each where a YAML 1.1 reader puts them (on, 1_000, 0o17 ...) or a template might.
const TYPE_CASES: Array<{ name: string; method: string; path: string; body: string; contentType?: string }> =
  [
    {
      name: 'apply: env value true',
      method: 'PATCH',
      path: ssa('t1'),
      body: deployment('t1', {}, { env: [{ name: 'FEATURE_FLAG', value: true }] }),
      contentType: APPLY
    },
    {
      name: 'dry-run apply: env value true',
      method: 'PATCH',
      path: ssa('t1', true),
      body: deployment('t1', {}, { env: [{ name: 'FEATURE_FLAG', value: true }] }),
      contentType: APPLY
    },
    {
      name: 'apply: env value 1000',
      method: 'PATCH',
      path: ssa('t2'),
      body: deployment('t2', {}, { env: [{ name: 'COUNT', value: 1000 }] }),
      contentType: APPLY
    },
    {
      name: 'apply: args item true',
      method: 'PATCH',
      path: ssa('t3'),
      body: deployment('t3', {}, { args: ['-Q', true] }),
      contentType: APPLY
    },
    {
      name: 'apply: image 15',
      method: 'PATCH',
      path: ssa('t4'),
      body: deployment('t4', {}, { image: 15 }),
      contentType: APPLY
    },
    {
      name: 'apply: annotation true',
      method: 'PATCH',
      path: ssa('t5'),
      body: deployment('t5', {}, {}, { annotations: { 'deploy-gke-workers/actor': true } }),
      contentType: APPLY
    },
    {
      name: 'apply: replicas "2"',
      method: 'PATCH',
      path: ssa('t6'),
      body: deployment('t6', { replicas: '2' }),
      contentType: APPLY
    },
    {
      name: 'apply: paused "yes"',
      method: 'PATCH',
      path: ssa('t7'),
      body: deployment('t7', { paused: 'yes' }),
      contentType: APPLY
    },
    {
      name: 'apply: replicas 1.5',
      method: 'PATCH',
      path: ssa('t8'),
      body: deployment('t8', { replicas: 1.5 }),
      contentType: APPLY
    },
    {
      name: 'apply: cpu limit true',
      method: 'PATCH',
      path: ssa('t9'),
      body: deployment('t9', {}, { resources: { limits: { cpu: true } } }),
      contentType: APPLY
    },
    {
      name: 'apply: Secret stringData true',
      method: 'PATCH',
      path: '/api/v1/namespaces/agree/secrets/s1?fieldManager=agree&fieldValidation=Strict&force=true',
      body: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's1', namespace: 'agree' },
        stringData: { ON: true }
      }),
      contentType: APPLY
    },
    {
      name: 'create: env value true',
      method: 'POST',
      path: POST,
      body: deployment('t10', {}, { env: [{ name: 'FEATURE_FLAG', value: true }] })
    },
    { name: 'create: image 15', method: 'POST', path: POST, body: deployment('t11', {}, { image: 15 }) },
    { name: 'create: paused "yes"', method: 'POST', path: POST, body: deployment('t12', { paused: 'yes' }) }
  ]

describe('the emulator answers as the real kube-apiserver', () => {
  for (const c of TYPE_CASES) {
    test(c.name, async () => {
      const [[, fake], [, real]] = both
      const [mine, theirs] = await Promise.all([
        fake.call(c.method, c.path, c.body, c.contentType),
        real.call(c.method, c.path, c.body, c.contentType)
      ])
      assert.deepEqual(
        { status: mine.status, reason: mine.reason, message: mine.message },
        { status: theirs.status, reason: theirs.reason, message: theirs.message }
      )
      assert.ok(theirs.status >= 400, 'the real server refuses it')
    })
  }

  test("a Deployment's generation moves on an annotation change, not on a label change", async () => {
    const generations: Record<string, number[]> = {}
    for (const [label, s] of both) {
      const apply = (metadata: object) =>
        s.call('PATCH', ssa('gen'), deployment('gen', {}, {}, metadata), APPLY)
      const seen: number[] = []
      for (const metadata of [
        {},
        { annotations: { a: 'x' } },
        { annotations: { a: 'x' }, labels: { l: 'y' } }
      ]) {
        const answer = await apply(metadata)
        assert.ok(answer.status < 300, `${label}: ${answer.message}`)
        seen.push((answer.body.metadata as { generation: number }).generation)
      }
      generations[label] = seen
    }
    assert.deepEqual(generations.emulator, [1, 2, 2])
    assert.deepEqual(generations['kube-apiserver'], [1, 2, 2])
  })
})

// The same deploy scenarios, the same assertions, on both rigs.
describe('deploy scenarios end the same on both rigs', () => {
  const rigs: Array<[string, () => Promise<E2E<AnyRig>>]> = [
    ['emulator', () => startE2E({})],
    ['real control plane', () => startControlPlaneE2E()]
  ]
  for (const [label, start] of rigs) {
    test(`${label}: YAML 1.1 env, an unchanged redeploy, an image that does not exist rolled back`, async () => {
      const e2e = await start()
      try {
        const ns = 'agree-story'
        const inputs = { image: `${REGISTRY}:a1`, env: 'FEATURE_FLAG=on\nDEBUG=no', smoke_checks: 'false' }
        const first = await e2e.run(ns, inputs)
        assert.equal(first.outputs.status, 'deployed', first.stdout)
        const worker = await e2e.rig.kubectlJson<{
          spec: {
            template: {
              spec: { containers: Array<{ name: string; env: Array<{ name: string; value?: string }> }> }
            }
          }
        }>('get', 'deployment', 'celery-worker', '-n', ns)
        const env = worker.spec.template.spec.containers.find(c => c.name === 'app')!.env
        assert.equal(env.find(e => e.name === 'FEATURE_FLAG')?.value, 'on')

        const again = await e2e.run(ns, inputs, { env: { GITHUB_RUN_ID: '5151' } })
        assert.equal(again.outputs.status, 'unchanged', again.stdout)

        const broken = await e2e.run(ns, { ...inputs, image: `${REGISTRY}:a2-image-not-found` })
        assert.equal(broken.exitCode, 1)
        assert.equal(broken.outputs.status, 'rolled-back', broken.stdout)
        assert.match(broken.stdout, /container app: (ImagePullBackOff|ErrImagePull)/)
        assert.equal(broken.outputs.worker_revision, '3')
      } finally {
        await e2e.stop()
      }
    })
  }
})
