// End-to-end: a pull_request run is a dry run against the cluster. The plan and the diff go to the job summary
// and to one sticky PR comment; the cluster does not change.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { EXAMPLE_SECRET_VALUES } from '../support/example-inputs.js'
import { REGISTRY, startE2E, type E2E } from '../support/e2e.js'
import { plain } from '../support/report.js'
import type { ActionRun } from '../support/run-action.js'
import { startGitHubStandIn, type GitHubStandIn } from '../rig/github.js'

let e2e: E2E
let github: GitHubStandIn
before(async () => {
  e2e = await startE2E()
  github = await startGitHubStandIn()
})
after(async () => {
  await e2e?.stop()
  await github?.stop()
})

function run(
  namespace: string,
  inputs: Record<string, string>,
  eventName: string,
  api = github
): Promise<ActionRun> {
  return e2e.run(
    namespace,
    { github_token: api.token, ...inputs },
    {
      eventName,
      eventPayload: eventName === 'pull_request' ? { number: 42, pull_request: { number: 42 } } : {},
      env: { GITHUB_API_URL: api.apiUrl }
    }
  )
}

function writesTo(namespace: string): number {
  return e2e.writesTo(namespace)
}

describe('pull_request: dry run against the cluster', () => {
  test('shows the plan and the diff, comments once, changes nothing', async () => {
    const ns = 'pr-plan'
    const deployed = await run(ns, { image: `${REGISTRY}:main` }, 'push')
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    const writes = writesTo(ns)
    const commentsBefore = github.comments().length

    const plan = await run(ns, { image: `${REGISTRY}:pr-42` }, 'pull_request')
    assert.equal(plan.exitCode, 0, plan.stdout + plan.stderr)
    assert.equal(plan.outputs.status, 'dry-run')
    assert.equal(writesTo(ns), writes, 'nothing was written (every write carried dryRun=All)')
    assert.match(plan.summary, /dry run against the cluster/)
    assert.match(plan.summary, /\| Deployment \| celery-worker \| configured \| yes \|/)
    assert.match(plan.summary, /\| ServiceAccount \| noesis2-worker-sa \| unchanged \|/)
    assert.match(plan.summary, /Pods would roll: celery-worker, celery-beat/)
    const diff = await readFile(plan.outputs.diff, 'utf8')
    assert.match(diff, /^-\s+image: .*:main$/m)
    assert.match(diff, /^\+\s+image: .*:pr-42$/m)
    for (const secret of EXAMPLE_SECRET_VALUES) {
      assert.ok(!diff.includes(secret), `diff leaks ${secret}`)
      assert.ok(!plan.summary.includes(secret), `summary leaks ${secret}`)
    }

    const comments = github.comments().filter(c => c.issue === 42)
    assert.equal(comments.length, commentsBefore + 1)
    assert.match(comments.at(-1)!.body, /<!-- deploy-gke-workers:plan -->/)
    assert.match(comments.at(-1)!.body, /pr-42/)
    for (const secret of EXAMPLE_SECRET_VALUES) assert.ok(!comments.at(-1)!.body.includes(secret))

    // A second push to the PR updates the same comment.
    const again = await run(ns, { image: `${REGISTRY}:pr-42b` }, 'pull_request')
    assert.equal(again.exitCode, 0, again.stdout)
    const after = github.comments().filter(c => c.issue === 42)
    assert.equal(after.length, comments.length, 'the comment was updated, not added')
    assert.match(after.at(-1)!.body, /pr-42b/)
  })

  test('the comment opens with what changes behaviour, the raw diff folded last, the run linked', async () => {
    const ns = 'pr-behaviour'
    const base = {
      env: 'DJANGO_SETTINGS_MODULE=noesis2.settings\nOLD_FLAG=1',
      secret_data:
        'SECRET_KEY=django-insecure-example-key\nREDIS_URL=redis://:redis-example-pass@10.0.0.5:6379/0'
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
      .filter(c => c.issue === 42)
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

  test('a plan for an unchanged cluster says a deploy would change nothing', async () => {
    const ns = 'pr-same'
    await run(ns, { image: `${REGISTRY}:same` }, 'push')
    const plan = await run(ns, { image: `${REGISTRY}:same`, pr_comment: 'false' }, 'pull_request')
    assert.equal(plan.exitCode, 0, plan.stdout)
    assert.match(plan.summary, /the cluster already matches; a deploy would change nothing/)
  })

  test('a Secret is listed by key, never diffed and its values never read', async () => {
    const ns = 'pr-secret'
    await run(ns, { image: `${REGISTRY}:sec` }, 'push')
    const requestsBefore = e2e.rig.requestLog().length
    const plan = await run(
      ns,
      {
        image: `${REGISTRY}:sec`,
        pr_comment: 'false',
        secret_data:
          'SECRET_KEY=rotated-django-key-value\nREDIS_URL=redis://:redis-example-pass@10.0.0.5:6379/0\nNEW_KEY=new-value'
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

  test('a new namespace: every object would be created', async () => {
    const plan = await run('pr-new', { image: `${REGISTRY}:new`, pr_comment: 'false' }, 'pull_request')
    assert.equal(plan.exitCode, 0, plan.stdout)
    assert.match(plan.summary, /Namespace pr-new does not exist yet: every object would be created/)
    assert.equal(writesTo('pr-new'), 0)
  })

  test('a read-only token (fork) still leaves the plan in the summary, with a warning', async () => {
    const readOnly = await startGitHubStandIn({ readOnly: true })
    try {
      const plan = await run('pr-fork', { image: `${REGISTRY}:fork` }, 'pull_request', readOnly)
      assert.equal(plan.exitCode, 0, plan.stdout)
      assert.match(plan.stdout, /::warning::deploy-gke-workers: could not comment on the pull request/)
      assert.match(plan.summary, /dry run against the cluster/)
    } finally {
      await readOnly.stop()
    }
  })
})
