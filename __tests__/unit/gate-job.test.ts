// The pre-deploy gate's Job as rendered from the worker Deployment (render/gate-job.ts), from the built-in
// templates and from users' own, and its name from the deploy lock's identity: one table each.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parse, stringify } from 'yaml'
import { parseInputs, type RawInputs } from '../../src/inputs.js'
import { loadTemplates } from '../../src/render/load-templates.js'
import { renderManifests } from '../../src/render/render-manifests.js'
import { findUnapplicableCharacters } from '../../src/render/checks.js'
import { gateJobName, GATE_TTL_SECONDS, renderGateJobFor } from '../../src/render/gate-job.js'
import { lockIdentity } from '../../src/deploy/deploy-lock.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import { REPO_ROOT } from '../support/run-action.js'

const BUILT_IN = path.join(REPO_ROOT, 'manifests')
const TRACE = {
  commitSha: '0123456789abcdef0123456789abcdef01234567',
  runUrl: 'https://github.com/noesis2/noesis2/actions/runs/1',
  actor: 'octocat'
}
const IMAGE = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:3f2a9c1'
const BASE: RawInputs = {
  image: IMAGE,
  cloud_sql_instance: 'noesis2-prod:europe-west3:main',
  gcp_service_account: 'noesis2-workers@noesis2-prod.iam.gserviceaccount.com',
  secret_data: 'SECRET_KEY=django-secret-value\nREDIS_URL=redis://:redis-pass@10.0.0.5:6379/0',
  db_user: 'noesis2',
  db_password: 'p@ss:w/rd%',
  db_name: 'noesis2',
  env: 'FEATURE_X=on',
  pre_deploy_command: 'python manage.py migrate --check && python manage.py check --deploy',
  pre_deploy_timeout: '90s'
}
const IDENTITY = 'noesis2/noesis2/runs/8812345678/attempts/2/deploy#3fa9c1d2e4b5'

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

async function gateJob(raw: RawInputs, directory = BUILT_IN): Promise<Loose> {
  const config = parseInputs(raw, { eventName: 'push' })
  const rendered = renderManifests(await loadTemplates(directory), config, TRACE)
  return renderGateJobFor(rendered, config, IDENTITY)
}

// The built-in templates with the worker's template changed by `edit`, in a directory of their own.
async function withWorker(
  edit: (worker: Loose) => void,
  run: (directory: string) => Promise<void>
): Promise<void> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'gate-job-templates-'))
  try {
    await cp(BUILT_IN, directory, { recursive: true })
    const file = path.join(directory, '30-worker-deployment.yaml')
    const worker = parse(await readFile(file, 'utf8')) as Loose
    edit(worker)
    await writeFile(file, stringify(worker))
    await run(directory)
  } finally {
    await rm(directory, { recursive: true, force: true })
  }
}

describe('the gate\u2019s Job, from the built-in worker', () => {
  const cases: Array<{ name: string; check: (job: Loose) => void }> = [
    {
      name: 'a batch/v1 Job in the namespace, named for the run',
      check: job => {
        assert.equal(job.apiVersion, 'batch/v1')
        assert.equal(job.kind, 'Job')
        assert.equal(job.metadata.name, 'pre-deploy-8812345678-2-3fa9c1')
        assert.equal(job.metadata.namespace, 'noesis2')
      }
    },
    {
      name: 'one attempt, the deadline from pre_deploy_timeout, kept a day',
      check: job => {
        assert.equal(job.spec.backoffLimit, 0)
        assert.equal(job.spec.activeDeadlineSeconds, 90)
        assert.equal(job.spec.ttlSecondsAfterFinished, GATE_TTL_SECONDS)
        assert.equal(job.spec.template.spec.restartPolicy, 'Never')
      }
    },
    {
      name: 'the command in the new image, under /bin/sh -c, nothing of Celery\u2019s',
      check: job => {
        const containers = job.spec.template.spec.containers
        assert.equal(containers.length, 1)
        assert.equal(containers[0].name, 'app')
        assert.equal(containers[0].image, IMAGE)
        assert.deepEqual(containers[0].command, [
          '/bin/sh',
          '-c',
          'python manage.py migrate --check && python manage.py check --deploy'
        ])
        for (const field of [
          'args',
          'readinessProbe',
          'livenessProbe',
          'startupProbe',
          'lifecycle',
          'ports'
        ]) {
          assert.equal(containers[0][field], undefined, field)
        }
      }
    },
    {
      name: 'the worker\u2019s environment, Secret references, resources and security context',
      check: job => {
        const app = job.spec.template.spec.containers[0]
        const env = Object.fromEntries(app.env.map((e: Loose) => [e.name, e]))
        assert.equal(env.DJANGO_SETTINGS_MODULE.value, 'noesis2.settings.production')
        assert.equal(env.FEATURE_X.value, 'on')
        assert.deepEqual(env.SECRET_KEY.valueFrom.secretKeyRef, { name: 'app-secrets', key: 'SECRET_KEY' })
        assert.ok(app.resources.limits.memory)
        assert.ok(app.securityContext)
      }
    },
    {
      name: 'the worker\u2019s service account and pod security context',
      check: job => {
        assert.equal(job.spec.template.spec.serviceAccountName, 'noesis2-worker-sa')
        assert.equal(job.spec.template.spec.securityContext.runAsNonRoot, true)
      }
    },
    {
      name: 'the Cloud SQL proxy as a native sidecar, with its startup probe (the command waits for it)',
      check: job => {
        const [proxy] = job.spec.template.spec.initContainers
        assert.equal(proxy.name, 'cloud-sql-proxy')
        assert.equal(proxy.restartPolicy, 'Always')
        assert.ok(proxy.args.includes('noesis2-prod:europe-west3:main'))
        assert.ok(proxy.startupProbe)
      }
    },
    {
      name: 'labels of its own: no Deployment, autoscaler or spread constraint of the worker selects its pod',
      check: job => {
        for (const labels of [job.metadata.labels, job.spec.template.metadata.labels]) {
          assert.equal(labels.app, undefined)
          assert.equal(labels['app.kubernetes.io/component'], 'pre-deploy')
          assert.equal(labels['app.kubernetes.io/name'], 'celery-worker-pre-deploy')
          assert.equal(labels['app.kubernetes.io/managed-by'], 'deploy-gke-workers')
          assert.equal(labels['app.kubernetes.io/version'], '3f2a9c1')
        }
      }
    },
    {
      name: 'the run\u2019s trace annotations, not the Deployment\u2019s change-cause',
      check: job => {
        assert.equal(job.metadata.annotations['deploy-gke-workers/image'], IMAGE)
        assert.equal(job.metadata.annotations['deploy-gke-workers/run-url'], TRACE.runUrl)
        assert.equal(job.metadata.annotations['kubernetes.io/change-cause'], undefined)
      }
    },
    {
      name: 'nothing kubectl\u2019s apply cannot carry',
      check: job => assert.deepEqual(findUnapplicableCharacters(job as KubeObject), [])
    }
  ]
  for (const c of cases) {
    test(c.name, async () => c.check(await gateJob(BASE)))
  }

  test('without cloud_sql_instance: no sidecar', async () => {
    const job = await gateJob({ ...BASE, cloud_sql_instance: '', db_host: '10.0.0.3' })
    assert.equal(job.spec.template.spec.initContainers, undefined)
  })

  test('without pre_deploy_command: no Job', async () => {
    assert.equal(await gateJob({ ...BASE, pre_deploy_command: '', pre_deploy_timeout: '' }), undefined)
  })
})

describe('the gate\u2019s Job, from users\u2019 own worker templates', () => {
  const cases: Array<{ name: string; edit: (worker: Loose) => void; check: (job: Loose) => void }> = [
    {
      name: 'a second container (a log shipper) is left out: the pod must end with the command',
      edit: worker =>
        worker.spec.template.spec.containers.push({ name: 'fluent-bit', image: 'fluent/fluent-bit:3' }),
      check: job =>
        assert.deepEqual(
          job.spec.template.spec.containers.map((c: Loose) => c.name),
          ['app']
        )
    },
    {
      name: 'topology spread (by the worker\u2019s labels) left out; node selection and tolerations kept',
      edit: worker => {
        const spec = worker.spec.template.spec
        spec.topologySpreadConstraints = [
          {
            maxSkew: 1,
            topologyKey: 'topology.kubernetes.io/zone',
            whenUnsatisfiable: 'DoNotSchedule',
            labelSelector: { matchLabels: { app: 'celery-worker' } }
          }
        ]
        spec.nodeSelector = { 'cloud.google.com/compute-class': 'Balanced' }
        spec.tolerations = [{ key: 'dedicated', operator: 'Equal', value: 'workers', effect: 'NoSchedule' }]
      },
      check: job => {
        const spec = job.spec.template.spec
        assert.equal(spec.topologySpreadConstraints, undefined)
        assert.deepEqual(spec.nodeSelector, { 'cloud.google.com/compute-class': 'Balanced' })
        assert.equal(spec.tolerations.length, 1)
      }
    },
    {
      name: 'the pod template\u2019s annotations kept, kubectl\u2019s restart stamp not',
      edit: worker => {
        worker.spec.template.metadata.annotations = {
          'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z',
          'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false'
        }
      },
      check: job =>
        assert.deepEqual(job.spec.template.metadata.annotations, {
          'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false'
        })
    },
    {
      name: 'a plain init container (runs before, then ends) is kept',
      edit: worker =>
        worker.spec.template.spec.initContainers.push({
          name: 'wait-for-redis',
          image: 'busybox:1',
          command: ['true']
        }),
      check: job =>
        assert.deepEqual(
          job.spec.template.spec.initContainers.map((c: Loose) => [c.name, c.restartPolicy]),
          [
            ['cloud-sql-proxy', 'Always'],
            ['wait-for-redis', undefined]
          ]
        )
    }
  ]
  for (const c of cases) {
    test(c.name, async () => {
      await withWorker(c.edit, async directory => c.check(await gateJob(BASE, directory)))
    })
  }
})

describe('the gate\u2019s Job name', () => {
  const cases: Array<{ identity: string; name: string | RegExp }> = [
    { identity: IDENTITY, name: 'pre-deploy-8812345678-2-3fa9c1' },
    {
      identity: 'noesis2/noesis2/runs/4242/attempts/1/deploy#0123456789ab',
      name: 'pre-deploy-4242-1-012345'
    },
    { identity: 'local-runner-1-1234#abcdef012345', name: 'pre-deploy-local-abcdef' },
    // Not one of lockIdentity's: a name of its own all the same, the same every time.
    { identity: 'someone-else', name: /^pre-deploy-local-[0-9a-f]{6}$/ },
    {
      identity: 'o/r/runs/99999999999999999999/attempts/999999/job-with-a-long-name#ffffffffffff',
      name: 'pre-deploy-99999999999999999999-999999-ffffff'
    }
  ]
  for (const c of cases) {
    test(c.identity, () => {
      const name = gateJobName(c.identity)
      if (typeof c.name === 'string') assert.equal(name, c.name)
      else assert.match(name, c.name)
      // A DNS label short enough for its pods' names (<job>-<5>) and a label value.
      assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/)
      assert.ok(name.length <= 52, name)
      assert.equal(gateJobName(c.identity), name, 'the same for every attempt of the call')
    })
  }

  test('two runs of the same attempt (matrix legs) get two names', () => {
    const run = 'noesis2/noesis2/runs/4242/attempts/1/deploy'
    assert.notEqual(gateJobName(lockIdentity(run)), gateJobName(lockIdentity(run)))
  })
})
