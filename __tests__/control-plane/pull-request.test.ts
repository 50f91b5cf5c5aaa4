// The pull-request dry run against the real control plane: the server-side dry run and `kubectl diff` are the
// real apiserver's (dryRun=All persists nothing there either), the plan goes to the summary and one comment.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { EXAMPLE_SECRET_VALUES } from '../support/example-inputs.js'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import type { ControlPlaneRig } from '../support/rig.js'
import type { ActionRun } from '../support/run-action.js'
import { startGitHubStandIn, type GitHubStandIn } from '../rig/github.js'

let e2e: E2E<ControlPlaneRig>
let github: GitHubStandIn
before(async () => {
  ;[e2e, github] = await Promise.all([startControlPlaneE2E(), startGitHubStandIn()])
})
after(async () => {
  await e2e?.stop()
  await github?.stop()
})

function run(namespace: string, inputs: Record<string, string>, eventName: string): Promise<ActionRun> {
  return e2e.run(
    namespace,
    { github_token: github.token, ...inputs },
    {
      eventName,
      eventPayload: eventName === 'pull_request' ? { number: 7, pull_request: { number: 7 } } : {},
      env: { GITHUB_API_URL: github.apiUrl }
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
    assert.match(comments[0].body, /pr-7/)
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
  })
})
