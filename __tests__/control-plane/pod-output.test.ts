// Hostile pod output against the real control plane, through dist/: what a crashed container logs (kwok serves
// its log through the apiserver) and what a smoke check prints (`kubectl exec` into a kwok pod runs python3 on
// this machine; a sitecustomize.py on PYTHONPATH plays the pod's own Python, printing what the test needs).
// No part of a secret may reach any output, and no output may hold the run past its budget.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import type { ControlPlaneRig } from '../support/rig.js'
import type { ActionRun } from '../support/run-action.js'

// The value of a secret_data key, and the first characters a cut before redaction used to leave behind.
const SECRET = 'sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a'
const SECRET_START = SECRET.slice(0, 7)
const SECRET_DATA = `${EXAMPLE_INPUTS.secret_data}\nOPENAI_API_KEY=${SECRET}`

const NS = { crashLog: 'cp-crash-log', smokeStderr: 'cp-smoke-stderr', longLine: 'cp-long-line' }

let e2e: E2E<ControlPlaneRig>
let sites: string
before(async () => {
  sites = await mkdtemp(path.join(os.tmpdir(), 'dgw-pod-python-'))
  // What "the pod's" python3 does before any check runs: write to stderr and exit (0: kwok reports a local
  // command's failure in words of its own, where a kubelet would pass the exit code on).
  const python = async (name: string, stderr: string): Promise<Record<string, string>> => {
    const dir = path.join(sites, name)
    await mkdir(dir)
    await writeFile(
      path.join(dir, 'sitecustomize.py'),
      `import os, sys\nsys.stderr.write(${JSON.stringify(stderr)})\nsys.stderr.flush()\nos._exit(0)\n`
    )
    return { PYTHONPATH: dir }
  }
  e2e = await startControlPlaneE2E({
    controlPlane: {
      pods: {
        // 286 characters, then the secret: a cut at 300 characters kept its first 14.
        [NS.crashLog]: { logs: { app: { previous: `RuntimeError: ${'x'.repeat(272)}${SECRET}\n` } } },
        // `no result from the check (exit 0): ` and 448 characters, then the secret: a cut at 497 kept 14.
        [NS.smokeStderr]: {
          exec: { env: await python('stderr', `Traceback: ${'y'.repeat(437)}${SECRET}\n`) }
        },
        // One line of 400,000 letters, no line break: a quadratic pattern over it takes minutes.
        [NS.longLine]: { exec: { env: await python('long', 'a'.repeat(400_000)) } }
      }
    }
  })
})
after(async () => {
  await e2e?.stop()
  await rm(sites, { recursive: true, force: true })
})

// Where a part of the secret is shown, for the failure message.
function secretPartIn(text: string): string | undefined {
  const at = text.indexOf(SECRET_START)
  return at < 0 ? undefined : text.slice(Math.max(0, at - 120), at + 60)
}

// Everything the run hands a person or a later step: the log (annotations included; the runner's own
// ::add-mask:: commands, which it consumes and never shows, left out), the job summary and every output.
function everythingShown(run: ActionRun): string {
  const log = `${run.stdout}\n${run.stderr}`
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
  return [log, run.summary, ...Object.values(run.outputs)].join('\n')
}

describe('pod output: redacted before any cut, bounded before it is read', () => {
  test('a crash loop whose last log line ends in a secret: the line is shown redacted, no part of the secret', async () => {
    const run = await e2e.run(NS.crashLog, {
      image: `${REGISTRY}:c1-crash-loop`,
      secret_data: SECRET_DATA
    })
    assert.equal(run.exitCode, 1)
    assert.equal(run.outputs.status, 'failed', run.stdout)
    // The finding quotes the last log line (redacted) in the summary and in the error annotation.
    assert.match(run.summary, /last log line: RuntimeError: x{272}\\\*\\\*\\\*/)
    assert.match(run.stdout, /::error title=[^\n]*::[^\n]*last log line: RuntimeError: x{272}\*\*\*/)
    assert.equal(secretPartIn(everythingShown(run)), undefined, 'no part of the secret is shown')
  })

  test('a smoke check whose stderr ends in a secret: smoke_results, the summary, the log and the annotation show it redacted', async () => {
    const run = await e2e.run(NS.smokeStderr, {
      image: `${REGISTRY}:s1`,
      secret_data: SECRET_DATA,
      smoke_checks: 'worker'
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
    const started = Date.now()
    const run = await e2e.run(NS.longLine, { image: `${REGISTRY}:l1`, smoke_checks: 'beat' })
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
