import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parse } from 'yaml'
import { removeKubeconfig, rewriteToken, writeKubeconfig } from '../../src/gke/kubeconfig.js'
import { FAKE_CA_PEM, makeTempDir } from './fixtures.js'

describe('kubeconfig file', () => {
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    tmp = await makeTempDir('gke-kubeconfig')
  })
  after(() => tmp.remove())

  test('written under the given dir, mode 0600, unique name, structurally valid', async () => {
    const a = await writeKubeconfig({
      dir: tmp.dir,
      server: 'https://127.0.0.1:6443',
      caPem: FAKE_CA_PEM,
      token: 'token-one-abcdefgh',
      namespace: 'noesis2',
      name: 'gke_p_europe-west3_workers'
    })
    const b = await writeKubeconfig({
      dir: tmp.dir,
      server: 'https://127.0.0.1:6443',
      token: 'token-two-abcdefgh'
    })
    assert.equal(dirname(a), tmp.dir)
    assert.notEqual(a, b)
    assert.equal((await stat(a)).mode & 0o777, 0o600)
    const doc = parse(await readFile(a, 'utf8'))
    assert.deepEqual(doc, {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'gke_p_europe-west3_workers',
          cluster: {
            server: 'https://127.0.0.1:6443',
            'certificate-authority-data': Buffer.from(FAKE_CA_PEM).toString('base64')
          }
        }
      ],
      users: [{ name: 'gke_p_europe-west3_workers', user: { token: 'token-one-abcdefgh' } }],
      contexts: [
        {
          name: 'gke_p_europe-west3_workers',
          context: {
            cluster: 'gke_p_europe-west3_workers',
            user: 'gke_p_europe-west3_workers',
            namespace: 'noesis2'
          }
        }
      ],
      'current-context': 'gke_p_europe-west3_workers',
      preferences: {}
    })
    // Without a CA (DNS endpoint) kubectl falls back to the system roots: no CA field at all.
    const noCa = parse(await readFile(b, 'utf8'))
    assert.deepEqual(noCa.clusters[0].cluster, { server: 'https://127.0.0.1:6443' })
    assert.equal(noCa.contexts[0].context.namespace, undefined)
  })

  test('rewriteToken replaces only the token, atomically, keeping 0600', async () => {
    const path = await writeKubeconfig({
      dir: tmp.dir,
      server: 'https://10.0.0.1',
      caPem: FAKE_CA_PEM,
      token: 'old-token-abcdefgh'
    })
    const before = parse(await readFile(path, 'utf8'))
    const inodeBefore = (await stat(path)).ino
    await rewriteToken(path, 'new-token-abcdefgh')
    const after = parse(await readFile(path, 'utf8'))
    assert.equal(after.users[0].user.token, 'new-token-abcdefgh')
    assert.deepEqual({ ...after, users: null }, { ...before, users: null })
    assert.equal((await stat(path)).mode & 0o777, 0o600)
    assert.notEqual((await stat(path)).ino, inodeBefore, 'a new file renamed over the old one')
    assert.deepEqual(
      (await readdir(tmp.dir)).filter(f => f.endsWith('.tmp')),
      [],
      'no temp file left behind'
    )
  })

  test('removeKubeconfig is idempotent', async () => {
    const path = await writeKubeconfig({
      dir: tmp.dir,
      server: 'https://10.0.0.1',
      token: 'some-token-abcdefgh'
    })
    await removeKubeconfig(path)
    await assert.rejects(stat(path), { code: 'ENOENT' })
    await removeKubeconfig(path)
  })
})
