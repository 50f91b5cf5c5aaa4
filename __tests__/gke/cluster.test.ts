import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { startGoogleStandIns, type GoogleStandIns } from '../rig/gcp/index.js'
import { getAccessTokenSource } from '../../src/gke/credentials.js'
import {
  containerApiBaseUrl,
  getCluster,
  parseClusterName,
  selectEndpoint,
  DEFAULT_CONTAINER_API,
  type GkeCluster
} from '../../src/gke/cluster.js'
import { GkeError } from '../../src/gke/errors.js'
import { FAKE_CA_PEM, assertNoSecretIn, authStepEnv, makeTempDir } from './fixtures.js'

function isGkeError(code: string, check: (message: string) => void) {
  return (err: unknown) => {
    assert.ok(err instanceof GkeError, String(err))
    assert.equal(err.code, code)
    check(err.message)
    return true
  }
}

describe('GKE cluster lookup', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  let token: string
  const project = 'noesis2-test'
  before(async () => {
    google = await startGoogleStandIns({
      projectId: project,
      clusters: [
        {
          project,
          location: 'europe-west3',
          name: 'workers',
          endpoint: '127.0.0.1:6443',
          caPem: FAKE_CA_PEM
        },
        {
          project,
          location: 'europe-west3',
          name: 'private',
          endpoint: '34.89.1.2',
          privateEndpoint: '10.10.0.2',
          dnsEndpoint: 'gke-0123abcd-europe-west3.gke.goog',
          caPem: FAKE_CA_PEM
        },
        {
          project,
          location: 'europe-west3',
          name: 'internal-only',
          endpoint: '34.89.1.3',
          privateEndpoint: '10.10.0.3',
          enablePublicEndpoint: false,
          caPem: FAKE_CA_PEM
        },
        {
          project,
          location: 'europe-west3',
          name: 'broken',
          status: 'ERROR',
          endpoint: '1.2.3.4',
          caPem: FAKE_CA_PEM
        },
        {
          project,
          location: 'europe-west3',
          name: 'new',
          status: 'PROVISIONING',
          endpoint: '1.2.3.5',
          caPem: FAKE_CA_PEM
        },
        {
          project,
          location: 'europe-west3',
          name: 'upgrading',
          status: 'RECONCILING',
          endpoint: '1.2.3.6',
          caPem: FAKE_CA_PEM
        }
      ]
    })
    tmp = await makeTempDir('gke-cluster')
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    token = (await (await getAccessTokenSource({ env: authStepEnv(google, path) })).getToken()).token
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  const lookup = (clusterName: string, extra: Partial<Parameters<typeof getCluster>[0]> = {}) =>
    getCluster({
      projectId: project,
      location: 'europe-west3',
      clusterName,
      token,
      apiBaseUrl: google.containerApiUrl,
      ...extra
    })

  test('the API base honours CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER', () => {
    assert.equal(containerApiBaseUrl({}), DEFAULT_CONTAINER_API)
    assert.equal(
      containerApiBaseUrl({ CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: 'http://127.0.0.1:9/x' }),
      'http://127.0.0.1:9/x/'
    )
    assert.equal(
      containerApiBaseUrl({ CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: google.containerApiUrl }),
      google.containerApiUrl
    )
  })

  test('a RUNNING cluster: public endpoint with the cluster CA', async () => {
    const cluster = await lookup('workers')
    assert.equal(cluster.status, 'RUNNING')
    assert.equal(cluster.resourceName, `projects/${project}/locations/europe-west3/clusters/workers`)
    assert.equal(cluster.caPem, FAKE_CA_PEM)
    assert.deepEqual(selectEndpoint(cluster, 'public'), {
      server: 'https://127.0.0.1:6443',
      caPem: FAKE_CA_PEM
    })
    assert.ok(
      google
        .requests()
        .some(r => r.path === `/container/v1/projects/${project}/locations/europe-west3/clusters/workers`)
    )
  })

  test('a full resource name wins over project and location', async () => {
    assert.deepEqual(parseClusterName(`projects/p1/locations/us-central1/clusters/c`, 'x', 'y'), {
      project: 'p1',
      location: 'us-central1',
      name: 'c'
    })
    const cluster = await lookup(`projects/${project}/locations/europe-west3/clusters/workers`, {
      projectId: 'other-project',
      location: 'asia-east1'
    })
    assert.equal(cluster.name, 'workers')
  })

  test('private and DNS endpoints', async () => {
    const cluster = await lookup('private')
    assert.deepEqual(selectEndpoint(cluster, 'private'), { server: 'https://10.10.0.2', caPem: FAKE_CA_PEM })
    assert.deepEqual(selectEndpoint(cluster, 'public'), { server: 'https://34.89.1.2', caPem: FAKE_CA_PEM })
    // DNS endpoints present a publicly trusted certificate: no CA data.
    assert.deepEqual(selectEndpoint(cluster, 'dns'), { server: 'https://gke-0123abcd-europe-west3.gke.goog' })
  })

  test('an endpoint kind the cluster does not have is refused with the way to enable it', async () => {
    const plain = await lookup('workers')
    assert.throws(
      () => selectEndpoint(plain, 'private'),
      isGkeError('ENDPOINT_NOT_ENABLED', m => assert.match(m, /no private IP endpoint/))
    )
    assert.throws(
      () => selectEndpoint(plain, 'dns'),
      isGkeError('ENDPOINT_NOT_ENABLED', m => assert.match(m, /--enable-dns-access/))
    )
    const internal = await lookup('internal-only')
    assert.throws(
      () => selectEndpoint(internal, 'public'),
      isGkeError('ENDPOINT_NOT_ENABLED', m => assert.match(m, /public endpoint is disabled/))
    )
    assert.equal(selectEndpoint(internal, 'private').server, 'https://10.10.0.3')
  })

  test('not found names project, location and cluster and suggests checking the location', async () => {
    await assert.rejects(
      lookup('workers', { location: 'europe-west3-a' }),
      isGkeError('CLUSTER_NOT_FOUND', m => {
        assert.match(m, /"workers"/)
        assert.match(m, /project "noesis2-test"/)
        assert.match(m, /location "europe-west3-a"/)
        assert.match(m, /check[^.]*location/i)
        assert.match(m, /Did you mean \[workers\] in \[europe-west3\]/)
      })
    )
  })

  test('a cluster that is not RUNNING names its status; RECONCILING is usable', async () => {
    await assert.rejects(
      lookup('broken'),
      isGkeError('CLUSTER_NOT_RUNNING', m => assert.match(m, /is ERROR/))
    )
    await assert.rejects(
      lookup('new'),
      isGkeError('CLUSTER_NOT_RUNNING', m => assert.match(m, /is PROVISIONING/))
    )
    const upgrading: GkeCluster = await lookup('upgrading')
    assert.equal(upgrading.status, 'RECONCILING')
  })

  test('an invalid token is a 401 from the API', async () => {
    const bogus = 'ya29.not-a-real-token-0123456789'
    await assert.rejects(
      lookup('workers', { token: bogus }),
      isGkeError('AUTH_FAILED', m => {
        assert.match(m, /HTTP 401/)
        assertNoSecretIn([m], [bogus, token], 'the error')
      })
    )
  })
})

describe('GKE cluster lookup without permission', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    google = await startGoogleStandIns({
      denyClusterAccess: true,
      clusters: [
        {
          project: 'noesis2-test',
          location: 'europe-west3',
          name: 'workers',
          endpoint: '1.2.3.4',
          caPem: FAKE_CA_PEM
        }
      ]
    })
    tmp = await makeTempDir('gke-denied')
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  test('permission denied names the role, the permission and the service account', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    const source = await getAccessTokenSource({ env: authStepEnv(google, path) })
    const { token } = await source.getToken()
    await assert.rejects(
      getCluster({
        projectId: 'noesis2-test',
        location: 'europe-west3',
        clusterName: 'workers',
        token,
        apiBaseUrl: google.containerApiUrl,
        serviceAccountEmail: source.serviceAccountEmail
      }),
      isGkeError('PERMISSION_DENIED', m => {
        assert.match(m, /roles\/container\.clusterViewer/)
        assert.match(m, /container\.clusters\.get/)
        assert.ok(m.includes(google.serviceAccountEmail))
        assertNoSecretIn([m], [token], 'the error')
      })
    )
  })
})

describe('GKE cluster lookup: a proxy\u2019s error page that quotes the request', () => {
  // Not Google's error shape (a proxy in front of the API), and the token sits where a cut at 300 characters
  // fell: redacted first, no part of it in the message.
  const token = 'ya29.a0AfB_byC-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH'
  let server: import('node:http').Server
  let url: string
  before(async () => {
    const { createServer } = await import('node:http')
    server = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end(`<html>${'x'.repeat(276)} token=${token} upstream failed</html>`)
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
  })
  after(() => new Promise<void>(resolve => server.close(() => resolve())))

  test('the message holds no part of the token', async () => {
    await assert.rejects(
      getCluster({
        projectId: 'p-1234',
        location: 'europe-west3',
        clusterName: 'workers',
        token,
        apiBaseUrl: url
      }),
      (error: unknown) => {
        const message = (error as Error).message
        assert.ok(!message.includes('ya29'), message)
        assert.ok(!message.includes(token.slice(-12)), message)
        return true
      }
    )
  })
})
