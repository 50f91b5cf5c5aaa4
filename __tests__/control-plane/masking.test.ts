// Only secrets are masked. A database user name is not one: masked, `app` blanked `kubectl ***ly` and
// `***.kubernetes.io/name` out of the log, and a user named like the namespace turned every `Namespace/noesis2`
// of the summary, the diff and the PR comment into `Namespace/***`.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import type { ActionRun } from '../support/run-action.js'
import { startGitHubStandIn, type GitHubStandIn } from '../rig/github.js'

let e2e: E2E
let github: GitHubStandIn
before(async () => {
  ;[e2e, github] = await Promise.all([startControlPlaneE2E(), startGitHubStandIn()])
  // The database users these tests deploy with, so that the database check logs in as them for real.
  for (const user of ['noesis2', 'app']) {
    e2e.rig.services.postgres.addRole({ user, password: EXAMPLE_INPUTS.db_password })
  }
})
after(async () => {
  await e2e?.stop()
  await github?.stop()
})

function masked(run: ActionRun): string[] {
  return run.stdout
    .split('\n')
    .filter(line => line.startsWith('::add-mask::'))
    .map(line => line.slice('::add-mask::'.length))
}

describe('masking only what is secret', () => {
  test('db_user equal to the namespace: summary, diff and PR comment read noesis2 everywhere', async () => {
    const inputs = {
      image: `${REGISTRY}:m1`,
      db_user: 'noesis2',
      db_name: 'noesis2',
      github_token: github.token
    }
    const deployed = await e2e.run('noesis2', inputs)
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    assert.ok(!masked(deployed).includes('noesis2'), 'noesis2 is not masked')
    assert.match(deployed.stdout, /Namespace\/noesis2 created/)
    assert.match(deployed.summary, /\| namespace \| noesis2 \|/)
    assert.ok(masked(deployed).includes('p@ss:w/rd-example'), 'the password is masked')

    const plan = await e2e.run(
      'noesis2',
      { ...inputs, image: `${REGISTRY}:m2` },
      {
        eventName: 'pull_request',
        eventPayload: { number: 5, pull_request: { number: 5 } },
        env: { GITHUB_API_URL: github.apiUrl }
      }
    )
    assert.equal(plan.outputs.status, 'dry-run', plan.stdout)
    assert.ok(!masked(plan).includes('noesis2'))
    assert.match(plan.summary, /Namespace <code>noesis2<\/code>/)
    const diff = await readFile(plan.outputs.diff, 'utf8')
    assert.match(diff, /namespace: noesis2/)
    const comment = github.comments().find(c => c.issue === 5)
    assert.ok(comment)
    assert.match(comment.body, /noesis2/)
    assert.ok(!comment.body.includes('***</code>'), 'no masked namespace in the comment')
  })

  test('db_user "app": the log keeps kubectl apply, app.kubernetes.io and container app', async () => {
    const run = await e2e.run('cp-mask-app', { image: `${REGISTRY}:m3`, db_user: 'app' })
    assert.equal(run.outputs.status, 'deployed', run.stdout)
    assert.ok(!masked(run).includes('app'), 'the user name "app" is not masked')
    assert.ok(!masked(run).some(value => value.length < 3), 'nothing shorter than three characters is masked')
    const secret = await e2e.rig.kubectlJson<{ data: Record<string, string> }>(
      'get',
      'secret',
      'app-secrets',
      '-n',
      'cp-mask-app'
    )
    assert.equal(Buffer.from(secret.data.DB_USER, 'base64').toString(), 'app')
  })
})
