// What the post step reads without trusting it (its state can be set by an earlier step through GITHUB_ENV):
// the saved deploy lock, and the kubeconfig path it may delete.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { verifyOwnKubeconfig } from '../../src/gke/kubeconfig.js'
import { parseHeldLockState } from '../../src/post-state.js'

describe('parseHeldLockState', () => {
  const good = { namespace: 'noesis2', identity: 'o/r/runs/1/attempts/1/deploy', kubeconfig: '/tmp/k.yaml' }
  const cases: Array<{ name: string; text: string; state?: typeof good; problem?: RegExp }> = [
    { name: 'nothing saved (or released)', text: '' },
    { name: 'what main.ts saves', text: JSON.stringify(good), state: good },
    { name: 'not JSON', text: '{not json', problem: /not JSON/ },
    { name: 'JSON, not an object', text: '[1,2]', problem: /not an object/ },
    { name: 'null', text: 'null', problem: /not an object/ },
    {
      name: 'a namespace that is no namespace',
      text: JSON.stringify({ ...good, namespace: '../x' }),
      problem: /namespace/
    },
    { name: 'an empty identity', text: JSON.stringify({ ...good, identity: '' }), problem: /identity/ },
    {
      name: 'an identity of a megabyte',
      text: JSON.stringify({ ...good, identity: 'x'.repeat(1 << 20) }),
      problem: /identity/
    },
    {
      name: 'a relative kubeconfig',
      text: JSON.stringify({ ...good, kubeconfig: 'k.yaml' }),
      problem: /kubeconfig/
    },
    {
      name: 'a kubeconfig that is not a string',
      text: JSON.stringify({ ...good, kubeconfig: 1 }),
      problem: /kubeconfig/
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const parsed = parseHeldLockState(c.text)
      assert.deepEqual(parsed.state, c.state)
      if (c.problem) assert.match(parsed.problem ?? '', c.problem)
      else assert.equal(parsed.problem, undefined)
    })
  }
})

describe('verifyOwnKubeconfig: only the file this action writes', () => {
  let root: string
  let runnerTemp: string
  let own: string
  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'dgw-post-'))
    runnerTemp = path.join(root, 'runner-temp')
    const work = path.join(runnerTemp, 'deploy-gke-workers-Ab12Cd')
    await mkdir(work, { recursive: true })
    own = path.join(work, 'kubeconfig-gke-0123456789abcdef.yaml')
    await writeFile(own, 'apiVersion: v1\n')
    // A look-alike work directory that is a link to another directory, and a link in a real-looking one.
    await mkdir(path.join(root, 'elsewhere'))
    await writeFile(path.join(root, 'elsewhere', 'kubeconfig-gke-0123456789abcdef.yaml'), 'x')
    await symlink(path.join(root, 'elsewhere'), path.join(runnerTemp, 'deploy-gke-workers-Linked'))
    await mkdir(path.join(runnerTemp, 'deploy-gke-workers-Links1'))
    await symlink(
      own,
      path.join(runnerTemp, 'deploy-gke-workers-Links1', 'kubeconfig-gke-0123456789abcdef.yaml')
    )
    await mkdir(path.join(runnerTemp, 'deploy-gke-workers-Dir123', 'kubeconfig-gke-0123456789abcdef.yaml'), {
      recursive: true
    })
  })
  after(() => rm(root, { recursive: true, force: true }))

  const NAME = 'kubeconfig-gke-0123456789abcdef.yaml'
  const cases: Array<{ name: string; file: () => string; problem?: RegExp }> = [
    { name: 'the run\u2019s own kubeconfig', file: () => own },
    { name: 'a relative path', file: () => NAME, problem: /absolute/ },
    {
      name: 'a path with ..',
      file: () => `${path.dirname(own)}/../deploy-gke-workers-Ab12Cd/${NAME}`,
      problem: /normalised/
    },
    { name: 'another name', file: () => path.join(path.dirname(own), 'manifests.yaml'), problem: /named/ },
    {
      name: 'a file outside any work directory',
      file: () => path.join(root, 'elsewhere', NAME),
      problem: /work directory/
    },
    {
      name: 'a work directory outside RUNNER_TEMP',
      file: () => path.join(root, 'deploy-gke-workers-Ab12Cd', NAME),
      problem: /RUNNER_TEMP|checked/
    },
    {
      name: 'a work directory that is a link',
      file: () => path.join(runnerTemp, 'deploy-gke-workers-Linked', NAME),
      problem: /symbolic link|directory/
    },
    {
      name: 'a symbolic link to the real file',
      file: () => path.join(runnerTemp, 'deploy-gke-workers-Links1', NAME),
      problem: /symbolic link/
    },
    {
      name: 'a directory of that name',
      file: () => path.join(runnerTemp, 'deploy-gke-workers-Dir123', NAME),
      problem: /regular file/
    },
    {
      name: 'a file that does not exist',
      file: () => path.join(runnerTemp, 'deploy-gke-workers-Zz9999', NAME),
      problem: /ENOENT/
    },
    { name: '/etc/passwd', file: () => '/etc/passwd', problem: /named/ }
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const verdict = await verifyOwnKubeconfig(c.file(), runnerTemp)
      if (c.problem) assert.match('problem' in verdict ? verdict.problem : 'accepted', c.problem)
      else assert.deepEqual(verdict, { path: c.file() })
    })
  }
})
