// The pre-deploy gate on the real control plane, through dist/: pre_deploy_command runs once as a Job from the
// new image (the job controller and kwok's stages for a pod that is not restarted), before any Deployment is
// written. A gate that passes lets the workers roll; one that fails, cannot pull its image, runs past its
// deadline or is cancelled writes no Deployment, puts the Secret back, and says why with the command's log.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import { cancelLikeGitHub, clusterState } from '../support/cluster-state.js'
import { headline, plain } from '../support/report.js'
import type { ControlPlaneRig } from '../support/rig.js'
import type { ActionRun } from '../support/run-action.js'

// A value of the new Secret that the failing command prints, as a migration's error might.
const NEW_SECRET = 'sk-gate-7c1e9a2b4d6f8e0a5b3c'
const COMMAND = 'python manage.py migrate --check'

const NS = {
  passes: 'cp-gate-passes',
  fails: 'cp-gate-fails',
  cancel: 'cp-gate-cancel',
  rerun: 'cp-gate-rerun',
  pull: 'cp-gate-pull',
  deadline: 'cp-gate-deadline',
  first: 'cp-gate-first',
  plan: 'cp-gate-plan'
}

let e2e: E2E
let rig: ControlPlaneRig
let cluster: ReturnType<typeof clusterState>
before(async () => {
  e2e = await startControlPlaneE2E()
  // What the gate's command logs, served by the rig's kubelet for the pods of these namespaces.
  e2e.rig.controlPlane.pods.set(
    { namespace: NS.passes },
    { logs: { app: { current: 'Operations to perform:\n  No migrations to apply.\n' } } }
  )
  e2e.rig.controlPlane.pods.set(
    { namespace: NS.fails },
    {
      logs: {
        app: {
          current: `Checking migrations with SECRET_KEY=${NEW_SECRET}\nYou have 2 unapplied migration(s) for app(s): billing, tenants.\n`
        }
      }
    }
  )
  rig = e2e.rig
  cluster = clusterState(rig)
})
after(async () => e2e?.stop())

// The README's Cloud SQL proxy sidecar, which the gate's pod gets too. Nothing answers at its port in the rig's
// pods (they share this machine's loopback), so the database check is left out where it runs.
const WITH_PROXY = {
  cloud_sql_instance: EXAMPLE_INPUTS.cloud_sql_instance,
  db_host: '',
  smoke_checks: 'worker,beat,redis'
}

const secretData = (key: string): string => `SECRET_KEY=${key}\nREDIS_URL=${rig.services.redis.url()}`

async function deployedAtV1(ns: string, inputs: Record<string, string> = {}): Promise<void> {
  const first = await e2e.run(ns, { image: `${REGISTRY}:v1`, secret_data: secretData('key-one'), ...inputs })
  assert.equal(first.outputs.status, 'deployed', first.stdout)
}

interface LiveJob {
  metadata: { name: string; labels?: Record<string, string>; deletionTimestamp?: string }
  spec: {
    backoffLimit: number
    activeDeadlineSeconds: number
    ttlSecondsAfterFinished: number
    template: {
      metadata: { labels?: Record<string, string> }
      spec: {
        restartPolicy: string
        serviceAccountName: string
        initContainers?: Array<{ name: string; image: string; restartPolicy?: string }>
        containers: Array<{
          name: string
          image: string
          command?: string[]
          args?: string[]
          readinessProbe?: unknown
          env?: Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>
        }>
      }
    }
  }
  status?: { conditions?: Array<{ type: string; status: string; reason?: string }> }
}

async function jobsIn(ns: string): Promise<LiveJob[]> {
  return (await rig.kubectlJson<{ items: LiveJob[] }>('get', 'jobs', '-n', ns)).items
}

async function templates(ns: string): Promise<string> {
  const list = await rig.kubectlJson<{
    items: Array<{ metadata: { name: string }; spec: { template: unknown } }>
  }>('get', 'deployments', '-n', ns)
  return JSON.stringify(list.items.map(d => [d.metadata.name, d.spec.template]))
}

// Everything the run hands a person or a later step, the runner's own ::add-mask:: commands left out.
function everythingShown(run: ActionRun): string {
  const log = `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
  return [log, run.summary, ...Object.values(run.outputs)].join('\n')
}

describe('the pre-deploy gate', () => {
  test('passes: the Job runs the command in the new image with the worker\u2019s pod, then the workers roll', async t => {
    const ns = NS.passes
    await deployedAtV1(ns, WITH_PROXY)
    const requestsBefore = rig.requestLog().length
    const run = await e2e.run(ns, {
      ...WITH_PROXY,
      image: `${REGISTRY}:v2`,
      secret_data: secretData('key-two'),
      pre_deploy_command: COMMAND,
      pre_deploy_timeout: '2m'
    })
    assert.equal(run.outputs.status, 'deployed', run.stdout)
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v2`)
    assert.equal(await cluster.image(ns, 'celery-beat'), `${REGISTRY}:v2`)

    // The gate went before any Deployment was written, and after the Secret it reads.
    const log = run.stdout
    const passedAt = log.search(/Job pre-deploy-4242-1-[0-9a-f]{6}: passed/)
    assert.ok(passedAt > 0, log)
    assert.ok(
      log.indexOf('Secret/app-secrets configured') < passedAt,
      'the Secret is applied before the gate'
    )
    assert.ok(log.indexOf('Deployment/celery-worker configured') > passedAt, 'the Deployments after it')

    const [job] = await jobsIn(ns)
    assert.match(job.metadata.name, /^pre-deploy-4242-1-[0-9a-f]{6}$/)
    assert.equal(job.spec.backoffLimit, 0)
    assert.equal(job.spec.activeDeadlineSeconds, 120)
    assert.equal(job.spec.ttlSecondsAfterFinished, 86_400)
    assert.ok(job.status?.conditions?.some(c => c.type === 'Complete' && c.status === 'True'))
    const pod = job.spec.template.spec
    assert.equal(pod.restartPolicy, 'Never')
    assert.equal(pod.serviceAccountName, 'noesis2-worker-sa')
    assert.deepEqual(
      pod.initContainers?.map(c => [c.name, c.restartPolicy]),
      [['cloud-sql-proxy', 'Always']],
      'the Cloud SQL proxy as a native sidecar'
    )
    assert.equal(pod.containers.length, 1)
    const app = pod.containers[0]
    assert.equal(app.image, `${REGISTRY}:v2`)
    assert.deepEqual(app.command, ['/bin/sh', '-c', COMMAND])
    assert.equal(app.args, undefined)
    assert.equal(app.readinessProbe, undefined)
    assert.deepEqual(app.env?.find(e => e.name === 'SECRET_KEY')?.valueFrom?.secretKeyRef, {
      name: 'app-secrets',
      key: 'SECRET_KEY'
    })
    assert.equal(job.spec.template.metadata.labels?.app, undefined, 'not selected by the worker Deployment')

    const summary = plain(run.summary)
    assert.match(summary, /### Pre-deploy gate/)
    assert.match(summary, /\| result \| passed in \d+\.\ds \|/)
    // What the gate costs beyond the command's own second on this rig: its requests (the apply, a list and a
    // watch of the Job and of its pods, the log), and its time.
    const gateRequests = rig
      .requestLog()
      .slice(requestsBefore)
      .filter(r => /\/jobs|controller-uid|\/pods\/pre-deploy-/.test(r.path) && !r.path.includes('dryRun=All'))
    t.diagnostic(
      `gate ${/passed in (\d+\.\d)s/.exec(summary)?.[1]}s (the command: 1.0s), ${gateRequests.length} API requests: ${gateRequests.map(r => `${r.method} ${r.path.split('?')[0]}`).join(', ')}`
    )
    assert.match(summary, /No migrations to apply\./, 'the command\u2019s log tail')
    assert.match(run.summary, /pre-deploy gate\s*:done/, 'a bar of the timeline')
  })

  test('a first deploy: the Namespace, ServiceAccount and Secret exist before the gate\u2019s pod needs them', async () => {
    const ns = NS.first
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:v1`,
      secret_data: secretData('key-one'),
      pre_deploy_command: COMMAND
    })
    assert.equal(run.outputs.status, 'deployed', run.stdout)
    const log = run.stdout
    const passedAt = log.search(/Job pre-deploy-4242-1-[0-9a-f]{6}: passed/)
    assert.ok(passedAt > 0, log)
    for (const before of ['ServiceAccount/noesis2-worker-sa created', 'Secret/app-secrets created'])
      assert.ok(log.indexOf(before) >= 0 && log.indexOf(before) < passedAt, before)
    assert.ok(log.indexOf('Deployment/celery-worker created') > passedAt)
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v1`)
  })

  test('fails: no Deployment is written, the Secret goes back, the cause and the redacted log are shown', async () => {
    const ns = NS.fails
    await deployedAtV1(ns)
    const before = await templates(ns)
    const revision = await cluster.revision(ns, 'celery-worker')
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:v2-crash-loop`,
      secret_data: secretData(NEW_SECRET),
      pre_deploy_command: COMMAND
    })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed', run.stdout)
    assert.equal(await templates(ns), before, 'the Deployments\u2019 pod templates, read back, are unchanged')
    assert.equal(await cluster.revision(ns, 'celery-worker'), revision)
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-one', 'the Secret is back')
    assert.equal(await cluster.exists(ns, 'secret', 'deploy-gke-workers-undo'), false)
    const lease = await cluster.lease(ns)
    assert.equal(lease?.holder, undefined)
    assert.equal(lease?.journal, undefined, 'settled: nothing left for the next run to verify')

    const [finding] = headline(run.summary)
    assert.match(finding.subjects, /^pre-deploy Job pre-deploy-4242-1-[0-9a-f]{6}$/)
    assert.match(
      finding.cause,
      /the pre-deploy command exited with code 1, an error in the application \(Error, pod pre-deploy-4242-1-[0-9a-f]{6}-\w{5}\); last log line: You have 2 unapplied migration\(s\) for app\(s\): billing, tenants\./
    )
    assert.match(finding.fix, /Nothing was deployed/)
    const summary = plain(run.summary)
    assert.match(
      summary,
      /Not deployed: no Deployment was written; Secret app-secrets: its previous values were restored/
    )
    assert.match(summary, /Checking migrations with \*\*\*\n/, 'the log tail, redacted')
    assert.match(summary, /pre-deploy gate\s*:crit/)
    assert.ok(!everythingShown(run).includes(NEW_SECRET.slice(0, 10)), 'no part of the secret anywhere')
  })

  test('cancelled while the command runs: the Job is deleted, the Secret goes back, within GitHub\u2019s seconds', async t => {
    const ns = NS.cancel
    await deployedAtV1(ns)
    const before = await templates(ns)
    const run = await e2e.start(ns, {
      image: `${REGISTRY}:v2-never-ends`,
      secret_data: secretData('key-two'),
      pre_deploy_command: COMMAND
    })
    await run.waitForOutput(/Job pre-deploy-4242-1-[0-9a-f]{6}: pod \S+ runs the command/)
    const took = await cancelLikeGitHub(run)
    const result = await run.done
    t.diagnostic(`ended ${took} ms after SIGINT`)
    assert.ok(took < 7500, `ended ${took} ms after SIGINT`)
    assert.equal(result.outputs.status, 'cancelled', result.stdout)
    assert.match(plain(result.summary), /Cancelled \(SIGINT\) during the pre-deploy gate/)
    assert.match(
      plain(result.summary),
      /\| clean-up \| Job pre-deploy-4242-1-[0-9a-f]{6} deleted \(foreground: its pod is stopped and removed with it\) \|/
    )
    assert.equal(await templates(ns), before, 'no Deployment was written')
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-one', 'the Secret is back')
    // Foreground: the Job goes once its pod is gone (the kubelet's grace period; 0.3 s on this rig).
    await until('the Job and its pod are gone', async () => {
      const pods = await rig.kubectlJson<{ items: unknown[] }>(
        'get',
        'pods',
        '-n',
        ns,
        '-l',
        'app.kubernetes.io/component=pre-deploy'
      )
      return (await jobsIn(ns)).length === 0 && pods.items.length === 0
    })
    assert.equal((await run.post()).exitCode, 0)
  })

  test('re-run after a failed gate: each attempt has a Job of its own, and a fixed image then rolls', async () => {
    const ns = NS.rerun
    await deployedAtV1(ns)
    const inputs = {
      image: `${REGISTRY}:v2-crash-loop`,
      secret_data: secretData('key-two'),
      pre_deploy_command: COMMAND
    }
    const first = await e2e.run(ns, inputs)
    assert.equal(first.outputs.status, 'failed', first.stdout)
    // GitHub's "Re-run jobs": the same run and inputs, the next attempt. The first attempt's Job is still there
    // (kept a day); the second runs its own, and reports from it.
    const again = await e2e.run(ns, inputs, { env: { GITHUB_RUN_ATTEMPT: '2' } })
    assert.equal(again.outputs.status, 'failed', again.stdout)
    assert.match(headline(again.summary)[0].subjects, /^pre-deploy Job pre-deploy-4242-2-[0-9a-f]{6}$/)
    // The cause fixed (a new build): the next run's gate passes and the workers roll.
    const fixed = await e2e.run(
      ns,
      { ...inputs, image: `${REGISTRY}:v3` },
      { env: { GITHUB_RUN_ID: '4243' } }
    )
    assert.equal(fixed.outputs.status, 'deployed', fixed.stdout)
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v3`)
    const jobs = await jobsIn(ns)
    const state = (job: LiveJob) =>
      job.status?.conditions?.find(c => ['Complete', 'Failed'].includes(c.type) && c.status === 'True')?.type
    assert.deepEqual(jobs.map(j => [j.metadata.name.replace(/-[0-9a-f]{6}$/, ''), state(j)]).sort(), [
      ['pre-deploy-4242-1', 'Failed'],
      ['pre-deploy-4242-2', 'Failed'],
      ['pre-deploy-4243-1', 'Complete']
    ])
  })

  test('an image that cannot be pulled: named within seconds, the Job deleted so it never runs later', async t => {
    const ns = NS.pull
    await deployedAtV1(ns)
    const before = await templates(ns)
    const started = Date.now()
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:v2-image-not-found`,
      secret_data: secretData('key-two'),
      pre_deploy_command: COMMAND,
      pre_deploy_timeout: '10m'
    })
    t.diagnostic(`failed after ${Date.now() - started} ms (pre_deploy_timeout 10m)`)
    assert.equal(run.outputs.status, 'failed', run.stdout)
    assert.ok(Date.now() - started < 30_000, 'long before pre_deploy_timeout')
    const [finding] = headline(run.summary)
    assert.match(finding.subjects, /^pre-deploy Job pre-deploy-4242-1-[0-9a-f]{6}$/)
    assert.match(
      finding.cause,
      /^image europe-west3-docker\.pkg\.dev\/noesis2-prod\/app\/noesis2-web:v2-image-not-found was not found \((ErrImagePull|ImagePullBackOff)/
    )
    assert.match(finding.fix, /gcloud artifacts docker images list .*Nothing was deployed/)
    assert.match(plain(run.summary), /\| clean-up \| Job pre-deploy-4242-1-[0-9a-f]{6} deleted \(foreground/)
    assert.equal(await templates(ns), before)
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-one')
    await until('the Job is gone', async () => (await jobsIn(ns)).length === 0)
  })

  test('a command that runs past pre_deploy_timeout: the Job\u2019s deadline, said as such', async () => {
    const ns = NS.deadline
    await deployedAtV1(ns)
    const before = await templates(ns)
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:v2-never-ends`,
      secret_data: secretData('key-two'),
      pre_deploy_command: COMMAND,
      pre_deploy_timeout: '3s'
    })
    assert.equal(run.outputs.status, 'failed', run.stdout)
    const [finding] = headline(run.summary)
    assert.match(
      finding.cause,
      /^the pre-deploy command did not end within pre_deploy_timeout \(3s\): Job was active longer than specified deadline; pod \S+ runs the command \(DeadlineExceeded/
    )
    assert.match(finding.fix, /raise pre_deploy_timeout/)
    assert.equal(await templates(ns), before)
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-one')
  })

  test('on a pull request the plan says the command will run, and in which image; the dry run never runs it', async () => {
    const ns = NS.plan
    await deployedAtV1(ns)
    const run = await e2e.run(
      ns,
      { image: `${REGISTRY}:v2`, pre_deploy_command: COMMAND, pre_deploy_timeout: '5m' },
      { eventName: 'pull_request', eventPayload: { pull_request: { number: 7 } } }
    )
    assert.equal(run.outputs.status, 'dry-run', run.stdout)
    assert.match(
      plain(run.summary),
      /\*\*Pre-deploy gate:\*\* before any worker or beat pod is replaced, the deploy runs <code>python manage\.py migrate --check<\/code> once as a Job in image <code>europe-west3-docker\.pkg\.dev\/noesis2-prod\/app\/noesis2-web:v2<\/code> \(pre_deploy_timeout 300s\); if it fails, no Deployment is written\. This dry run did not run it\./
    )
    assert.deepEqual(await jobsIn(ns), [], 'no Job, not even a dry-run one left behind')
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v1`)
  })
})

// Polls a condition the cluster reaches by itself (a deletion the garbage collector finishes), up to 20 s.
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 20 s`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
