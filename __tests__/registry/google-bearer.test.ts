// Artifact Registry's own shortcut, which the distribution registry of the rig does not offer: its Docker API
// takes the Google access token itself as the Bearer token (`curl -H "Authorization: Bearer $(gcloud auth
// print-access-token)" https://LOCATION-docker.pkg.dev/v2/...`, in its documentation). A stand-in for that one
// Google behaviour: the check then needs no token flow, and the realm is never asked.

import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { LOOPBACK_NAMES, makeCertificate, makeCertificateAuthority } from '../rig/shared/tls.js'
import { resolveImage } from '../../src/registry/resolve-image.js'
import { httpsTransport } from '../../src/registry/transport.js'

const TOKEN = 'ya29.deployer-access-token'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const CONFIG = JSON.stringify({ architecture: 'amd64', os: 'linux', config: {} })
const sha256 = (text: string): string => `sha256:${createHash('sha256').update(text).digest('hex')}`
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: {
    mediaType: 'application/vnd.oci.image.config.v1+json',
    digest: sha256(CONFIG),
    size: CONFIG.length
  },
  layers: []
})

let server: Server
let host: string
let caPem: string
const seen: Array<{ method: string; path: string; authorization: string }> = []

before(async () => {
  const ca = await makeCertificateAuthority('artifact-registry-stand-in')
  caPem = ca.certPem
  const serving = await makeCertificate(ca, {
    commonName: 'ar',
    subjectAltNames: LOOPBACK_NAMES,
    usage: 'server'
  })
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const path = req.url ?? '/'
    seen.push({ method: req.method ?? '', path, authorization: req.headers.authorization ?? '' })
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="https://${host}/v2/token",service="${host}"` })
      res.end()
      return
    }
    if (
      path === '/v2/proj/app/web/manifests/v1' ||
      path === `/v2/proj/app/web/manifests/${sha256(MANIFEST)}`
    ) {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': sha256(MANIFEST) })
      res.end(req.method === 'HEAD' ? undefined : MANIFEST)
      return
    }
    if (path === `/v2/proj/app/web/blobs/${sha256(CONFIG)}`) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.end(CONFIG)
      return
    }
    res.writeHead(404)
    res.end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`
})

after(async () => {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
})

test('the access token goes as Bearer on the first request: three requests, no token flow', async () => {
  const resolution = await resolveImage({
    image: `${host}/proj/app/web:v1`,
    transport: httpsTransport({ ca: caPem }),
    googleAccessToken: async () => TOKEN,
    takesGoogleToken: registry => registry === host
  })
  assert.equal(resolution.outcome, 'resolved', JSON.stringify(resolution))
  assert.equal(resolution.requests, 3)
  assert.deepEqual(
    seen.map(s => `${s.method} ${s.path}`),
    [
      'HEAD /v2/proj/app/web/manifests/v1',
      `GET /v2/proj/app/web/manifests/${sha256(MANIFEST)}`,
      `GET /v2/proj/app/web/blobs/${sha256(CONFIG)}`
    ]
  )
  assert.ok(seen.every(s => s.authorization === `Bearer ${TOKEN}`))
})
