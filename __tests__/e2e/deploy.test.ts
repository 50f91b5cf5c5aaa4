// End-to-end: the committed dist/ deploys to the Kubernetes emulator through the Google stand-ins, with real
// kubectl and real google-auth-library, and the test reads the outcome back as a user would: exit code,
// outputs, job summary and the cluster state.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { EXAMPLE_INPUTS, EXAMPLE_SECRET_VALUES } from '../support/example-inputs.js'
import { REGISTRY, startE2E, type E2E } from '../support/e2e.js'
import type { Rig } from '../support/rig.js'
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
  eventName = 'push',
  env: Record<string, string> = {}
): Promise<ActionRun> {
  return e2e.run(namespace, inputs, { eventName, env })
}
interface Deployment {
  metadata: { generation: number; annotations?: Record<string, string> }
  spec: { template: { spec: { containers: Array<{ name: string; image: string }> } } }
}

async function liveImage(namespace: string, name: string): Promise<string> {
  const deployment = await rig.kubectlJson<Deployment>('get', 'deployment', name, '-n', namespace)
  return deployment.spec.template.spec.containers.find(c => c.name === 'app')!.image
}

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

describe('deploy', () => {
  test('first deploy, unchanged redeploy, new image, same-image dispatch redeploy', async () => {
    const ns = 'e2e-story'
    const first = await deploy(ns, { image: `${REGISTRY}:v1` })
    assert.equal(first.exitCode, 0, first.stdout + first.stderr)
    assert.equal(first.outputs.status, 'deployed')
    assert.equal(first.outputs.worker_revision, '1')
    assert.equal(first.outputs.beat_revision, '1')
    assert.match(first.summary, /deploy-gke-workers: deployed/)
    for (const object of ['Namespace', 'ServiceAccount', 'Secret', 'Deployment', 'HorizontalPodAutoscaler']) {
      assert.match(
        first.summary,
        new RegExp(`\\| ${object} \\| [\\w-]+ \\| created \\|`),
        `${object} created`
      )
    }
    const smoke = JSON.parse(first.outputs.smoke_results) as Array<{ name: string; ok: boolean }>
    assert.deepEqual(
      smoke.map(s => `${s.name}:${s.ok}`),
      ['worker-process:true', 'beat-process:true', 'database:true', 'redis:true']
    )
    assertNoSecretLeaks(first)
    const secret = await rig.kubectlJson<{ data: Record<string, string> }>(
      'get',
      'secret',
      'app-secrets',
      '-n',
      ns
    )
    assert.equal(
      Buffer.from(secret.data.DATABASE_URL, 'base64').toString(),
      'postgresql://noesis2_app:p%40ss%3Aw%2Frd-example@127.0.0.1:5432/noesis2'
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

    const again = await deploy(ns, { image: `${REGISTRY}:v1` })
    assert.equal(again.exitCode, 0, again.stdout + again.stderr)
    assert.equal(again.outputs.worker_revision, '1', 'an unchanged redeploy does not roll')
    assert.match(
      again.summary,
      /\| Deployment \| celery-worker \| (unchanged|configured \(pod template unchanged\)) \|/
    )

    const second = await deploy(ns, { image: `${REGISTRY}:v2` })
    assert.equal(second.exitCode, 0, second.stdout + second.stderr)
    assert.equal(second.outputs.status, 'deployed')
    assert.equal(second.outputs.worker_revision, '2')
    assert.equal(second.outputs.beat_revision, '2')
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:v2`)

    const dispatch = await deploy(ns, { image: `${REGISTRY}:v2` }, 'workflow_dispatch')
    assert.equal(dispatch.exitCode, 0, dispatch.stdout + dispatch.stderr)
    assert.equal(dispatch.outputs.status, 'deployed')
    assert.equal(
      dispatch.outputs.worker_revision,
      '3',
      'a dispatch redeploy of the same image rolls the pods'
    )
    assert.match(dispatch.summary, /celery-worker restarted: redeploy requested \(workflow\\?_dispatch\)/)
  })

  test('an unchanged redeploy reports status unchanged', async () => {
    const ns = 'e2e-unchanged'
    const inputs = { image: `${REGISTRY}:u1` }
    assert.equal((await deploy(ns, inputs)).outputs.status, 'deployed')
    // Same inputs from a later run (another run ID, commit and actor): nothing in the cluster changes, and the
    // Deployments keep naming the run that deployed them.
    const again = await deploy(ns, inputs, 'push', {
      GITHUB_RUN_ID: '4343',
      GITHUB_SHA: 'f'.repeat(40),
      GITHUB_ACTOR: 'someone-else'
    })
    assert.equal(again.exitCode, 0, again.stdout + again.stderr)
    assert.equal(again.outputs.status, 'unchanged')
    assert.match(again.summary, /No change/)
    const worker = await rig.kubectlJson<Deployment>('get', 'deployment', 'celery-worker', '-n', ns)
    assert.equal(
      worker.metadata.annotations?.['deploy-gke-workers/run-url'],
      'https://github.com/noesis2/noesis2/actions/runs/4242'
    )
    assert.equal(worker.metadata.generation, 1)
  })

  test('ImagePullBackOff fails fast with the reason and is rolled back', async () => {
    const ns = 'e2e-pull'
    const good = `${REGISTRY}:p1`
    const bad = `${REGISTRY}:does-not-exist`
    rig.kube.control.setImageScenario(bad, { kind: 'imagePullBackOff' })
    assert.equal((await deploy(ns, { image: good })).outputs.status, 'deployed')

    const started = Date.now()
    const run = await deploy(ns, { image: bad, rollout_timeout: '120s' })
    const seconds = (Date.now() - started) / 1000
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back')
    assert.ok(seconds < 40, `reported after ${seconds}s, far before the 120s timeout`)
    assert.match(
      run.stdout,
      /::error title=celery-worker%2C celery-beat%3A image not found::celery-worker, celery-beat: image \S+ was not found \((ImagePullBackOff|ErrImagePull)/
    )
    assert.match(run.summary, /### Rollback/)
    assert.match(run.summary, /rolled back to the template of revision 1/)
    assert.match(run.summary, /<details><summary>Failing pods \(2\)<\/summary>/)
    assert.equal(await liveImage(ns, 'celery-worker'), good)
    assert.equal(await liveImage(ns, 'celery-beat'), good)
    assertNoSecretLeaks(run)
  })

  test('a crash-looping proxy sidecar is named in the failure', async () => {
    const ns = 'e2e-proxy'
    const image = `${REGISTRY}:proxy-crash`
    rig.kube.control.setImageScenario(image, {
      kind: 'crashLoop',
      container: 'cloud-sql-proxy',
      exitCode: 1,
      log: '{"severity":"ERROR","message":"failed to connect to instance: Config error: instance does not have IP of type PRIVATE"}'
    })
    const run = await deploy(ns, { image })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed', 'a first deploy has nothing to roll back to')
    assert.match(run.stdout, /container cloud-sql-proxy: CrashLoopBackOff/)
    assert.match(
      run.summary,
      /first deploy of this Deployment: there is no previous revision to roll back to/
    )
    assert.match(
      run.summary,
      /instance does not have IP of type PRIVATE/,
      'the proxy log tail is in the summary'
    )
  })

  test('a missing Secret key is caught before any write', async () => {
    const ns = 'e2e-secret'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'app-secrets', namespace: ns },
        stringData: { SECRET_KEY: 'x', DATABASE_URL: 'y' }
      }
    ])
    const writesBefore = rig.kube.control
      .requestLog()
      .filter(r => r.method !== 'GET' && r.path.includes(`/namespaces/${ns}/`)).length
    const run = await deploy(ns, {
      image: `${REGISTRY}:s1`,
      secret_data: '',
      db_user: '',
      db_password: '',
      db_name: ''
    })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /Pre-flight checks failed; nothing was changed/)
    assert.match(
      run.stdout,
      /needs key REDIS_URL of Secret app-secrets, which the Secret in the cluster lacks/
    )
    const writesAfter = rig.kube.control
      .requestLog()
      .filter(r => r.method !== 'GET' && r.path.includes(`/namespaces/${ns}/`)).length
    assert.equal(writesAfter, writesBefore, 'no write reached the namespace')
    const deployments = await rig.kubectl('get', 'deployments', '-n', ns, '-o', 'name')
    assert.equal(deployments.stdout.trim(), '')
  })

  test('a rollout that never becomes ready times out and is rolled back', async () => {
    const ns = 'e2e-timeout'
    assert.equal((await deploy(ns, { image: `${REGISTRY}:t1` })).outputs.status, 'deployed')
    rig.kube.control.setImageScenario(`${REGISTRY}:t2`, { kind: 'neverReady' })
    const run = await deploy(ns, { image: `${REGISTRY}:t2`, rollout_timeout: '4s' })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'rolled-back')
    assert.match(run.summary, /timeout/)
    assert.equal(await liveImage(ns, 'celery-worker'), `${REGISTRY}:t1`)
  })
})
