// End-to-end against the real control plane (kube-apiserver, kube-controller-manager, kube-scheduler, etcd and
// kwok as the kubelet): the committed dist/ deploys through the Google stand-ins with the pinned kubectl, as
// the deployer of docs/rbac.yaml, and reads the outcome back as a user would: exit code, outputs, job summary
// and the cluster state. What a real API server accepts, defaults, refuses and rolls is the judge here; the
// smoke checks run in the pods for real, against a real PostgreSQL and Redis.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import { EXAMPLE_INPUTS, EXAMPLE_SECRET_VALUES } from '../support/example-inputs.js'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { DEPLOYER_SA, type ControlPlaneRig } from '../support/rig.js'
import type { ActionRun, ActionWorkspace } from '../support/run-action.js'
import { templatesWith } from '../support/templates.js'

// A new CRD is served once the apiserver has established it: wait for that, as kubectl wait would.
async function waitForKind(rig: ControlPlaneRig, crd: string): Promise<void> {
  const result = await rig.kubectl('wait', '--for=condition=Established', `crd/${crd}`, '--timeout=30s')
  assert.equal(result.code, 0, result.stderr)
}

let e2e: E2E
let rig: ControlPlaneRig
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
})
after(async () => e2e?.stop())

interface Container {
  name: string
  image: string
  args?: string[]
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>
}
interface Deployment {
  metadata: { generation: number; annotations?: Record<string, string> }
  spec: { template: { spec: { containers: Container[] } } }
}

function app(deployment: Deployment): Container {
  return deployment.spec.template.spec.containers.find(c => c.name === 'app')!
}

// No secret value in the log (the runner's own ::add-mask:: lines aside), the summary or the outputs.
function assertNoSecretLeaks(run: ActionRun): void {
  const log = run.stdout
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
  for (const secret of EXAMPLE_SECRET_VALUES) {
    assert.ok(!log.includes(secret), `log leaks ${secret}`)
    assert.ok(!run.summary.includes(secret), `summary leaks ${secret}`)
    assert.ok(!JSON.stringify(run.outputs).includes(secret), `outputs leak ${secret}`)
  }
}

// Words and numbers that YAML 1.1 (kubectl's reader) does not read as strings.
const YAML_11_VALUES = ['on', 'no', 'yes', 'off', 'y', '1_000', '0o17', '10:30', '.inf', '~', '0x1F', '1e3']

describe('deploy on a real API server', () => {
  test('YAML 1.1 words in every free-text input reach the cluster as the strings they are', async () => {
    const ns = 'cp-yaml'
    const env = YAML_11_VALUES.map((value, i) => `V${i}=${value}`).join('\n')
    const run = await e2e.run(
      ns,
      {
        image: `${REGISTRY}:v1`,
        env: `FEATURE_FLAG=on\nDEBUG=no\n${env}`,
        secret_data: `${rig.services.inputs.secret_data}\nON=yes\nNO=1_000`,
        worker_queues: 'on',
        celery_app: 'yes'
      },
      { env: { GITHUB_ACTOR: 'yes', GITHUB_RUN_ID: '4242', GITHUB_SHA: '1e3'.padEnd(40, '0') } }
    )
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'deployed')

    const worker = await rig.kubectlJson<Deployment>('get', 'deployment', 'celery-worker', '-n', ns)
    const plain = Object.fromEntries(
      (app(worker).env ?? []).filter(e => e.value !== undefined).map(e => [e.name, e.value])
    )
    assert.equal(plain.FEATURE_FLAG, 'on')
    assert.equal(plain.DEBUG, 'no')
    YAML_11_VALUES.forEach((value, i) => assert.equal(plain[`V${i}`], value))
    assert.deepEqual(app(worker).args?.slice(0, 2), ['-A', 'yes'])
    assert.equal(app(worker).args?.at(-1), 'on', 'the queue named "on"')
    assert.ok(
      app(worker).env?.some(e => e.name === 'ON' && e.valueFrom),
      'a Secret key named ON is an env var'
    )
    assert.equal(worker.metadata.annotations?.['deploy-gke-workers/actor'], 'yes')

    const secret = await rig.kubectlJson<{ data: Record<string, string> }>(
      'get',
      'secret',
      'app-secrets',
      '-n',
      ns
    )
    assert.equal(Buffer.from(secret.data.ON, 'base64').toString(), 'yes')
    assert.equal(Buffer.from(secret.data.NO, 'base64').toString(), '1_000')
  })

  test('first deploy, unchanged redeploy, new image, same-image dispatch redeploy', async () => {
    const ns = 'cp-story'
    const first = await e2e.run(ns, { image: `${REGISTRY}:v1` })
    assert.equal(first.exitCode, 0, first.stdout + first.stderr)
    assert.equal(first.outputs.status, 'deployed')
    assert.equal(first.outputs.worker_revision, '1')
    assert.equal(first.outputs.beat_revision, '1')
    assert.match(first.summary, /deploy-gke-workers: deployed/)
    for (const kind of ['Namespace', 'ServiceAccount', 'Secret', 'Deployment', 'HorizontalPodAutoscaler']) {
      assert.match(first.summary, new RegExp(`\\| ${kind} \\| [\\w-]+ \\| created \\|`), `${kind} created`)
    }
    // The checks ran in the pods: the worker's and beat's processes found, SELECT 1 on the real PostgreSQL with
    // the DATABASE_URL the action built, PING to the real Redis with the REDIS_URL it wrote.
    const smoke = JSON.parse(first.outputs.smoke_results) as Array<{
      name: string
      ok: boolean
      detail: string
    }>
    assert.deepEqual(
      smoke.map(s => `${s.name}:${s.ok}`),
      ['worker-process:true', 'beat-process:true', 'database:true', 'redis:true'],
      first.outputs.smoke_results
    )
    assert.match(smoke[0].detail, /celery -A noesis2 worker -l info -Q celery,rag_delete/)
    assert.match(smoke[2].detail, /^SELECT 1 via psycopg3? on PostgreSQL \d+/)
    assert.match(
      smoke[3].detail,
      new RegExp(`^PONG from 127\\.0\\.0\\.1:${rig.services.redis.port} \\(db 0\\)`)
    )
    assertNoSecretLeaks(first)
    const secret = await rig.kubectlJson<{ data: Record<string, string> }>(
      'get',
      'secret',
      'app-secrets',
      '-n',
      ns
    )
    // The password encoded in the URL; the database check's real login with it proves the encoding.
    assert.equal(
      Buffer.from(secret.data.DATABASE_URL, 'base64').toString(),
      `postgresql://noesis2_app:p%40ss%3Aw%2Frd-example@${rig.services.variables.DB_HOST}/noesis2`
    )
    const sa = await rig.kubectlJson<{ metadata: { annotations: Record<string, string> } }>(
      'get',
      'sa',
      'noesis2-worker-sa',
      '-n',
      ns
    )
    assert.equal(
      sa.metadata.annotations['iam.gke.io/gcp-service-account'],
      EXAMPLE_INPUTS.gcp_service_account
    )

    // Same inputs from a later run (another run ID, commit and actor): nothing in the cluster changes, and the
    // Deployments keep naming the run that rolled them.
    const again = await e2e.run(
      ns,
      { image: `${REGISTRY}:v1` },
      { env: { GITHUB_RUN_ID: '4343', GITHUB_SHA: 'f'.repeat(40), GITHUB_ACTOR: 'someone-else' } }
    )
    assert.equal(again.exitCode, 0, again.stdout + again.stderr)
    assert.equal(again.outputs.status, 'unchanged')
    assert.equal(again.outputs.worker_revision, '1')
    assert.match(again.summary, /No change/)
    const worker = await rig.kubectlJson<Deployment>('get', 'deployment', 'celery-worker', '-n', ns)
    assert.equal(worker.metadata.generation, 1, 'the real server saw no change at all')
    assert.match(worker.metadata.annotations?.['deploy-gke-workers/run-url'] ?? '', /runs\/4242$/)

    const second = await e2e.run(ns, { image: `${REGISTRY}:v2` })
    assert.equal(second.exitCode, 0, second.stdout + second.stderr)
    assert.equal(second.outputs.status, 'deployed')
    assert.equal(second.outputs.worker_revision, '2')
    assert.equal(second.outputs.beat_revision, '2')
    assert.equal(
      app(await rig.kubectlJson<Deployment>('get', 'deployment', 'celery-worker', '-n', ns)).image,
      `${REGISTRY}:v2`
    )

    const dispatch = await e2e.run(ns, { image: `${REGISTRY}:v2` }, { eventName: 'workflow_dispatch' })
    assert.equal(dispatch.exitCode, 0, dispatch.stdout + dispatch.stderr)
    assert.equal(dispatch.outputs.status, 'deployed')
    assert.equal(dispatch.outputs.worker_revision, '3', 'a same-image dispatch rolls the pods')
    assert.match(dispatch.summary, /celery-worker restarted: redeploy requested \(workflow\\?_dispatch\)/)
  })

  test('kinds the action does not know: the cluster\u2019s discovery decides, before any write', async () => {
    const crd = (kind: string, scope: 'Namespaced' | 'Cluster') => ({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${kind.toLowerCase()}s.example.com` },
      spec: {
        group: 'example.com',
        scope,
        names: { kind, plural: `${kind.toLowerCase()}s`, singular: kind.toLowerCase() },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } }
          }
        ]
      }
    })
    await rig.applyObjects([crd('Gadget', 'Namespaced'), crd('Widget', 'Cluster')])
    await waitForKind(rig, 'gadgets.example.com')
    await waitForKind(rig, 'widgets.example.com')
    const workspaces: ActionWorkspace[] = []
    try {
      const namespaced = await templatesWith(
        {
          '60-gadget.yaml':
            'apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {size: 3}\n'
        },
        workspaces
      )
      // The deployer's role covers the kinds this action knows; a users' kind needs its own grant, and the
      // pre-flight asks about it by its resource name from discovery.
      const denied = await e2e.run('cp-kinds', { image: `${REGISTRY}:k1`, manifests: namespaced })
      assert.equal(denied.exitCode, 1)
      assert.match(denied.stdout, /may not (get|create|patch) gadgets\.example\.com in namespace cp-kinds/)
      assert.equal(e2e.writesTo('cp-kinds'), 0)
      await rig.applyObjects([
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRole',
          metadata: { name: 'gadgets' },
          rules: [{ apiGroups: ['example.com'], resources: ['gadgets'], verbs: ['get', 'create', 'patch'] }]
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'gadgets' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'gadgets' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: DEPLOYER_SA }]
        }
      ])
      const ok = await e2e.run('cp-kinds', { image: `${REGISTRY}:k1`, manifests: namespaced })
      assert.equal(ok.outputs.status, 'deployed', ok.stdout)
      assert.equal((await rig.kubectl('get', 'gadget', 'g1', '-n', 'cp-kinds')).code, 0)

      const clusterScoped = await templatesWith(
        { '60-widget.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\n' },
        workspaces
      )
      const refused = await e2e.run('cp-kinds-2', { image: `${REGISTRY}:k1`, manifests: clusterScoped })
      assert.equal(refused.exitCode, 1)
      assert.match(refused.stdout, /60-widget\.yaml: Widget\/w1: Widget\.example\.com is cluster-scoped/)
      assert.equal(e2e.writesTo('cp-kinds-2'), 0)
      assert.notEqual((await rig.kubectl('get', 'widget', 'w1')).code, 0, 'no Widget was created')
    } finally {
      await Promise.all(workspaces.map(w => w.remove()))
    }
  })

  test('an identity the RBAC does not let deploy is refused before any write', async () => {
    const ns = 'cp-rbac'
    const run = await e2e.run(ns, { image: `${REGISTRY}:r1` }, { env: await rig.envFor('planner') })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /Pre-flight checks failed; nothing was changed/)
    assert.match(run.stdout, /may not create namespaces \(cluster-wide\)/)
    assert.match(run.stdout, /may not patch deployments\.apps in namespace cp-rbac/)
    assert.equal(e2e.writesTo(ns), 0)
    assert.notEqual((await rig.kubectl('get', 'namespace', ns)).code, 0, 'the namespace was not created')
  })

  test('pods Pending while Autopilot adds a node, within the grace: the deploy succeeds on the new node', async () => {
    const ns = 'cp-scale-up'
    const run = await e2e.run(ns, { image: `${REGISTRY}:v1-scale-up`, scheduling_grace: '60s' })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    // The real scheduler refused the pods first (no node of their pool), then placed them on the added node.
    const events = await rig.kubectlJson<{ items: Array<{ reason: string; message: string }> }>(
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      'reason=FailedScheduling'
    )
    assert.ok(events.items.length > 0, 'the pods were Unschedulable first')
    assert.match(events.items[0].message, /0\/\d+ nodes are available/)
    const pods = await rig.kubectlJson<{ items: Array<{ spec: { nodeName: string } }> }>(
      'get',
      'pods',
      '-n',
      ns
    )
    assert.ok(pods.items.length > 0 && pods.items.every(p => /^gk3-workers-scale-up-/.test(p.spec.nodeName)))
  })

  test('an autoscaler aimed at beat trips the beat guard and the deploy is rolled back', async () => {
    const ns = 'cp-beat-hpa'
    assert.equal((await e2e.run(ns, { image: `${REGISTRY}:b1` })).outputs.status, 'deployed')
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
    const run = await e2e.run(ns, { image: `${REGISTRY}:b2` })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    assert.match(
      run.summary,
      /HorizontalPodAutoscaler beat-hpa targets celery-beat; beat must never be autoscaled/
    )
    assert.equal(
      app(await rig.kubectlJson<Deployment>('get', 'deployment', 'celery-beat', '-n', ns)).image,
      `${REGISTRY}:b1`
    )
  })

  test('without cluster_name the kubeconfig in place is used, and said so', async () => {
    const kubeconfig = path.join(rig.directory, 'in-place-kubeconfig')
    await rig.controlPlane.writeKubeconfig(kubeconfig, { token: rig.controlPlane.tokens.deployer })
    const run = await e2e.run(
      'cp-in-place',
      { image: `${REGISTRY}:k1`, cluster_name: '', location: '' },
      { env: { KUBECONFIG: kubeconfig, GOOGLE_APPLICATION_CREDENTIALS: undefined } }
    )
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.match(run.stdout, /cluster_name is empty: using the kubeconfig in place/)
    assert.equal(run.outputs.kubeconfig, undefined, 'the action wrote no kubeconfig of its own')
  })
})
