// A registry that lies, floods or stalls: the check stays bounded in bytes and time, never follows a realm to a
// private address, never lets a registry quote our credentials back into a report, and says "unreachable"
// (a warning) rather than trusting a bad answer. The registry here is a small HTTPS server of this test: no real
// registry misbehaves on purpose.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { LOOPBACK_NAMES, makeCertificate, makeCertificateAuthority } from '../rig/shared/tls.js'
import { resolveImage, type ImageResolution } from '../../src/registry/resolve-image.js'
import { httpsTransport, type RegistryTransport } from '../../src/registry/transport.js'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const FLOOD_BYTES = 64 * 1024 * 1024
const GOOGLE_TOKEN = 'ya29.the-deployers-secret-access-token'
const sha256 = (text: string | Buffer): string => `sha256:${createHash('sha256').update(text).digest('hex')}`
const LYING_DIGEST = sha256('something else')

let server: Server
let host: string
let transport: RegistryTransport
let floodBytesWritten = 0
const requestedUrls: string[] = []

before(async () => {
  const ca = await makeCertificateAuthority('hostile-registry-ca')
  const serving = await makeCertificate(ca, {
    commonName: 'registry',
    subjectAltNames: LOOPBACK_NAMES,
    usage: 'server'
  })
  server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const url = req.url ?? '/'
    const [, , scenario, kind, reference] = url.split('?')[0].split('/')
    if (scenario === 'flood' && kind === 'manifests') {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'docker-content-digest': LYING_DIGEST, 'content-type': OCI_MANIFEST })
        res.end()
        return
      }
      res.writeHead(200, { 'content-type': OCI_MANIFEST })
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      const pump = (): void => {
        while (floodBytesWritten < FLOOD_BYTES) {
          floodBytesWritten += chunk.length
          if (!res.write(chunk)) {
            res.once('drain', pump)
            return
          }
        }
        res.end()
      }
      res.on('close', () => res.removeAllListeners('drain'))
      pump()
      return
    }
    if (scenario === 'trickle') {
      res.writeHead(200, { 'content-type': OCI_MANIFEST })
      const timer = setInterval(() => res.write(' '), 50)
      res.on('close', () => clearInterval(timer))
      return
    }
    if (scenario === 'lying' && kind === 'manifests') {
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { digest: LYING_DIGEST }
      })
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': LYING_DIGEST })
      res.end(req.method === 'HEAD' ? undefined : body)
      return
    }
    if (scenario === 'metadata-realm') {
      // A 12 KB challenge of quote-comma soup, then a realm on the metadata server.
      res.writeHead(401, {
        'www-authenticate': `Bearer ${'x=",'.repeat(3000)}, Bearer realm="https://169.254.169.254/computeMetadata/v1/token",service="x"`
      })
      res.end()
      return
    }
    if (scenario === 'echo') {
      res.writeHead(403, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          errors: [
            {
              code: 'DENIED',
              message: `you sent ${req.headers.authorization} (or ${Buffer.from(GOOGLE_TOKEN).toString('base64')})`
            }
          ]
        })
      )
      return
    }
    if (scenario === 'huge-tags') {
      if (kind === 'tags') {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({ name: 'huge-tags', tags: Array.from({ length: 300_000 }, (_, i) => `v${i}`) })
        )
        return
      }
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: `manifest unknown: ${reference}` }] })
      )
      return
    }
    if (scenario === 'wide-index' && kind === 'manifests') {
      const body = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: Array.from({ length: 10_000 }, () => ({ digest: LYING_DIGEST, mediaType: OCI_MANIFEST }))
      })
      res.writeHead(200, {
        'content-type': 'application/vnd.oci.image.index.v1+json',
        'docker-content-digest': sha256(body)
      })
      res.end(req.method === 'HEAD' ? undefined : body)
      return
    }
    res.writeHead(404)
    res.end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  const https = httpsTransport({ ca: ca.certPem })
  transport = request => {
    requestedUrls.push(request.url)
    return https(request)
  }
})

after(async () => {
  server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => resolve()))
})

function expectOutcome<K extends ImageResolution['outcome']>(
  resolution: ImageResolution,
  outcome: K
): Extract<ImageResolution, { outcome: K }> {
  assert.equal(resolution.outcome, outcome, JSON.stringify(resolution, null, 2))
  return resolution as Extract<ImageResolution, { outcome: K }>
}

describe('a hostile registry', () => {
  test('a 64 MiB manifest: the read stops at the limit, the answer is refused', async t => {
    const started = Date.now()
    const resolution = expectOutcome(
      await resolveImage({ image: `${host}/flood:v1`, transport }),
      'unreachable'
    )
    assert.equal(resolution.reason, 'bad-answer')
    assert.match(resolution.cause, /larger than 4194304 bytes/)
    assert.ok(Date.now() - started < 10_000)
    assert.ok(floodBytesWritten < 16 * 1024 * 1024, `the server got to write ${floodBytesWritten} bytes`)
    t.diagnostic(
      `the flooding server wrote ${floodBytesWritten} bytes of its 64 MiB before the client hung up`
    )
  })

  test('a registry that trickles a byte at a time: cut off at the request deadline', async () => {
    const started = Date.now()
    const resolution = expectOutcome(
      await resolveImage({ image: `${host}/trickle:v1`, transport, requestTimeoutMs: 300 }),
      'unreachable'
    )
    assert.equal(resolution.reason, 'timeout')
    assert.ok(Date.now() - started < 3000)
  })

  test('the whole check has a deadline too, however many requests it makes', async () => {
    const resolution = expectOutcome(
      await resolveImage({
        image: `${host}/trickle:v1`,
        transport,
        requestTimeoutMs: 10_000,
        timeoutMs: 400
      }),
      'unreachable'
    )
    assert.equal(resolution.reason, 'timeout')
  })

  test('a token provider that never answers is cut off at the deadline too', async () => {
    const resolution = expectOutcome(
      await resolveImage({
        image: `${host}/lying:v1`,
        transport,
        googleAccessToken: () => new Promise<string>(() => undefined),
        takesGoogleToken: registry => registry === host,
        timeoutMs: 300
      }),
      'unreachable'
    )
    assert.equal(resolution.reason, 'timeout')
  })

  test('a manifest that does not hash to its digest is not trusted', async () => {
    const resolution = expectOutcome(
      await resolveImage({ image: `${host}/lying:v1`, transport }),
      'unreachable'
    )
    assert.equal(resolution.reason, 'bad-answer')
    assert.match(resolution.cause, /does not hash to the digest/)
  })

  test('a realm on the metadata server is never called, and a 12 KB challenge is read in passing', async () => {
    const resolution = expectOutcome(
      await resolveImage({ image: `${host}/metadata-realm:v1`, transport }),
      'denied'
    )
    assert.equal(resolution.severity, 'warning')
    assert.ok(!requestedUrls.some(url => url.includes('169.254.169.254')), requestedUrls.join('\n'))
  })

  test('a registry quoting our token back: the report carries it nowhere', async () => {
    const resolution = expectOutcome(
      await resolveImage({
        image: `${host}/echo:v1`,
        transport,
        googleAccessToken: async () => GOOGLE_TOKEN,
        takesGoogleToken: registry => registry === host
      }),
      'denied'
    )
    assert.match(resolution.registryMessage ?? '', /^DENIED: you sent Bearer \*\*\* \(or \*\*\*\)$/)
    const text = JSON.stringify(resolution)
    assert.ok(!text.includes(GOOGLE_TOKEN) && !text.includes(Buffer.from(GOOGLE_TOKEN).toString('base64')))
  })

  test('a tag list of several MiB is not read past its limit: the image is still reported missing', async () => {
    const resolution = expectOutcome(
      await resolveImage({ image: `${host}/huge-tags:v1`, transport }),
      'not-found'
    )
    assert.equal(resolution.tagsListed, false)
  })

  test('an index of 10,000 entries is refused', async () => {
    const resolution = expectOutcome(
      await resolveImage({ image: `${host}/wide-index:v1`, transport }),
      'unreachable'
    )
    assert.match(resolution.cause, /lists more than 256 manifests/)
  })
})
