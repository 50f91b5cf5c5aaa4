// autoscaling: keda against the real control plane with KEDA's own CRDs (v2.20.2, from KEDA's Go module)
// installed and no KEDA operator running: the real apiserver validates the ScaledObject and
// TriggerAuthentication against KEDA's schemas, nothing creates keda-hpa-* and nothing scales (the tests scale
// by hand where KEDA would). What is proved is what the action writes, deletes and reports, and that it copes
// with a cluster whose KEDA does not answer. The same stories with KEDA's operator and metrics adapter
// running: keda-operator.test.ts.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { EXAMPLE_SECRET_VALUES } from '../support/example-inputs.js'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import type { ControlPlaneRig } from '../support/rig.js'
import { installKedaCrds } from '../support/keda.js'
import { plain } from '../support/report.js'
import { templatesWith } from '../support/templates.js'
import type { ActionWorkspace } from '../support/run-action.js'

interface ScaledObject {
  spec: {
    scaleTargetRef: { name: string }
    minReplicaCount: number
    maxReplicaCount: number
    triggers: Array<{ type: string; metadata: Record<string, string>; authenticationRef: { name: string } }>
  }
}
interface TriggerAuthentication {
  spec: { secretTargetRef: Array<{ parameter: string; name: string; key: string }> }
}
interface List<T> {
  items: Array<T & { metadata: { name: string } }>
}

const KEDA_INPUTS = { autoscaling: 'keda', worker_queues: 'celery,rag_delete' }

let e2e: E2E
let rig: ControlPlaneRig
const workspaces: ActionWorkspace[] = []
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
})
after(async () => {
  await Promise.all(workspaces.map(w => w.remove()))
  await e2e?.stop()
})

// The worker's autoscalers: our HPA and any ScaledObject (each ScaledObject is one, with KEDA's HPA under it).
async function autoscalersOf(ns: string): Promise<string[]> {
  const hpas = await rig.kubectlJson<List<{ spec: { scaleTargetRef: { name: string } } }>>(
    'get',
    'hpa',
    '-n',
    ns
  )
  const scaled = await rig.kubectlJson<List<ScaledObject>>('get', 'scaledobjects.keda.sh', '-n', ns)
  return [
    ...hpas.items
      .filter(h => h.spec.scaleTargetRef.name === 'celery-worker')
      .map(h => `HPA/${h.metadata.name}`),
    ...scaled.items
      .filter(s => s.spec.scaleTargetRef.name === 'celery-worker')
      .map(s => `ScaledObject/${s.metadata.name}`)
  ]
}

describe('autoscaling: keda on a real API server', () => {
  test('without KEDA installed: stopped before any write, saying how to install it', async () => {
    const ns = 'cp-keda-missing'
    const run = await e2e.run(ns, KEDA_INPUTS)
    assert.notEqual(run.exitCode, 0)
    assert.equal(run.outputs.status, 'failed')
    assert.equal(e2e.writesTo(ns), 0, 'not even the Namespace was written')
    assert.match(plain(run.summary), /the cluster serves no TriggerAuthentication or ScaledObject/)
    assert.match(plain(run.summary), /scaledobjects\.keda\.sh/)
    assert.match(plain(run.summary), /helm install keda kedacore\/keda --namespace keda --create-namespace/)
    assert.match(run.stdout, /::error title=.*KEDA is not installed/)
    const namespace = await rig.kubectl('get', 'namespace', ns)
    assert.notEqual(namespace.code, 0, 'the namespace was not created')
  })

  describe('with KEDA\u2019s CRDs installed', () => {
    before(async () => {
      await installKedaCrds(rig)
      // The garbage collector learns new kinds on its own schedule; a foreground deletion of a ScaledObject
      // completes only once it has. Wait for that once here, by doing one (bounded, not a sleep).
      await rig.applyObjects([
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gc-warmup' } },
        {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ScaledObject',
          metadata: { name: 'warmup', namespace: 'gc-warmup' },
          spec: {
            scaleTargetRef: { name: 'none' },
            triggers: [{ type: 'cron', metadata: { start: '0 8 * * *' } }]
          }
        }
      ])
      const deleted = await rig.kubectl(
        'delete',
        'scaledobjects.keda.sh/warmup',
        '-n',
        'gc-warmup',
        '--cascade=foreground',
        '--wait',
        '--timeout=120s'
      )
      assert.equal(deleted.code, 0, deleted.stderr)
    })

    test('cpu → keda → cpu on a live namespace: KEDA\u2019s schemas accept it, one autoscaler at every step', async () => {
      const ns = 'cp-keda'
      const cpu = await e2e.run(ns, { image: `${REGISTRY}:v1`, worker_queues: 'celery,rag_delete' })
      assert.equal(cpu.outputs.status, 'deployed', cpu.stdout)
      assert.deepEqual(await autoscalersOf(ns), ['HPA/celery-worker-hpa'])

      const keda = await e2e.run(ns, { ...KEDA_INPUTS, image: `${REGISTRY}:v1`, worker_min_replicas: '0' })
      assert.equal(keda.exitCode, 0, keda.stdout + keda.stderr)
      assert.equal(keda.outputs.status, 'deployed')
      assert.deepEqual(await autoscalersOf(ns), ['ScaledObject/celery-worker'])
      const scaled = await rig.kubectlJson<ScaledObject>(
        'get',
        'scaledobjects.keda.sh',
        'celery-worker',
        '-n',
        ns
      )
      assert.equal(scaled.spec.minReplicaCount, 0)
      assert.equal(scaled.spec.maxReplicaCount, 5)
      assert.deepEqual(
        scaled.spec.triggers.map(t => [
          t.type,
          t.metadata.listName,
          t.metadata.listLength,
          t.authenticationRef.name
        ]),
        [
          ['redis', 'celery', '5', 'celery-worker-redis'],
          ['redis', 'rag_delete', '5', 'celery-worker-redis']
        ]
      )
      const auth = await rig.kubectlJson<TriggerAuthentication>(
        'get',
        'triggerauthentications.keda.sh',
        'celery-worker-redis',
        '-n',
        ns
      )
      assert.deepEqual(
        auth.spec.secretTargetRef.map(e => `${e.parameter}=${e.name}/${e.key}`),
        ['address=app-secrets/REDIS_ADDRESS', 'password=app-secrets/REDIS_PASSWORD']
      )
      const secret = await rig.kubectlJson<{ data: Record<string, string> }>(
        'get',
        'secret',
        'app-secrets',
        '-n',
        ns
      )
      assert.equal(
        Buffer.from(secret.data.REDIS_ADDRESS, 'base64').toString(),
        `127.0.0.1:${rig.services.redis.port}`
      )
      assert.equal(Buffer.from(secret.data.REDIS_PASSWORD, 'base64').toString(), 'redis-example-pass')
      // The report: the switch, and the autoscaler now.
      assert.match(
        plain(keda.summary),
        /HorizontalPodAutoscaler \| celery-worker-hpa \| deleted \(autoscaling is keda\)/
      )
      assert.match(plain(keda.summary), /### Autoscaling/)
      assert.match(plain(keda.summary), /KEDA ScaledObject celery-worker/)
      assert.match(plain(keda.summary), /5 tasks per replica on celery, rag_delete/)
      for (const value of EXAMPLE_SECRET_VALUES) {
        for (const [where, text] of [
          ['summary', keda.summary],
          ['log', (keda.stdout + keda.stderr).replace(/^::add-mask::.*$/gm, '')]
        ]) {
          const at = text.indexOf(value)
          assert.equal(
            at,
            -1,
            `${where} shows a secret value: …${text.slice(Math.max(0, at - 200), at + 50)}`
          )
        }
      }

      // KEDA scales an idle worker to zero; switching back must give it replicas again (an HPA cannot).
      const zero = await rig.kubectl('scale', 'deployment/celery-worker', '-n', ns, '--replicas=0')
      assert.equal(zero.code, 0, zero.stderr)

      // The pull-request plan of the way back shows the switch.
      const plan = await e2e.run(
        ns,
        { image: `${REGISTRY}:v1`, worker_queues: 'celery,rag_delete', pr_comment: 'false' },
        { eventName: 'pull_request', eventPayload: { number: 3, pull_request: { number: 3 } } }
      )
      assert.equal(plan.outputs.status, 'dry-run', plan.stdout)
      assert.match(
        plain(plan.summary),
        /ScaledObject celery-worker: 0–5 replicas at queue length 5 per replica \(celery, rag_delete\) \| HorizontalPodAutoscaler celery-worker-hpa: 1–5 replicas at 70% CPU/
      )
      assert.match(plain(plan.summary), /ScaledObject \| celery-worker \| deleted \(autoscaling is cpu\)/)
      assert.deepEqual(await autoscalersOf(ns), ['ScaledObject/celery-worker'], 'the plan changed nothing')

      const back = await e2e.run(ns, { image: `${REGISTRY}:v1`, worker_queues: 'celery,rag_delete' })
      assert.equal(back.exitCode, 0, back.stdout + back.stderr)
      assert.deepEqual(await autoscalersOf(ns), ['HPA/celery-worker-hpa'])
      const auths = await rig.kubectlJson<List<TriggerAuthentication>>(
        'get',
        'triggerauthentications.keda.sh',
        '-n',
        ns
      )
      assert.deepEqual(auths.items, [], 'the TriggerAuthentication went with its ScaledObject')
      const worker = await rig.kubectlJson<{ spec: { replicas: number } }>(
        'get',
        'deployment',
        'celery-worker',
        '-n',
        ns
      )
      assert.equal(worker.spec.replicas, 1, 'given its minimum back from zero')
      assert.match(plain(back.summary), /ScaledObject \| celery-worker \| deleted \(autoscaling is cpu\)/)
      assert.match(plain(back.summary), /scaled from 0 to 1 replicas/)
    })

    test('KEDA\u2019s schema is the judge: a number in trigger metadata is refused before any write', async () => {
      const ns = 'cp-keda-schema'
      // KEDA's CRD types trigger metadata as a map of strings; YAML reads 2 as a number.
      const manifests = await templatesWith(
        {
          '51-worker-scaledobject.yaml': `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: celery-worker
  namespace: \${NAMESPACE}
  labels: {app.kubernetes.io/component: worker}
spec:
  scaleTargetRef: {name: celery-worker}
  triggers:
    - type: redis
      metadata: {listName: x}
      authenticationRef: {name: celery-worker-redis}
    - type: cron
      metadata: {timezone: Europe/Berlin, start: 0 8 * * *, end: 0 18 * * *, desiredReplicas: 2}
`
        },
        workspaces
      )
      const run = await e2e.run(ns, { ...KEDA_INPUTS, manifests })
      assert.notEqual(run.exitCode, 0)
      assert.match(plain(run.summary), /\*\*server-side dry run\*\*: /)
      assert.match(plain(run.summary), /metadata\.desiredReplicas: expected string/)
      // Only the Namespace and the deploy lock were written (and the lock released again).
      const left = await rig.kubectl(
        'get',
        'deployments,secrets,hpa,scaledobjects.keda.sh,leases',
        '-n',
        ns,
        '-o',
        'name'
      )
      assert.equal(left.stdout.trim(), '', left.stdout)
    })

    test('a switch to KEDA that fails and is rolled back still leaves one autoscaler, and the next CPU deploy cleans up', async () => {
      const ns = 'cp-keda-rollback'
      const cpu = await e2e.run(ns, { image: `${REGISTRY}:v1` })
      assert.equal(cpu.outputs.status, 'deployed', cpu.stdout)
      // `kubectl rollout undo` also puts the Deployment's annotations back: nothing may rest on them.
      const broken = await e2e.run(ns, { ...KEDA_INPUTS, image: `${REGISTRY}:v2-image-not-found` })
      assert.equal(broken.outputs.status, 'rolled-back', broken.stdout)
      assert.deepEqual(await autoscalersOf(ns), ['ScaledObject/celery-worker'], 'the switch stays')
      assert.match(plain(broken.summary), /The autoscaler switch stays \(autoscaling keda\)/)
      const secret = await rig.kubectlJson<{ data: Record<string, string> }>(
        'get',
        'secret',
        'app-secrets',
        '-n',
        ns
      )
      assert.ok(
        secret.data.REDIS_ADDRESS && secret.data.REDIS_PASSWORD,
        'the TriggerAuthentication still finds its keys'
      )

      const back = await e2e.run(ns, { image: `${REGISTRY}:v1` })
      assert.equal(back.outputs.status, 'deployed', back.stdout + back.stderr)
      assert.deepEqual(await autoscalersOf(ns), ['HPA/celery-worker-hpa'])
      const auths = await rig.kubectlJson<List<TriggerAuthentication>>(
        'get',
        'triggerauthentications.keda.sh',
        '-n',
        ns
      )
      assert.deepEqual(auths.items, [])
    })

    test('none → cpu keeps the fixed replica count for the HPA to take over (no drop to 1)', async () => {
      const ns = 'cp-keda-none'
      const fixed = await e2e.run(ns, {
        image: `${REGISTRY}:v1`,
        autoscaling: 'none',
        worker_min_replicas: '3'
      })
      assert.equal(fixed.outputs.status, 'deployed', fixed.stdout)
      assert.deepEqual(await autoscalersOf(ns), [], 'none: no autoscaler')
      const cpu = await e2e.run(ns, { image: `${REGISTRY}:v1` })
      assert.equal(cpu.outputs.status, 'deployed', cpu.stdout + cpu.stderr)
      assert.deepEqual(await autoscalersOf(ns), ['HPA/celery-worker-hpa'])
      const worker = await rig.kubectlJson<{ spec: { replicas: number } }>(
        'get',
        'deployment',
        'celery-worker',
        '-n',
        ns
      )
      assert.equal(worker.spec.replicas, 3)
      assert.match(plain(cpu.summary), /replicas kept at 3 for the autoscaler to take over/)
      // And it stays: the next apply (no replicas field) does not reset it either.
      const again = await e2e.run(ns, { image: `${REGISTRY}:v2` })
      assert.equal(again.outputs.status, 'deployed', again.stdout)
      const after = await rig.kubectlJson<{ spec: { replicas: number } }>(
        'get',
        'deployment',
        'celery-worker',
        '-n',
        ns
      )
      assert.equal(after.spec.replicas, 3)
    })

    test('a worker at zero is held at one replica to verify the image: a broken one is caught and rolled back', async () => {
      const ns = 'cp-keda-zero'
      const inputs = { ...KEDA_INPUTS, worker_min_replicas: '0' }
      const first = await e2e.run(ns, { ...inputs, image: `${REGISTRY}:v1` })
      assert.equal(first.outputs.status, 'deployed', first.stdout)
      // What KEDA does to an idle worker.
      const zero = await rig.kubectl('scale', 'deployment/celery-worker', '-n', ns, '--replicas=0')
      assert.equal(zero.code, 0, zero.stderr)

      const good = await e2e.run(ns, { ...inputs, image: `${REGISTRY}:v2` })
      assert.equal(good.outputs.status, 'deployed', good.stdout + good.stderr)
      assert.match(plain(good.summary), /celery-worker was scaled to zero: held at 1 replica/)
      assert.match(plain(good.summary), /\| celery-worker \| complete \|/)
      const scaled = await rig.kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(
        'get',
        'scaledobjects.keda.sh',
        'celery-worker',
        '-n',
        ns
      )
      assert.equal(
        scaled.metadata.annotations?.['autoscaling.keda.sh/paused-replicas'],
        undefined,
        'handed back to KEDA'
      )

      await rig.kubectl('scale', 'deployment/celery-worker', '-n', ns, '--replicas=0')
      const broken = await e2e.run(ns, { ...inputs, image: `${REGISTRY}:v3-image-not-found` })
      assert.equal(broken.outputs.status, 'rolled-back', broken.stdout)
      assert.match(plain(broken.summary), /v3-image-not-found was not found/)

      // Paused by an operator (KEDA's documented maintenance pause): the deploy leaves the pause alone.
      await rig.kubectl('scale', 'deployment/celery-worker', '-n', ns, '--replicas=0')
      const pause = await rig.kubectl(
        'annotate',
        'scaledobjects.keda.sh/celery-worker',
        '-n',
        ns,
        'autoscaling.keda.sh/paused-replicas=0'
      )
      assert.equal(pause.code, 0, pause.stderr)
      const paused = await e2e.run(ns, { ...inputs, image: `${REGISTRY}:v4` })
      assert.equal(paused.outputs.status, 'deployed', paused.stdout)
      assert.doesNotMatch(plain(paused.summary), /held at 1 replica/)
      const still = await rig.kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(
        'get',
        'scaledobjects.keda.sh',
        'celery-worker',
        '-n',
        ns
      )
      assert.equal(still.metadata.annotations?.['autoscaling.keda.sh/paused-replicas'], '0')
    })
  })
})
