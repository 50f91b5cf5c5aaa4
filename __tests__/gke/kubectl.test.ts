import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { startGoogleStandIns, type GoogleStandIns } from '../rig/gcp/index.js'
import { GkeKubeconfigSession } from '../../src/gke/session.js'
import { rewriteToken } from '../../src/gke/kubeconfig.js'
import { authStepEnv, makeTempDir } from './fixtures.js'
import { makeLoopbackCertificate } from './tls.js'

const run = promisify(execFile)

// Real kubectl reads the written kubeconfig: the CA data verifies the server, the IAM-issued token is sent.
// The server is a bare TLS endpoint answering /version (all `kubectl version` needs), accepting only tokens
// the Google stand-ins issued; a whole cluster is not needed to prove the kubeconfig works.

function startVersionServer(
  tls: { certPem: string; keyPem: string },
  isValidToken: (token: string) => boolean
): Promise<{ server: Server; url: string; tokensSeen: string[] }> {
  const tokensSeen: string[] = []
  const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
    res.setHeader('content-type', 'application/json')
    if (!isValidToken(token)) {
      res.writeHead(401)
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'Unauthorized',
          reason: 'Unauthorized',
          code: 401
        })
      )
      return
    }
    tokensSeen.push(token)
    if (req.url === '/version' || req.url?.startsWith('/version?')) {
      res.writeHead(200)
      res.end(
        JSON.stringify({
          major: '1',
          minor: '32',
          gitVersion: 'v1.32.9-gke.1000',
          gitCommit: '0000000000000000000000000000000000000000',
          gitTreeState: 'clean',
          buildDate: '2026-01-01T00:00:00Z',
          goVersion: 'go1.23.4',
          compiler: 'gc',
          platform: 'linux/amd64'
        })
      )
      return
    }
    res.writeHead(404)
    res.end(
      JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 })
    )
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `127.0.0.1:${(server.address() as AddressInfo).port}`, tokensSeen })
    )
  })
}

describe('real kubectl with the written kubeconfig', () => {
  let google: GoogleStandIns
  let kube: { server: Server; url: string; tokensSeen: string[] }
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    tmp = await makeTempDir('gke-kubectl')
    const tls = await makeLoopbackCertificate(tmp.dir)
    google = await startGoogleStandIns({ accessTokenLifetimeSeconds: 120 })
    kube = await startVersionServer(tls, token => google.isValidAccessToken(token))
    google.addCluster({
      project: 'noesis2-test',
      location: 'europe-west3',
      name: 'workers',
      endpoint: kube.url,
      caPem: tls.caPem
    })
  })
  after(async () => {
    await google.stop()
    await new Promise<void>(resolve => {
      kube.server.close(() => resolve())
      kube.server.closeAllConnections()
    })
    await tmp.remove()
  })

  async function kubectlVersion(kubeconfig: string): Promise<{ serverVersion?: { gitVersion?: string } }> {
    const cache = join(tmp.dir, `kubecache-${Math.random().toString(16).slice(2)}`)
    await mkdir(cache)
    const { stdout } = await run('kubectl', ['--kubeconfig', kubeconfig, 'version', '-o', 'json'], {
      env: { PATH: process.env.PATH ?? '', HOME: tmp.dir, KUBECACHEDIR: cache },
      timeout: 60_000
    })
    return JSON.parse(stdout)
  }

  test('kubectl version reaches the server with the IAM token, before and after a refresh', async () => {
    const creds = await google.writeExternalAccountCredentials(tmp.dir)
    const opened = await new GkeKubeconfigSession({
      env: authStepEnv(google, creds),
      location: 'europe-west3',
      clusterName: 'workers',
      dir: tmp.dir
    }).open()
    assert.equal((await kubectlVersion(opened.path)).serverVersion?.gitVersion, 'v1.32.9-gke.1000')
    const firstTokens = new Set(kube.tokensSeen)
    assert.equal(firstTokens.size, 1)
    // 120 s tokens are inside the 300 s margin: ensureFresh swaps in a new one, and kubectl uses it.
    await opened.ensureFresh()
    assert.equal((await kubectlVersion(opened.path)).serverVersion?.gitVersion, 'v1.32.9-gke.1000')
    const after = kube.tokensSeen.at(-1)!
    assert.ok(!firstTokens.has(after), 'kubectl sent the refreshed token')

    await rewriteToken(opened.path, 'ya29.not-issued-by-google-0123456789')
    await assert.rejects(kubectlVersion(opened.path), 'an unknown token is refused by the server')
    await opened.close()
  })
})
