// The post step trusts nothing it reads, against the real control plane, through dist/post: its state can be
// set by an earlier step of the job (GITHUB_ENV), so it removes only the kubeconfig it verifies is this run's,
// removes it first, survives a state it cannot read, bounds its calls to the cluster, and never fails the job.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import path from 'node:path'
import { REGISTRY, startControlPlaneE2E, type E2E, type StartedRun } from '../support/e2e.js'
import { DIST_POST, runAction } from '../support/run-action.js'

let e2e: E2E
// An API that accepts connections and never answers.
let silent: Server
const sockets = new Set<Socket>()
before(async () => {
  e2e = await startControlPlaneE2E()
  silent = createServer(socket => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', resolve))
})
after(async () => {
  for (const socket of sockets) socket.destroy()
  await new Promise<void>(resolve => silent.close(() => resolve()))
  await e2e?.stop()
})

// A deploy that leaves its kubeconfig for the post step.
async function deployed(namespace: string): Promise<{ started: StartedRun; kubeconfig: string }> {
  const started = await e2e.start(namespace, { image: `${REGISTRY}:post-1` })
  const run = await started.done
  assert.equal(run.outputs.status, 'deployed', run.stdout)
  const kubeconfig = run.outputs.kubeconfig
  assert.ok(existsSync(kubeconfig))
  assert.equal(run.state.kubeconfig, kubeconfig)
  return { started, kubeconfig }
}

const KUBECONFIG_NAME = 'kubeconfig-gke-0123456789abcdef.yaml'

describe('the post step', () => {
  test('leaves alone a file the state names outside the run\u2019s own work directory, or a symbolic link', async () => {
    const { started, kubeconfig } = await deployed('cp-post-paths')
    const outside = path.join(started.workspace.directory, KUBECONFIG_NAME)
    await writeFile(outside, 'a file of the user\u2019s\n')
    // In a directory that looks like the action's own, a link to that file.
    const lookalike = path.join(started.workspace.runnerTemp, 'deploy-gke-workers-AbC123')
    await mkdir(lookalike)
    const link = path.join(lookalike, KUBECONFIG_NAME)
    await symlink(outside, link)

    for (const named of [
      outside,
      link,
      '/etc/hostname',
      `${path.dirname(kubeconfig)}/../${KUBECONFIG_NAME}`
    ]) {
      const post = await started.post({ state: { kubeconfig: named } })
      assert.equal(post.exitCode, 0, post.stdout)
      assert.match(post.stdout, /::warning::deploy-gke-workers: left .* alone: /)
    }
    assert.equal(await readFile(outside, 'utf8'), 'a file of the user\u2019s\n')
    assert.ok(existsSync(link), 'the link itself is not removed either')
    assert.ok(existsSync('/etc/hostname'))
    assert.ok(
      existsSync(kubeconfig),
      'the state named other files: the real one is not touched by those runs'
    )

    const own = await started.post()
    assert.equal(own.exitCode, 0, own.stdout)
    assert.match(own.stdout, /Removed the kubeconfig written by deploy-gke-workers/)
    assert.ok(!existsSync(kubeconfig))
  })

  test('a lock state that is not JSON: the kubeconfig is still removed, the job does not fail', async () => {
    const { started, kubeconfig } = await deployed('cp-post-lock-json')
    const post = await started.post({ state: { lock: '{not json' } })
    assert.equal(post.exitCode, 0, post.stdout + post.stderr)
    assert.match(
      post.stdout,
      /::warning::deploy-gke-workers: ignored the saved deploy lock state: it is not JSON/
    )
    assert.ok(!existsSync(kubeconfig))
  })

  test('a lock state naming an API that never answers: the kubeconfig goes first, and the step ends in seconds', async () => {
    const ns = 'cp-post-silent'
    const { started, kubeconfig } = await deployed(ns)
    // The run's own kubeconfig, pointed at the silent API, named by a lock state as the run would save it.
    const { port } = silent.address() as { port: number }
    const text = await readFile(kubeconfig, 'utf8')
    await writeFile(kubeconfig, text.replace(/server: .*/, `server: https://127.0.0.1:${port}`))
    const lock = JSON.stringify({
      namespace: ns,
      identity: 'noesis2/noesis2/runs/4242/attempts/1/',
      kubeconfig
    })

    // Killed two seconds in, as a runner kills a step: by then the token is off the disk.
    const killed = await runAction({
      inputs: {},
      env: { PATH: e2e.rig.path, ...e2e.rig.env },
      entry: DIST_POST,
      workspace: { ...started.workspace, state: { ...started.workspace.state, lock } },
      timeoutMs: 2000
    })
    assert.notEqual(killed.exitCode, 0, 'it was still waiting on the API when killed')
    assert.ok(!existsSync(kubeconfig), 'the kubeconfig was removed before the lock release began')

    // Left to run, it gives up on the API within its budget and does not fail the job.
    await writeFile(kubeconfig, text.replace(/server: .*/, `server: https://127.0.0.1:${port}`), {
      mode: 0o600
    })
    const begun = Date.now()
    const post = await started.post({ state: { lock } })
    const seconds = (Date.now() - begun) / 1000
    assert.equal(post.exitCode, 0, post.stdout + post.stderr)
    assert.ok(seconds < 10, `the post step took ${seconds} s`)
    assert.match(
      post.stdout,
      /could not release the deploy lock in namespace cp-post-silent \(it lapses within a minute\)/
    )
    assert.ok(!existsSync(kubeconfig))
  })
})
