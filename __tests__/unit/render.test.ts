import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parse } from 'yaml'
import { parseInputs, type RawInputs } from '../../src/inputs.js'
import { loadTemplates, TemplateError } from '../../src/render/load-templates.js'
import {
  RenderError,
  renderManifests,
  versionLabel,
  type RenderedManifests
} from '../../src/render/render-manifests.js'
import { toYamlDocuments } from '../../src/k8s/serialize.js'
import { databaseUrl } from '../../src/render/secret-data.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import { REPO_ROOT } from '../support/run-action.js'

const BUILT_IN = path.join(REPO_ROOT, 'manifests')
const GOLDEN = path.join(REPO_ROOT, '__tests__', 'golden', 'default-render.yaml')
const TRACE = {
  commitSha: '0123456789abcdef0123456789abcdef01234567',
  runUrl: 'https://github.com/noesis2/noesis2/actions/runs/1',
  actor: 'octocat'
}
const EXAMPLE: RawInputs = {
  image: 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:3f2a9c1',
  cloud_sql_instance: 'noesis2-prod:europe-west3:main',
  gcp_service_account: 'noesis2-workers@noesis2-prod.iam.gserviceaccount.com',
  secret_data: 'SECRET_KEY=django-secret-value\nREDIS_URL=redis://:redis-pass@10.0.0.5:6379/0',
  db_user: 'noesis2',
  db_password: 'p@ss:w/rd%',
  db_name: 'noesis2',
  worker_queues: 'celery,rag_delete'
}

async function render(raw: RawInputs, directory = BUILT_IN): Promise<RenderedManifests> {
  return renderManifests(await loadTemplates(directory), parseInputs(raw, { eventName: 'push' }), TRACE)
}

function find(rendered: RenderedManifests, kind: string, name: string): KubeObject {
  const found = rendered.objects.find(o => o.object.kind === kind && o.object.metadata.name === name)
  assert.ok(
    found,
    `${kind}/${name} not rendered; have ${rendered.objects.map(o => `${o.object.kind}/${o.object.metadata.name}`).join(', ')}`
  )
  return found.object
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any

async function renderProblems(raw: RawInputs, directory = BUILT_IN): Promise<string[]> {
  try {
    await render(raw, directory)
  } catch (error) {
    if (error instanceof RenderError || error instanceof TemplateError) return error.problems
    throw error
  }
  return []
}

// A copy of the built-in templates with one file changed, for the checks on users' own templates.
async function withTemplates(
  change: (files: Map<string, string>) => void,
  run: (dir: string) => Promise<void>
): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dgw-templates-'))
  try {
    await cp(BUILT_IN, dir, { recursive: true })
    const files = new Map<string, string>()
    for (const name of [
      '00-namespace.yaml',
      '10-serviceaccount.yaml',
      '20-secret.example.yaml',
      '30-worker-deployment.yaml',
      '40-beat-deployment.yaml',
      '50-worker-hpa.yaml'
    ]) {
      files.set(name, await readFile(path.join(dir, name), 'utf8'))
    }
    change(files)
    for (const [name, text] of files) await writeFile(path.join(dir, name), text)
    await run(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

describe('renderManifests: the default render', () => {
  test('matches the golden file (UPDATE_GOLDEN=1 rewrites it)', async () => {
    const text = toYamlDocuments(
      (await render(EXAMPLE)).objects.map(o => o.object),
      { redact: true }
    )
    if (process.env.UPDATE_GOLDEN === '1') await writeFile(GOLDEN, text)
    assert.equal(text, await readFile(GOLDEN, 'utf8'))
  })

  test('objects come in apply order', async () => {
    const kinds = (await render(EXAMPLE)).objects.map(o => `${o.object.kind}/${o.object.metadata.name}`)
    assert.deepEqual(kinds, [
      'Namespace/noesis2',
      'ServiceAccount/noesis2-worker-sa',
      'Secret/app-secrets',
      'Deployment/celery-worker',
      'Deployment/celery-beat',
      'HorizontalPodAutoscaler/celery-worker-hpa'
    ])
  })

  test('the Secret holds the inputs and an encoded DATABASE_URL through the proxy', async () => {
    const secret: Loose = find(await render(EXAMPLE), 'Secret', 'app-secrets')
    const decoded = Object.fromEntries(
      Object.entries(secret.data as Record<string, string>).map(([k, v]) => [
        k,
        Buffer.from(v, 'base64').toString()
      ])
    )
    assert.deepEqual(decoded, {
      DATABASE_URL: 'postgresql://noesis2:p%40ss%3Aw%2Frd%25@127.0.0.1:5432/noesis2',
      DB_NAME: 'noesis2',
      DB_PASSWORD: 'p@ss:w/rd%',
      DB_USER: 'noesis2',
      REDIS_URL: 'redis://:redis-pass@10.0.0.5:6379/0',
      SECRET_KEY: 'django-secret-value'
    })
    assert.equal(secret.stringData, undefined, 'data, so that server-side apply prunes removed keys')
    const url = new URL(decoded.DATABASE_URL)
    assert.equal(decodeURIComponent(url.password), 'p@ss:w/rd%', 'the password survives a URL parser')
  })

  test('the worker runs the inputs, behind a native proxy sidecar', async () => {
    const worker: Loose = find(
      await render({ ...EXAMPLE, worker_concurrency: '4', env: 'FEATURE_X=on' }),
      'Deployment',
      'celery-worker'
    )
    const pod = worker.spec.template.spec
    const app = pod.containers.find((c: Loose) => c.name === 'app')
    assert.equal(app.image, EXAMPLE.image)
    assert.deepEqual(app.args, [
      '-A',
      'noesis2',
      'worker',
      '-l',
      'info',
      '-Q',
      'celery,rag_delete',
      '--concurrency=4'
    ])
    assert.equal(pod.serviceAccountName, 'noesis2-worker-sa')
    assert.deepEqual(
      app.env.find((e: Loose) => e.name === 'FEATURE_X'),
      { name: 'FEATURE_X', value: 'on' }
    )
    assert.equal(
      app.env.find((e: Loose) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef.name,
      'app-secrets'
    )
    const proxy = pod.initContainers.find((c: Loose) => c.name === 'cloud-sql-proxy')
    assert.equal(proxy.restartPolicy, 'Always')
    assert.equal(proxy.image, 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0')
    for (const flag of [
      '--private-ip',
      '--structured-logs',
      '--exit-zero-on-sigterm',
      '--health-check',
      '--http-address=0.0.0.0'
    ]) {
      assert.ok(proxy.args.includes(flag), flag)
    }
    assert.equal(proxy.args.at(-1), 'noesis2-prod:europe-west3:main')
    assert.equal(proxy.startupProbe.httpGet.path, '/startup')
    assert.equal(proxy.securityContext.runAsUser, 65532)
    assert.equal(pod.securityContext.runAsNonRoot, true)
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault')
    assert.deepEqual(app.securityContext.capabilities.drop, ['ALL'])
    assert.equal(app.securityContext.allowPrivilegeEscalation, false)
    assert.equal(pod.terminationGracePeriodSeconds, 90)
    assert.equal(worker.spec.replicas, undefined, 'the HPA owns the worker replica count')
    assert.deepEqual(worker.spec.selector, { matchLabels: { app: 'celery-worker' } })
    assert.equal(worker.metadata.annotations['deploy-gke-workers/commit-sha'], TRACE.commitSha)
    assert.equal(worker.metadata.annotations['deploy-gke-workers/run-url'], TRACE.runUrl)
    assert.equal(worker.metadata.annotations['deploy-gke-workers/actor'], 'octocat')
    assert.equal(worker.spec.template.metadata.annotations, undefined, 'trace annotations must not roll pods')
    assert.equal(worker.spec.template.metadata.labels['app.kubernetes.io/version'], '3f2a9c1')
  })

  test('beat: one replica, Recreate, no autoscaler', async () => {
    const rendered = await render(EXAMPLE)
    const beat: Loose = find(rendered, 'Deployment', 'celery-beat')
    assert.equal(beat.spec.replicas, 1)
    assert.deepEqual(beat.spec.strategy, { type: 'Recreate' })
    assert.deepEqual(beat.spec.template.spec.containers[0].args.slice(0, 3), ['-A', 'noesis2', 'beat'])
    const hpa: Loose = find(rendered, 'HorizontalPodAutoscaler', 'celery-worker-hpa')
    assert.equal(hpa.spec.scaleTargetRef.name, 'celery-worker')
  })

  test('HPA takes min, max and CPU target', async () => {
    const hpa: Loose = find(
      await render({
        ...EXAMPLE,
        worker_min_replicas: '2',
        worker_max_replicas: '9',
        worker_cpu_target: '55'
      }),
      'HorizontalPodAutoscaler',
      'celery-worker-hpa'
    )
    assert.equal(hpa.spec.minReplicas, 2)
    assert.equal(hpa.spec.maxReplicas, 9)
    assert.equal(hpa.spec.metrics[0].resource.target.averageUtilization, 55)
  })

  test('the ServiceAccount carries the Workload Identity annotation, and none without a GSA', async () => {
    const sa: Loose = find(await render(EXAMPLE), 'ServiceAccount', 'noesis2-worker-sa')
    assert.equal(sa.metadata.annotations['iam.gke.io/gcp-service-account'], EXAMPLE.gcp_service_account)
    const bare: Loose = find(
      await render({ ...EXAMPLE, gcp_service_account: '' }),
      'ServiceAccount',
      'noesis2-worker-sa'
    )
    assert.equal(bare.metadata.annotations, undefined)
  })
})

describe('renderManifests: variants', () => {
  test('without cloud_sql_instance there is no proxy container, and DATABASE_URL uses db_host', async () => {
    const rendered = await render({ ...EXAMPLE, cloud_sql_instance: '', db_host: '10.20.0.3' })
    for (const name of ['celery-worker', 'celery-beat']) {
      const deployment: Loose = find(rendered, 'Deployment', name)
      assert.equal(deployment.spec.template.spec.initContainers, undefined)
      assert.ok(!JSON.stringify(deployment).includes('cloud-sql-proxy'))
    }
    const secret: Loose = find(rendered, 'Secret', 'app-secrets')
    assert.match(Buffer.from(secret.data.DATABASE_URL, 'base64').toString(), /@10\.20\.0\.3:5432\/noesis2$/)
  })

  test('beat false renders no beat', async () => {
    const rendered = await render({ ...EXAMPLE, beat: 'false' })
    assert.ok(!rendered.objects.some(o => o.object.metadata.name === 'celery-beat'))
  })

  test('no secret_data and no db_*: no Secret, and every referenced key goes to the live pre-flight', async () => {
    const rendered = await render({ image: EXAMPLE.image, cloud_sql_instance: EXAMPLE.cloud_sql_instance })
    assert.ok(!rendered.objects.some(o => o.object.kind === 'Secret'))
    const keys = [...new Set(rendered.liveSecretKeys.map(k => `${k.secret}/${k.key}`))].sort()
    assert.deepEqual(keys, ['app-secrets/DATABASE_URL', 'app-secrets/REDIS_URL', 'app-secrets/SECRET_KEY'])
    assert.ok(rendered.notes.some(n => n.includes('Secret app-secrets must already exist')))
  })

  test('extra secret_data keys reach the pods as secretKeyRefs', async () => {
    const worker: Loose = find(
      await render({
        ...EXAMPLE,
        secret_data: `${EXAMPLE.secret_data}\nSENTRY_DSN=https://k@sentry.example/1`
      }),
      'Deployment',
      'celery-worker'
    )
    const env = worker.spec.template.spec.containers[0].env
    assert.deepEqual(env.find((e: Loose) => e.name === 'SENTRY_DSN').valueFrom.secretKeyRef, {
      name: 'app-secrets',
      key: 'SENTRY_DSN'
    })
  })

  test('a Secret key the Deployments need but secret_data lacks is reported by name', async () => {
    const problems = await renderProblems({ ...EXAMPLE, secret_data: 'SECRET_KEY=x' })
    assert.equal(problems.length, 2, problems.join('\n'))
    assert.match(
      problems[0],
      /Deployment\/celery-worker container app needs key REDIS_URL of Secret app-secrets/
    )
    assert.match(problems[1], /Deployment\/celery-beat container app needs key REDIS_URL/)
  })

  test('a custom namespace, service account and secret name land everywhere', async () => {
    const rendered = await render({
      ...EXAMPLE,
      namespace: 'staging',
      service_account: 'wk',
      secret_name: 'wk-secrets'
    })
    for (const item of rendered.objects) {
      if (item.object.kind !== 'Namespace') assert.equal(item.object.metadata.namespace, 'staging')
    }
    const text = toYamlDocuments(rendered.objects.map(o => o.object))
    assert.ok(!text.includes('app-secrets'))
    assert.ok(!text.includes('noesis2-worker-sa'))
  })

  test('rendered YAML is redacted; values survive only in memory', async () => {
    const rendered = await render(EXAMPLE)
    const text = toYamlDocuments(
      rendered.objects.map(o => o.object),
      { redact: true }
    )
    for (const secret of ['django-secret-value', 'redis-pass', 'p@ss:w/rd%', 'p%40ss'])
      assert.ok(!text.includes(secret), secret)
    assert.equal(rendered.secretData?.get('SECRET_KEY'), 'django-secret-value')
    const documents = text
      .split(/^---$/m)
      .filter(d => d.trim())
      .map(d => parse(d))
    assert.equal(documents.length, 6)
  })

  test('a value with YAML syntax stays a value', async () => {
    const rendered = await render({ ...EXAMPLE, env: 'NOTE=a: b\nLIST=[1, 2]\nHASH=# not a comment' })
    const text = toYamlDocuments(rendered.objects.map(o => o.object))
    const worker: Loose = text
      .split(/^---$/m)
      .map(d => parse(d))
      .find((d: Loose) => d?.metadata?.name === 'celery-worker')
    const env = worker.spec.template.spec.containers[0].env
    assert.equal(env.find((e: Loose) => e.name === 'NOTE').value, 'a: b')
    assert.equal(env.find((e: Loose) => e.name === 'LIST').value, '[1, 2]')
    assert.equal(env.find((e: Loose) => e.name === 'HASH').value, '# not a comment')
  })

  test('versionLabel makes a valid label from a tag or a digest', () => {
    assert.equal(versionLabel('gcr.io/p/a:v1.2.3'), 'v1.2.3')
    assert.equal(versionLabel(`gcr.io/p/a@sha256:${'ab'.repeat(32)}`), 'sha256-abababababab')
    assert.equal(versionLabel(`gcr.io/p/a:_x_`), 'x')
  })

  test('databaseUrl encodes user, password and name', () => {
    assert.equal(
      databaseUrl({ user: 'a b', password: '#?/@:', name: 'db', host: '127.0.0.1', port: 5432 }),
      'postgresql://a%20b:%23%3F%2F%40%3A@127.0.0.1:5432/db'
    )
  })
})

describe('renderManifests: users\u2019 own templates get the same checks', () => {
  test('a leftover placeholder names the file and the field', async () => {
    await withTemplates(
      files =>
        files.set(
          '30-worker-deployment.yaml',
          files
            .get('30-worker-deployment.yaml')!
            .replace('value: noesis2.settings.production', 'value: ${SETTINGS_MODULE}')
        ),
      async dir => {
        const problems = await renderProblems(EXAMPLE, dir)
        assert.equal(problems.length, 1, problems.join('\n'))
        assert.match(
          problems[0],
          /^30-worker-deployment\.yaml: Deployment\/celery-worker field spec\.template\.spec\.containers\[0\]\.env\[0\]\.value still holds the placeholder \$\{SETTINGS_MODULE\}$/
        )
      }
    )
  })

  test('the old CI job\u2019s placeholders are caught too', async () => {
    await withTemplates(
      files =>
        files.set(
          '99-extra.yaml',
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: ${NAMESPACE}\ndata:\n  instance: PROJECT:REGION:INSTANCE\n'
        ),
      async dir => {
        const problems = await renderProblems(EXAMPLE, dir)
        assert.deepEqual(problems, [
          '99-extra.yaml: ConfigMap/extra field data.instance still holds the placeholder PROJECT:REGION:INSTANCE'
        ])
      }
    )
  })

  test('a plain proxy sidecar container is refused', async () => {
    await withTemplates(
      files => {
        const worker = parse(files.get('30-worker-deployment.yaml')!)
        const pod = worker.spec.template.spec
        const proxy = pod.initContainers.pop()
        delete proxy.restartPolicy
        pod.containers.push(proxy)
        delete pod.initContainers
        files.set('30-worker-deployment.yaml', JSON.stringify(worker))
      },
      async dir => {
        const problems = await renderProblems(EXAMPLE, dir)
        assert.ok(
          problems.some(p => /must be a native sidecar/.test(p)),
          problems.join('\n')
        )
      }
    )
  })

  test('beat guard: two replicas, a rolling update or an HPA on beat are refused', async () => {
    await withTemplates(
      files => {
        files.set(
          '40-beat-deployment.yaml',
          files
            .get('40-beat-deployment.yaml')!
            .replace('replicas: 1', 'replicas: 2')
            .replace('type: Recreate', 'type: RollingUpdate')
        )
        files.set(
          '60-beat-hpa.yaml',
          files
            .get('50-worker-hpa.yaml')!
            .replace(/celery-worker-hpa/, 'beat-hpa')
            .replace('name: celery-worker\n  minReplicas', 'name: celery-beat\n  minReplicas')
        )
      },
      async dir => {
        const problems = await renderProblems(EXAMPLE, dir)
        assert.ok(
          problems.some(p => /beat must run exactly one replica \(spec\.replicas is 2\)/.test(p)),
          problems.join('\n')
        )
        assert.ok(
          problems.some(p => /beat must use strategy Recreate, not RollingUpdate/.test(p)),
          problems.join('\n')
        )
        assert.ok(
          problems.some(p => /more than one worker-hpa template|targets the beat Deployment/.test(p)),
          problems.join('\n')
        )
      }
    )
  })

  test('cluster-scoped objects and broken YAML are refused with the file name', async () => {
    await withTemplates(
      files => {
        files.set(
          '70-role.yaml',
          'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: admin-ish\n'
        )
      },
      async dir => {
        const problems = await renderProblems(EXAMPLE, dir)
        assert.deepEqual(problems, [
          '70-role.yaml: ClusterRole/admin-ish: cluster-scoped ClusterRole objects are not deployed by this action'
        ])
      }
    )
    await withTemplates(
      files => files.set('80-broken.yaml', 'apiVersion: v1\nkind: [unclosed\n'),
      async dir => {
        const problems = await renderProblems(EXAMPLE, dir)
        assert.equal(problems.length >= 1, true)
        assert.match(problems[0], /^80-broken\.yaml:\d+: /)
      }
    )
  })

  test('a template pinned to another namespace is refused', async () => {
    await withTemplates(
      files =>
        files.set(
          '50-worker-hpa.yaml',
          files.get('50-worker-hpa.yaml')!.replace('namespace: ${NAMESPACE}', 'namespace: default')
        ),
      async dir => {
        const problems = await renderProblems(EXAMPLE, dir)
        assert.match(
          problems.join('\n'),
          /metadata\.namespace is "default", but this deploy targets namespace "noesis2"/
        )
      }
    )
  })

  test('a missing manifests directory is reported with its path', async () => {
    const problems = await renderProblems(EXAMPLE, '/nonexistent/manifests')
    assert.match(problems[0], /^manifests: cannot read directory "\/nonexistent\/manifests"/)
  })
})
