// The pull-request dry run against the real control plane: the server-side dry run and `kubectl diff` are the
// real apiserver's (dryRun=All persists nothing there either), the plan goes to the job summary and to one
// sticky PR comment (the GitHub API stand-in), and the cluster does not change.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { EXAMPLE_SECRET_VALUES } from '../support/example-inputs.js'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { plain } from '../support/report.js'
import type { ActionRun } from '../support/run-action.js'
import { startGitHubStandIn, type GitHubStandIn } from '../rig/github.js'

let e2e: E2E
let github: GitHubStandIn
before(async () => {
  ;[e2e, github] = await Promise.all([startControlPlaneE2E(), startGitHubStandIn()])
})
after(async () => {
  await e2e?.stop()
  await github?.stop()
})

function run(
  namespace: string,
  inputs: Record<string, string>,
  eventName: string,
  api: GitHubStandIn = github
): Promise<ActionRun> {
  return e2e.run(
    namespace,
    { github_token: api.token, ...inputs },
    {
      eventName,
      eventPayload: eventName === 'pull_request' ? { number: 7, pull_request: { number: 7 } } : {},
      env: { GITHUB_API_URL: api.apiUrl }
    }
  )
}

describe('pull_request: dry run against a real API server', () => {
  test('the plan and the diff of a new image; the cluster does not change; one comment', async () => {
    const ns = 'cp-pr'
    const deployed = await run(ns, { image: `${REGISTRY}:main` }, 'push')
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    const writes = e2e.writesTo(ns)
    const before = await e2e.rig.kubectlJson<{ metadata: { resourceVersion: string } }>(
      'get',
      'deployment',
      'celery-worker',
      '-n',
      ns
    )

    const plan = await run(ns, { image: `${REGISTRY}:pr-7` }, 'pull_request')
    assert.equal(plan.exitCode, 0, plan.stdout + plan.stderr)
    assert.equal(plan.outputs.status, 'dry-run')
    assert.equal(e2e.writesTo(ns), writes, 'every write carried dryRun=All')
    const after = await e2e.rig.kubectlJson<{ metadata: { resourceVersion: string } }>(
      'get',
      'deployment',
      'celery-worker',
      '-n',
      ns
    )
    assert.equal(after.metadata.resourceVersion, before.metadata.resourceVersion, 'nothing persisted')
    assert.match(plan.summary, /\| Deployment \| celery-worker \| configured \| yes \|/)
    assert.match(plan.summary, /\| ServiceAccount \| noesis2-worker-sa \| unchanged \|/)
    assert.match(plan.summary, /Pods would roll: celery-worker, celery-beat/)
    const diff = await readFile(plan.outputs.diff, 'utf8')
    assert.match(diff, /^-\s+image: .*:main$/m)
    assert.match(diff, /^\+\s+image: .*:pr-7$/m)
    for (const secret of EXAMPLE_SECRET_VALUES) {
      assert.ok(!diff.includes(secret), `diff leaks ${secret}`)
      assert.ok(!plan.summary.includes(secret), `summary leaks ${secret}`)
    }
    const comments = github.comments().filter(c => c.issue === 7)
    assert.equal(comments.length, 1)
    assert.match(comments[0].body, /<!-- deploy-gke-workers:plan -->/)
    assert.match(comments[0].body, /pr-7/)
    for (const secret of EXAMPLE_SECRET_VALUES) assert.ok(!comments[0].body.includes(secret))

    // A second push to the PR updates the same comment.
    const again = await run(ns, { image: `${REGISTRY}:pr-7b` }, 'pull_request')
    assert.equal(again.exitCode, 0, again.stdout)
    const updated = github.comments().filter(c => c.issue === 7)
    assert.equal(updated.length, 1, 'the comment was updated, not added')
    assert.match(updated[0].body, /pr-7b/)
  })

  test('an unchanged cluster: a deploy would change nothing, and the diff is empty', async () => {
    const ns = 'cp-pr-same'
    await run(ns, { image: `${REGISTRY}:same` }, 'push')
    const plan = await run(ns, { image: `${REGISTRY}:same`, pr_comment: 'false' }, 'pull_request')
    assert.equal(plan.exitCode, 0, plan.stdout)
    assert.match(plan.summary, /the cluster already matches; a deploy would change nothing/)
    assert.equal((await readFile(plan.outputs.diff, 'utf8')).trim(), '')
  })

  test('a planner identity with get/list only: compared with the live objects, no Secret read', async () => {
    const ns = 'cp-pr-planner'
    const deployed = await run(ns, { image: `${REGISTRY}:main` }, 'push')
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    const requestsBefore = e2e.rig.requestLog().length
    const plan = await e2e.run(
      ns,
      { github_token: github.token, image: `${REGISTRY}:pr-8`, pr_comment: 'false' },
      {
        eventName: 'pull_request',
        eventPayload: { number: 8, pull_request: { number: 8 } },
        env: { ...(await e2e.rig.envFor('planner')), GITHUB_API_URL: github.apiUrl }
      }
    )
    assert.equal(plan.exitCode, 0, plan.stdout + plan.stderr)
    assert.equal(plan.outputs.status, 'dry-run')
    assert.match(plan.summary, /Planned by compared with the live objects/)
    assert.match(plan.summary, /may not patch deployments\.apps in namespace cp-pr-planner/)
    assert.match(plan.summary, /admission and validation were not consulted/)
    assert.match(plan.summary, /Secret app-secrets: the plan identity may not read it/)
    assert.match(plan.summary, /\| Deployment \| celery-worker \| configured \| yes \|/)
    assert.match(plan.summary, /\| ServiceAccount \| noesis2-worker-sa \| unchanged \|/)
    const diff = await readFile(plan.outputs.diff, 'utf8')
    assert.match(diff, /^-\s+image: .*:main"?$/m)
    assert.match(diff, /^\+\s+image: .*:pr-8"?$/m)
    const planRequests = e2e.rig.requestLog().slice(requestsBefore)
    assert.ok(!planRequests.some(r => r.path.includes('/secrets')), 'no request for a Secret')
    assert.ok(
      !planRequests.some(r => r.method !== 'GET' && !r.path.includes('selfsubjectaccessreviews')),
      'only reads'
    )
  })

  test('a new namespace: every object would be created, nothing is', async () => {
    const plan = await run('cp-pr-new', { image: `${REGISTRY}:new`, pr_comment: 'false' }, 'pull_request')
    assert.equal(plan.exitCode, 0, plan.stdout)
    assert.match(plan.summary, /Namespace cp-pr-new does not exist yet: every object would be created/)
    assert.notEqual((await e2e.rig.kubectl('get', 'namespace', 'cp-pr-new')).code, 0)
    assert.equal(e2e.writesTo('cp-pr-new'), 0)
  })

  test('the comment opens with what changes behaviour, the raw diff folded last, the run linked', async () => {
    const ns = 'cp-pr-behaviour'
    const base = {
      env: 'DJANGO_SETTINGS_MODULE=noesis2.settings\nOLD_FLAG=1',
      secret_data: e2e.rig.services.inputs.secret_data
    }
    const deployed = await run(ns, { image: `${REGISTRY}:main`, ...base }, 'push')
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    const plan = await run(
      ns,
      {
        image: `${REGISTRY}:pr-7`,
        env: 'DJANGO_SETTINGS_MODULE=noesis2.settings\nNEW_FLAG=1',
        secret_data: `${base.secret_data}\nSENTRY_DSN=https://key@sentry.example/1`,
        worker_max_replicas: '8',
        worker_queues: 'celery'
      },
      'pull_request'
    )
    assert.equal(plan.exitCode, 0, plan.stdout)
    const body = github
      .comments()
      .filter(c => c.issue === 7)
      .at(-1)!.body
    for (const text of [plan.summary, body]) {
      const sections = [...text.matchAll(/^### (.+)$/gm)].map(m => m[1])
      assert.equal(sections[0], 'What changes in behaviour', sections.join(' | '))
      const rows = plain(text.slice(text.indexOf('### What changes'), text.indexOf('### Plan per object')))
        .split('\n')
        .filter(l => /^\| (Deployment|HorizontalPodAutoscaler|Secret)\//.test(l))
        .map(l => l.split(' | ').map(cell => cell.replace(/^\| | \|$/g, '')))
      const row = (object: string, what: string) => rows.find(r => r[0] === object && r[1] === what)
      assert.deepEqual(row('Deployment/celery-worker', 'image (app)')?.slice(2), [
        `${REGISTRY}:main`,
        `${REGISTRY}:pr-7`
      ])
      assert.deepEqual(row('Deployment/celery-beat', 'image (app)')?.slice(2), [
        `${REGISTRY}:main`,
        `${REGISTRY}:pr-7`
      ])
      assert.deepEqual(row('Deployment/celery-worker', 'env (app)')?.slice(2), [
        '–',
        '+ NEW_FLAG, + SENTRY_DSN, − OLD_FLAG'
      ])
      assert.match(row('Deployment/celery-worker', 'command (app)')?.[3] ?? '', /-Q celery( |$)/)
      assert.deepEqual(row('HorizontalPodAutoscaler/celery-worker-hpa', 'autoscaling')?.slice(2), [
        '1–5 replicas at 70% CPU',
        '1–8 replicas at 70% CPU'
      ])
      assert.deepEqual(row('Secret/app-secrets', 'Secret keys')?.slice(2), ['–', '+ SENTRY_DSN'])
      // Beat gets the same environment; nothing else changes behaviour.
      assert.deepEqual(
        row('Deployment/celery-beat', 'env (app)')?.[3],
        '+ NEW_FLAG, + SENTRY_DSN, − OLD_FLAG'
      )
      assert.equal(rows.length, 7, JSON.stringify(rows))
      // The raw diff is the last block, folded.
      assert.match(
        text.trimEnd(),
        /<details><summary>diff against the cluster \(Secrets left out\)<\/summary>[\s\S]*<\/details>$/
      )
      assert.match(
        text,
        /planned by \[this workflow run\]\(https:\/\/github\.com\/noesis2\/noesis2\/actions\/runs\/\d+/
      )
      assert.ok(!text.includes('https://key@sentry.example/1'))
    }
  })

  test('a Secret is listed by key, never diffed and its values never read', async () => {
    const ns = 'cp-pr-secret'
    await run(ns, { image: `${REGISTRY}:sec` }, 'push')
    const requestsBefore = e2e.rig.requestLog().length
    const plan = await run(
      ns,
      {
        image: `${REGISTRY}:sec`,
        pr_comment: 'false',
        secret_data:
          e2e.rig.services.inputs.secret_data.replace(
            'django-insecure-example-key',
            'rotated-django-key-value'
          ) + '\nNEW_KEY=new-value'
      },
      'pull_request'
    )
    assert.equal(plan.exitCode, 0, plan.stdout)
    assert.match(plan.summary, /\| app-secrets \| NEW\\_KEY \| added \|/)
    assert.match(plan.summary, /\| app-secrets \| SECRET\\_KEY \| written \(value not compared\) \|/)
    // The new key is also a new env var of the pods: their template changes.
    assert.match(plan.summary, /\| Deployment \| celery-worker \| configured \| yes \|/)
    assert.match(plan.summary, /A dry run never reads Secret values/)
    const diff = await readFile(plan.outputs.diff, 'utf8')
    assert.ok(!/kind: Secret|v1\.Secret\./.test(diff), 'no Secret in the diff')
    assert.ok(!plan.summary.includes('rotated-django-key-value'))
    // The key names come from kubectl, which prints them alone; no Secret is sent in the server-side dry run.
    const secretWrites = e2e.rig
      .requestLog()
      .slice(requestsBefore)
      .filter(r => r.method !== 'GET' && r.path.includes('/secrets'))
    assert.deepEqual(secretWrites, [])
  })

  test('a read-only token (fork) still leaves the plan in the summary, with a warning', async () => {
    const readOnly = await startGitHubStandIn({ readOnly: true })
    try {
      const plan = await run('cp-pr-fork', { image: `${REGISTRY}:fork` }, 'pull_request', readOnly)
      assert.equal(plan.exitCode, 0, plan.stdout)
      assert.match(plan.stdout, /::warning::deploy-gke-workers: could not comment on the pull request/)
      assert.match(plan.summary, /dry run against the cluster/)
    } finally {
      await readOnly.stop()
    }
  })
})
