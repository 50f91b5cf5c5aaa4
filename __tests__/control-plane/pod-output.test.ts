// Hostile pod output against the real control plane, through dist/: what a crashed container logs (the rig's
// kubelet serves it through the apiserver) and what a check prints in a pod (`kubectl exec` runs the real Python
// on this machine; a stand-in Python run first, the rig's sitecustomize.py, plays a broken or hostile image).
// No part of a secret may reach any output, in any encoding; no pod text may become a workflow command or live
// Markdown; and no output may hold the run past its budget.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import type { ControlPlaneRig } from '../support/rig.js'
import type { ActionRun } from '../support/run-action.js'

// The value of a secret_data key, and the first characters a cut before redaction used to leave behind.
const SECRET = 'sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a'
const SECRET_START = SECRET.slice(0, 7)

let e2e: E2E
let rig: ControlPlaneRig
before(async () => {
  e2e = await startControlPlaneE2E()
  rig = e2e.rig
})
after(async () => e2e?.stop())

const secretData = (): string => `${rig.services.inputs.secret_data}\nOPENAI_API_KEY=${SECRET}`

// What "the pod's" python3 does before any check runs: write to stderr and exit, with no result. Exit 0: with
// another code kubectl adds its own last line ("command terminated with exit code 1"), as on any node.
const brokenPython = (stderr: string): string =>
  `import os, sys\nsys.stderr.write(${JSON.stringify(stderr)})\nsys.stderr.flush()\nos._exit(0)\n`

// Where a part of the secret is shown, for the failure message.
function secretPartIn(text: string): string | undefined {
  const at = text.indexOf(SECRET_START)
  return at < 0 ? undefined : text.slice(Math.max(0, at - 120), at + 60)
}

// The log a person sees: the runner consumes its ::add-mask:: commands and never shows them.
function shownLog(run: ActionRun): string {
  return `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
}

// Everything the run hands a person or a later step: the log (annotations included), the job summary and every
// output.
function everythingShown(run: ActionRun): string {
  return [shownLog(run), run.summary, ...Object.values(run.outputs)].join('\n')
}

// Lines of the step log that the runner would take as workflow commands, other than the action's own.
function commandLines(run: ActionRun): string[] {
  return run.stdout
    .split('\n')
    .filter(line => /^\s*::/.test(line) || /##\[/.test(line))
    .filter(
      line =>
        !/^::(add-mask|debug|group|endgroup|error|warning|notice)::/.test(line) ||
        /injected|hacked/.test(line)
    )
}

describe('pod output: redacted before any cut, bounded before it is read', () => {
  test('a crash loop whose last log line ends in a secret: the line is shown redacted, no part of the secret', async () => {
    const ns = 'cp-crash-log'
    // 286 characters, then the secret: a cut at 300 characters kept its first 14.
    rig.controlPlane.pods.set(
      { namespace: ns },
      { logs: { app: { previous: `RuntimeError: ${'x'.repeat(272)}${SECRET}\n` } } }
    )
    const run = await e2e.run(ns, { image: `${REGISTRY}:c1-crash-loop`, secret_data: secretData() })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed', run.stdout)
    // The finding quotes the last log line (redacted) in the summary and in the error annotation.
    assert.match(run.summary, /last log line: RuntimeError: x{272}\\\*\\\*\\\*/)
    assert.match(run.stdout, /::error title=[^\n]*::[^\n]*last log line: RuntimeError: x{272}\*\*\*/)
    assert.equal(secretPartIn(everythingShown(run)), undefined, 'no part of the secret is shown')
  })

  test('a smoke check whose stderr ends in a secret: smoke_results, the summary, the log and the annotation show it redacted', async () => {
    const ns = 'cp-smoke-stderr'
    // `no result from the check (exit 0): ` and 448 characters, then the secret: a cut at 497 kept 14.
    rig.controlPlane.pods.set(
      { namespace: ns },
      { python: brokenPython(`Traceback: ${'y'.repeat(437)}${SECRET}\n`) }
    )
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:s1`,
      secret_data: secretData(),
      smoke_checks: 'worker',
      task_safety: 'off'
    })
    assert.equal(run.outputs.status, 'failed', run.stdout)
    const [result] = JSON.parse(run.outputs.smoke_results) as Array<{
      name: string
      ok: boolean
      detail: string
    }>
    assert.equal(result.name, 'worker-process')
    assert.equal(result.ok, false)
    assert.equal(result.detail, `no result from the check (exit 0): Traceback: ${'y'.repeat(437)}***`)
    assert.match(run.summary, /no result from the check \(exit 0\): Traceback: y{437}\\\*\\\*\\\*/)
    assert.match(
      run.stdout,
      /FAIL worker-process \([^)]+\): no result from the check \(exit 0\): Traceback: y{437}\*\*\*/
    )
    assert.match(run.stdout, /::error title=smoke check worker-process[^\n]*y{437}\*\*\*/)
    assert.equal(secretPartIn(everythingShown(run)), undefined, 'no part of the secret is shown')
  })

  test("beat's process check printing one 400,000-character line fails at once, the line left out", async () => {
    const ns = 'cp-long-line'
    // One line of 400,000 letters, no line break: a quadratic pattern over it takes minutes.
    rig.controlPlane.pods.set({ namespace: ns }, { python: brokenPython('a'.repeat(400_000)) })
    const started = Date.now()
    const run = await e2e.run(ns, { image: `${REGISTRY}:l1`, smoke_checks: 'beat', task_safety: 'off' })
    const seconds = (Date.now() - started) / 1000
    assert.equal(run.outputs.status, 'failed', run.stdout)
    const [result] = JSON.parse(run.outputs.smoke_results) as Array<{
      name: string
      ok: boolean
      detail: string
    }>
    assert.equal(result.name, 'beat-process')
    assert.match(result.detail, /a line of 400035 characters, too long to show/)
    // A deploy with smoke checks takes a few seconds here; the quadratic pattern took minutes on this line.
    assert.ok(seconds < 30, `the run took ${seconds} s`)
    assert.ok(run.summary.length < 100_000, `summary of ${run.summary.length} characters`)
  })
})

describe('pod output: no workflow command, no secret in any encoding', () => {
  test('smoke-check output with workflow commands is shown, not obeyed', async () => {
    const ns = 'cp-hostile-smoke'
    // The worker's process check answers with a command line that carries workflow commands on lines of their own.
    rig.controlPlane.pods.set(
      { namespace: ns, pod: 'celery-worker' },
      {
        python: [
          'import os, sys',
          "if sys.argv[-1:] == ['celery.*worker']:",
          `    sys.stdout.write(${JSON.stringify('{"ok":true,"count":1,"pids":[7],"command":"celery worker\\n::add-mask::injected\\n::set-output name=status::hacked\\n##[warning]injected"}\n')})`,
          '    sys.stdout.flush()',
          '    os._exit(0)',
          ''
        ].join('\n')
      }
    )
    const run = await e2e.run(ns, { image: `${REGISTRY}:h1` })
    assert.equal(run.outputs.status, 'deployed', run.stdout)
    assert.match(run.stdout, /pass worker-process \([^)]+\): 1 process \(pid 7\): celery worker/)
    assert.deepEqual(commandLines(run), [])
    assert.notEqual(run.outputs.status, 'hacked')
  })

  test('a crash log with a Redis password in every encoding: none of them reaches the log or the summary', async () => {
    const ns = 'cp-hostile-leak'
    const password = 'p@ss/w0rd"with"stuff'
    const url = `redis://:${encodeURIComponent(password)}@10.0.0.5:6379/0`
    const leaks = [
      password,
      encodeURIComponent(password),
      Buffer.from(password).toString('base64'),
      JSON.stringify(password).slice(1, -1)
    ]
    rig.controlPlane.pods.set(
      { namespace: ns },
      {
        logs: {
          app: {
            previous: `connecting to ${url}\nauth=${leaks[2]}\n{"error":"bad password ${leaks[3]}"}\nraw ${leaks[0]} encoded ${leaks[1]}\n`
          }
        }
      }
    )
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:h2-leaky-crash-loop`,
      secret_data: `SECRET_KEY=django-insecure-example-key\nREDIS_URL=${url}`
    })
    assert.equal(run.exitCode, 1)
    const log = shownLog(run)
    for (const leak of leaks) {
      assert.ok(!log.includes(leak), `log leaks ${leak}`)
      assert.ok(!run.summary.includes(leak), `summary leaks ${leak}`)
    }
    assert.match(run.summary, /connecting to \*\*\*/, 'the whole URL is a secret_data value')
  })

  test('values of a Secret the action did not write are masked and redacted too', async () => {
    const ns = 'cp-live-secret'
    const livePassword = 'live-only-secret-pass'
    await rig.applyObjects([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'app-secrets', namespace: ns },
        stringData: {
          SECRET_KEY: 'live-django-key',
          DATABASE_URL: 'postgresql://u:p@db/x',
          REDIS_URL: `redis://:${livePassword}@10.0.0.9:6379/0`
        }
      }
    ])
    rig.controlPlane.pods.set(
      { namespace: ns },
      {
        logs: {
          app: {
            previous: `redis.exceptions.ConnectionError: Error connecting to redis://:${livePassword}@10.0.0.9:6379/0\n`
          }
        }
      }
    )
    const run = await e2e.run(ns, {
      image: `${REGISTRY}:crash-with-url-crash-loop`,
      secret_data: '',
      db_user: '',
      db_password: '',
      db_name: '',
      db_host: ''
    })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, new RegExp(`^::add-mask::${livePassword}$`, 'm'))
    assert.ok(!shownLog(run).includes(livePassword), 'log')
    assert.ok(!run.summary.includes(livePassword), 'summary')
    assert.match(run.summary, /redis\.exceptions\.ConnectionError/, 'the log tail itself is shown')
  })
})
