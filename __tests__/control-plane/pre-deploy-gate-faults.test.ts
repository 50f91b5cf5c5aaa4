// The pre-deploy gate's Job is a write of the run: on the real control plane and through dist/, what happens to
// it when the API fails half-way (the apply's answer lost, the API server restarted while the command runs) and
// when the runner is paused past the lease while the command runs. The command takes 3 s here, so the faults
// land while it runs. The paused runner waits out a real 60 s lease: slow by nature.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { clusterState } from '../support/cluster-state.js'
import { plain } from '../support/report.js'
import type { ControlPlaneRig } from '../support/rig.js'
import { FAST_TIMING } from '../rig/control-plane/kubelet-stages.js'

const COMMAND = 'python manage.py migrate --check'

let e2e: E2E
let rig: ControlPlaneRig
let cluster: ReturnType<typeof clusterState>
before(async () => {
  e2e = await startControlPlaneE2E({ controlPlane: { timing: { ...FAST_TIMING, jobRunMs: 3000 } } })
  rig = e2e.rig
  cluster = clusterState(rig)
})
after(async () => e2e?.stop())

const secretData = (key: string): string => `SECRET_KEY=${key}\nREDIS_URL=${e2e.rig.services.redis.url()}`

async function deployedAtV1(ns: string): Promise<void> {
  const first = await e2e.run(ns, { image: `${REGISTRY}:v1`, secret_data: secretData('key-one') })
  assert.equal(first.outputs.status, 'deployed', first.stdout)
}

interface Listed<T> {
  items: T[]
}
type JobState = {
  metadata: { name: string }
  status?: { succeeded?: number; failed?: number; active?: number }
}
type EventState = { reason?: string; involvedObject: { kind?: string; name?: string } }

// The writes to the namespace (the Lease aside: a run that lost its lock may still try to renew it).
function writes(namespace: string): string[] {
  return rig
    .requestLog()
    .filter(
      r =>
        r.method !== 'GET' &&
        r.path.includes(`/namespaces/${namespace}/`) &&
        !r.path.includes('/leases/') &&
        !r.path.includes('dryRun=All') &&
        // An exec (kubectl's SPDY request is a POST) reads a pod, it writes nothing: the queues read beforehand.
        !/\/pods\/[^/]+\/exec\?/.test(r.path)
    )
    .map(r => `${r.method} ${r.path.split('?')[0]}`)
}

describe('the gate\u2019s Job when the API or the runner fails', () => {
  test('the Job\u2019s apply whose answer is lost is sent again: the same Job, its command run once', async () => {
    const ns = 'cp-gate-lost-reply'
    await deployedAtV1(ns)
    let dropped = 0
    rig.controlPlane.faults.set({
      seed: 11,
      dropReplyRate: 1,
      only: (method, path) =>
        method === 'PATCH' &&
        path.includes(`/namespaces/${ns}/jobs/`) &&
        !path.includes('dryRun=All') &&
        dropped++ === 0
    })
    let run
    try {
      run = await e2e.run(ns, {
        image: `${REGISTRY}:v2`,
        secret_data: secretData('key-two'),
        pre_deploy_command: COMMAND
      })
    } finally {
      rig.controlPlane.faults.set(undefined)
    }
    assert.equal(run.outputs.status, 'deployed', run.stdout)
    assert.ok(
      rig.requestLog().some(r => r.status === -2 && r.path.includes(`/namespaces/${ns}/jobs/`)),
      'the server created the Job and its answer was lost'
    )
    const jobs = (await rig.kubectlJson<Listed<JobState>>('get', 'jobs', '-n', ns)).items
    assert.equal(jobs.length, 1)
    assert.equal(jobs[0].status?.succeeded, 1)
    const created = (await rig.kubectlJson<Listed<EventState>>('get', 'events', '-n', ns)).items.filter(
      e => e.reason === 'SuccessfulCreate' && e.involvedObject.kind === 'Job'
    )
    assert.equal(created.length, 1, 'one pod: the command ran once')
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v2`)
  })

  test('the API server restarted while the command runs: waited out, the gate passes, the workers roll', async () => {
    const ns = 'cp-gate-api-restart'
    await deployedAtV1(ns)
    const run = await e2e.start(ns, {
      image: `${REGISTRY}:v2`,
      secret_data: secretData('key-two'),
      pre_deploy_command: COMMAND
    })
    await run.waitForOutput(/Job pre-deploy-4242-1-[0-9a-f]{6}: pod \S+ runs the command/)
    const { downForMs } = await rig.controlPlane.restartApiServer(2000)
    const result = await run.done
    assert.equal(result.outputs.status, 'deployed', result.stdout)
    assert.ok(downForMs >= 2000)
    const summary = plain(result.summary)
    assert.match(summary, /\| result \| passed in \d+\.\ds \|/)
    assert.match(summary, /### API availability/)
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v2`)
    assert.equal((await run.post()).exitCode, 0)
  })

  test('a runner paused past its lease while the command runs: resumed, it writes nothing, the Job left to its deadline', async () => {
    const ns = 'cp-gate-paused'
    await deployedAtV1(ns)
    const stalled = await e2e.start(ns, {
      image: `${REGISTRY}:v2-never-ends`,
      secret_data: secretData('key-two'),
      pre_deploy_command: COMMAND,
      pre_deploy_timeout: '150s'
    })
    await stalled.waitForOutput(/Job pre-deploy-4242-1-[0-9a-f]{6}: pod \S+ runs the command/)
    stalled.signal('SIGSTOP')
    const newer = await e2e.start(
      ns,
      { image: `${REGISTRY}:v3`, secret_data: secretData('key-three'), lock_timeout: '150s' },
      { env: { GITHUB_RUN_ID: '4343' } }
    )
    const result = await newer.done
    assert.equal(result.outputs.status, 'deployed', result.stdout)
    await newer.post()
    const writesBefore = writes(ns)

    stalled.signal('SIGCONT')
    const old = await stalled.done
    assert.equal(old.outputs.status, 'failed', old.stdout)
    const summary = plain(old.summary)
    assert.match(summary, /\*\*deploy lock\*\*: .* \(during the pre-deploy gate\)/)
    assert.match(
      summary,
      /\| result \| stopped \(deploy lock lost\) after [\d.]+s: the deploy lock was lost: .*; Job pre-deploy-4242-1-[0-9a-f]{6} is left to end by its deadline \(pre_deploy_timeout\) \|/
    )
    assert.deepEqual(
      writes(ns).slice(writesBefore.length),
      [],
      'nothing written after it woke, no deletion either'
    )
    assert.equal((await stalled.post()).exitCode, 0)
    const jobs = (await rig.kubectlJson<Listed<JobState>>('get', 'jobs', '-n', ns)).items
    assert.equal(jobs.length, 1)
    assert.equal(jobs[0].status?.active, 1, 'the paused run\u2019s Job runs on, to its deadline')
    assert.equal(await cluster.image(ns, 'celery-worker'), `${REGISTRY}:v3`)
    assert.equal(await cluster.secretValue(ns, 'SECRET_KEY'), 'key-three')
  })

  test('a deployer role without Jobs: the gate\u2019s access is asked before any write, and only with the gate', async () => {
    const ns = 'cp-gate-rbac'
    await deployedAtV1(ns)
    const live = await rig.kubectlJson<{
      metadata: { name: string; labels?: Record<string, string> }
      rules: Array<{ apiGroups: string[] }>
    }>('get', 'clusterrole', 'deploy-gke-workers-deployer')
    const role = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: live.metadata.name, labels: live.metadata.labels },
      rules: live.rules
    }
    const withoutJobs = { ...role, rules: role.rules.filter(r => !r.apiGroups.includes('batch')) }
    assert.equal(withoutJobs.rules.length, role.rules.length - 1)
    await rig.applyObjects([withoutJobs])
    try {
      // The authorizer's cache follows the role within moments: the run starts once it has.
      await until(
        'the role without Jobs in force',
        async () => !(await deployerMay('create', 'jobs.batch', ns))
      )
      const writesBefore = writes(ns).length
      const gated = await e2e.run(ns, {
        image: `${REGISTRY}:v2`,
        secret_data: secretData('key-two'),
        pre_deploy_command: COMMAND
      })
      assert.equal(gated.outputs.status, 'failed', gated.stdout)
      const summary = plain(gated.summary)
      assert.match(
        summary,
        /\*\*pre-flight\*\*: the deploy credentials may not create jobs\.batch, patch jobs\.batch, get jobs\.batch, list jobs\.batch, watch jobs\.batch, delete jobs\.batch in namespace cp-gate-rbac\n/
      )
      assert.deepEqual(writes(ns).slice(writesBefore), [], 'nothing written')
      const plainDeploy = await e2e.run(ns, { image: `${REGISTRY}:v2`, secret_data: secretData('key-two') })
      assert.equal(plainDeploy.outputs.status, 'deployed', 'without the gate, Jobs are not asked for')
    } finally {
      await rig.applyObjects([role])
      await until('the role restored', () => deployerMay('create', 'jobs.batch', ns))
    }
  })
})

async function deployerMay(verb: string, resource: string, namespace: string): Promise<boolean> {
  const answer = await rig.kubectl('auth', 'can-i', verb, resource, '-n', namespace, '--as=rig-deployer')
  return answer.stdout.trim() === 'yes'
}

// Polls a condition the cluster reaches by itself, up to 20 s.
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 20 s`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}
