// autoscaling: keda with the real KEDA: its operator and metrics adapter (v2.20.2, built from KEDA's Go
// module) run against the real control plane and read real Redis servers, polling every second. Every run is
// the committed dist/; what is asserted is what a user sees (exit code, status, job summary) and what the
// cluster holds afterwards, waited for as it shows, never slept for.
//
// What KEDA does that these runs meet (measured here): it scales a new ScaledObject's idle worker to zero at
// its first poll (no last activity, no initial cooldown), a worker at 1 as soon as its cooldown after the last
// task ends, one handed over from the CPU HPA at once; it marks a ScaledObject it cannot read Redis with
// Ready=False and then creates no HPA and scales nothing.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY } from '../support/e2e.js'
import {
  condition,
  kedaInputs,
  REDIS_PASSWORD,
  scaledObject,
  startKedaE2E,
  waitFor,
  workerReplicas,
  type KedaE2E
} from '../support/keda-operator.js'
import { headline, plain } from '../support/report.js'

let k: KedaE2E
before(async () => {
  k = await startKedaE2E()
})
after(async () => {
  await k?.stop()
})

const HOLD_ANNOTATIONS = ['autoscaling.keda.sh/paused-replicas', 'deploy-gke-workers/hold']

async function workerImage(ns: string): Promise<string> {
  const found = await k.rig.kubectl(
    'get',
    'deployment',
    'celery-worker',
    '-n',
    ns,
    '-o',
    'jsonpath={.spec.template.spec.containers[?(@.name=="app")].image}'
  )
  return found.stdout
}

// The hold is gone and KEDA has taken the worker back (Paused False, Ready True).
async function handedBackToKeda(ns: string): Promise<void> {
  const so = await waitFor(
    'KEDA has the ScaledObject back',
    () => scaledObject(k.rig, ns),
    s => condition(s, 'Paused')?.status === 'False' && condition(s, 'Ready')?.status === 'True'
  )
  for (const annotation of HOLD_ANNOTATIONS) {
    assert.equal(so.metadata.annotations?.[annotation], undefined, `${annotation} removed`)
  }
}

// While `during` runs, the worker's replica counts seen while the deploy's hold is on the ScaledObject (one
// read gives both, so a count is never paired with another moment's annotation).
async function replicasWhileHeld<T>(ns: string, during: Promise<T>): Promise<{ result: T; held: number[] }> {
  const held: number[] = []
  let done = false
  const sampling = (async () => {
    while (!done) {
      const read = await k.rig.kubectl(
        'get',
        'deployment/celery-worker',
        'scaledobjects.keda.sh/celery-worker',
        '-n',
        ns,
        '-o',
        'json'
      )
      const items = read.code === 0 ? (JSON.parse(read.stdout) as { items: LiveObject[] }).items : []
      const worker = items.find(i => i.kind === 'Deployment')
      const so = items.find(i => i.kind === 'ScaledObject')
      if (worker && so?.metadata.annotations?.['deploy-gke-workers/hold'] !== undefined) {
        held.push(worker.spec?.replicas ?? 1)
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  })()
  try {
    return { result: await during, held }
  } finally {
    done = true
    await sampling
  }
}

interface LiveObject {
  kind: string
  metadata: { annotations?: Record<string, string> }
  spec?: { replicas?: number }
}

describe('autoscaling: keda with the real KEDA operator', () => {
  test('first deploy at 0 with empty queues: the image is verified on a held pod before KEDA takes the worker to zero; a never-ready one is not reported deployed', async () => {
    const ns = 'keda-first'
    const good = await k.e2e.run(ns, { ...kedaInputs(k.redis), image: `${REGISTRY}:v1`, beat: 'false' })
    assert.equal(good.exitCode, 0, good.stdout + good.stderr)
    assert.equal(good.outputs.status, 'deployed')
    const summary = plain(good.summary)
    assert.match(summary, /\| celery-worker \| complete \|/)
    assert.match(summary, /celery-worker held at 1 replica \(KEDA's autoscaling\.keda\.sh\/paused-replicas\)/)
    assert.match(summary, /\| conditions \| Ready True \(ScaledObjectReady\); Active/)
    assert.match(summary, /Paused False \(ScaledObjectUnpaused\)/)
    await handedBackToKeda(ns)
    await waitFor(
      'KEDA scales the idle worker to zero',
      () => workerReplicas(k.rig, ns),
      r => r === 0
    )

    // The same first deploy of an image whose pods never get ready: KEDA would have scaled it to zero 0.35 s
    // after the apply, and the run said "deployed".
    const ns2 = 'keda-first-broken'
    const broken = await k.e2e.run(ns2, {
      ...kedaInputs(k.redis),
      image: `${REGISTRY}:v1-never-ready`,
      beat: 'false',
      rollout_timeout: '10s'
    })
    assert.notEqual(broken.exitCode, 0)
    assert.equal(broken.outputs.status, 'failed')
    assert.doesNotMatch(plain(broken.summary), /\| celery-worker \| complete \|/)
    assert.match(plain(broken.summary), /\| celery-worker \| timeout \|/)
    assert.match(plain(broken.summary), /first deploy of this Deployment: there is no previous revision/)
    await handedBackToKeda(ns2)
  })

  test('the cooldown race: a worker at 1 in its cooldown is held while a never-ready image rolls, which is rolled back', async () => {
    const ns = 'keda-cooldown'
    const inputs = kedaInputs(k.redis, { keda_cooldown_period: '2s', worker_queues: 'cooldown' })
    const first = await k.e2e.run(ns, { ...inputs, image: `${REGISTRY}:v1`, beat: 'false' })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    // A task: KEDA starts the worker and keeps it while the queue is busy.
    await k.redis.command('LPUSH', 'cooldown', 'task-1')
    await waitFor(
      'KEDA starts the worker for the task',
      () => workerReplicas(k.rig, ns),
      r => r === 1
    )

    const started = await k.e2e.start(ns, {
      ...inputs,
      image: `${REGISTRY}:v2-never-ready`,
      beat: 'false',
      rollout_timeout: '10s'
    })
    // Once the new ReplicaSet exists the task is done: the 2 s cooldown ends in the middle of the rollout.
    await waitFor(
      'the rollout has started',
      async () =>
        (await k.rig.kubectl('get', 'replicasets', '-n', ns, '-o', 'name')).stdout.trim().split('\n'),
      names => names.length >= 2
    )
    await k.redis.command('DEL', 'cooldown')
    const { result: run, held } = await replicasWhileHeld(ns, started.done)
    await started.post()

    assert.equal(run.exitCode, 1, run.stdout)
    assert.equal(run.outputs.status, 'rolled-back')
    assert.ok(held.length > 10, `the hold was seen on (${held.length} reads)`)
    assert.deepEqual([...new Set(held)], [1], 'while held, the worker was never scaled away')
    const summary = plain(run.summary)
    assert.match(summary, /\| celery-worker \| timeout \|/)
    assert.match(summary, /celery-worker held at 1 replica/)
    assert.match(summary, /Rolled back: celery-worker to revision 1; the rollouts completed\./)
    assert.equal(await workerImage(ns), `${REGISTRY}:v1`)
    // Then KEDA has it again, and the queue is empty: zero.
    await handedBackToKeda(ns)
    await waitFor(
      'KEDA scales the idle worker to zero',
      () => workerReplicas(k.rig, ns),
      r => r === 0
    )
  })

  test('switch cpu → keda with a new image at 2 replicas: the plan says when it goes to zero; both new pods verified, held at 2, then KEDA; a never-ready image rolled back', async () => {
    const ns = 'keda-switch'
    const cpuInputs = {
      worker_queues: 'switch',
      worker_min_replicas: '2',
      beat: 'false',
      secret_data: kedaInputs(k.redis).secret_data
    }
    const cpu = await k.e2e.run(ns, { ...cpuInputs, image: `${REGISTRY}:v1` })
    assert.equal(cpu.outputs.status, 'deployed', cpu.stdout)
    await waitFor(
      'the CPU HPA keeps its minimum of 2',
      () => workerReplicas(k.rig, ns),
      r => r === 2
    )

    const inputs = kedaInputs(k.redis, { worker_queues: 'switch', keda_cooldown_period: '5m' })
    const plan = await k.e2e.run(
      ns,
      { ...inputs, image: `${REGISTRY}:v2`, beat: 'false', pr_comment: 'false' },
      { eventName: 'pull_request', eventPayload: { number: 7, pull_request: { number: 7 } } }
    )
    assert.equal(plan.outputs.status, 'dry-run', plan.stdout)
    assert.match(
      plain(plan.summary),
      /\| ScaledObject\/celery-worker \| scale to zero \| – \| KEDA scales celery-worker to 0 replicas right after this deploy if every queue \(switch\) is empty then \(a new ScaledObject has no last activity to cool down from; a worker that rolls is verified first\), otherwise once they have been empty for 5m \(keda_cooldown_period\)\. At zero, a queue holding more than 0 tasks \(queue_activation_length\) starts 1 pod at KEDA's next poll \(every 1s, keda_polling_interval\)/
    )

    const run = await k.e2e.run(ns, { ...inputs, image: `${REGISTRY}:v2`, beat: 'false' })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'deployed')
    const summary = plain(run.summary)
    assert.match(summary, /HorizontalPodAutoscaler \| celery-worker-hpa \| deleted \(autoscaling is keda\)/)
    assert.match(summary, /celery-worker held at 2 replicas/)
    assert.match(summary, /\| celery-worker \| complete \|/)
    await handedBackToKeda(ns)
    await waitFor(
      'KEDA scales the idle worker to zero',
      () => workerReplicas(k.rig, ns),
      r => r === 0
    )
    const events = await k.rig.kubectl(
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      'reason=KEDAScaleTargetDeactivated',
      '-o',
      'jsonpath={.items[*].message}'
    )
    assert.match(events.stdout, /Deactivated apps\/v1\.Deployment keda-switch\/celery-worker from 2 to 0/)

    // Back to the CPU HPA at 2, then the same switch with an image whose pods never get ready.
    const back = await k.e2e.run(ns, { ...cpuInputs, image: `${REGISTRY}:v1` })
    assert.equal(back.outputs.status, 'deployed', back.stdout)
    await waitFor(
      'the CPU HPA keeps its minimum of 2',
      () => workerReplicas(k.rig, ns),
      r => r === 2
    )
    const broken = await k.e2e.run(ns, {
      ...inputs,
      image: `${REGISTRY}:v3-never-ready`,
      beat: 'false',
      rollout_timeout: '10s'
    })
    assert.equal(broken.exitCode, 1, broken.stdout)
    assert.equal(broken.outputs.status, 'rolled-back')
    assert.match(plain(broken.summary), /\| celery-worker \| timeout \|/)
    assert.match(plain(broken.summary), /celery-worker held at 2 replicas/)
    assert.equal(await workerImage(ns), `${REGISTRY}:v1`)
  })

  test('a wrong Redis password: KEDA\u2019s Ready=False fails the deploy with its reason and the Secret key to fix, and it is rolled back', async () => {
    const ns = 'keda-wrongpass'
    const good = await k.e2e.run(ns, { ...kedaInputs(k.redis), image: `${REGISTRY}:v1`, beat: 'false' })
    assert.equal(good.outputs.status, 'deployed', good.stdout)
    await handedBackToKeda(ns)

    // The pods' own Redis check would refuse the password first (WRONGPASS, as smoke-checks.test.ts shows), and
    // KEDA's verdict is read only once the checks pass: it is left out here, so that KEDA's verdict is the judge.
    const wrong = await k.e2e.run(ns, {
      ...kedaInputs(k.redis, {}, { password: 'not-the-redis-password' }),
      image: `${REGISTRY}:v2`,
      beat: 'false',
      smoke_checks: 'worker,database'
    })
    assert.equal(wrong.exitCode, 1, wrong.stdout)
    assert.equal(wrong.outputs.status, 'rolled-back', wrong.stdout + wrong.summary)
    // KEDA's verdict is read after the hold's release: the rollback holds the worker again, or KEDA, given its
    // password back by the rollback, scales it to zero before the restored template is verified.
    assert.match(wrong.stdout, /deployment\/celery-worker held at 1 replica\(s\) while it is rolled back/)
    const [finding] = headline(wrong.summary)
    assert.equal(finding.subjects, 'ScaledObject celery-worker')
    assert.match(
      finding.cause,
      /^KEDA marks ScaledObject celery-worker not Ready: failed to ensure HPA is correctly created for ScaledObject: connection to redis failed: WRONGPASS invalid username-password pair/
    )
    assert.match(finding.cause, /\(Ready False, ScaledObjectCheckFailed\)$/)
    assert.match(
      finding.fix,
      /key REDIS_PASSWORD of Secret app-secrets, which the TriggerAuthentication celery-worker-redis reads/
    )
    assert.match(
      wrong.stdout,
      /::error title=ScaledObject celery-worker%3A KEDA cannot use the ScaledObject::/
    )
    // The table shows KEDA's conditions at the end of the run, after the rollback put the password back.
    assert.match(
      plain(wrong.summary),
      /\| conditions \| Ready (True|False) \(ScaledObject(Ready|CheckFailed)/
    )
    for (const text of [wrong.summary, wrong.stdout.replace(/^::add-mask::.*$/gm, '')]) {
      assert.equal(text.indexOf('not-the-redis-password'), -1, 'the wrong password is still a secret')
      assert.equal(text.indexOf(REDIS_PASSWORD), -1)
    }
    // Rolled back: the old image, and the Secret's previous password, which KEDA then logs in with again.
    assert.equal(await workerImage(ns), `${REGISTRY}:v1`)
    const secret = await k.rig.kubectlJson<{ data: Record<string, string> }>(
      'get',
      'secret',
      'app-secrets',
      '-n',
      ns
    )
    assert.equal(Buffer.from(secret.data.REDIS_PASSWORD, 'base64').toString(), REDIS_PASSWORD)
    await waitFor(
      'KEDA is Ready again with the previous password',
      () => scaledObject(k.rig, ns),
      s => condition(s, 'Ready')?.status === 'True',
      120_000
    )
  })

  test('rediss:// without redis_server_ca: KEDA\u2019s x509 refusal fails the first deploy with the input to give; with it, KEDA reads the queue over TLS', async () => {
    const ns = 'keda-tls'
    // The app trusts the instance's CA from a file in its image (redis-py's ssl_ca_certs in REDIS_URL), so the
    // pods' Redis check passes over TLS; KEDA has no such file, only what redis_server_ca gives it.
    const inputs = kedaInputs(k.tlsRedis, {
      worker_queues: 'tls',
      secret_data: `SECRET_KEY=django-insecure-example-key\nREDIS_URL=${k.tlsRedis.url()}?ssl_ca_certs=${k.tlsRedis.caFile!}`
    })
    const missing = await k.e2e.run(ns, { ...inputs, image: `${REGISTRY}:v1`, beat: 'false' })
    assert.equal(missing.exitCode, 1, missing.stdout)
    assert.equal(missing.outputs.status, 'failed')
    const smoke = JSON.parse(missing.outputs.smoke_results) as Array<{ name: string; ok: boolean }>
    assert.equal(smoke.find(r => r.name === 'redis')?.ok, true, missing.outputs.smoke_results)
    const [finding] = headline(missing.summary)
    assert.match(finding.cause, /x509: certificate signed by unknown authority/)
    assert.match(finding.fix, /give the server's CA in redis_server_ca/)

    const withCa = await k.e2e.run(ns, {
      ...inputs,
      redis_server_ca: k.tlsRedis.caPem!,
      image: `${REGISTRY}:v1`,
      beat: 'false'
    })
    assert.equal(withCa.exitCode, 0, withCa.stdout + withCa.stderr)
    assert.equal(withCa.outputs.status, 'deployed')
    // Nothing rolls (the pods do not read REDIS_CA); KEDA is made to check the changed TriggerAuthentication.
    assert.match(
      plain(withCa.summary),
      /What KEDA reads changed .*: the ScaledObject was paused at 1 replica and released/
    )
    assert.match(plain(withCa.summary), /Ready True \(ScaledObjectReady\)/)
    await handedBackToKeda(ns)
    await waitFor(
      'KEDA scales the idle worker to zero',
      () => workerReplicas(k.rig, ns),
      r => r === 0
    )
    await k.tlsRedis.command('LPUSH', 'tls', 'task-1')
    await waitFor(
      'a task over TLS starts the worker',
      () => workerReplicas(k.rig, ns),
      r => r === 1
    )
    await k.tlsRedis.command('DEL', 'tls')
  })

  test('scale to zero and back on queued tasks; the hold at 0 and at N, released to KEDA; an operator\u2019s pause left alone', async () => {
    const ns = 'keda-queue'
    const inputs = kedaInputs(k.redis, { worker_queues: 'work', keda_cooldown_period: '2s' })
    const first = await k.e2e.run(ns, { ...inputs, image: `${REGISTRY}:v1`, beat: 'false' })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    await handedBackToKeda(ns)
    await waitFor(
      'KEDA scales the idle worker to zero',
      () => workerReplicas(k.rig, ns),
      r => r === 0
    )

    // The hold at 0: one pod of the new image started and verified, then KEDA takes it back to zero.
    const atZero = await k.e2e.run(ns, { ...inputs, image: `${REGISTRY}:v2`, beat: 'false' })
    assert.equal(atZero.outputs.status, 'deployed', atZero.stdout)
    assert.match(plain(atZero.summary), /celery-worker was scaled to zero: held at 1 replica/)
    assert.match(plain(atZero.summary), /\| celery-worker \| complete \|/)
    await handedBackToKeda(ns)
    await waitFor(
      'back to zero',
      () => workerReplicas(k.rig, ns),
      r => r === 0
    )

    // 0 → 1 on queued tasks (KEDA itself), then 3 through its HPA and the metrics adapter (12 tasks, 5 each).
    await k.redis.command('LPUSH', 'work', ...Array.from({ length: 12 }, (_, i) => `task-${i}`))
    await waitFor(
      'KEDA starts the worker',
      () => workerReplicas(k.rig, ns),
      r => (r ?? 0) >= 1
    )
    await waitFor(
      'the HPA scales to 3 on the queue length',
      () => workerReplicas(k.rig, ns),
      r => r === 3
    )

    // The hold at N: a redeploy with the queue busy holds the worker at its 3 replicas, and the summary shows
    // what KEDA reads.
    const atThree = await k.e2e.run(ns, { ...inputs, image: `${REGISTRY}:v3`, beat: 'false' })
    assert.equal(atThree.outputs.status, 'deployed', atThree.stdout)
    const summary = plain(atThree.summary)
    assert.match(summary, /celery-worker held at 3 replicas/)
    assert.match(summary, /\| now \| work 12 tasks queued \|/)
    assert.match(summary, /\| replicas now \| 3 \|/)
    await handedBackToKeda(ns)
    assert.equal(await workerReplicas(k.rig, ns), 3, 'KEDA keeps 3 while the queue is busy')

    // The queue drains: back to zero after the cooldown.
    await k.redis.command('DEL', 'work')
    await waitFor(
      'back to zero after the cooldown',
      () => workerReplicas(k.rig, ns),
      r => r === 0
    )

    // An operator's pause (KEDA's documented maintenance pause): the deploy neither holds nor releases it.
    const pause = await k.rig.kubectl(
      'annotate',
      'scaledobjects.keda.sh/celery-worker',
      '-n',
      ns,
      'autoscaling.keda.sh/paused-replicas=0'
    )
    assert.equal(pause.code, 0, pause.stderr)
    await waitFor(
      'KEDA is paused',
      () => scaledObject(k.rig, ns),
      s => condition(s, 'Paused')?.status === 'True'
    )
    const paused = await k.e2e.run(ns, { ...inputs, image: `${REGISTRY}:v4`, beat: 'false' })
    assert.equal(paused.outputs.status, 'deployed', paused.stdout)
    assert.doesNotMatch(plain(paused.summary), /held at/)
    assert.match(plain(paused.summary), /is paused by its own annotation/)
    const still = await scaledObject(k.rig, ns)
    assert.equal(still.metadata.annotations?.['autoscaling.keda.sh/paused-replicas'], '0')
    assert.equal(condition(still, 'Paused')?.status, 'True')
    assert.equal(await workerReplicas(k.rig, ns), 0)
  })
})
