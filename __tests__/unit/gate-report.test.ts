// What a person reads about the pre-deploy gate: the findings of a gate that stopped the deploy (one table),
// its section of the job summary (the log tail redacted before any cut, everything escaped), the plan's line.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { GateRecord } from '../../src/deploy/gate.js'
import type { PodFailure } from '../../src/deploy/pod-failures.js'
import type { Pod } from '../../src/k8s/types.js'
import { createRedactor } from '../../src/redact.js'
import { explainGate } from '../../src/report/explain-gate.js'
import type { RolloutFacts } from '../../src/report/explain-rollout.js'
import { redactFinding } from '../../src/report/finding.js'
import { gatePlanLine, gateSection } from '../../src/report/gate-summary.js'

const JOB = 'pre-deploy-4242-1-abcdef'
const POD = `${JOB}-x1y2z`
const IMAGE = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:v2'
const FACTS: RolloutFacts = {
  namespace: 'noesis2',
  serviceAccount: 'noesis2-worker-sa',
  gcpServiceAccount: 'noesis2-workers@noesis2-prod.iam.gserviceaccount.com',
  cloudSqlInstance: 'noesis2-prod:europe-west3:main',
  secretName: 'app-secrets',
  writesSecret: true,
  celeryApp: 'noesis2',
  rolloutTimeoutSeconds: 300,
  workerDeployment: 'celery-worker',
  podSpecs: new Map()
}

function pod(phase: NonNullable<Pod['status']>['phase']): Pod {
  return {
    metadata: { name: POD },
    spec: {
      containers: [
        { name: 'app', image: IMAGE, resources: { limits: { memory: '1Gi' }, requests: { memory: '512Mi' } } }
      ],
      initContainers: [
        {
          name: 'cloud-sql-proxy',
          image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0',
          restartPolicy: 'Always'
        }
      ]
    },
    status: { phase }
  }
}

function failure(overrides: Partial<PodFailure>): PodFailure {
  return {
    pod: POD,
    container: 'app',
    reason: 'Error',
    message: '',
    fatal: true,
    sidecar: false,
    ...overrides
  }
}

function gate(overrides: Partial<GateRecord>): GateRecord {
  return {
    job: JOB,
    namespace: 'noesis2',
    image: IMAGE,
    command: 'python manage.py migrate --check',
    timeoutSeconds: 600,
    result: 'failed',
    message: '',
    startedMs: 0,
    durationMs: 2300,
    events: [],
    logs: [],
    ...overrides
  }
}

const appLog = (text: string) => [{ pod: POD, container: 'app', previous: false, text }]

describe('the findings of a gate that stopped the deploy', () => {
  const cases: Array<{
    name: string
    gate: GateRecord
    expect?: { class: string; title: RegExp; cause: RegExp; evidence?: string; tail?: RegExp; remedy: RegExp }
  }> = [
    { name: 'passed: none', gate: gate({ result: 'passed' }) },
    {
      name: 'cancelled: none (the cancellation is said once, elsewhere)',
      gate: gate({ result: 'cancelled' })
    },
    { name: 'the lock lost: none (said once, elsewhere)', gate: gate({ result: 'lock-lost' }) },
    {
      name: 'the command exited 1: code, meaning, last log line',
      gate: gate({
        reason: 'Error',
        pod: pod('Failed'),
        failure: failure({ lastExitCode: 1 }),
        logs: appLog('Checking...\nYou have 2 unapplied migration(s).\n')
      }),
      expect: {
        class: 'pre-deploy',
        title: /^pre-deploy command failed$/,
        cause: /^the pre-deploy command exited with code 1, an error in the application$/,
        evidence: 'Error',
        tail: /^; last log line: You have 2 unapplied migration\(s\)\.$/,
        remedy:
          /^The command said no \(it runs as \/bin\/sh -c 'python manage.py migrate --check'\).*kubectl logs -n noesis2 job\/pre-deploy-4242-1-abcdef/
      }
    },
    {
      name: 'exit 127: the program is not in the image',
      gate: gate({ reason: 'Error', pod: pod('Failed'), failure: failure({ lastExitCode: 127 }) }),
      expect: {
        class: 'pre-deploy',
        title: /^pre-deploy command failed$/,
        cause: /exited with code 127, the command was not found in the image$/,
        remedy: /^The command's program is not in the image/
      }
    },
    {
      name: 'killed for memory: the rollout\u2019s finding, said about the Job',
      gate: gate({
        reason: 'OOMKilled',
        pod: pod('Failed'),
        failure: failure({ reason: 'OOMKilled', lastExitCode: 137 })
      }),
      expect: {
        class: 'oom-killed',
        title: /^app out of memory$/,
        cause: /^container app ran out of memory at its limit of 1Gi$/,
        remedy:
          /^Raise the memory request and limit of app in the templates \(now 512Mi \/ 1Gi\)\. .*Nothing was deployed/
      }
    },
    {
      name: 'the image not found',
      gate: gate({
        reason: 'ErrImagePull',
        pod: pod('Pending'),
        failure: failure({
          reason: 'ErrImagePull',
          message: `failed to resolve reference "${IMAGE}": not found`
        })
      }),
      expect: {
        class: 'image-not-found',
        title: /^image not found$/,
        cause: /^image europe-west3-docker\.pkg\.dev\/noesis2-prod\/app\/noesis2-web:v2 was not found$/,
        remedy: /gcloud artifacts docker images list .*Nothing was deployed/
      }
    },
    {
      name: 'the Cloud SQL proxy sidecar failing',
      gate: gate({
        reason: 'CrashLoopBackOff',
        pod: pod('Pending'),
        failure: failure({
          container: 'cloud-sql-proxy',
          sidecar: true,
          reason: 'CrashLoopBackOff',
          lastExitCode: 1,
          restartCount: 2
        }),
        logs: [
          {
            pod: POD,
            container: 'cloud-sql-proxy',
            previous: true,
            text: '{"severity":"ERROR","message":"instance does not have IP of type PRIVATE"}\n'
          }
        ]
      }),
      expect: {
        class: 'proxy-sidecar',
        title: /^Cloud SQL proxy sidecar failing$/,
        cause: /^the Cloud SQL Auth Proxy sidecar \(cloud-sql-proxy\) exits with code 1$/,
        tail: /instance does not have IP of type PRIVATE/,
        remedy: /roles\/cloudsql\.client/
      }
    },
    {
      name: 'past pre_deploy_timeout: the deadline, and how to tell a slow command from a stuck one',
      gate: gate({
        reason: 'DeadlineExceeded',
        timeoutSeconds: 90,
        pod: pod('Running'),
        message: `Job was active longer than specified deadline; pod ${POD} runs the command`,
        logs: appLog('Waiting for the migration lock...\n')
      }),
      expect: {
        class: 'pre-deploy',
        title: /^pre-deploy command timed out$/,
        cause:
          /^the pre-deploy command did not end within pre_deploy_timeout \(90s\): Job was active longer than specified deadline; pod \S+ runs the command$/,
        evidence: 'DeadlineExceeded',
        tail: /Waiting for the migration lock/,
        remedy: /^If it only needs longer \(a long migration\), raise pre_deploy_timeout/
      }
    },
    {
      name: 'no verdict past the deadline (the job controller silent)',
      gate: gate({ result: 'timeout', message: 'no verdict 630s after the Job was created' }),
      expect: {
        class: 'pre-deploy',
        title: /^pre-deploy command timed out$/,
        cause: /no verdict 630s after/,
        evidence: 'timeout',
        remedy: /raise pre_deploy_timeout/
      }
    },
    {
      name: 'a quota refuses the pod',
      gate: gate({
        reason: 'FailedCreate',
        message: 'pods "x" is forbidden: exceeded quota: compute-resources'
      }),
      expect: {
        class: 'pre-deploy',
        title: /^pre-deploy pod cannot be created$/,
        cause: /^the Job may not create its pod: pods "x" is forbidden: exceeded quota/,
        evidence: 'FailedCreate',
        remedy: /^A ResourceQuota in namespace noesis2 is used up/
      }
    },
    {
      name: 'the Job could not be created or followed',
      gate: gate({ result: 'error', message: `creating Job ${JOB} failed: jobs.batch is forbidden` }),
      expect: {
        class: 'pre-deploy',
        title: /^pre-deploy gate could not run$/,
        cause: /^creating Job .* failed: jobs\.batch is forbidden$/,
        remedy: /docs\/rbac\.yaml, the batch group/
      }
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const findings = explainGate(c.gate, FACTS)
      if (!c.expect) return assert.deepEqual(findings, [])
      assert.equal(findings.length, 1, JSON.stringify(findings))
      const [f] = findings
      assert.deepEqual(f.subjects, [`pre-deploy Job ${JOB}`])
      assert.equal(f.class, c.expect.class)
      assert.match(f.title, c.expect.title)
      assert.match(f.cause, c.expect.cause)
      if (c.expect.evidence !== undefined) assert.equal(f.evidence, c.expect.evidence)
      if (c.expect.tail) assert.match(f.tail ?? '', c.expect.tail)
      assert.match(f.remedy, c.expect.remedy)
    })
  }
})

describe('the gate\u2019s section of the job summary', () => {
  const SECRET = 'sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a'

  test('a secret in the log is redacted before the line is cut to size, and no part of it remains', () => {
    // 990 characters, then the secret: a cut at 1000 characters before redaction would keep its first 10.
    const text = `${'x'.repeat(990)}${SECRET}\nlast line\n`
    const redact = createRedactor([SECRET])
    const section = gateSection(gate({ result: 'passed', pod: pod('Succeeded'), logs: appLog(text) }), redact)
    assert.ok(!section.includes(SECRET.slice(0, 6)), section.slice(0, 400))
    assert.match(section, /Log of pod pre-deploy-4242-1-abcdef-x1y2z container app: last 2 lines/)
    assert.match(section, /last line/)
  })

  test('the command, the message and the log are escaped: no HTML, no mention, no fence the log can close', () => {
    const section = gateSection(
      gate({
        command: 'echo "</details><img src=x onerror=alert(1)>" @octocat',
        message: 'the command exited with code 1 (Error): <b>boom</b>',
        pod: pod('Failed'),
        logs: appLog('```\n</details>\n## heading\n@octocat\n')
      }),
      createRedactor()
    )
    assert.ok(!section.includes('<img'), section)
    assert.ok(!section.includes('<b>'), section)
    assert.match(section, /\| command \| echo &quot;&lt;\/details&gt;.* &#64;octocat \|/, 'no live mention')
    // The log inside a fence longer than any line of it can close: shown as text, never read as Markdown.
    assert.ok(section.includes('\n````text\n```\n</details>\n## heading\n@octocat\n````\n'), section)
    assert.match(
      section,
      /\| result \| FAILED after 2\.3s: the command exited with code 1 \(Error\): &lt;b&gt;boom&lt;\/b&gt; \|/
    )
  })

  test('a cancelled gate says its Job was deleted', () => {
    const section = gateSection(
      gate({
        result: 'cancelled',
        message: 'cancelled (SIGINT)',
        deleted: {
          done: true,
          message: `Job ${JOB} deleted (foreground: its pod is stopped and removed with it)`
        }
      }),
      createRedactor()
    )
    assert.match(section, /\| result \| cancelled after 2\.3s: cancelled \(SIGINT\) \|/)
    assert.match(section, /\| clean-up \| Job pre-deploy-4242-1-abcdef deleted \(foreground/)
  })

  test('the findings quote the log only redacted, whatever its length', () => {
    const line = `${'y'.repeat(395)}${SECRET}`
    const [finding] = explainGate(
      gate({
        reason: 'Error',
        pod: pod('Failed'),
        failure: failure({ lastExitCode: 1 }),
        logs: appLog(`${line}\n`)
      }),
      FACTS
    ).map(f => redactFinding(f, createRedactor([SECRET])))
    assert.ok(!JSON.stringify(finding).includes(SECRET.slice(0, 6)), finding.tail)
  })
})

describe('the plan\u2019s line', () => {
  test('says what would run, where, and that it did not run; escaped', () => {
    const line = gatePlanLine({
      command: 'manage.py migrate && echo `id` <x>',
      image: IMAGE,
      timeoutSeconds: 300
    })
    assert.match(line, /^\*\*Pre-deploy gate:\*\* before any worker or beat pod is replaced/)
    assert.match(line, /<code>manage\.py migrate &amp;&amp; echo \\`id\\` &lt;x&gt;<\/code>/)
    assert.match(
      line,
      /pre_deploy_timeout 300s\); if it fails, no Deployment is written\. This dry run did not run it\.$/
    )
  })
})
