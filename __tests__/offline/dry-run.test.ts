// The committed bundle, run as the runner runs it with no cluster: the offline dry run and bad input.

import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { EXAMPLE_INPUTS as EXAMPLE, EXAMPLE_SECRET_VALUES } from '../support/example-inputs.js'
import { createWorkspace, runAction, type ActionWorkspace } from '../support/run-action.js'

const EXAMPLE_INPUTS: Record<string, string> = { ...EXAMPLE, dry_run: 'true' }
const SECRETS = EXAMPLE_SECRET_VALUES

const workspaces: ActionWorkspace[] = []
after(async () => Promise.all(workspaces.map(w => w.remove())))
async function workspace(): Promise<ActionWorkspace> {
  const w = await createWorkspace()
  workspaces.push(w)
  return w
}

describe('dist/index.js: offline dry run', () => {
  test('renders, validates and reports the plan without credentials', async () => {
    const run = await runAction({ inputs: EXAMPLE_INPUTS, workspace: await workspace() })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'dry-run')
    assert.equal(run.outputs.image, EXAMPLE_INPUTS.image)

    for (const object of [
      'Namespace/noesis2',
      'ServiceAccount/noesis2-worker-sa',
      'Secret/app-secrets',
      'Deployment/celery-worker',
      'Deployment/celery-beat',
      'HorizontalPodAutoscaler/celery-worker-hpa'
    ]) {
      assert.ok(run.summary.includes(`<summary>${object} (`), `summary lacks ${object}`)
    }
    assert.match(run.summary, /## deploy-gke-workers: dry run \(offline\)/)
    for (const input of ['secret\\_data', 'db\\_password']) {
      assert.ok(run.summary.includes(`| ${input} | \\*\\*\\* |`), `${input} shown as ***`)
    }
    // A user name is not a secret: shown, and never masked.
    assert.ok(run.summary.includes('| db\\_user | noesis2\\_app |'), 'db_user shown as it is')
    assert.ok(!run.stdout.includes('::add-mask::noesis2_app'))
    assert.match(run.summary, /DATABASE_URL: "\*\*\*"/)

    const manifests = run.outputs.manifests
    assert.ok(manifests.startsWith(run.runnerTemp), `manifests output ${manifests} is under RUNNER_TEMP`)
    assert.equal((await stat(manifests)).mode & 0o777, 0o600)
    const text = await readFile(manifests, 'utf8')
    const kinds = parseAllDocuments(text).map(d => (d.toJS() as { kind: string }).kind)
    assert.deepEqual(kinds, [
      'Namespace',
      'ServiceAccount',
      'Secret',
      'Deployment',
      'Deployment',
      'HorizontalPodAutoscaler'
    ])

    for (const secret of SECRETS) {
      assert.ok(!run.summary.includes(secret), `summary leaks ${secret}`)
      assert.ok(!text.includes(secret), `manifests file leaks ${secret}`)
      // The runner consumes ::add-mask:: commands and never shows them; every other line is the log.
      const log = run.stdout
        .split('\n')
        .filter(line => !line.startsWith('::add-mask::'))
        .join('\n')
      assert.ok(!log.includes(secret), `log leaks ${secret}`)
      assert.ok(!JSON.stringify(run.outputs).includes(secret), `outputs leak ${secret}`)
    }
    // Every secret input is masked before anything else is printed.
    assert.match(run.stdout, /^::add-mask::/m)
  })

  test('dry_run auto on a pull_request event is a dry run', async () => {
    const { dry_run: _ignored, ...inputs } = EXAMPLE_INPUTS
    const run = await runAction({
      inputs,
      eventName: 'pull_request',
      eventPayload: { number: 7 },
      workspace: await workspace()
    })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'dry-run')
  })

  test('summary escapes what it shows', async () => {
    const run = await runAction({
      inputs: { ...EXAMPLE_INPUTS, env: 'BANNER=<script>alert(1)</script>' },
      workspace: await workspace()
    })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    // Inside a fenced block GitHub shows text literally; everywhere else it must arrive escaped.
    const outsideFences = run.summary.replace(/^(`{3,})[^\n]*\n[\s\S]*?^\1$/gm, '')
    assert.ok(!outsideFences.includes('<script>'), 'raw HTML outside code blocks')
    assert.ok(
      outsideFences.includes('&lt;script&gt;alert(1)&lt;/script&gt;'),
      'the input value is shown escaped'
    )
  })
})

describe('dist/index.js: bad input', () => {
  const cases: Array<{ name: string; inputs: Record<string, string>; message: RegExp }> = [
    {
      name: 'an image carrying YAML',
      inputs: { ...EXAMPLE_INPUTS, image: 'app:v1\nkind: ClusterRole' },
      message: /image: "app:v1\\nkind: ClusterRole" is not a full image reference/
    },
    {
      name: 'an uppercase namespace',
      inputs: { ...EXAMPLE_INPUTS, namespace: 'Prod' },
      message: /namespace: "Prod" is not a valid DNS-1123 label/
    }
  ]
  for (const c of cases) {
    test(`${c.name} fails with a clear message, exit code 1 and no manifests`, async () => {
      const w = await workspace()
      const run = await runAction({ inputs: c.inputs, workspace: w })
      assert.equal(run.exitCode, 1)
      assert.match(run.stdout, /^::error title=inputs%3A invalid input::inputs: /m)
      assert.match(run.stdout, c.message)
      assert.equal(run.outputs.status, 'failed')
      assert.equal(run.outputs.manifests, undefined)
      assert.deepEqual(await readdir(w.runnerTemp), [], 'nothing written under RUNNER_TEMP')
    })
  }

  test('several bad inputs are reported together', async () => {
    const run = await runAction({
      inputs: {
        ...EXAMPLE_INPUTS,
        namespace: 'Prod',
        worker_cpu_target: '0',
        rollout_timeout: '5 min',
        cloud_sql_instance: 'x'
      },
      workspace: await workspace()
    })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /Invalid inputs \(4\)/)
    for (const input of ['namespace', 'worker_cpu_target', 'rollout_timeout', 'cloud_sql_instance']) {
      assert.match(run.stdout, new RegExp(`- ${input}: `))
    }
  })

  test('a leftover placeholder in the user\u2019s templates fails before anything else', async () => {
    const templates = path.join(await (await workspace()).directory, 'tpl')
    const { mkdir, writeFile } = await import('node:fs/promises')
    await mkdir(templates)
    await writeFile(
      path.join(templates, 'worker.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: celery-worker\n  labels: {app.kubernetes.io/component: worker}\nspec:\n  selector: {matchLabels: {app: w}}\n  template:\n    metadata: {labels: {app: w}}\n    spec:\n      containers:\n        - name: app\n          image: x\n          env: [{name: A, value: "${UNSET}"}]\n'
    )
    const run = await runAction({
      inputs: { ...EXAMPLE_INPUTS, beat: 'false', manifests: templates },
      workspace: await workspace()
    })
    assert.equal(run.exitCode, 1)
    assert.match(
      run.stdout,
      /worker\.yaml: Deployment\/celery-worker field spec\.template\.spec\.containers\[0\]\.env\[0\]\.value still holds the placeholder \$\{UNSET\}/
    )
  })
})
