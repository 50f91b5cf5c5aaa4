// What a pull-request plan and a deploy leave for people, against the real control plane, through dist/: the
// plan comment (only the token's own comment is ever updated; within GitHub's 65536 characters), the job
// summary (within 1 MiB), whatever the templates hold, and the YAML records (read back by the real kubectl
// as exactly what was deployed).

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { PLAN_COMMENT_MARKER } from '../../src/report/cluster-plan-summary.js'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import type { ActionRun, ActionWorkspace } from '../support/run-action.js'
import { templatesWith } from '../support/templates.js'
import { GITHUB_ACTIONS_BOT, startGitHubStandIn, type GitHubStandIn, type GitHubUser } from '../rig/github.js'

const MALLORY: GitHubUser = { login: 'mallory', id: 666, type: 'User' }
// A personal access token's user: GET /user names it, and its comments are its own.
const RELEASE_USER: GitHubUser = { login: 'release-engineer', id: 4242, type: 'User' }
const MIB = 1024 * 1024

let e2e: E2E
let bot: GitHubStandIn
let personal: GitHubStandIn
const workspaces: ActionWorkspace[] = []
before(async () => {
  ;[e2e, bot, personal] = await Promise.all([
    startControlPlaneE2E(),
    startGitHubStandIn(),
    startGitHubStandIn({ token: 'ghp_standin_personal_token_0123', identity: RELEASE_USER })
  ])
})
after(async () => {
  await e2e?.stop()
  await bot?.stop()
  await personal?.stop()
  await Promise.all(workspaces.map(w => w.remove()))
})

function plan(
  github: GitHubStandIn,
  namespace: string,
  number: number,
  inputs: Record<string, string> = {}
): Promise<ActionRun> {
  return e2e.run(
    namespace,
    { image: `${REGISTRY}:pr-${number}`, github_token: github.token, ...inputs },
    {
      eventName: 'pull_request',
      eventPayload: { number, pull_request: { number } },
      env: { GITHUB_API_URL: github.apiUrl }
    }
  )
}

const markerOf = (namespace: string): string => `${PLAN_COMMENT_MARKER}<!-- namespace:${namespace} -->`

describe('the plan comment: only the token\u2019s own comment is updated', () => {
  test('GITHUB_TOKEN: another user\u2019s comment with the marker is left alone; the bot\u2019s own is created, then updated', async () => {
    const ns = 'cp-comment-bot'
    const planted = bot.addComment(31, `${markerOf(ns)}\nplanted by another user`, MALLORY)
    const first = await plan(bot, ns, 31)
    assert.equal(first.outputs.status, 'dry-run', first.stdout)
    assert.match(first.stdout, /Plan comment created on pull request #31/)
    const second = await plan(bot, ns, 31, { image: `${REGISTRY}:pr-31-b` })
    assert.match(second.stdout, /Plan comment updated on pull request #31/)

    const comments = bot.comments().filter(c => c.issue === 31)
    assert.equal(comments.length, 2)
    assert.deepEqual(
      comments.find(c => c.id === planted.id),
      planted,
      'the other user\u2019s comment is untouched'
    )
    const own = comments.find(c => c.id !== planted.id)!
    assert.deepEqual(own.user, GITHUB_ACTIONS_BOT)
    assert.match(own.body, /pr-31-b/)
    assert.ok(
      !bot.requests().some(r => r.method === 'PATCH' && r.path.endsWith(`/comments/${planted.id}`)),
      'never a PATCH of the other user\u2019s comment'
    )
  })

  test('a personal token: its user\u2019s comment is updated, a bot\u2019s or another user\u2019s is not', async () => {
    const ns = 'cp-comment-pat'
    const byMallory = personal.addComment(32, `${markerOf(ns)}\nplanted`, MALLORY)
    const byBot = personal.addComment(
      32,
      `${markerOf(ns)}\nan earlier run with GITHUB_TOKEN`,
      GITHUB_ACTIONS_BOT
    )
    const mine = personal.addComment(32, `${markerOf(ns)}\nan earlier plan`, RELEASE_USER)
    const run = await plan(personal, ns, 32)
    assert.match(run.stdout, /Plan comment updated on pull request #32/)
    const comments = personal.comments().filter(c => c.issue === 32)
    assert.equal(comments.length, 3)
    assert.deepEqual(
      comments.find(c => c.id === byMallory.id),
      byMallory
    )
    assert.deepEqual(
      comments.find(c => c.id === byBot.id),
      byBot
    )
    assert.match(comments.find(c => c.id === mine.id)!.body, /pr-32/)
  })
})

describe('sizes: a summary within 1 MiB and a comment within 65536 characters, whatever the templates hold', () => {
  test('800 KB of ConfigMaps and a value of 300,000 backticks: the plan is cut to fit', async () => {
    const configMap = (name: string, value: string): string =>
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { value } })
    const manifests = await templatesWith(
      {
        ...Object.fromEntries(
          Array.from({ length: 8 }, (_, i) => [
            `6${i}-bulk.yaml`,
            configMap(`bulk-${i}`, 'x'.repeat(100_000))
          ])
        ),
        '70-ticks.yaml': configMap('ticks', '`'.repeat(300_000))
      },
      workspaces
    )
    // Deployed once, so the plan diffs against the cluster (a namespace that does not exist has no diff).
    const deployed = await e2e.run('cp-size-big', { image: `${REGISTRY}:main` })
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    const run = await plan(bot, 'cp-size-big', 41, { manifests })
    assert.equal(run.outputs.status, 'dry-run', run.stdout)
    assert.ok(
      Buffer.byteLength(run.summary, 'utf8') <= MIB,
      `summary of ${Buffer.byteLength(run.summary)} bytes`
    )
    assert.match(run.summary, /…\(cut: a job summary holds 1 MiB/)
    const [comment] = bot.comments().filter(c => c.issue === 41)
    assert.ok(comment, `a comment was posted: ${run.stdout}`)
    assert.ok([...comment.body].length <= 65536, `comment of ${[...comment.body].length} characters`)
  })

  test('a value of 40,000 backticks: the plan is still posted', async () => {
    const manifests = await templatesWith(
      {
        '70-ticks.yaml': JSON.stringify({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'ticks' },
          data: { value: '`'.repeat(40_000) }
        })
      },
      workspaces
    )
    const deployed = await e2e.run('cp-size-ticks', { image: `${REGISTRY}:main` })
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    const run = await plan(bot, 'cp-size-ticks', 42, { manifests })
    assert.match(run.summary, /<summary>diff against the cluster/)
    assert.equal(run.outputs.status, 'dry-run', run.stdout)
    assert.doesNotMatch(run.stdout, /could not comment/)
    const [comment] = bot.comments().filter(c => c.issue === 42)
    assert.ok(comment, `a comment was posted: ${run.stdout}`)
    assert.ok([...comment.body].length <= 65536, `comment of ${[...comment.body].length} characters`)
    assert.ok(!bot.requests().some(r => r.status === 422), 'GitHub never refused a body')
  })
})

describe('YAML records mean what was deployed', () => {
  // What kubectl's server-side apply carries but YAML 1.1 reads differently when written raw: the line and
  // paragraph separators (line breaks to YAML 1.1), with a C0 control and the BOM beside them.
  const VALUE = 'c\u2028d \u0001 \u2029 \ufeff e'

  test('the manifests file, read back by the real kubectl, holds the env value exactly as the cluster does', async () => {
    const ns = 'cp-yaml-record'
    const run = await e2e.run(ns, { image: `${REGISTRY}:y1`, env: `ODD=${VALUE}` })
    assert.equal(run.outputs.status, 'deployed', run.stdout)
    const read = await e2e.rig.kubectl(
      'create',
      '--dry-run=client',
      '-f',
      run.outputs.manifests,
      '-o',
      'json'
    )
    assert.equal(read.code, 0, read.stderr)
    // One pretty-printed JSON object per document, one after the other.
    const objects = read.stdout
      .replace(/^\}\n\{/gm, '}\u0000{')
      .split('\u0000')
      .map(text => JSON.parse(text) as { kind: string; spec?: DeploymentSpec })
    const deployments = objects.filter(o => o.kind === 'Deployment')
    assert.equal(deployments.length, 2)
    for (const deployment of deployments) assert.equal(envValue(deployment.spec, 'ODD'), VALUE)
    const live = await e2e.rig.kubectlJson<{ spec: DeploymentSpec }>(
      'get',
      'deployment',
      'celery-worker',
      '-n',
      ns
    )
    assert.equal(envValue(live.spec, 'ODD'), VALUE)
  })

  test('the offline plan\u2019s YAML, read back by the real kubectl reader, holds it exactly', async () => {
    const run = await e2e.run(
      'cp-yaml-plan',
      { image: `${REGISTRY}:y2`, env: `ODD=${VALUE}`, cluster_name: '', location: '' },
      { eventName: 'pull_request', env: { KUBECONFIG: '/nonexistent/kubeconfig' } }
    )
    assert.equal(run.outputs.status, 'dry-run', run.stdout)
    const blocks = [...run.summary.matchAll(/^```yaml\n([\s\S]*?)\n```$/gm)].map(m => m[1])
    const documents = await readAsKubectlDoes(blocks.map(b => `---\n${b}\n`).join(''))
    const deployments = documents.filter(d => (d as { kind?: string }).kind === 'Deployment') as Array<{
      spec: DeploymentSpec
    }>
    assert.equal(deployments.length, 2)
    for (const deployment of deployments) assert.equal(envValue(deployment.spec, 'ODD'), VALUE)
  })

  test('a value kubectl cannot apply as written (NEL, which the API server stores as a space) is refused first', async () => {
    const ns = 'cp-yaml-nel'
    const run = await e2e.run(ns, { image: `${REGISTRY}:y3`, env: 'ODD=c\u0085d' })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed')
    assert.match(
      run.stdout,
      /Deployment\/celery-worker field spec\.template\.spec\.containers\[0\]\.env\[\d+\]\.value holds the control character U\+0085, which kubectl's server-side apply cannot carry/
    )
    assert.equal(e2e.writesTo(ns), 0, 'nothing reached the cluster')
  })
})

interface DeploymentSpec {
  template: { spec: { containers: Array<{ name: string; env?: Array<{ name: string; value?: string }> }> } }
}

function envValue(spec: DeploymentSpec | undefined, name: string): string | undefined {
  return spec?.template.spec.containers.find(c => c.name === 'app')?.env?.find(e => e.name === name)?.value
}

// sigs.k8s.io/yaml, the reader kubectl parses manifests with, built with the control plane.
async function readAsKubectlDoes(text: string): Promise<unknown[]> {
  const child = promisify(execFile)(path.join(e2e.rig.controlPlane.binDir, 'yaml-to-json'), [], {
    maxBuffer: 64 * 1024 * 1024
  })
  child.child.stdin?.end(text)
  const { stdout } = await child
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(line => JSON.parse(line) as unknown)
}
