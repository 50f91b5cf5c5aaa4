// The report's parts on their own: findings per failure class where the end-to-end rigs cannot make the
// failure (a quota, an admission policy, a registry 5xx, exit codes), merging, links that names cannot break,
// the Mermaid timeline (parsed by Mermaid), behaviour changes of a plan.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { behaviourChanges } from '../../src/plan/behaviour-changes.js'
import type { PodFailure } from '../../src/deploy/pod-failures.js'
import type { RolloutResult } from '../../src/deploy/wait-rollouts.js'
import { GkeError } from '../../src/gke/errors.js'
import { KubectlError } from '../../src/kube/kubectl.js'
import type { LiveObjectMeta } from '../../src/kube/objects.js'
import { formatCpu, formatMemory, parseQuantity } from '../../src/k8s/quantity.js'
import type { Pod } from '../../src/k8s/types.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import { explainError } from '../../src/report/explain-error.js'
import { explainRollouts, type RolloutFacts } from '../../src/report/explain-rollout.js'
import { causeLine, mergeFindings, type Finding } from '../../src/report/finding.js'
import { annotationsOf, headlineMarkdown } from '../../src/report/headline.js'
import { podLogsUrl, workloadUrl } from '../../src/report/links.js'
import { timelineMermaid, type TimelineStep } from '../../src/report/timeline.js'
import { ganttOf } from '../support/report.js'

const FACTS: RolloutFacts = {
  namespace: 'noesis2',
  serviceAccount: 'noesis2-worker-sa',
  gcpServiceAccount: 'workers@p.iam.gserviceaccount.com',
  cloudSqlInstance: 'p:europe-west3:main',
  secretName: 'app-secrets',
  writesSecret: true,
  celeryApp: 'noesis2',
  workerConcurrency: 4,
  rolloutTimeoutSeconds: 600,
  workerDeployment: 'celery-worker',
  podSpecs: new Map()
}
const IMAGE = 'europe-west3-docker.pkg.dev/p/app/web:v2'

function pod(name: string, command = ['celery', '-A', 'noesis2', 'worker']): Pod {
  return {
    metadata: { name },
    spec: {
      containers: [
        { name: 'app', image: IMAGE, command, resources: { requests: { cpu: '500m', memory: '1Gi' } } }
      ],
      initContainers: [
        {
          name: 'cloud-sql-proxy',
          image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0',
          restartPolicy: 'Always',
          resources: { requests: { cpu: '250m', memory: '512Mi' } }
        }
      ]
    }
  }
}

function rollout(
  failure: Partial<PodFailure> | undefined,
  extra: Partial<RolloutResult> = {}
): RolloutResult {
  const p = pod('celery-worker-abc-1')
  return {
    deployment: 'celery-worker',
    outcome: 'failed',
    message:
      'Waiting for deployment "celery-worker" rollout to finish: 0 of 1 updated replicas are available...',
    durationMs: 1000,
    failures: failure
      ? [
          {
            pod: p.metadata.name,
            container: 'app',
            reason: 'Error',
            message: '',
            fatal: true,
            sidecar: false,
            ...failure
          }
        ]
      : [],
    pods: [p],
    ...extra
  }
}

function explain(r: RolloutResult, logs: string[] = []): Finding {
  const findings = explainRollouts(
    {
      rollouts: [r],
      events: [],
      logs: logs.map(text => ({ pod: 'celery-worker-abc-1', container: 'app', previous: true, text }))
    },
    FACTS
  )
  assert.equal(findings.length, 1)
  return findings[0]
}

describe('findings per failure class', () => {
  const cases: Array<{
    name: string
    rollout: RolloutResult
    logs?: string[]
    class: string
    cause: RegExp
    remedy: RegExp
  }> = [
    {
      name: 'a registry answering 503 past the grace',
      rollout: rollout({
        reason: 'ImagePullBackOff',
        message: `Failed to pull image "${IMAGE}": rpc error: 503 Service Unavailable; still failing to pull after 95s (grace 90s)`
      }),
      class: 'image-pull',
      cause:
        /^pulling image \S+ kept failing: 503 Service Unavailable; still failing to pull after 95s \(grace 90s\) \(ImagePullBackOff, pod celery-worker-abc-1\)$/,
      remedy: /Cloud NAT, or Private Google Access/
    },
    {
      name: 'an invalid reference',
      rollout: rollout({
        reason: 'InvalidImageName',
        message: 'Failed to apply default image tag "Web:V2": couldn\'t parse image reference'
      }),
      class: 'image-invalid',
      cause: /^image reference \S+ is not valid \(InvalidImageName/,
      remedy: /REGISTRY\/PATH:TAG/
    },
    {
      name: 'a command not in the image (exit 127)',
      rollout: rollout({ reason: 'CrashLoopBackOff', lastExitCode: 127, restartCount: 3 }),
      class: 'crash-loop',
      cause:
        /^container app exits with code 127, the command was not found in the image \(CrashLoopBackOff, 3 restarts/,
      remedy: /^The command is not in the image: check celery and the image's PATH/
    },
    {
      name: 'SIGKILL without OOMKilled (exit 137)',
      rollout: rollout({ reason: 'CrashLoopBackOff', lastExitCode: 137, restartCount: 2 }),
      class: 'crash-loop',
      cause: /code 137, killed with SIGKILL/,
      remedy: /liveness probe/
    },
    {
      name: 'a worker that cannot reach Redis',
      rollout: rollout({ reason: 'CrashLoopBackOff', lastExitCode: 1, restartCount: 2 }),
      logs: [
        '[2026-12-02 01:00:00,000: ERROR/MainProcess] consumer: Cannot connect to redis://10.0.0.5:6379/0: Error 111 connecting to 10.0.0.5:6379. Connection refused.'
      ],
      class: 'crash-loop',
      cause: /; last log line: ERROR\/MainProcess\] consumer: Cannot connect to redis/,
      remedy: /^It cannot reach Redis/
    },
    {
      name: 'an exec the runtime cannot start',
      rollout: rollout({
        reason: 'StartError',
        message: 'last exit code 128 (StartError): exec: "celery": executable file not found in $PATH'
      }),
      class: 'start-error',
      cause: /could not start its command: .*executable file not found/,
      remedy: /celery -A noesis2 worker\) must exist in the image/
    },
    {
      name: 'a Secret key the kubelet could not find',
      rollout: rollout({
        reason: 'CreateContainerConfigError',
        message: "couldn't find key SENTRY_DSN in Secret noesis2/app-secrets"
      }),
      class: 'config-error',
      cause: /^container app cannot start: Secret app-secrets has no key SENTRY_DSN/,
      remedy: /^Add SENTRY_DSN=… to secret_data/
    },
    {
      name: 'a sidecar that is not the Cloud SQL proxy crashing',
      rollout: rollout({
        container: 'otel',
        sidecar: true,
        reason: 'CrashLoopBackOff',
        lastExitCode: 2,
        restartCount: 2
      }),
      class: 'crash-loop',
      cause: /^container otel \(sidecar\) exits with code 2/,
      remedy: /the command run: the image's entrypoint/
    },
    {
      name: 'a quota that is used up',
      rollout: rollout(undefined, {
        reason: 'FailedCreate',
        message:
          'FailedCreate: pods "celery-worker-abc-x" is forbidden: exceeded quota: compute, requested: cpu=750m, used: cpu=4, limited: cpu=4'
      }),
      class: 'replica-failure',
      cause: /^the ReplicaSet may not create pods: pods "celery-worker-abc-x" is forbidden: exceeded quota/,
      remedy: /ResourceQuota in namespace noesis2 is used up/
    },
    {
      name: 'an admission policy (GKE Warden)',
      rollout: rollout(undefined, {
        reason: 'FailedCreate',
        message:
          'FailedCreate: admission webhook "warden-validating.common-webhooks.networking.gke.io" denied the request: GKE Warden rejected the request because it violates one or more constraints.'
      }),
      class: 'replica-failure',
      cause: /admission webhook/,
      remedy: /GKE Warden/
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const finding = explain(c.rollout, c.logs)
      assert.equal(finding.class, c.class)
      assert.match(causeLine(finding), c.cause)
      assert.match(finding.remedy, c.remedy)
    })
  }

  test('a liveness probe that restarts the container explains its restarts', () => {
    const r = rollout(
      { reason: 'Error', fatal: false, restartCount: 1, lastExitCode: 137 },
      { outcome: 'timeout' }
    )
    const findings = explainRollouts(
      {
        rollouts: [r],
        events: [
          {
            metadata: {},
            involvedObject: { kind: 'Pod', name: 'celery-worker-abc-1', fieldPath: 'spec.containers{app}' },
            reason: 'Unhealthy',
            type: 'Warning',
            count: 3,
            message: 'Liveness probe failed: no celery worker process'
          }
        ],
        logs: []
      },
      FACTS
    )
    assert.equal(findings[0].class, 'probe')
    assert.equal(
      causeLine(findings[0]),
      'container app is restarted by its liveness probe and rollout_timeout (600s) ran out (Unhealthy ×3, pod celery-worker-abc-1); the probe said: no celery worker process'
    )
  })

  test('the sidecar the app waits for is blamed before the app', () => {
    const p = pod('celery-worker-abc-1')
    const r: RolloutResult = {
      ...rollout(undefined),
      failures: [
        {
          pod: p.metadata.name,
          container: 'app',
          reason: 'CrashLoopBackOff',
          message: '',
          fatal: true,
          sidecar: false,
          lastExitCode: 1
        },
        {
          pod: p.metadata.name,
          container: 'cloud-sql-proxy',
          reason: 'CrashLoopBackOff',
          message: '',
          fatal: true,
          sidecar: true,
          lastExitCode: 1
        }
      ]
    }
    assert.equal(explain(r).class, 'proxy-sidecar')
  })
})

describe('findings of errors before the first write', () => {
  const facts = { namespace: 'noesis2', secretName: 'app-secrets', writesSecret: true }

  test("GKE's own advice is the remedy, not said twice", () => {
    const { findings } = explainError(
      new GkeError(
        'NO_CREDENTIALS',
        'No Google Cloud credentials: nothing is set.\nAdd google-github-actions/auth before this step.'
      ),
      facts
    )
    assert.equal(findings[0].cause, 'No Google Cloud credentials: nothing is set.')
    assert.equal(findings[0].remedy, 'Add google-github-actions/auth before this step.')
  })

  test('an API server that stops answering: run again', () => {
    const error = new KubectlError('kubectl apply failed: i/o timeout', {
      command: ['apply'],
      exitCode: 1,
      stderr: 'i/o timeout',
      transient: true,
      attempts: 4
    })
    const { findings } = explainError(error, facts)
    assert.equal(findings[0].title, 'cluster API unreachable')
    assert.match(findings[0].remedy, /run the deploy again/)
  })
})

describe('merging and rendering findings', () => {
  const base: Finding = {
    class: 'crash-loop',
    subjects: ['celery-worker'],
    title: 'app crashes',
    cause: 'container app exits with code 1',
    evidence: 'CrashLoopBackOff, 3 restarts',
    pods: ['celery-worker-1'],
    remedy: 'Fix it.'
  }

  test('alike findings become one, the evidence reduced to the reasons', () => {
    const merged = mergeFindings([
      base,
      {
        ...base,
        subjects: ['celery-beat'],
        pods: ['celery-beat-1'],
        evidence: 'CrashLoopBackOff, 5 restarts'
      }
    ])
    assert.equal(merged.length, 1)
    assert.deepEqual(merged[0].subjects, ['celery-worker', 'celery-beat'])
    assert.equal(
      causeLine(merged[0]),
      'container app exits with code 1 (CrashLoopBackOff, pods celery-worker-1, celery-beat-1)'
    )
  })

  test('hostile text in a finding stays text; links from names cannot be broken', () => {
    const hostile = { ...base, cause: 'x](https://evil.example) <img src=x> @octocat', pods: ['p)(evil'] }
    const markdown = headlineMarkdown([hostile], {
      gke: { project: 'p', location: 'europe-west3', cluster: 'c' },
      namespace: 'ns',
      deployments: ['celery-worker'],
      window: { fromMs: 0, toMs: 1 }
    })
    assert.doesNotMatch(markdown, /<img/)
    assert.doesNotMatch(markdown, /@octocat/)
    assert.doesNotMatch(markdown, /\]\(https:\/\/evil/)
    // Live links only (an escaped `]` or an encoded `:` is not one).
    const links = [...markdown.matchAll(/\]\((https:\/\/[^)]*)\)/g)].map(m => m[1])
    assert.equal(links.length, 2, markdown)
    assert.ok(
      links.every(l => l.startsWith('https://console.cloud.google.com/')),
      links.join('\n')
    )
    assert.ok(decodeURIComponent(links[0]).includes('resource.labels.pod_name="p)(evil"'))
  })

  test('annotations: a title per finding, cause and remedy in the message', () => {
    assert.deepEqual(annotationsOf([base]), [
      {
        title: 'celery-worker: app crashes',
        message:
          'celery-worker: container app exits with code 1 (CrashLoopBackOff, 3 restarts, pod celery-worker-1)\nFix: Fix it.'
      }
    ])
  })

  test('console links', () => {
    const gke = { project: 'noesis2-prod', location: 'europe-west3', cluster: 'workers' }
    assert.equal(
      workloadUrl(gke, 'noesis2', 'celery-worker'),
      'https://console.cloud.google.com/kubernetes/deployment/europe-west3/workers/noesis2/celery-worker/overview?project=noesis2-prod'
    )
    const logs = podLogsUrl(gke, 'noesis2', 'celery-worker-1', {
      fromMs: Date.UTC(2026, 11, 2),
      toMs: Date.UTC(2026, 11, 2, 1)
    })
    assert.equal(
      decodeURIComponent(logs),
      'https://console.cloud.google.com/logs/query;query=resource.type="k8s_container"\nresource.labels.project_id="noesis2-prod"\nresource.labels.location="europe-west3"\nresource.labels.cluster_name="workers"\nresource.labels.namespace_name="noesis2"\nresource.labels.pod_name="celery-worker-1";timeRange=2026-12-02T00:00:00.000Z/2026-12-02T01:00:00.000Z?project=noesis2-prod'
    )
  })
})

describe('the timeline', () => {
  const t0 = Date.UTC(2026, 11, 2, 1, 0, 0)
  const steps: TimelineStep[] = [
    {
      section: 'Before any change',
      name: 'Cluster credentials',
      startMs: t0,
      endMs: t0 + 300,
      state: 'done'
    },
    { section: 'Deploy', name: 'Apply (server-side)', startMs: t0 + 300, endMs: t0 + 300, state: 'done' },
    { section: 'Rollouts', name: 'celery-worker', startMs: t0 + 400, endMs: t0 + 2400, state: 'failed' },
    {
      section: 'Rollouts',
      name: 'evil: name # ; %% crit, x',
      startMs: t0 + 400,
      endMs: t0 + 900,
      state: 'done'
    }
  ]

  test('Mermaid reads every step back: names, times, failures', async () => {
    const tasks = await ganttOf(`\`\`\`mermaid\n${timelineMermaid(steps)}\n\`\`\``)
    assert.deepEqual(
      tasks.map(t => [t.section, t.name, t.startMs - t0, t.endMs - t0, t.critical]),
      [
        ['Before any change', 'Cluster credentials', 0, 300, false],
        ['Deploy', 'Apply (server-side)', 300, 301, false],
        ['Rollouts', 'celery-worker', 400, 2400, true],
        ['Rollouts', 'evil name crit x', 400, 900, false]
      ]
    )
  })

  test('nothing timed, no chart', () => {
    assert.equal(timelineMermaid([]), '')
  })
})

describe('behaviour changes of a plan', () => {
  const deployment = (image: string, resources: Record<string, string>, env: string[]): KubeObject =>
    ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'celery-worker', namespace: 'ns' },
      spec: {
        template: {
          spec: {
            containers: [
              { name: 'app', image, env: env.map(name => ({ name })), resources: { requests: resources } }
            ]
          }
        }
      }
    }) as unknown as KubeObject

  test('quantities compare by value; a new container and a removed one are named', () => {
    const live = new Map<string, LiveObjectMeta>([
      [
        'Deployment/ns/celery-worker',
        deployment('img:v1', { cpu: '500m', memory: '1Gi' }, ['A']) as unknown as LiveObjectMeta
      ]
    ])
    const desired = deployment('img:v1', { cpu: '0.5', memory: '1024Mi' }, ['A'])
    const key = [...live.keys()][0]
    assert.deepEqual(behaviourChanges([desired], live, []), [], `no change (key ${key})`)
  })

  test('a Deployment that does not exist yet is created', () => {
    assert.deepEqual(behaviourChanges([deployment('img:v2', {}, [])], new Map(), []), [
      { object: 'Deployment/celery-worker', what: 'created', from: '', to: 'image img:v2' }
    ])
  })
})

describe('quantities', () => {
  test('parse and format', () => {
    assert.equal(parseQuantity('250m'), 0.25)
    assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30)
    assert.equal(parseQuantity('2G'), 2e9)
    assert.equal(parseQuantity('nonsense'), undefined)
    assert.equal(formatCpu(0.35), '350m')
    assert.equal(formatCpu(2), '2')
    assert.equal(formatMemory(640 * 2 ** 20), '640Mi')
  })
})
