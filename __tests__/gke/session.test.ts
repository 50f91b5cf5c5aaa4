import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, readdir, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { parse } from 'yaml'
import { startGoogleStandIns, type GoogleStandIns } from '../rig/gcp/index.js'
import { GkeKubeconfigSession } from '../../src/gke/session.js'
import { getAccessTokenSource, type AccessTokenSource } from '../../src/gke/credentials.js'
import { GkeError } from '../../src/gke/errors.js'
import { FAKE_CA_PEM, assertNoSecretIn, authStepEnv, captureLog, makeTempDir } from './fixtures.js'

async function kubeconfigToken(path: string): Promise<string> {
  return parse(await readFile(path, 'utf8')).users[0].user.token
}

const cluster = (project: string) => ({
  project,
  location: 'europe-west3',
  name: 'workers',
  endpoint: '127.0.0.1:6443',
  privateEndpoint: '10.20.0.2',
  dnsEndpoint: 'gke-abc-europe-west3.gke.goog',
  caPem: FAKE_CA_PEM
})

describe('GkeKubeconfigSession end to end against the stand-ins', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    google = await startGoogleStandIns({ clusters: [cluster('noesis2-test')] })
    tmp = await makeTempDir('gke-session')
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  for (const impersonate of [true, false]) {
    test(`workload identity federation ${impersonate ? 'with' : 'without'} impersonation writes a working kubeconfig`, async () => {
      const creds = await google.writeExternalAccountCredentials(tmp.dir, { impersonate })
      const { log, messages } = captureLog()
      const tokens: string[] = []
      const session = new GkeKubeconfigSession({
        env: authStepEnv(google, creds),
        location: 'europe-west3',
        clusterName: 'workers',
        namespace: 'noesis2',
        dir: tmp.dir,
        log,
        onToken: t => tokens.push(t)
      })
      const opened = await session.open()
      assert.equal(dirname(opened.path), tmp.dir)
      assert.equal(opened.projectId, 'noesis2-test')
      assert.equal(opened.server, 'https://127.0.0.1:6443')
      assert.equal((await stat(opened.path)).mode & 0o777, 0o600)
      const doc = parse(await readFile(opened.path, 'utf8'))
      assert.equal(doc['current-context'], 'gke_noesis2-test_europe-west3_workers')
      assert.equal(doc.contexts[0].context.namespace, 'noesis2')
      assert.equal(
        Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(),
        FAKE_CA_PEM
      )
      assert.equal(tokens.length, 1)
      assert.equal(doc.users[0].user.token, tokens[0])
      assert.ok(google.isValidAccessToken(tokens[0]!))
      // Fresh for an hour: ensureFresh neither mints nor rewrites.
      const minted = google.issuedAccessTokens()
      await opened.ensureFresh()
      assert.equal(google.issuedAccessTokens(), minted)
      assert.equal(await kubeconfigToken(opened.path), tokens[0])
      await opened.close()
      await assert.rejects(stat(opened.path), { code: 'ENOENT' })
      await opened.close()
      assertNoSecretIn(messages, [...tokens, google.oidcRequestToken], 'log messages')
    })
  }

  test('a service account key works the same way, private endpoint chosen', async () => {
    const key = await google.writeServiceAccountKey(tmp.dir)
    const opened = await new GkeKubeconfigSession({
      env: {
        GOOGLE_APPLICATION_CREDENTIALS: key,
        CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: google.containerApiUrl
      },
      location: 'europe-west3',
      clusterName: 'workers',
      endpoint: 'private',
      dir: tmp.dir
    }).open()
    assert.equal(opened.server, 'https://10.20.0.2')
    assert.ok(google.isValidAccessToken(await kubeconfigToken(opened.path)))
    await opened.close()
  })

  test('dns endpoint: no CA data in the kubeconfig', async () => {
    const creds = await google.writeExternalAccountCredentials(tmp.dir)
    const opened = await new GkeKubeconfigSession({
      env: authStepEnv(google, creds),
      location: 'europe-west3',
      clusterName: 'workers',
      endpoint: 'dns',
      dir: tmp.dir
    }).open()
    const doc = parse(await readFile(opened.path, 'utf8'))
    assert.deepEqual(doc.clusters[0].cluster, { server: 'https://gke-abc-europe-west3.gke.goog' })
    await opened.close()
  })

  test('no credentials: the auth-step error, and no kubeconfig written', async () => {
    const before = await readdir(tmp.dir)
    await assert.rejects(
      new GkeKubeconfigSession({
        env: {},
        location: 'europe-west3',
        clusterName: 'workers',
        dir: tmp.dir
      }).open(),
      (err: unknown) => err instanceof GkeError && err.code === 'NO_CREDENTIALS'
    )
    assert.deepEqual(await readdir(tmp.dir), before)
  })

  test('a missing cluster fails before any kubeconfig is written', async () => {
    const creds = await google.writeExternalAccountCredentials(tmp.dir)
    const before = (await readdir(tmp.dir)).filter(f => f.startsWith('kubeconfig'))
    const tokens: string[] = []
    await assert.rejects(
      new GkeKubeconfigSession({
        env: authStepEnv(google, creds),
        location: 'us-central1',
        clusterName: 'workers',
        dir: tmp.dir,
        onToken: t => tokens.push(t)
      }).open(),
      (err: unknown) => {
        assert.ok(err instanceof GkeError && err.code === 'CLUSTER_NOT_FOUND')
        assertNoSecretIn([err.message], tokens, 'the error')
        return true
      }
    )
    assert.deepEqual(
      (await readdir(tmp.dir)).filter(f => f.startsWith('kubeconfig')),
      before
    )
  })
})

describe('GkeKubeconfigSession token refresh', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    // 60 s tokens under the default 300 s margin: every ensureFresh must replace the token.
    google = await startGoogleStandIns({
      accessTokenLifetimeSeconds: 60,
      clusters: [cluster('noesis2-test')]
    })
    tmp = await makeTempDir('gke-session-refresh')
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  test('ensureFresh rewrites the kubeconfig with a new IAM token and reports it for masking', async () => {
    const creds = await google.writeExternalAccountCredentials(tmp.dir)
    const { log, messages } = captureLog()
    const tokens: string[] = []
    const opened = await new GkeKubeconfigSession({
      env: authStepEnv(google, creds),
      location: 'europe-west3',
      clusterName: 'workers',
      dir: tmp.dir,
      log,
      onToken: t => tokens.push(t)
    }).open()
    const seen = [await kubeconfigToken(opened.path)]
    for (let i = 0; i < 3; i++) {
      const minted = google.issuedAccessTokens()
      await opened.ensureFresh()
      assert.ok(google.issuedAccessTokens() > minted, 'a new token was minted')
      const now = await kubeconfigToken(opened.path)
      assert.ok(!seen.includes(now), 'the kubeconfig token changed')
      assert.ok(google.isValidAccessToken(now))
      seen.push(now)
      assert.equal((await stat(opened.path)).mode & 0o777, 0o600)
    }
    assert.deepEqual(tokens, seen, 'every token passed to onToken before use')
    assert.deepEqual(
      (await readdir(tmp.dir)).filter(f => f.endsWith('.tmp')),
      []
    )
    assertNoSecretIn(messages, [...seen, google.oidcRequestToken], 'log messages')
    await opened.close()
  })

  test('concurrent ensureFresh calls share one refresh', async () => {
    const creds = await google.writeExternalAccountCredentials(tmp.dir)
    const opened = await new GkeKubeconfigSession({
      env: authStepEnv(google, creds),
      location: 'europe-west3',
      clusterName: 'workers',
      dir: tmp.dir
    }).open()
    const minted = google.issuedAccessTokens()
    await Promise.all([opened.ensureFresh(), opened.ensureFresh(), opened.ensureFresh()])
    // One refresh = STS + IAM.
    assert.equal(google.issuedAccessTokens() - minted, 2)
    await opened.close()
  })
})

describe('GkeKubeconfigSession with an injected clock', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    google = await startGoogleStandIns({ clusters: [cluster('noesis2-test')] })
    tmp = await makeTempDir('gke-session-clock')
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  test('refreshes only once the clock reaches the margin', async () => {
    const creds = await google.writeExternalAccountCredentials(tmp.dir)
    let clock = 1_000_000
    let issued = 0
    // A margin beyond the token life makes the real source mint a new token per call; the wrapper dates
    // each one an hour after the injected clock, so only the session's clock decides when to refresh.
    const real = await getAccessTokenSource({ env: authStepEnv(google, creds), refreshMarginSeconds: 7200 })
    const source: AccessTokenSource = {
      credentialsType: real.credentialsType,
      credentialsPath: real.credentialsPath,
      serviceAccountEmail: real.serviceAccountEmail,
      principal: real.principal,
      getToken: async () => {
        const { token } = await real.getToken()
        issued++
        return { token, expiresAt: new Date(clock + 3600_000) }
      }
    }
    const opened = await new GkeKubeconfigSession({
      env: authStepEnv(google, creds),
      location: 'europe-west3',
      clusterName: 'workers',
      dir: tmp.dir,
      refreshMarginSeconds: 300,
      now: () => clock,
      tokenSource: source
    }).open()
    const first = await kubeconfigToken(opened.path)
    clock += 3600_000 - 301_000
    await opened.ensureFresh()
    assert.equal(issued, 1)
    assert.equal(await kubeconfigToken(opened.path), first)
    clock += 2_000
    await opened.ensureFresh()
    assert.equal(issued, 2)
    assert.notEqual(await kubeconfigToken(opened.path), first)
    await opened.close()
  })
})
