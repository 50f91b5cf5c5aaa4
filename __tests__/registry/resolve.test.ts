// The registry check against a real registry: the CNCF distribution registry of the test rig, with TLS, the
// token flow, and the Google stand-in's access tokens as credentials, as Artifact Registry takes them. Every
// outcome the deploy's pre-flight acts on, each from what the registry really answered.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startGoogleStandIns, type GoogleStandIns } from '../rig/gcp/index.js'
import { freePort, startRegistry, type RegistryRig } from '../rig/registry/index.js'
import {
  resolveImage,
  type ImageResolution,
  type ResolveImageOptions
} from '../../src/registry/resolve-image.js'
import { httpsTransport, type RegistryTransport } from '../../src/registry/transport.js'

const DEPLOYER = 'deployer@noesis2-test.iam.gserviceaccount.com'
const AMD64 = { os: 'linux', architecture: 'amd64' }
const ARM64 = { os: 'linux', architecture: 'arm64' }

let google: GoogleStandIns
let rig: RegistryRig
let transport: RegistryTransport
let deployerToken: string
const pushed: Record<string, string> = {}

async function metadataToken(): Promise<string> {
  const res = await fetch(
    `http://${google.metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
    {
      headers: { 'Metadata-Flavor': 'Google' }
    }
  )
  return ((await res.json()) as { access_token: string }).access_token
}

function resolve(image: string, options: Partial<ResolveImageOptions> = {}): Promise<ImageResolution> {
  return resolveImage({
    image,
    transport,
    googleAccessToken: async () => deployerToken,
    // The rig's registry and its token realm stand for an Artifact Registry host.
    takesGoogleToken: host => host === rig.host || host === rig.tokenHost,
    deployer: DEPLOYER,
    ...options
  })
}

function expectOutcome<K extends ImageResolution['outcome']>(
  resolution: ImageResolution,
  outcome: K
): Extract<ImageResolution, { outcome: K }> {
  assert.equal(resolution.outcome, outcome, JSON.stringify(resolution, null, 2))
  return resolution as Extract<ImageResolution, { outcome: K }>
}

before(async () => {
  google = await startGoogleStandIns({ metadataServiceAccount: DEPLOYER, serviceAccountEmail: DEPLOYER })
  rig = await startRegistry({
    principalOfAccessToken: token => google.principalOfAccessToken(token),
    deniedRepositories: ['secret/web'],
    publicRepositories: ['public/web']
  })
  transport = httpsTransport({ ca: rig.caPem })
  deployerToken = await metadataToken()
  const index = await rig.pushIndex(rig.reference('app/web', 'v1.2.3'), [
    { platform: 'linux/amd64', content: 'web v1.2.3' },
    { platform: 'linux/arm64', content: 'web v1.2.3' }
  ])
  pushed.index = index.digest
  pushed.indexAmd64 = index.manifests[0].digest
  pushed.indexArm64 = index.manifests[1].digest
  pushed.single = await rig.pushImage(rig.reference('app/web', 'single'), {
    platform: 'linux/amd64',
    content: 'one'
  })
  for (const tag of ['v1.2.2', 'v1.2.0', 'v1.3.0', 'latest']) {
    await rig.crane(['tag', rig.reference('app/web', 'single'), tag])
  }
  pushed.gone = await rig.pushImage(rig.reference('app/web', 'gone'), {
    platform: 'linux/amd64',
    content: 'gone'
  })
  await rig.deleteTag(rig.reference('app/web', 'gone'))
  pushed.laptop = await rig.pushImage(rig.reference('app/arm', 'laptop'), {
    platform: 'linux/arm64',
    content: 'mac'
  })
  await rig.pushIndex(rig.reference('app/arm', 'index'), [{ platform: 'linux/arm64', content: 'arm only' }])
  await rig.pushImage(rig.reference('secret/web', 'v1'), { platform: 'linux/amd64', content: 'secret' })
  pushed.public = await rig.pushImage(rig.reference('public/web', 'v1'), {
    platform: 'linux/amd64',
    content: 'pub'
  })
})

after(async () => {
  await rig?.stop()
  await google?.stop()
})

describe('resolveImage against the real registry', () => {
  test('a multi-platform tag resolves to its index digest, the amd64 manifest and its config', async t => {
    const resolution = expectOutcome(await resolve(rig.reference('app/web', 'v1.2.3')), 'resolved')
    assert.equal(resolution.digest, pushed.index)
    assert.equal(resolution.mediaType, 'application/vnd.oci.image.index.v1+json')
    assert.deepEqual(resolution.platforms, [AMD64, ARM64])
    assert.equal(resolution.platformManifests.length, 1)
    assert.equal(resolution.platformManifests[0].digest, pushed.indexAmd64)
    assert.match(resolution.platformManifests[0].configDigest ?? '', /^sha256:[a-f0-9]{64}$/)
    assert.equal(resolution.pinned, `${rig.host}/app/web:v1.2.3@${pushed.index}`)
    for (const digest of [pushed.index, pushed.indexAmd64, pushed.indexArm64]) {
      assert.ok(resolution.acceptedDigests.includes(digest), digest)
    }
    // The Google token went to the token server only, as Basic oauth2accesstoken, and it stood for the deployer.
    const tokenRequests = rig.tokenRequests().filter(r => r.who === DEPLOYER)
    assert.ok(tokenRequests.length >= 1)
    assert.deepEqual(tokenRequests.at(-1)!.granted, ['app/web:pull'])
    t.diagnostic(`resolved an index in ${resolution.durationMs} ms with ${resolution.requests} requests`)
  })

  test('both node platforms of a multi-arch pod template are read', async () => {
    const resolution = expectOutcome(
      await resolve(rig.reference('app/web', 'v1.2.3'), { platforms: [AMD64, ARM64] }),
      'resolved'
    )
    assert.deepEqual(
      resolution.platformManifests.map(m => m.digest),
      [pushed.indexAmd64, pushed.indexArm64]
    )
  })

  test('a single-platform image resolves to its manifest digest, its platform read from the config', async () => {
    const resolution = expectOutcome(await resolve(rig.reference('app/web', 'single')), 'resolved')
    assert.equal(resolution.digest, pushed.single)
    assert.deepEqual(resolution.platforms, [AMD64])
    assert.equal(resolution.acceptedDigests.length, 2, 'the manifest and its config')
  })

  test('an image given by digest is read by that digest (tag and digest: the digest wins)', async () => {
    const byDigest = expectOutcome(await resolve(`${rig.host}/app/web@${pushed.index}`), 'resolved')
    assert.equal(byDigest.digest, pushed.index)
    assert.equal(byDigest.pinned, `${rig.host}/app/web@${pushed.index}`)
    const both = expectOutcome(await resolve(`${rig.host}/app/web:single@${pushed.index}`), 'resolved')
    assert.equal(both.digest, pushed.index)
  })

  test('a missing tag: not found, with the nearby tags and the push command', async () => {
    const resolution = expectOutcome(await resolve(rig.reference('app/web', 'v1.2.4')), 'not-found')
    assert.equal(resolution.severity, 'error')
    assert.equal(resolution.tagsListed, true)
    assert.deepEqual(resolution.nearbyTags.slice(0, 3), ['v1.2.3', 'v1.2.2', 'v1.2.0'])
    assert.match(resolution.cause, /app\/web:v1\.2\.4 is not in the registry/)
    assert.match(resolution.remedy, new RegExp(`docker push ${rig.host}/app/web:v1\\.2\\.4`))
    assert.match(resolution.registryMessage ?? '', /MANIFEST_UNKNOWN/)
  })

  test('a deleted tag: not found, though its manifest is still there by digest', async () => {
    const resolution = expectOutcome(await resolve(rig.reference('app/web', 'gone')), 'not-found')
    assert.ok(!resolution.nearbyTags.includes('gone'))
    expectOutcome(await resolve(`${rig.host}/app/web@${pushed.gone}`), 'resolved')
  })

  test('a digest the repository does not have: not found', async () => {
    const resolution = expectOutcome(
      await resolve(`${rig.host}/app/web@sha256:${'0'.repeat(64)}`),
      'not-found'
    )
    assert.deepEqual(resolution.nearbyTags, [], 'no tag to be near to')
  })

  test('a repository that does not exist: not found, and the registry lists no tags', async () => {
    const resolution = expectOutcome(await resolve(rig.reference('app/nothing', 'v1')), 'not-found')
    assert.equal(resolution.tagsListed, false)
    assert.match(resolution.cause, /empty or does not exist/)
  })

  test('a repository the deployer may not read: denied, an error with the registry’s words', async () => {
    const resolution = expectOutcome(await resolve(rig.reference('secret/web', 'v1')), 'denied')
    assert.equal(resolution.severity, 'error')
    assert.equal(resolution.authenticated, true)
    assert.equal(resolution.status, 401)
    assert.match(resolution.cause, /refused to let the deployer read/)
    assert.match(resolution.remedy, new RegExp(DEPLOYER.replace(/\./g, '\\.')))
    assert.match(resolution.registryMessage ?? '', /UNAUTHORIZED/)
    assert.ok(!JSON.stringify(resolution).includes(deployerToken), 'the token appears nowhere')
  })

  test('an access token that is not valid (expired, another issuer): denied', async () => {
    const resolution = expectOutcome(
      await resolve(rig.reference('app/web', 'v1.2.3'), {
        googleAccessToken: async () => 'ya29.not-a-token'
      }),
      'denied'
    )
    assert.equal(resolution.authenticated, true)
    assert.ok(rig.tokenRequests().some(r => r.who === 'invalid-token' && r.status === 401))
  })

  test('an arm64-only image on amd64 nodes: wrong platform, both as a single image and as an index', async () => {
    const single = expectOutcome(await resolve(rig.reference('app/arm', 'laptop')), 'wrong-platform')
    assert.equal(single.digest, pushed.laptop)
    assert.deepEqual(single.platforms, [ARM64])
    assert.deepEqual(single.missing, [AMD64])
    assert.match(single.cause, /has no linux\/amd64 image: it offers linux\/arm64/)
    assert.match(single.remedy, /--platform linux\/amd64,linux\/arm64/)
    const index = expectOutcome(await resolve(rig.reference('app/arm', 'index')), 'wrong-platform')
    assert.deepEqual(index.platforms, [ARM64])
    // The same image is right for Arm nodes.
    expectOutcome(await resolve(rig.reference('app/arm', 'laptop'), { platforms: [ARM64] }), 'resolved')
  })

  test('a tag pushed again resolves to the new digest', async () => {
    const reference = rig.reference('app/web', 'main')
    const first = await rig.pushImage(reference, { platform: 'linux/amd64', content: 'build 1' })
    const before = expectOutcome(await resolve(reference), 'resolved')
    const second = await rig.pushImage(reference, { platform: 'linux/amd64', content: 'build 2' })
    const afterPush = expectOutcome(await resolve(reference), 'resolved')
    assert.notEqual(first, second)
    assert.equal(before.digest, first)
    assert.equal(afterPush.digest, second)
    assert.ok(!afterPush.acceptedDigests.includes(first), 'the old bytes are no longer accepted')
  })

  test('other registries are asked anonymously: a public image resolves, the Google token is never asked for', async () => {
    let asked = 0
    const options = {
      takesGoogleToken: () => false,
      googleAccessToken: async () => {
        asked++
        return deployerToken
      }
    }
    const resolution = expectOutcome(await resolve(rig.reference('public/web', 'v1'), options), 'resolved')
    assert.equal(resolution.digest, pushed.public)
    const refused = expectOutcome(await resolve(rig.reference('app/web', 'v1.2.3'), options), 'denied')
    assert.equal(refused.authenticated, false)
    assert.equal(refused.severity, 'warning', 'an anonymous refusal cannot tell private from missing')
    assert.equal(asked, 0)
  })

  test('a registry nobody answers on: unreachable, a warning', async () => {
    const port = await freePort()
    const resolution = expectOutcome(await resolve(`127.0.0.1:${port}/app/web:v1`), 'unreachable')
    assert.equal(resolution.reason, 'network')
    assert.equal(resolution.severity, 'warning')
    assert.match(resolution.registryMessage ?? '', /ECONNREFUSED/)
  })

  test('a registry whose certificate the runner does not trust: unreachable (TLS)', async () => {
    const resolution = expectOutcome(
      await resolve(rig.reference('app/web', 'v1.2.3'), { transport: httpsTransport() }),
      'unreachable'
    )
    assert.equal(resolution.reason, 'tls')
  })

  test('how long a resolve takes against the local registry', async t => {
    const samples: number[] = []
    let requests = 0
    for (let i = 0; i < 10; i++) {
      const resolution = expectOutcome(await resolve(rig.reference('app/web', 'v1.2.3')), 'resolved')
      samples.push(resolution.durationMs)
      requests = resolution.requests
    }
    samples.sort((a, b) => a - b)
    t.diagnostic(
      `index resolve (token flow each time): median ${samples[5]} ms, max ${samples[9]} ms, ${requests} requests`
    )
    assert.ok(samples[5] < 2000)
  })
})
