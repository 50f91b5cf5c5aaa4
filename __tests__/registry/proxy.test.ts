// The registry check behind a runner's HTTP proxy, against the real registry rig reached as
// europe-west3-docker.pkg.dev through a CONNECT proxy (the rig's certificate names that host): the proxy sees
// only tunnels, the check takes the Artifact Registry path with the Google token, keeps its tunnels alive
// across requests, reaches loopback hosts directly, and says "unreachable" when the proxy refuses. The CA:
// NODE_EXTRA_CA_CERTS in a process of its own, as on a runner (Node reads it at start-up).

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startGoogleStandIns, type GoogleStandIns } from '../rig/gcp/index.js'
import { startRegistry, type RegistryRig } from '../rig/registry/index.js'
import { startConnectProxy, type ConnectProxy } from '../rig/registry/connect-proxy.js'
import { resolveImage, type ImageResolution } from '../../src/registry/resolve-image.js'
import { httpsTransport } from '../../src/registry/transport.js'
import { proxySettingsFromEnv } from '../../src/registry/proxy.js'
import { REPO_ROOT } from '../support/run-action.js'

const DEPLOYER = 'deployer@noesis2-test.iam.gserviceaccount.com'
const NAME = 'europe-west3-docker.pkg.dev'

let google: GoogleStandIns
let proxy: ConnectProxy
let authProxy: ConnectProxy
let rig: RegistryRig
let token: string
let directory: string
let index: string

before(async () => {
  google = await startGoogleStandIns({ metadataServiceAccount: DEPLOYER, serviceAccountEmail: DEPLOYER })
  proxy = await startConnectProxy()
  authProxy = await startConnectProxy({
    requireAuthorization: `Basic ${Buffer.from('runner:pr0xy pass').toString('base64')}`
  })
  rig = await startRegistry({
    principalOfAccessToken: t => google.principalOfAccessToken(t),
    serveAs: { name: NAME, proxy }
  })
  for (const [from, to] of [
    [`${NAME}:443`, rig.address],
    [`${rig.tokenHost}`, `127.0.0.1:${rig.tokenHost.split(':')[1]}`]
  ]) {
    authProxy.route(from, to)
  }
  token = await fetch(
    `http://${google.metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
    { headers: { 'Metadata-Flavor': 'Google' } }
  ).then(async res => ((await res.json()) as { access_token: string }).access_token)
  index = (
    await rig.pushIndex(rig.reference('noesis2-prod/app/web', 'v1'), [
      { platform: 'linux/amd64', content: 'web v1' },
      { platform: 'linux/arm64', content: 'web v1' }
    ])
  ).digest
  directory = await mkdtemp(path.join(os.tmpdir(), 'registry-proxy-'))
  await writeFile(path.join(directory, 'ca.crt'), rig.caPem)
})

after(async () => {
  await rig?.stop()
  await Promise.all([proxy?.stop(), authProxy?.stop(), google?.stop()])
  if (directory) await rm(directory, { recursive: true, force: true })
})

function resolveThrough(
  env: Record<string, string>,
  image: string,
  takesGoogleToken?: (host: string) => boolean
) {
  const transport = httpsTransport({ ca: rig.caPem, proxy: proxySettingsFromEnv(env) })
  return {
    transport,
    resolution: resolveImage({
      image,
      transport,
      googleAccessToken: async () => token,
      deployer: DEPLOYER,
      ...(takesGoogleToken ? { takesGoogleToken } : {})
    })
  }
}

describe('the registry behind a proxy', () => {
  test('Artifact Registry by name through the proxy, with the Google token; one tunnel per host, kept alive', async () => {
    const before = proxy.connects().length
    const { transport, resolution } = resolveThrough(
      { HTTPS_PROXY: proxy.url },
      `${NAME}/noesis2-prod/app/web:v1`
    )
    const resolved = await resolution
    assert.equal(resolved.outcome, 'resolved', JSON.stringify(resolved))
    assert.equal((resolved as Extract<ImageResolution, { outcome: 'resolved' }>).digest, index)
    const tunnels = proxy.connects().slice(before)
    // The registry and its token realm, each once, however many requests went through (HEAD, GETs, token).
    assert.deepEqual(tunnels.map(t => t.target).sort(), [`${NAME}:443`, rig.tokenHost].sort())
    assert.equal(transport.tunnels(), 2)
    assert.ok(resolved.requests >= 4, `requests: ${resolved.requests}`)
    // The token server saw the Google principal: the realm got the token as Artifact Registry's does.
    assert.ok(rig.tokenRequests().some(r => r.who === DEPLOYER && r.granted.length > 0))
  })

  test('a host NO_PROXY names, and a loopback address, are asked directly', async () => {
    let before = proxy.connects().length
    // The registry by its address (the Google token allowed there for this test): only its realm, which is on
    // the name, goes through the proxy.
    const direct = await resolveThrough(
      { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com' },
      `${rig.address}/noesis2-prod/app/web:v1`,
      host => host === rig.address || host === rig.tokenHost
    ).resolution
    assert.equal(direct.outcome, 'resolved', JSON.stringify(direct))
    assert.deepEqual(
      proxy
        .connects()
        .slice(before)
        .map(c => c.target),
      [rig.tokenHost],
      'loopback is never proxied'
    )
    before = proxy.connects().length

    // .invalid never resolves (RFC 2606): asked directly, it is unreachable, and the proxy never saw it.
    const exempt = await resolveThrough(
      { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com, .invalid' },
      'registry.invalid/noesis2-prod/app/web:v1'
    ).resolution
    assert.equal(exempt.outcome, 'unreachable')
    assert.equal(proxy.connects().length, before, 'NO_PROXY kept it off the proxy')
    const proxied = await resolveThrough(
      { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com' },
      'registry.invalid/noesis2-prod/app/web:v1'
    ).resolution
    assert.equal(proxied.outcome, 'unreachable')
    assert.deepEqual(
      proxy
        .connects()
        .slice(before)
        .map(c => [c.target, c.status]),
      [['registry.invalid:443', 502]]
    )
  })

  test('a proxy that refuses the tunnel: unreachable, a warning with the proxy answer', async () => {
    const { resolution } = resolveThrough(
      { HTTPS_PROXY: proxy.url },
      'europe-west1-docker.pkg.dev/p/app/web:v1'
    )
    const refused = await resolution
    assert.equal(refused.outcome, 'unreachable')
    const unreachable = refused as Extract<ImageResolution, { outcome: 'unreachable' }>
    assert.equal(unreachable.severity, 'warning')
    assert.equal(unreachable.reason, 'network')
    assert.match(
      unreachable.registryMessage ?? '',
      /refused a tunnel to europe-west1-docker\.pkg\.dev:443 \(HTTP 502\)/
    )
    assert.ok(unreachable.durationMs < 5000)
  })

  test('a proxy that never answers the CONNECT: the check ends at its deadline, unreachable', async () => {
    const held = new Set<Socket>()
    const silent = createServer(socket => held.add(socket))
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', () => resolve()))
    try {
      const started = Date.now()
      const resolution = await resolveImage({
        image: `${NAME}/noesis2-prod/app/web:v1`,
        transport: httpsTransport({
          ca: rig.caPem,
          proxy: proxySettingsFromEnv({ HTTPS_PROXY: `127.0.0.1:${(silent.address() as AddressInfo).port}` })
        }),
        googleAccessToken: async () => token,
        requestTimeoutMs: 300
      })
      assert.equal(resolution.outcome, 'unreachable')
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`)
    } finally {
      for (const socket of held) socket.destroy()
      await new Promise<void>(resolve => silent.close(() => resolve()))
    }
  })

  test('a proxy that wants credentials gets them from HTTPS_PROXY, and only the proxy does', async () => {
    const withCredentials = `http://runner:${encodeURIComponent('pr0xy pass')}@${new URL(authProxy.url).host}`
    const ok = await resolveThrough({ https_proxy: withCredentials }, `${NAME}/noesis2-prod/app/web:v1`)
      .resolution
    assert.equal(ok.outcome, 'resolved', JSON.stringify(ok))
    assert.ok(authProxy.connects().every(c => c.status === 200))
    assert.doesNotMatch(JSON.stringify(ok), /pr0xy/)

    const without = await resolveThrough({ HTTPS_PROXY: authProxy.url }, `${NAME}/noesis2-prod/app/web:v1`)
      .resolution
    assert.equal(without.outcome, 'unreachable')
    assert.match(
      (without as Extract<ImageResolution, { outcome: 'unreachable' }>).registryMessage ?? '',
      /HTTP 407/
    )
  })

  // Node reads NODE_EXTRA_CA_CERTS when it starts: a process of its own, with and without it, and no `ca`.
  test('the registry CA from NODE_EXTRA_CA_CERTS, inside the tunnel', async () => {
    const script = path.join(directory, 'resolve.mts')
    await writeFile(
      script,
      `import { resolveImage } from ${JSON.stringify(path.join(REPO_ROOT, 'src/registry/resolve-image.ts'))}
import { httpsTransport } from ${JSON.stringify(path.join(REPO_ROOT, 'src/registry/transport.ts'))}
import { proxySettingsFromEnv } from ${JSON.stringify(path.join(REPO_ROOT, 'src/registry/proxy.ts'))}
const proxy = proxySettingsFromEnv(process.env)
const resolution = await resolveImage({
  image: process.env.IMAGE!,
  transport: httpsTransport(proxy ? { proxy } : {}),
  googleAccessToken: async () => process.env.TOKEN!
})
process.stdout.write(JSON.stringify({ outcome: resolution.outcome, reason: (resolution as { reason?: string }).reason }))
`
    )
    const run = (extra: Record<string, string>) =>
      new Promise<{ outcome: string; reason?: string }>((resolve, reject) => {
        execFile(
          process.execPath,
          ['--import', 'tsx', script],
          {
            cwd: REPO_ROOT,
            env: {
              PATH: process.env.PATH ?? '',
              HTTPS_PROXY: proxy.url,
              IMAGE: `${NAME}/noesis2-prod/app/web:v1`,
              TOKEN: token,
              ...extra
            },
            timeout: 60_000
          },
          (error, stdout, stderr) =>
            error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout))
        )
      })
    assert.deepEqual(await run({ NODE_EXTRA_CA_CERTS: path.join(directory, 'ca.crt') }), {
      outcome: 'resolved'
    })
    assert.deepEqual(await run({}), { outcome: 'unreachable', reason: 'tls' })
  })
})
