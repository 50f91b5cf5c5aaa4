// What a person sees first when a deploy fails, one failure class at a time, as the committed dist/ reports it
// against the real control plane: the deployment controller, the scheduler, the garbage collector and `rollout
// undo` are the real ones, the pods fail the way kwok's stages make them (../rig/control-plane/kubelet-stages.ts),
// chosen by a marker in the image (../rig/scenario-images.ts), and the checks run in the pods for real. The
// headline right under the heading names the cause (with the evidence) and a remedy, each message is said once
// however many Deployments and pods share it, the pods' logs and workloads are linked, the run page's error
// annotations carry a title, the Mermaid timeline parses, and what was undone is back in the cluster.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import YAML from 'yaml'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { clusterState } from '../support/cluster-state.js'
import { lockLease } from '../support/lease.js'
import { ganttOf, headline, occurrences, plain, type HeadlineEntry } from '../support/report.js'
import { RESTRICTED_SA, type ControlPlaneRig } from '../support/rig.js'
import { REPO_ROOT, type ActionRun, type ActionWorkspace } from '../support/run-action.js'
import { templatesWith } from '../support/templates.js'

let e2e: E2E
let rig: ControlPlaneRig
let state: ReturnType<typeof clusterState>
const workspaces: ActionWorkspace[] = []
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
  state = clusterState(rig)
})
after(async () => {
  await Promise.all(workspaces.map(w => w.remove()))
  await e2e?.stop()
})

// The README's Cloud SQL proxy sidecar, which the rig's pods run as kwok runs any container: its 127.0.0.1:5432
// has nothing behind it, so the database check fails there, as with a proxy that cannot reach its instance.
const WITH_PROXY = { cloud_sql_instance: EXAMPLE_INPUTS.cloud_sql_instance, db_host: '' }
const PROXY_IMAGE = 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0'

// A good first release, so a failing second one has something to roll back to.
async function released(namespace: string, inputs: Record<string, string> = {}): Promise<void> {
  const first = await e2e.run(namespace, { image: `${REGISTRY}:good`, ...inputs })
  assert.equal(first.outputs.status, 'deployed', first.stdout)
}

/** The checks every failed run's report passes, whatever the class; returns its headline. */
async function assertReport(
  run: ActionRun,
  expected: { subjects: string; count?: number; timeline?: boolean }
): Promise<HeadlineEntry[]> {
  assert.equal(run.exitCode, 1, run.stdout)
  const entries = headline(run.summary)
  assert.equal(entries.length, expected.count ?? 1, JSON.stringify(entries, null, 2))
  assert.equal(entries[0].subjects, expected.subjects)
  // Each cause and each remedy once in the summary.
  for (const entry of entries) {
    assert.equal(occurrences(plain(run.summary), entry.cause), 1, `said once: ${entry.cause}`)
    assert.equal(occurrences(plain(run.summary), entry.fix), 1, `said once: ${entry.fix}`)
  }
  // One titled error annotation per finding, and no untitled one.
  const annotations = run.stdout.split('\n').filter(l => l.startsWith('::error'))
  assert.equal(annotations.length, entries.length, annotations.join('\n'))
  for (const line of annotations) assert.match(line, /^::error title=[^:]+::/)
  if (expected.timeline === false) {
    assert.doesNotMatch(run.summary, /```mermaid/, 'nothing was timed')
    return entries
  }
  const tasks = await ganttOf(run.summary)
  assert.ok(tasks.length >= 2, 'a timeline with the steps')
  for (const task of tasks)
    assert.ok(task.endMs > task.startMs && task.startMs > 1.7e12, JSON.stringify(task))
  return entries
}

function podRows(summary: string): string[] {
  return summary.split('\n').filter(l => /^\| celery-(worker|beat)-[a-z0-9]+-[a-z0-9]+ \|/.test(l))
}

// The deployer's role of docs/rbac.yaml without some verbs, bound to the restricted identity.
async function grantDeployerRoleWithout(missing: Array<{ resource: string; verb: string }>): Promise<void> {
  const documents = YAML.parseAllDocuments(await readFile(path.join(REPO_ROOT, 'docs', 'rbac.yaml'), 'utf8'))
  const role = documents
    .map(
      d => d.toJS() as { metadata: { name: string }; rules: Array<{ resources: string[]; verbs: string[] }> }
    )
    .find(d => d?.metadata?.name === 'deploy-gke-workers-deployer')!
  const rules = role.rules.map(rule => ({
    ...rule,
    verbs: rule.verbs.filter(
      verb => !missing.some(m => m.verb === verb && rule.resources.includes(m.resource))
    )
  }))
  await rig.applyObjects([
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'restricted-deployer' },
      rules: rules.filter(rule => rule.verbs.length > 0)
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'restricted-deployer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'restricted-deployer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: RESTRICTED_SA }]
    }
  ])
}

// Each test has a namespace and images of its own: they run side by side.
describe('failure reports: the cause and a remedy first, said once', { concurrency: 3 }, () => {
  test('an image that does not exist: one finding for worker and beat, fast; the Deployments and the Secret go back', async () => {
    const ns = 'report-image'
    const good = `SECRET_KEY=django-insecure-example-key\nREDIS_URL=${rig.services.redis.url()}`
    await released(ns, { secret_data: good })
    const image = `${REGISTRY}:broken-image-not-found`
    const started = Date.now()
    const run = await e2e.run(ns, {
      image,
      secret_data: good.replace('django-insecure-example-key', 'rotated-key'),
      rollout_timeout: '120s'
    })
    const seconds = (Date.now() - started) / 1000
    assert.ok(seconds < 40, `named after ${seconds}s, long before the 120s timeout`)
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    const [entry] = await assertReport(run, { subjects: 'celery-worker, celery-beat' })
    assert.match(
      entry.cause,
      new RegExp(
        `^image ${image.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} was not found \\((ErrImagePull|ImagePullBackOff)( / (ErrImagePull|ImagePullBackOff))?, pods celery-worker-[a-z0-9-]+, celery-beat-[a-z0-9-]+\\)$`
      )
    )
    assert.match(
      entry.fix,
      /gcloud artifacts docker images list europe-west3-docker\.pkg\.dev\/noesis2-prod\/app\/noesis2-web --include-tags/
    )
    // The links: each pod's container logs in Cloud Logging, each workload in the GKE console.
    assert.ok(entry.links, 'links under the finding')
    const urls = [...entry.links.matchAll(/\]\((https:[^)]+)\)/g)].map(m => m[1])
    assert.equal(urls.length, 4, entry.links)
    const logs = decodeURIComponent(urls[0])
    assert.match(
      logs,
      /^https:\/\/console\.cloud\.google\.com\/logs\/query;query=resource\.type="k8s_container"\n/
    )
    assert.match(
      logs,
      /resource\.labels\.namespace_name="report-image"\nresource\.labels\.pod_name="celery-worker-[a-z0-9-]+";timeRange=\d{4}-.+Z\/\d{4}-.+Z\?project=/
    )
    assert.match(
      urls[2],
      /^https:\/\/console\.cloud\.google\.com\/kubernetes\/deployment\/[^/]+\/[^/]+\/report-image\/celery-worker\/overview\?project=/
    )
    // The registry's message once per failing pod (in its row), not again in the events.
    const rows = podRows(run.summary)
    assert.equal(rows.length, 2, rows.join('\n'))
    assert.match(run.summary, /<details><summary>Failing pods \(2\)<\/summary>/)
    assert.equal(occurrences(run.summary, 'failed to resolve reference'), 2)
    assert.equal(occurrences(run.summary, 'Error: ErrImagePull'), 0)
    assert.equal(occurrences(run.summary, 'Back-off pulling image'), 0)
    // Events of this run only: the previous release's pods are not listed.
    const summary = plain(run.summary)
    const pods = [...summary.matchAll(/Pod\/(celery-(?:worker|beat)-[a-z0-9]+)-[a-z0-9]+/g)].map(m => m[1])
    assert.equal(
      new Set(pods).size,
      2,
      `events of one ReplicaSet per Deployment: ${[...new Set(pods)].join(', ')}`
    )
    // After the headline: what was undone, read back from the cluster.
    assert.match(
      summary,
      /Rolled back: celery-worker to revision 1, celery-beat to revision 1; the rollouts completed\./
    )
    assert.match(run.summary, /Secret app-secrets: its previous values were restored/)
    assert.match(
      run.stdout,
      /::error title=celery-worker%2C celery-beat%3A image not found::celery-worker, celery-beat: image /
    )
    const tasks = await ganttOf(run.summary)
    const critical = tasks.filter(t => t.critical).map(t => `${t.section}/${t.name}`)
    assert.deepEqual(critical, ['Rollouts/celery-worker', 'Rollouts/celery-beat'])
    assert.deepEqual(
      [...new Set(tasks.map(t => t.section))],
      ['Before any change', 'Deploy', 'Rollouts', 'After the failure', 'Rollback']
    )
    assert.equal(await state.image(ns, 'celery-worker'), `${REGISTRY}:good`)
    assert.equal(await state.image(ns, 'celery-beat'), `${REGISTRY}:good`)
    assert.equal(await state.secretValue(ns, 'SECRET_KEY'), 'django-insecure-example-key')
    // The real controller reuses the old ReplicaSet: the undo is the newest revision.
    assert.equal(run.outputs.worker_revision, '3')
  })

  test('an image the nodes may not pull: the registry\u2019s 403 and the reader role on the repository', async () => {
    const ns = 'report-denied'
    const run = await e2e.run(ns, { image: `${REGISTRY}:v2-image-denied` })
    const [entry] = await assertReport(run, { subjects: 'celery-worker, celery-beat' })
    assert.match(
      entry.cause,
      /^the nodes may not pull image \S+:v2-image-denied \((ErrImagePull|ImagePullBackOff): 403 Forbidden/
    )
    assert.match(
      entry.fix,
      /roles\/artifactregistry\.reader on repository app: gcloud artifacts repositories add-iam-policy-binding app --project=noesis2-prod --location=europe-west3 /
    )
  })

  test('a crash loop: the exit code, the restarts, the last log line and the command; rolled back', async () => {
    const ns = 'report-crash'
    await released(ns)
    const image = `${REGISTRY}:v2-import-error-crash-loop`
    // What the crashed instance logged, served by the rig's kubelet for this image's pods.
    rig.controlPlane.pods.set(
      { image },
      {
        logs: {
          app: {
            previous:
              'Traceback (most recent call last):\n  File "/app/manage.py", line 3\nModuleNotFoundError: No module named \'noesis2.celery\''
          }
        }
      }
    )
    const run = await e2e.run(ns, { image })
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    assert.match(run.stdout, /container app: CrashLoopBackOff/)
    assert.match(run.summary, /last exit code 1/)
    // Two findings: the same crash, but each Deployment runs its own command, which the remedy names.
    const [entry, beat] = await assertReport(run, { subjects: 'celery-worker', count: 2 })
    assert.equal(beat.subjects, 'celery-beat')
    assert.match(beat.fix, /the command run: celery -A noesis2 beat/)
    assert.match(
      entry.cause,
      /^container app exits with code 1, an error in the application \(CrashLoopBackOff, \d+ restarts?, pod celery-worker-[a-z0-9-]+\); last log line: ModuleNotFoundError: No module named 'noesis2\.celery'$/
    )
    assert.match(
      entry.fix,
      /^The app cannot be imported: celery_app \(noesis2\) must name a module in the image/
    )
    assert.match(entry.fix, /the command run: celery -A noesis2 worker /)
    assert.match(
      run.summary,
      /<details><summary>Log of pod celery-worker-[a-z0-9-]+ container app \(previous instance\)/
    )
    assert.equal(await state.image(ns, 'celery-worker'), `${REGISTRY}:good`)
  })

  test('a crash-looping Cloud SQL proxy sidecar: instance, role and private IP; a first deploy has nothing to roll back', async () => {
    const ns = 'report-proxy'
    const run = await e2e.run(ns, {
      ...WITH_PROXY,
      image: `${REGISTRY}:good`,
      cloud_sql_proxy_image: `${PROXY_IMAGE}-crash-loop`
    })
    assert.equal(run.outputs.status, 'failed', run.stdout)
    assert.match(run.stdout, /container cloud-sql-proxy(?: \(sidecar\))?: CrashLoopBackOff/)
    const [entry] = await assertReport(run, { subjects: 'celery-worker, celery-beat' })
    // The crashed instance's log, read through the apiserver from the node, and its last line in the headline.
    assert.match(
      entry.cause,
      /^the Cloud SQL Auth Proxy sidecar \(cloud-sql-proxy\) exits with code 1 \(CrashLoopBackOff.*; its last log line: .*instance does not have IP of type PRIVATE/
    )
    assert.match(
      entry.fix,
      /^Check cloud_sql_instance \(noesis2-prod:europe-west3:main; PROJECT:REGION:INSTANCE\), that noesis2-workers@noesis2-prod\.iam\.gserviceaccount\.com has roles\/cloudsql\.client and that Kubernetes service account report-proxy\/noesis2-worker-sa may act as it/
    )
    assert.match(
      run.summary,
      /first deploy of this Deployment: there is no previous revision to roll back to/
    )
  })

  test('a key missing from a ConfigMap the templates refer to: which key, which object', async () => {
    const ns = 'report-config'
    const worker = await readFile(path.join(REPO_ROOT, 'manifests', '30-worker-deployment.yaml'), 'utf8')
    const withFlag = worker.replace(
      /(\n {10}env:\n)/,
      '$1            - name: FEATURE_FLAGS\n              valueFrom:\n                configMapKeyRef: {name: feature-flags, key: flags}\n'
    )
    assert.notEqual(withFlag, worker, 'the template got the reference')
    const manifests = await templatesWith({ '30-worker-deployment.yaml': withFlag }, workspaces)
    const run = await e2e.run(ns, { image: `${REGISTRY}:v2-flags`, manifests })
    const [entry] = await assertReport(run, { subjects: 'celery-worker' })
    assert.match(
      entry.cause,
      /^container app cannot start: ConfigMap feature-flags does not exist in namespace report-config \(CreateContainerConfigError, pod celery-worker-/
    )
    assert.match(entry.fix, /^Create ConfigMap feature-flags in namespace report-config before deploying/)
  })

  test('a Secret key the pods need is missing (the action does not write the Secret): caught before any write', async () => {
    const ns = 'report-secret-key'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'app-secrets', namespace: ns },
        stringData: { SECRET_KEY: 'x', DATABASE_URL: 'y' }
      }
    ])
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:s1`,
      secret_data: '',
      db_user: '',
      db_password: '',
      db_name: '',
      db_host: ''
    })
    assert.match(run.stdout, /Pre-flight checks failed; nothing was changed/)
    const [entry] = await assertReport(run, { subjects: 'pre-flight' })
    assert.match(
      entry.cause,
      /^Secret app-secrets in namespace report-secret-key has no key REDIS_URL, which Deployment\/celery-worker container app and Deployment\/celery-beat container app need$/
    )
    assert.match(
      entry.fix,
      /^Add REDIS_URL to Secret app-secrets in namespace report-secret-key, or give secret_data/
    )
    assert.equal(e2e.writesTo(ns), 0, 'no write reached the namespace')
    assert.equal((await rig.kubectl('get', 'deployments', '-n', ns, '-o', 'name')).stdout.trim(), '')
  })

  test('unschedulable past the grace: the scheduler\u2019s words, the pod\u2019s requests, Autopilot\u2019s limits', async () => {
    const ns = 'report-unschedulable'
    const run = await e2e.run(ns, {
      ...WITH_PROXY,
      image: `${REGISTRY}:v2-unschedulable`,
      scheduling_grace: '2s'
    })
    assert.equal(run.outputs.status, 'failed', run.stdout)
    assert.match(run.stdout, /Unschedulable/)
    // Two findings: each pod requests its own resources, which the remedy adds up.
    const [entry, beat] = await assertReport(run, { subjects: 'celery-worker', count: 2 })
    assert.equal(beat.subjects, 'celery-beat')
    assert.match(
      entry.cause,
      /^no node can run the pod: 0\/\d+ nodes are available: .+ \(Unschedulable, pod celery-worker-/
    )
    assert.match(
      entry.fix,
      /^The pod requests 350m CPU and 640Mi memory in all \(its containers and sidecars\)/
    )
    assert.match(entry.fix, /autopilot-resource-requests/)
  })

  test('OOMKilled: the limit, worker_concurrency, where the peak is', async () => {
    const ns = 'report-oom'
    const run = await e2e.run(ns, { image: `${REGISTRY}:v2-oom-killed` })
    assert.match(run.stdout, /container app: OOMKilled/)
    const entries = await assertReport(run, { subjects: 'celery-worker', count: 2 })
    assert.match(
      entries[0].cause,
      /^container app ran out of memory at its limit of 1Gi \(OOMKilled, exit code 137/
    )
    assert.match(entries[0].fix, /or lower worker_concurrency/)
    assert.equal(entries[1].subjects, 'celery-beat')
    assert.doesNotMatch(entries[1].fix, /worker_concurrency/, 'beat has no worker_concurrency to lower')
  })

  test('a readiness probe that never passes, until rollout_timeout: the probe and how to run it; rolled back', async () => {
    const ns = 'report-probe'
    await released(ns)
    const run = await e2e.run(ns, { image: `${REGISTRY}:v2-never-ready`, rollout_timeout: '4s' })
    assert.equal(run.outputs.status, 'rolled-back', run.stdout)
    const [entry] = await assertReport(run, { subjects: 'celery-worker', count: 2 })
    assert.match(
      entry.cause,
      /^container app never passes its readiness probe and rollout_timeout \(4s\) ran out \(Unhealthy ×\d+, pod celery-worker-/
    )
    assert.match(
      entry.fix,
      /^Run the probe by hand \(kubectl exec -n report-probe celery-worker-[a-z0-9-]+ -c app -- pgrep -f celery\.\*worker\)/
    )
    assert.equal(await state.image(ns, 'celery-worker'), `${REGISTRY}:good`)
  })

  test('slow pods and a short progress deadline: ProgressDeadlineExceeded, without a pod to blame', async () => {
    const ns = 'report-deadline'
    const worker = await readFile(path.join(REPO_ROOT, 'manifests', '30-worker-deployment.yaml'), 'utf8')
    const manifests = await templatesWith(
      {
        '30-worker-deployment.yaml': worker.replace(
          'progressDeadlineSeconds: 600',
          'progressDeadlineSeconds: 2'
        )
      },
      workspaces
    )
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:v2-slow-start`,
      manifests,
      beat: 'false',
      rollout_timeout: '60s'
    })
    const [entry] = await assertReport(run, { subjects: 'celery-worker' })
    assert.match(
      entry.cause,
      /^made no progress within the Deployment's progress deadline: 0 of 1 new pods ready \(ProgressDeadlineExceeded, pod celery-worker-/
    )
    assert.match(entry.fix, /^No pod showed an error/)
  })

  test('slow pods and a short rollout_timeout: the timeout, and what to raise', async () => {
    const ns = 'report-timeout'
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:v2-slower-slow-start`,
      beat: 'false',
      rollout_timeout: '3s'
    })
    const [entry] = await assertReport(run, { subjects: 'celery-worker' })
    assert.match(
      entry.cause,
      /^not rolled out within rollout_timeout \(3s\): 0 of 1 new pods ready \(pod celery-worker-/
    )
    assert.match(entry.fix, /raise rollout_timeout/)
  })

  test('RBAC refused: the verbs and resources, bound to whom; nothing written', async () => {
    const ns = 'report-rbac'
    await grantDeployerRoleWithout([
      { resource: 'horizontalpodautoscalers', verb: 'patch' },
      { resource: 'events', verb: 'list' }
    ])
    const run = await e2e.run(ns, { image: `${REGISTRY}:rbac` }, { env: await rig.envFor('restricted') })
    assert.match(run.stdout, /Pre-flight checks failed; nothing was changed/)
    const [entry] = await assertReport(run, { subjects: 'pre-flight' })
    assert.match(
      entry.cause,
      /^the deploy credentials may not patch horizontalpodautoscalers\.autoscaling, list events in namespace report-rbac/
    )
    assert.match(
      entry.fix,
      /kubectl create clusterrolebinding deploy-gke-workers-deployer --clusterrole=deploy-gke-workers-deployer --user=restricted@noesis2-prod\.iam\.gserviceaccount\.com\)/
    )
    assert.match(run.stdout, /::error title=pre-flight%3A RBAC refuses the deploy::/)
    assert.equal(e2e.writesTo(ns), 0)
  })

  test('the deploy lock held by a live run: waited for until lock_timeout, then whose run and how long; nothing changed', async () => {
    const ns = 'report-lock'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      lockLease(
        ns,
        'noesis2/noesis2/runs/7/attempts/1/deploy',
        Date.now(),
        3600,
        'https://github.com/noesis2/noesis2/actions/runs/7'
      )
    ])
    const run = await e2e.run(ns, { image: `${REGISTRY}:l1`, lock_timeout: '3s' })
    // Waited for, saying whose run holds it, until lock_timeout.
    assert.match(
      run.stdout,
      /Waiting for the deploy lock: another deploy is in progress in namespace report-lock \(run https:\/\/github\.com\/noesis2\/noesis2\/actions\/runs\/7/
    )
    const [entry] = await assertReport(run, { subjects: 'deploy lock' })
    assert.match(
      entry.cause,
      /^another deploy is in progress in namespace report-lock \(run https:\/\/github\.com\/noesis2\/noesis2\/actions\/runs\/7; its lock lapses if not renewed within \d+s\); this run waited \ds \(lock_timeout 3s\)$/
    )
    assert.match(entry.fix, /workflow concurrency group/)
    assert.match(entry.fix, /kubectl delete lease deploy-gke-workers -n report-lock/)
    assert.equal((await rig.kubectl('get', 'deployments', '-n', ns, '-o', 'name')).stdout.trim(), '')
  })

  test('a failed smoke check: which check, in which pod, what to look at', async () => {
    const ns = 'report-smoke'
    const first = await e2e.run(ns, {
      ...WITH_PROXY,
      image: `${REGISTRY}:m1`,
      smoke_checks: 'worker,beat,redis'
    })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    // The database check connects where the proxy sidecar would listen, in the pod: nothing answers there.
    const run = await e2e.run(ns, {
      ...WITH_PROXY,
      image: `${REGISTRY}:m2`,
      smoke_checks: 'worker,database',
      task_safety: 'off'
    })
    const [entry] = await assertReport(run, { subjects: 'smoke check database' })
    // psycopg's own words (Connection refused here; a server of the machine's own on 5432 would refuse the login).
    assert.match(
      entry.cause,
      /^failed: OperationalError: connection failed: .+ \(pod celery-worker-[a-z0-9-]+\)$/
    )
    assert.match(entry.fix, /the Cloud SQL proxy \(instance noesis2-prod:europe-west3:main\)/)
    const tasks = await ganttOf(run.summary)
    assert.deepEqual(
      tasks.filter(t => t.section === 'Checks').map(t => [t.name, t.critical]),
      [
        ['beat guard', false],
        ['worker-process', false],
        ['database', true]
      ]
    )
  })

  test('invalid inputs: the first problem in the headline, every problem listed, nothing touched', async () => {
    const run = await e2e.run('report-inputs', {
      image: 'not a reference',
      worker_min_replicas: '9',
      worker_max_replicas: '2'
    })
    const [entry] = await assertReport(run, { subjects: 'inputs', timeline: false })
    assert.match(entry.cause, /^image: .+ \(and \d+ more problems? below\)$/)
    assert.match(run.summary, /### Every problem/)
    assert.equal(e2e.writesTo('report-inputs'), 0)
  })
})
