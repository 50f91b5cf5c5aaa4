// autoscaling: keda, as tables: the inputs and their rules, REDIS_URL split for KEDA, the ScaledObject and
// TriggerAuthentication rendered from them, which autoscaler objects each choice retires, and how the plan and
// the summary describe the autoscaler.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { parse } from 'yaml'
import os from 'node:os'
import path from 'node:path'
import { InputError, parseInputs, secretValuesOf, type RawInputs } from '../../src/inputs.js'
import { loadTemplates } from '../../src/render/load-templates.js'
import {
  AUTOSCALING_ANNOTATION,
  RenderError,
  renderManifests,
  type RenderedManifests
} from '../../src/render/render-manifests.js'
import { parseRedisUrl } from '../../src/render/redis-connection.js'
import { behaviourChanges } from '../../src/plan/behaviour-changes.js'
import { findRetiring } from '../../src/deploy/retire-autoscalers.js'
import { queueLengths } from '../../src/deploy/autoscaler-status.js'
import { kedaProblems } from '../../src/kube/discovery.js'
import { rulesGrant, type Permission } from '../../src/deploy/preflight.js'
import type { LiveObjectMeta } from '../../src/kube/objects.js'
import { REPO_ROOT } from '../support/run-action.js'
import { plain } from '../support/report.js'
import { runSmokeChecks } from '../../src/deploy/run-smoke-checks.js'
import { renderDeploySummary } from '../../src/report/deploy-summary.js'
import type { DeployOutcome } from '../../src/deploy/outcome.js'
import { Kubectl, KubectlError } from '../../src/kube/kubectl.js'
import type { Pod } from '../../src/k8s/types.js'

const BUILT_IN = path.join(REPO_ROOT, 'manifests')
const IMAGE = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:3f2a9c1'
const KEDA: RawInputs = {
  image: IMAGE,
  autoscaling: 'keda',
  worker_queues: 'celery,rag_delete',
  secret_data:
    'SECRET_KEY=django-secret\nREDIS_URL=redis://:auth-string-1@10.0.0.5:6379/2\nDATABASE_URL=postgresql://u:p@h/d'
}
const CA = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2FzZQ==\n-----END CERTIFICATE-----'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

function problemsOf(raw: RawInputs): string[] {
  try {
    parseInputs(raw, { eventName: 'push' })
  } catch (error) {
    assert.ok(error instanceof InputError)
    return error.problems
  }
  return []
}

async function render(raw: RawInputs, directory = BUILT_IN): Promise<RenderedManifests> {
  return renderManifests(await loadTemplates(directory), parseInputs(raw, { eventName: 'push' }), {})
}

function objectOf(rendered: RenderedManifests, kind: string): Loose {
  return rendered.objects.find(o => o.object.kind === kind)?.object
}

describe('autoscaling inputs', () => {
  const rejected: Array<{ name: string; raw: RawInputs; problem: RegExp }> = [
    {
      name: 'an unknown choice',
      raw: { image: IMAGE, autoscaling: 'queue' },
      problem: /^autoscaling: "queue" must be one of cpu, keda, none$/
    },
    {
      name: 'scale to zero without KEDA',
      raw: { image: IMAGE, worker_min_replicas: '0' },
      problem: /^worker_min_replicas: 0 \(scale to zero\) needs autoscaling: keda/
    },
    {
      name: 'a KEDA input without keda',
      raw: { image: IMAGE, queue_length_target: '10' },
      problem: /^queue_length_target: is set, but autoscaling is cpu, not keda$/
    },
    {
      name: 'a target of zero',
      raw: { ...KEDA, queue_length_target: '0' },
      problem: /^queue_length_target: "0" must be a whole number from 1 to 100000$/
    },
    {
      name: 'a polling interval that is no duration',
      raw: { ...KEDA, keda_polling_interval: 'often' },
      problem: /^keda_polling_interval: "often" is not a duration from 1s to 24h/
    },
    {
      name: 'keda without REDIS_URL in the Secret written',
      raw: { image: IMAGE, autoscaling: 'keda', secret_data: 'SECRET_KEY=x' },
      problem: /^autoscaling: keda reads the queue lengths from Redis, and secret_data has no REDIS_URL/
    },
    {
      name: 'keda with a Secret the action does not write',
      raw: { image: IMAGE, autoscaling: 'keda' },
      problem: /^autoscaling: keda reads the queue lengths from Redis: give REDIS_URL in secret_data/
    },
    {
      name: 'a REDIS_URL of another scheme',
      raw: { ...KEDA, secret_data: 'REDIS_URL=memcached://10.0.0.5:11211' },
      problem: /^secret_data: REDIS_URL must start with redis:\/\/ or rediss:\/\//
    },
    {
      name: 'a REDIS_URL database that is no number',
      raw: { ...KEDA, secret_data: 'REDIS_URL=redis://10.0.0.5:6379/queues' },
      problem: /^secret_data: REDIS_URL names a database that is not a number/
    },
    {
      name: 'a derived key given too',
      raw: { ...KEDA, secret_data: 'REDIS_URL=redis://10.0.0.5:6379/0\nREDIS_PASSWORD=other' },
      problem: /^secret_data: REDIS_PASSWORD is also built from REDIS_URL for KEDA/
    },
    {
      name: 'a server CA that is not PEM',
      raw: { ...KEDA, secret_data: 'REDIS_URL=rediss://10.0.0.5:6378/0', redis_server_ca: 'not a cert' },
      problem: /^redis_server_ca: is not a PEM certificate/
    },
    {
      name: 'a password with a bare %, and the other errors still listed',
      raw: {
        ...KEDA,
        worker_max_replicas: 'x',
        secret_data: 'REDIS_URL=redis://:p%zz-secret@10.0.0.5:6379/0'
      },
      problem: /^secret_data: REDIS_URL has a user name or password with a "%" that starts no URL escape/
    },
    {
      name: 'a server CA without TLS',
      raw: { ...KEDA, redis_server_ca: CA },
      problem: /^redis_server_ca: is set, but REDIS_URL is redis:\/\/ \(no TLS\)/
    }
  ]
  for (const c of rejected) {
    test(`refused: ${c.name}`, () => {
      const problems = problemsOf(c.raw)
      assert.ok(
        problems.some(p => c.problem.test(p)),
        `expected ${String(c.problem)} among:\n${problems.join('\n')}`
      )
    })
  }

  test('every problem at once, and never the Redis password', () => {
    const problems = problemsOf({
      image: IMAGE,
      autoscaling: 'keda',
      worker_min_replicas: '7',
      worker_max_replicas: '3',
      queue_activation_length: '-1',
      secret_data: 'REDIS_URL=redis://:hunter2-secret@10.0.0.5:6379/x'
    })
    assert.equal(problems.length, 3, problems.join('\n'))
    assert.ok(problems.every(p => !p.includes('hunter2-secret')))
  })

  test('action.yml\u2019s defaults, as the runner passes them, are a valid deploy for each choice', async () => {
    const action = parse(await readFile(path.join(REPO_ROOT, 'action.yml'), 'utf8')) as {
      inputs: Record<string, { default?: unknown }>
    }
    const defaults = Object.fromEntries(
      Object.entries(action.inputs)
        .filter(([, input]) => input.default !== undefined && !String(input.default).includes('${{'))
        .map(([name, input]) => [name, String(input.default)])
    )
    for (const autoscaling of ['cpu', 'keda', 'none']) {
      const raw = { ...defaults, ...(autoscaling === 'keda' ? KEDA : { image: IMAGE }), autoscaling }
      assert.deepEqual(problemsOf(raw), [], autoscaling)
    }
  })

  test('a Redis ACL user name and a CA bundle of two are not masked as secrets', () => {
    const config = parseInputs(
      {
        ...KEDA,
        secret_data: 'REDIS_URL=rediss://worker:pw-12345678@10.0.0.5:6378/0',
        redis_server_ca: `${CA}\n${CA}`
      },
      { eventName: 'push' }
    )
    const masked = secretValuesOf(
      config,
      new Map([
        ['REDIS_USERNAME', 'worker'],
        ['REDIS_PASSWORD', 'pw-12345678'],
        ['REDIS_CA', CA]
      ])
    )
    assert.ok(!masked.includes('worker'), 'masking "worker" would blank celery-worker everywhere')
    assert.ok(masked.includes('pw-12345678'))
  })

  test('scale to zero with KEDA, and the defaults of KEDA', () => {
    const config = parseInputs({ ...KEDA, worker_min_replicas: '0' }, { eventName: 'push' })
    assert.equal(config.workerMinReplicas, 0)
    assert.deepEqual(config.keda, {
      queueLengthTarget: 5,
      activationQueueLength: 0,
      pollingIntervalSeconds: 30,
      cooldownSeconds: 300
    })
  })

  const urls: Array<{ url: string; parts: Record<string, unknown> }> = [
    {
      url: 'redis://:AUTH%2Fstring@10.0.0.5:6379/0',
      parts: { address: '10.0.0.5:6379', password: 'AUTH/string', database: 0, tls: false }
    },
    {
      url: 'rediss://default:s3cret@redis.internal:6378/3',
      parts: {
        address: 'redis.internal:6378',
        username: 'default',
        password: 's3cret',
        database: 3,
        tls: true
      }
    },
    { url: 'redis://10.1.2.3', parts: { address: '10.1.2.3:6379', database: 0, tls: false } },
    { url: 'redis://:pw@10.0.0.5:6379/0?db=3', parts: { database: 3 } },
    { url: 'redis://[::1]:6380/1', parts: { address: '[::1]:6380', database: 1 } },
    {
      url: 'rediss://:x@10.0.0.9:6378?ssl_cert_reqs=none',
      parts: { address: '10.0.0.9:6378', password: 'x', tls: true, skipVerify: true }
    }
  ]
  for (const c of urls) {
    test(`REDIS_URL split for KEDA: ${c.url.replace(/:[^:@/]*@/, ':…@')}`, () => {
      const parsed = parseRedisUrl(c.url)
      assert.ok(typeof parsed !== 'string', String(parsed))
      for (const [key, value] of Object.entries(c.parts)) {
        assert.deepEqual((parsed as unknown as Record<string, unknown>)[key], value, key)
      }
    })
  }
})

describe('autoscaling: keda renders a ScaledObject and its TriggerAuthentication', () => {
  test('one redis trigger per queue, the bounds and KEDA timing, no CPU HPA', async () => {
    const rendered = await render({
      ...KEDA,
      worker_min_replicas: '0',
      worker_max_replicas: '8',
      queue_length_target: '20',
      queue_activation_length: '2',
      keda_polling_interval: '15s',
      keda_cooldown_period: '10m'
    })
    const scaled = objectOf(rendered, 'ScaledObject')
    assert.equal(scaled.apiVersion, 'keda.sh/v1alpha1')
    assert.deepEqual(scaled.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'celery-worker'
    })
    assert.equal(scaled.spec.minReplicaCount, 0)
    assert.equal(scaled.spec.maxReplicaCount, 8)
    assert.equal(scaled.spec.pollingInterval, 15)
    assert.equal(scaled.spec.cooldownPeriod, 600)
    assert.deepEqual(
      scaled.spec.triggers.map((t: Loose) => t.metadata),
      ['celery', 'rag_delete'].map(listName => ({
        listName,
        listLength: '20',
        activationListLength: '2',
        databaseIndex: '2'
      }))
    )
    assert.ok(scaled.spec.triggers.every((t: Loose) => t.authenticationRef.name === 'celery-worker-redis'))
    assert.equal(objectOf(rendered, 'HorizontalPodAutoscaler'), undefined)
    assert.deepEqual(
      rendered.retired.map(r => `${r.kind}/${r.name}`),
      ['HorizontalPodAutoscaler/celery-worker-hpa']
    )
    const worker = rendered.objects.find(o => o.role === 'worker')!.object as Loose
    assert.equal(worker.spec.replicas, undefined, 'the ScaledObject owns the replica count')
    assert.equal(worker.metadata.annotations[AUTOSCALING_ANNOTATION], 'keda')
    const env = worker.spec.template.spec.containers[0].env.map((e: Loose) => e.name)
    assert.ok(env.includes('REDIS_URL'), 'the app keeps its URL')
    assert.ok(
      !env.includes('REDIS_ADDRESS') && !env.includes('REDIS_PASSWORD'),
      'KEDA\u2019s keys are not the app\u2019s'
    )
    // Applied after the Deployment it scales; the TriggerAuthentication before.
    const kinds = rendered.objects.map(o => o.object.kind)
    assert.ok(kinds.indexOf('TriggerAuthentication') < kinds.indexOf('Deployment'))
    assert.ok(kinds.indexOf('ScaledObject') > kinds.lastIndexOf('Deployment'))
  })

  const auth: Array<{
    name: string
    url: string
    ca?: string
    entries: string[]
    metadata: Record<string, string>
  }> = [
    {
      name: 'Memorystore with AUTH',
      url: 'redis://:auth-string-1@10.0.0.5:6379/0',
      entries: ['address=REDIS_ADDRESS', 'password=REDIS_PASSWORD'],
      metadata: { databaseIndex: '0' }
    },
    {
      name: 'no AUTH: no password entry (KEDA has no optional reference)',
      url: 'redis://10.0.0.5:6379/1',
      entries: ['address=REDIS_ADDRESS'],
      metadata: { databaseIndex: '1' }
    },
    {
      name: 'Memorystore in-transit encryption with its CA',
      url: 'rediss://:auth-string-1@10.0.0.5:6378/0',
      ca: CA,
      entries: ['address=REDIS_ADDRESS', 'password=REDIS_PASSWORD', 'ca=REDIS_CA'],
      metadata: { databaseIndex: '0', enableTLS: 'true' }
    },
    {
      name: 'an ACL user over TLS without verification, as the URL asks',
      url: 'rediss://worker:pw-12345@10.0.0.5:6378/0?ssl_cert_reqs=none',
      entries: ['address=REDIS_ADDRESS', 'username=REDIS_USERNAME', 'password=REDIS_PASSWORD'],
      metadata: { databaseIndex: '0', enableTLS: 'true', unsafeSsl: 'true' }
    }
  ]
  for (const c of auth) {
    test(`TriggerAuthentication and Secret keys: ${c.name}`, async () => {
      const rendered = await render({
        ...KEDA,
        secret_data: `SECRET_KEY=s\nDATABASE_URL=postgresql://u:p@h/d\nREDIS_URL=${c.url}`,
        ...(c.ca ? { redis_server_ca: c.ca } : {})
      })
      const trigger = objectOf(rendered, 'TriggerAuthentication')
      assert.deepEqual(
        trigger.spec.secretTargetRef.map((e: Loose) => `${e.parameter}=${e.key}`),
        c.entries
      )
      assert.ok(trigger.spec.secretTargetRef.every((e: Loose) => e.name === 'app-secrets'))
      for (const entry of trigger.spec.secretTargetRef) assert.ok(rendered.secretData!.has(entry.key))
      const metadata = objectOf(rendered, 'ScaledObject').spec.triggers[0].metadata
      for (const [key, value] of Object.entries(c.metadata)) assert.equal(metadata[key], value, key)
      for (const key of ['enableTLS', 'unsafeSsl']) {
        if (!(key in c.metadata)) assert.equal(metadata[key], undefined, key)
      }
      // The app keeps its URL; the parts are Secret keys of their own.
      assert.equal(rendered.secretData!.get('REDIS_URL'), c.url)
      assert.equal(
        rendered.secretData!.get('REDIS_ADDRESS'),
        '10.0.0.5:' + (c.url.startsWith('rediss') ? '6378' : '6379')
      )
    })
  }

  test('TLS without a CA: a note says KEDA cannot verify Memorystore without redis_server_ca', async () => {
    const rendered = await render({
      ...KEDA,
      secret_data:
        'SECRET_KEY=s\nDATABASE_URL=postgresql://u:p@h/d\nREDIS_URL=rediss://:a-pass@10.0.0.5:6378/0'
    })
    assert.ok(rendered.notes.some(n => /redis_server_ca/.test(n)))
  })
})

describe('each autoscaling choice deploys its autoscaler and retires the others', () => {
  const cases: Array<{ autoscaling: string; deployed: string[]; retired: string[]; replicas?: number }> = [
    {
      autoscaling: 'cpu',
      deployed: ['HorizontalPodAutoscaler'],
      retired: ['ScaledObject/celery-worker', 'TriggerAuthentication/celery-worker-redis']
    },
    {
      autoscaling: 'keda',
      deployed: ['ScaledObject', 'TriggerAuthentication'],
      retired: ['HorizontalPodAutoscaler/celery-worker-hpa']
    },
    {
      autoscaling: 'none',
      deployed: [],
      retired: [
        'HorizontalPodAutoscaler/celery-worker-hpa',
        'ScaledObject/celery-worker',
        'TriggerAuthentication/celery-worker-redis'
      ],
      replicas: 3
    }
  ]
  for (const c of cases) {
    test(`autoscaling ${c.autoscaling}`, async () => {
      const raw: RawInputs =
        c.autoscaling === 'keda'
          ? KEDA
          : { image: IMAGE, autoscaling: c.autoscaling, worker_min_replicas: '3' }
      const rendered = await render(raw)
      const autoscalers = rendered.objects
        .map(o => o.object.kind)
        .filter(k => ['HorizontalPodAutoscaler', 'ScaledObject', 'TriggerAuthentication'].includes(k))
      assert.deepEqual(autoscalers.sort(), [...c.deployed].sort())
      assert.deepEqual(rendered.retired.map(r => `${r.kind}/${r.name}`).sort(), [...c.retired].sort())
      const worker = rendered.objects.find(o => o.role === 'worker')!.object as Loose
      assert.equal(worker.spec.replicas, c.replicas)
      assert.equal(worker.metadata.annotations[AUTOSCALING_ANNOTATION], c.autoscaling)
      assert.ok(!rendered.objects.some(o => o.role === 'beat' && /keda/.test(o.object.apiVersion)))
    })
  }

  // A cluster as kubectl shows it: the HPAs, and KEDA's kinds when it serves them.
  function cluster(state: { hpas?: Loose[]; keda?: Loose[] }): { kubectl: Kubectl; calls: string[] } {
    const calls: string[] = []
    const answer = (stdout: string, exitCode = 0, stderr = '') => ({ stdout, stderr, exitCode, attempts: 1 })
    const kubectl = {
      discoveredGroups: async () => undefined,
      async run(args: string[]) {
        calls.push(args.slice(0, 3).join(' '))
        if (args[1] === '--raw')
          return state.keda
            ? answer(
                JSON.stringify({ resources: [{ name: 'scaledobjects' }, { name: 'triggerauthentications' }] })
              )
            : answer('', 1, 'Error from server (NotFound): the server could not find the requested resource')
        if (args[1] === 'horizontalpodautoscalers.autoscaling')
          return answer(JSON.stringify({ items: state.hpas ?? [] }))
        return answer(JSON.stringify({ items: state.keda ?? [] }))
      }
    } as unknown as Kubectl
    return { kubectl, calls }
  }
  const scaler = (kind: string, name: string, target: string, extra: Loose = {}): Loose => ({
    kind,
    metadata: { name, namespace: 'noesis2', ...extra },
    spec: kind === 'TriggerAuthentication' ? {} : { scaleTargetRef: { name: target } }
  })
  const ourLabel = { labels: { 'app.kubernetes.io/managed-by': 'deploy-gke-workers' } }

  test('cpu on a cluster without KEDA: one request asks, nothing is retired', async () => {
    const { kubectl, calls } = cluster({})
    const plan = await findRetiring(
      kubectl,
      await render({ image: IMAGE }),
      parseInputs({ image: IMAGE }, { eventName: 'push' })
    )
    assert.deepEqual(plan, { retiring: [], conflicts: [], warnings: [] })
    assert.deepEqual(calls, ['get --raw /apis/keda.sh/v1alpha1'])
  })

  test('cpu with KEDA served: our ScaledObject and TriggerAuthentication go, whatever an earlier run recorded', async () => {
    const { kubectl } = cluster({
      keda: [
        scaler('ScaledObject', 'celery-worker', 'celery-worker'),
        scaler('TriggerAuthentication', 'celery-worker-redis', ''),
        scaler('ScaledObject', 'other-app', 'other-app')
      ]
    })
    const plan = await findRetiring(
      kubectl,
      await render({ image: IMAGE }),
      parseInputs({ image: IMAGE }, { eventName: 'push' })
    )
    assert.deepEqual(
      plan.retiring.map(r => `${r.kind}/${r.name}`),
      ['ScaledObject/celery-worker', 'TriggerAuthentication/celery-worker-redis']
    )
    assert.deepEqual(plan.conflicts, [])
  })

  test('cpu: a labelled TriggerAuthentication no retired ScaledObject uses is left alone', async () => {
    const { kubectl } = cluster({
      keda: [scaler('TriggerAuthentication', 'other-app-redis', '', ourLabel)]
    })
    const plan = await findRetiring(
      kubectl,
      await render({ image: IMAGE }),
      parseInputs({ image: IMAGE }, { eventName: 'push' })
    )
    assert.deepEqual(plan.retiring, [])
  })

  test('cpu with an identity that may not list KEDA\u2019s kinds: a warning, not a failed deploy', async () => {
    const kubectl = {
      discoveredGroups: async () => undefined,
      async run(args: string[]) {
        if (args[1] === '--raw')
          return { stdout: '{"resources":[{"name":"scaledobjects"}]}', stderr: '', exitCode: 0, attempts: 1 }
        throw new KubectlError('kubectl get failed (exit 1)', {
          command: args,
          exitCode: 1,
          stderr:
            'Error from server (Forbidden): scaledobjects.keda.sh is forbidden: User "deployer" cannot list resource',
          transient: false,
          attempts: 1
        })
      }
    } as unknown as Kubectl
    const plan = await findRetiring(
      kubectl,
      await render({ image: IMAGE }),
      parseInputs({ image: IMAGE }, { eventName: 'push' })
    )
    assert.deepEqual(plan.retiring, [])
    assert.match(plan.warnings[0], /may not list scaledobjects\.keda\.sh/)
  })

  test('keda: the old HPA (by its template name or our label) goes; KEDA\u2019s own stays; a stranger\u2019s stops the run', async () => {
    const { kubectl, calls } = cluster({
      hpas: [
        scaler('HorizontalPodAutoscaler', 'celery-worker-hpa', 'celery-worker'),
        scaler('HorizontalPodAutoscaler', 'workers-cpu', 'celery-worker', ourLabel),
        scaler('HorizontalPodAutoscaler', 'keda-hpa-celery-worker', 'celery-worker', {
          ownerReferences: [{ kind: 'ScaledObject', name: 'celery-worker' }]
        }),
        scaler('HorizontalPodAutoscaler', 'by-hand', 'celery-worker'),
        scaler('HorizontalPodAutoscaler', 'web', 'web')
      ]
    })
    const plan = await findRetiring(kubectl, await render(KEDA), parseInputs(KEDA, { eventName: 'push' }))
    assert.deepEqual(
      plan.retiring.map(r => `${r.kind}/${r.name}`),
      ['HorizontalPodAutoscaler/celery-worker-hpa', 'HorizontalPodAutoscaler/workers-cpu']
    )
    assert.equal(plan.conflicts.length, 1)
    assert.match(
      plan.conflicts[0],
      /^HorizontalPodAutoscaler by-hand also scales celery-worker and is not this action's/
    )
    assert.ok(!calls.some(c => c.includes('keda.sh')), 'with keda, KEDA\u2019s kinds are not retired')
  })
})

describe('users\u2019 own ScaledObject templates', () => {
  async function withTemplate(yaml: string, run: (dir: string) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'keda-templates-'))
    try {
      await cp(BUILT_IN, dir, { recursive: true })
      await writeFile(path.join(dir, '51-worker-scaledobject.yaml'), yaml)
      await run(dir)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }
  const own = (triggers: string, target = 'celery-worker') => `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: workers
  namespace: \${NAMESPACE}
  labels: {app.kubernetes.io/component: worker}
spec:
  scaleTargetRef: {name: ${target}}
  triggers:
${triggers}
`

  test('a cron trigger of theirs is kept beside the queues, after them', async () => {
    await withTemplate(
      own(`    - type: cron
      metadata: {timezone: Europe/Berlin, start: 0 8 * * *, end: 0 18 * * *, desiredReplicas: '2'}
    - type: redis
      metadata: {listName: x, listLength: '1'}
      authenticationRef: {name: celery-worker-redis}`),
      async dir => {
        const rendered = await render(KEDA, dir)
        const scaled = objectOf(rendered, 'ScaledObject')
        assert.deepEqual(
          scaled.spec.triggers.map((t: Loose) => `${t.type}:${t.metadata.listName ?? t.metadata.start}`),
          ['redis:celery', 'redis:rag_delete', 'cron:0 8 * * *']
        )
      }
    )
  })

  for (const c of [
    {
      name: 'no redis trigger',
      yaml: own(`    - type: cron\n      metadata: {start: 0 8 * * *}`),
      problem: /no trigger of type redis/
    },
    {
      name: 'a ScaledObject on beat',
      yaml: own(`    - type: redis\n      metadata: {listName: x}`, 'celery-beat'),
      problem: /beat must never be autoscaled/
    }
  ]) {
    test(`refused: ${c.name}`, async () => {
      await withTemplate(c.yaml, async dir => {
        await assert.rejects(render(KEDA, dir), (error: unknown) => {
          assert.ok(error instanceof RenderError)
          assert.ok(
            error.problems.some(p => c.problem.test(p)),
            error.problems.join('\n')
          )
          return true
        })
      })
    })
  }
})

describe('the plan and the summary describe the autoscaler', () => {
  test('CPU to queue length, in one line of the behaviour changes', async () => {
    const rendered = await render(KEDA)
    const liveHpa = {
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'celery-worker-hpa', namespace: 'noesis2' },
      spec: {
        minReplicas: 1,
        maxReplicas: 5,
        metrics: [{ resource: { name: 'cpu', target: { averageUtilization: 70 } } }]
      }
    } as unknown as LiveObjectMeta
    const changes = behaviourChanges(
      rendered.objects.map(o => o.object),
      new Map(),
      [],
      [liveHpa]
    ).filter(c => c.what === 'autoscaling')
    assert.deepEqual(changes, [
      {
        object: 'ScaledObject/celery-worker',
        what: 'autoscaling',
        from: 'HorizontalPodAutoscaler celery-worker-hpa: 1–5 replicas at 70% CPU',
        to: 'ScaledObject celery-worker: 1–5 replicas at queue length 5 per replica (celery, rag_delete)'
      }
    ])
  })

  test('the queue lengths from KEDA\u2019s HPA metrics, per queue', () => {
    const status = {
      currentReplicas: 2,
      currentMetrics: [
        {
          type: 'External',
          external: { metric: { name: 's0-redis-celery' }, current: { averageValue: '1500m' } }
        },
        {
          type: 'External',
          external: { metric: { name: 's1-redis-rag_delete' }, current: { averageValue: '0' } }
        }
      ]
    }
    assert.equal(queueLengths(status, ['celery', 'rag_delete'], 2), 'celery 3, rag_delete 0 tasks queued')
    assert.equal(queueLengths({}, ['celery'], 1), undefined)
  })

  test('a cluster without KEDA is named, with the CRDs it lacks', () => {
    const kinds = [
      { kind: 'ScaledObject', group: 'keda.sh' },
      { kind: 'TriggerAuthentication', group: 'keda.sh' }
    ]
    assert.deepEqual(kedaProblems(kinds, []), [
      "autoscaling is keda, but the cluster serves no ScaledObject or TriggerAuthentication (KEDA's CRDs scaledobjects.keda.sh and triggerauthentications.keda.sh are not installed)"
    ])
    const served = kinds.map(k => ({ ...k, resource: `${k.kind.toLowerCase()}s`, namespaced: true }))
    assert.deepEqual(kedaProblems(kinds, served), [])
  })
})

describe('scaled to zero: the smoke checks and the summary say so', () => {
  const pod = (name: string): Pod =>
    ({
      metadata: { name, namespace: 'noesis2' },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }
    }) as unknown as Pod

  test('the worker\u2019s own checks are skipped, database and Redis run in the beat pod', async () => {
    const execs: string[] = []
    const kubectl = {
      async run(args: string[]) {
        execs.push(args[args.indexOf('exec') + 3])
        return { stdout: JSON.stringify({ ok: true, detail: 'fine' }), stderr: '', exitCode: 0, attempts: 1 }
      }
    } as unknown as Kubectl
    const results = await runSmokeChecks(kubectl, {
      namespace: 'noesis2',
      celeryApp: 'noesis2',
      choices: ['worker', 'beat', 'database', 'redis'],
      podsByTarget: { worker: [], beat: [pod('celery-beat-1')] },
      workerScaledToZero: true
    })
    const worker = results.find(r => r.name === 'worker-process')!
    assert.equal(worker.skipped, true)
    assert.equal(worker.ok, true, 'a skip is no failure')
    assert.match(worker.detail, /scaled to zero/)
    for (const name of ['database', 'redis', 'beat-process'] as const) {
      const result = results.find(r => r.name === name)!
      assert.equal(result.pod, 'celery-beat-1', name)
      assert.equal(result.skipped, undefined, name)
    }
    // The three share the beat pod's one exec.
    assert.deepEqual(execs, ['celery-beat-1'])
  })

  test('the summary: the autoscaler, its bounds and target, and what zero replicas means', () => {
    const outcome = {
      status: 'deployed',
      headline: 'Deployed x',
      roles: {},
      applied: [],
      retired: [
        {
          kind: 'HorizontalPodAutoscaler',
          name: 'celery-worker-hpa',
          reason: 'autoscaling is keda',
          done: true,
          message: 'deleted (autoscaling is keda)'
        }
      ],
      autoscaler: {
        kind: 'ScaledObject',
        name: 'celery-worker',
        minReplicas: 0,
        maxReplicas: 5,
        target: '5 tasks per replica on celery, rag_delete',
        replicas: 0,
        current: 'celery 0, rag_delete 0 tasks queued',
        conditions: ['Ready True (ScaledObjectReady)']
      },
      restarted: [],
      rollouts: [],
      rollbackRollouts: [],
      smoke: [],
      beatProblems: [],
      rollback: [],
      notes: [],
      warnings: [],
      failures: [],
      outages: [],
      left: [],
      revisionsBefore: {},
      revisionsAfter: {}
    } as unknown as DeployOutcome
    const summary = plain(
      renderDeploySummary(outcome, {
        image: IMAGE,
        namespace: 'noesis2',
        redact: (t: string) => t,
        findings: [],
        timeline: []
      })
    )
    assert.match(summary, /### Autoscaling/)
    assert.match(summary, /\| autoscaler \| KEDA ScaledObject celery-worker \|/)
    assert.match(summary, /\| replicas \| 0–5 \|/)
    assert.match(summary, /\| target \| 5 tasks per replica on celery, rag_delete \|/)
    assert.match(summary, /\| now \| celery 0, rag_delete 0 tasks queued \|/)
    assert.match(summary, /The worker is scaled to zero: no pod of this image was verified in this run/)
    assert.match(
      summary,
      /\| HorizontalPodAutoscaler \| celery-worker-hpa \| deleted \(autoscaling is keda\) \|/
    )
  })
})

describe('whether the cluster serves KEDA, from the run\u2019s discovery cache', () => {
  test('client-go\u2019s disk cache layout is read; no cache means ask the server', async () => {
    const cache = await mkdtemp(path.join(os.tmpdir(), 'kube-cache-'))
    try {
      const kubectl = new Kubectl({ kubeconfig: path.join(cache, 'none'), env: { KUBECACHEDIR: cache } })
      assert.equal(await kubectl.discoveredGroups(), undefined, 'nothing discovered yet')
      await mkdir(path.join(cache, 'discovery', '127.0.0.1_6443'), { recursive: true })
      await writeFile(
        path.join(cache, 'discovery', '127.0.0.1_6443', 'servergroups.json'),
        JSON.stringify({ kind: 'APIGroupList', groups: [{ name: 'apps' }, { name: 'keda.sh' }] })
      )
      assert.deepEqual([...(await kubectl.discoveredGroups())!].sort(), ['apps', 'keda.sh'])
    } finally {
      await rm(cache, { recursive: true, force: true })
    }
  })
})

describe('access checks from one rules review', () => {
  const review = (rules: Array<Record<string, string[]>>) => ({
    status: { resourceRules: rules, incomplete: false }
  })
  const cases: Array<{ rule: Record<string, string[]>; permission: Permission; granted: boolean }> = [
    {
      rule: { verbs: ['get', 'patch'], apiGroups: ['apps'], resources: ['deployments'] },
      permission: { verb: 'patch', resource: 'deployments.apps', namespace: 'n' },
      granted: true
    },
    {
      rule: { verbs: ['get'], apiGroups: ['apps'], resources: ['deployments'] },
      permission: { verb: 'patch', resource: 'deployments.apps', namespace: 'n' },
      granted: false
    },
    {
      rule: { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      permission: { verb: 'create', resource: 'pods/exec', namespace: 'n' },
      granted: true
    },
    {
      rule: { verbs: ['update'], apiGroups: ['apps'], resources: ['*/scale'] },
      permission: { verb: 'update', resource: 'deployments.apps/scale', namespace: 'n' },
      granted: true
    },
    {
      rule: { verbs: ['create'], apiGroups: [''], resources: ['pods'] },
      permission: { verb: 'create', resource: 'pods/exec', namespace: 'n' },
      granted: false
    },
    {
      rule: {
        verbs: ['patch'],
        apiGroups: ['keda.sh'],
        resources: ['scaledobjects'],
        resourceNames: ['one']
      },
      permission: { verb: 'patch', resource: 'scaledobjects.keda.sh', namespace: 'n' },
      granted: false
    }
  ]
  for (const c of cases) {
    test(`${c.permission.verb} ${c.permission.resource} with ${JSON.stringify(c.rule)}: ${c.granted}`, () => {
      assert.equal(rulesGrant(review([c.rule]), c.permission), c.granted)
    })
  }
})
