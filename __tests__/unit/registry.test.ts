// The registry check's pure parts, from tables: image names, WWW-Authenticate challenges, node platforms,
// manifests, nearby tags, Google registry remedies, digest pinning and imageID checks.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { apiHostOf, parseImageName, pinnedReference, type ImageName } from '../../src/registry/image-name.js'
import { bearerChallengeOf, parseChallenges } from '../../src/registry/www-authenticate.js'
import { nodePlatformsOfPodSpec, platformMatches, type Platform } from '../../src/registry/platform.js'
import { MEDIA_TYPES, parseManifest, runnablePlatformEntries } from '../../src/registry/manifest.js'
import { nearbyTags } from '../../src/registry/nearby-tags.js'
import {
  artifactRegistryRepositoryOf,
  isGoogleRegistry,
  readerGrantCommand
} from '../../src/registry/google-registries.js'
import { isPrivateAddressLiteral } from '../../src/registry/registry-client.js'
import { pinImage } from '../../src/registry/pin-image.js'
import {
  checkPodImageIds,
  describeImageIdMismatch,
  digestOfImageId
} from '../../src/registry/verify-image-ids.js'
import {
  deniedOutcome,
  notFoundOutcome,
  unreachableOutcome,
  wrongPlatformOutcome
} from '../../src/registry/image-resolution.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import type { Pod } from '../../src/k8s/types.js'

const D1 = `sha256:${'1'.repeat(64)}`
const D2 = `sha256:${'2'.repeat(64)}`
const D3 = `sha256:${'3'.repeat(64)}`
const AR = 'europe-west3-docker.pkg.dev/proj-123/app/noesis2-web'

describe('parseImageName', () => {
  const cases: Array<{ value: string; expect: Partial<ImageName> | undefined; apiHost?: string }> = [
    {
      value: `${AR}:v1`,
      expect: { registry: 'europe-west3-docker.pkg.dev', repository: 'proj-123/app/noesis2-web', tag: 'v1' },
      apiHost: 'europe-west3-docker.pkg.dev'
    },
    {
      value: `${AR}:v1@${D1}`,
      expect: { repository: 'proj-123/app/noesis2-web', tag: 'v1', digest: D1, explicitRegistry: true }
    },
    { value: `${AR}@${D1}`, expect: { tag: undefined, digest: D1 } },
    {
      value: 'redis:7',
      expect: { registry: 'docker.io', repository: 'library/redis', tag: '7', explicitRegistry: false },
      apiHost: 'registry-1.docker.io'
    },
    { value: 'bitnami/redis:7', expect: { registry: 'docker.io', repository: 'bitnami/redis' } },
    { value: 'docker.io/redis:7', expect: { registry: 'docker.io', repository: 'library/redis' } },
    {
      value: 'index.docker.io/library/redis:7',
      expect: { registry: 'docker.io', repository: 'library/redis' }
    },
    { value: 'localhost/app:dev', expect: { registry: 'localhost', repository: 'app', tag: 'dev' } },
    {
      value: '127.0.0.1:5000/app/web:v2',
      expect: { registry: '127.0.0.1:5000', repository: 'app/web', tag: 'v2' },
      apiHost: '127.0.0.1:5000'
    },
    { value: 'ghcr.io/org/app', expect: { repository: 'org/app', tag: undefined, digest: undefined } },
    { value: 'ghcr.io/Org/app:v1', expect: undefined },
    { value: 'ghcr.io/org/app:v1@sha256:abc', expect: undefined },
    { value: `ghcr.io/org/app@sha512:${'a'.repeat(128)}`, expect: undefined },
    { value: 'ghcr.io/org/app:-bad', expect: undefined },
    { value: 'ghcr.io//app:v1', expect: undefined },
    { value: 'gcr.io/p/foo bar:1', expect: undefined },
    { value: 'app:v1\nkind: ClusterRole', expect: undefined },
    { value: `gcr.io/${'a'.repeat(300)}:v1`, expect: undefined },
    { value: `${'a'.repeat(600)}`, expect: undefined },
    { value: '', expect: undefined }
  ]
  for (const c of cases) {
    test(JSON.stringify(c.value.slice(0, 60)), () => {
      const parsed = parseImageName(c.value)
      if (c.expect === undefined) return assert.equal(parsed, undefined)
      assert.ok(parsed, 'parses')
      for (const [key, value] of Object.entries(c.expect)) {
        assert.equal(parsed[key as keyof ImageName], value, key)
      }
      if (c.apiHost) assert.equal(apiHostOf(parsed), c.apiHost)
    })
  }

  test('pinnedReference keeps the tag for readers and adds the digest the runtime pulls', () => {
    assert.equal(pinnedReference(parseImageName(`${AR}:v1`)!, D1), `${AR}:v1@${D1}`)
    assert.equal(pinnedReference(parseImageName(`${AR}@${D2}`)!, D1), `${AR}@${D1}`)
    assert.equal(pinnedReference(parseImageName('redis:7')!, D1), `docker.io/library/redis:7@${D1}`)
  })
})

describe('parseChallenges', () => {
  const cases: Array<{ name: string; header: string; expect: Array<{ scheme: string; params: object }> }> = [
    {
      name: "Docker Hub's",
      header:
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull"',
      expect: [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/redis:pull'
          }
        }
      ]
    },
    {
      name: "the distribution registry's, with an error",
      header:
        'Bearer realm="https://localhost:1/token",service="rig-registry",scope="repository:app/web:pull",error="insufficient_scope"',
      expect: [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://localhost:1/token',
            service: 'rig-registry',
            scope: 'repository:app/web:pull',
            error: 'insufficient_scope'
          }
        }
      ]
    },
    {
      name: 'two challenges, unquoted values, spaces and an escaped quote',
      header: 'Basic realm="Registry \\"x\\"" , Bearer realm=https://r.example/token, service = svc',
      expect: [
        { scheme: 'basic', params: { realm: 'Registry "x"' } },
        { scheme: 'bearer', params: { realm: 'https://r.example/token', service: 'svc' } }
      ]
    },
    {
      name: 'unknown parameters dropped, the first of a repeated one kept',
      header: 'Bearer realm="https://a/token",realm="https://evil/token",foo="bar"',
      expect: [{ scheme: 'bearer', params: { realm: 'https://a/token' } }]
    },
    { name: 'empty', header: '', expect: [] },
    {
      name: 'an unterminated quote ends at the cap',
      header: 'Bearer realm="https://a/token',
      expect: [{ scheme: 'bearer', params: { realm: 'https://a/token' } }]
    }
  ]
  for (const c of cases) test(c.name, () => assert.deepEqual(parseChallenges(c.header), c.expect))

  test('a hostile header is read in linear time and capped', () => {
    const hostile = `Bearer ${'a=",'.repeat(200_000)}`
    const started = process.hrtime.bigint()
    const challenges = parseChallenges(hostile)
    const ms = Number(process.hrtime.bigint() - started) / 1e6
    assert.ok(ms < 200, `took ${ms} ms`)
    assert.ok(challenges.length <= 8)
    const many = 'Basic realm=x, '.repeat(5000)
    assert.ok(parseChallenges(many).length <= 8)
  })

  test('bearerChallengeOf wants a realm', () => {
    assert.equal(bearerChallengeOf('Bearer service="x"'), undefined)
    assert.equal(bearerChallengeOf('Basic realm="x"'), undefined)
    assert.equal(bearerChallengeOf(undefined), undefined)
    assert.equal(bearerChallengeOf('Basic realm="x", Bearer realm="https://t/"')?.params.realm, 'https://t/')
  })
})

describe('node platforms of a pod template', () => {
  const amd64: Platform = { os: 'linux', architecture: 'amd64' }
  const arm64: Platform = { os: 'linux', architecture: 'arm64' }
  const required = (...terms: unknown[]) => ({
    affinity: {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } }
    }
  })
  const arch = (...values: string[]) => ({
    matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values }]
  })
  const cases: Array<{ name: string; podSpec: unknown; expect: Platform[] }> = [
    { name: 'no constraint: amd64 (Autopilot default)', podSpec: { containers: [] }, expect: [amd64] },
    {
      name: 'nodeSelector arm64',
      podSpec: { nodeSelector: { 'kubernetes.io/arch': 'arm64' } },
      expect: [arm64]
    },
    { name: 'required affinity for both', podSpec: required(arch('arm64', 'amd64')), expect: [amd64, arm64] },
    {
      name: 'one term without an arch constraint: default nodes too',
      podSpec: required(arch('arm64'), {
        matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }]
      }),
      expect: [amd64]
    },
    {
      name: 'unknown architecture ignored',
      podSpec: { nodeSelector: { 'kubernetes.io/arch': 's390x' } },
      expect: [amd64]
    },
    { name: 'not an object', podSpec: 'x', expect: [amd64] }
  ]
  for (const c of cases) test(c.name, () => assert.deepEqual(nodePlatformsOfPodSpec(c.podSpec), c.expect))

  test('platformMatches: arm64 is arm64/v8; os and architecture must agree', () => {
    assert.ok(platformMatches(arm64, { os: 'linux', architecture: 'arm64', variant: 'v8' }))
    assert.ok(!platformMatches(arm64, { os: 'linux', architecture: 'arm64', variant: 'v9' }))
    assert.ok(!platformMatches(amd64, arm64))
    assert.ok(!platformMatches(amd64, { os: 'windows', architecture: 'amd64' }))
  })
})

describe('parseManifest', () => {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value))
  test('an OCI index with an attestation entry', () => {
    const parsed = parseManifest(
      json({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [
          {
            mediaType: MEDIA_TYPES.ociManifest,
            digest: D1,
            platform: { os: 'linux', architecture: 'amd64' }
          },
          {
            mediaType: MEDIA_TYPES.ociManifest,
            digest: D2,
            platform: { os: 'unknown', architecture: 'unknown' }
          }
        ]
      }),
      undefined
    )
    assert.ok(typeof parsed === 'object' && parsed.kind === 'index')
    assert.deepEqual(
      runnablePlatformEntries(parsed.manifests).map(m => m.digest),
      [D1]
    )
  })
  test('a Docker v2 manifest, its type from Content-Type', () => {
    const parsed = parseManifest(
      json({ schemaVersion: 2, config: { digest: D3 } }),
      `${MEDIA_TYPES.dockerManifest}; charset=utf-8`
    )
    assert.deepEqual(parsed, { kind: 'image', mediaType: MEDIA_TYPES.dockerManifest, configDigest: D3 })
  })
  const refused: Array<[string, Buffer, RegExp]> = [
    ['not JSON', Buffer.from('<html>'), /not JSON/],
    ['an array', json([]), /not a JSON object/],
    [
      'an index entry without a digest',
      json({ mediaType: MEDIA_TYPES.ociIndex, manifests: [{}] }),
      /without a sha256/
    ],
    [
      'too many entries',
      json({
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: Array.from({ length: 300 }, () => ({ digest: D1 }))
      }),
      /more than 256/
    ],
    [
      'schema 1',
      json({ mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' }),
      /does not pull/
    ]
  ]
  for (const [name, body, expect] of refused) {
    test(`refused: ${name}`, () => {
      const parsed = parseManifest(body, undefined)
      assert.equal(typeof parsed, 'string')
      assert.match(parsed as string, expect)
    })
  }
})

describe('nearbyTags', () => {
  const cases: Array<{ name: string; tags: unknown[]; wanted: string; expect: string[] }> = [
    {
      name: 'a typo first',
      tags: ['v1.2.2', 'v1.2.0', 'latest', 'v1.20.3'],
      wanted: 'v1.2.3',
      expect: ['v1.2.2', 'v1.2.0', 'v1.20.3', 'latest']
    },
    {
      name: 'invalid tag names dropped',
      tags: ['ok', 'bad tag', '<script>', 7, 'okay'],
      wanted: 'oka',
      expect: ['okay', 'ok']
    },
    { name: 'the wanted tag itself is not nearby', tags: ['v1'], wanted: 'v1', expect: [] },
    {
      name: 'at most five',
      tags: ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'],
      wanted: 'a0',
      expect: ['a6', 'a5', 'a4', 'a3', 'a2']
    }
  ]
  for (const c of cases) test(c.name, () => assert.deepEqual(nearbyTags(c.tags, c.wanted), c.expect))

  test('a thousand long tags stay cheap; more are not considered', () => {
    const tags = Array.from({ length: 5000 }, (_, i) => `${'x'.repeat(120)}${i}`)
    const started = Date.now()
    const near = nearbyTags(tags, `${'x'.repeat(120)}4999`)
    assert.ok(Date.now() - started < 2000)
    assert.ok(!near.includes(`${'x'.repeat(120)}4998`), 'tags past the first thousand are not read')
  })
})

describe('Google registries', () => {
  const cases: Array<{ image: string; google: boolean; repository?: object }> = [
    {
      image: `${AR}:v1`,
      google: true,
      repository: { project: 'proj-123', location: 'europe-west3', repository: 'app' }
    },
    {
      image: 'us-docker.pkg.dev/p1/r1/img:v1',
      google: true,
      repository: { project: 'p1', location: 'us', repository: 'r1' }
    },
    {
      image: 'gcr.io/proj-123/web:v1',
      google: true,
      repository: { project: 'proj-123', location: 'us', repository: 'gcr.io' }
    },
    {
      image: 'eu.gcr.io/proj-123/web:v1',
      google: true,
      repository: { project: 'proj-123', location: 'europe', repository: 'eu.gcr.io' }
    },
    { image: 'ghcr.io/org/web:v1', google: false },
    { image: 'pkg.dev.example.com/a/b:v1', google: false },
    { image: 'evil-gcr.io/a/b:v1', google: false },
    { image: 'redis:7', google: false }
  ]
  for (const c of cases) {
    test(c.image, () => {
      const name = parseImageName(c.image)!
      assert.equal(isGoogleRegistry(name.registry), c.google)
      assert.deepEqual(artifactRegistryRepositoryOf(name), c.repository)
    })
  }
  test('the reader grant names the repository, location, project and deployer', () => {
    const repository = artifactRegistryRepositoryOf(parseImageName(`${AR}:v1`)!)!
    assert.equal(
      readerGrantCommand(repository, 'deployer@proj-123.iam.gserviceaccount.com'),
      'gcloud artifacts repositories add-iam-policy-binding app --project=proj-123 --location=europe-west3 --member=serviceAccount:deployer@proj-123.iam.gserviceaccount.com --role=roles/artifactregistry.reader'
    )
    assert.match(readerGrantCommand(repository, undefined), /--member=serviceAccount:DEPLOYER_EMAIL /)
    assert.match(
      readerGrantCommand(
        repository,
        'principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/s'
      ),
      /--member=principal:\/\/iam/
    )
  })
})

describe('realm addresses a hostile registry may not point at', () => {
  const cases: Array<[string, boolean]> = [
    ['169.254.169.254', true],
    ['127.0.0.1', true],
    ['10.1.2.3', true],
    ['192.168.0.1', true],
    ['172.20.0.1', true],
    ['[::1]', true],
    ['[fe80::1]', true],
    ['[::ffff:169.254.169.254]', true],
    ['8.8.8.8', false],
    ['localhost', false],
    ['auth.docker.io', false]
  ]
  for (const [host, expected] of cases)
    test(host, () => assert.equal(isPrivateAddressLiteral(host), expected))
})

function deployment(name: string, containers: object[], initContainers?: object[]): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'noesis2' },
    spec: { template: { spec: { containers, ...(initContainers ? { initContainers } : {}) } } }
  }
}

describe('pinImage', () => {
  const image = `${AR}:v1`
  const pinned = `${AR}:v1@${D1}`
  test('the app containers get the digest, the proxy and other objects stay', () => {
    const worker = deployment(
      'celery-worker',
      [{ name: 'app', image }],
      [{ name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0' }]
    )
    const beat = deployment('celery-beat', [{ name: 'app', image }])
    const secret: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { image } }
    const cron: KubeObject = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'nightly' },
      spec: { jobTemplate: { spec: { template: { spec: { containers: [{ name: 'job', image }] } } } } }
    }
    const before = JSON.stringify([worker, beat, secret, cron])
    const result = pinImage([worker, beat, secret, cron], image, pinned)
    assert.equal(JSON.stringify([worker, beat, secret, cron]), before, 'the inputs are not changed')
    assert.deepEqual(
      result.pinned.map(p => `${p.object}/${p.container}`),
      ['Deployment/celery-worker/app', 'Deployment/celery-beat/app', 'CronJob/nightly/job']
    )
    const [w, , s] = result.objects
    const spec = (
      w.spec as {
        template: { spec: { containers: Array<{ image: string }>; initContainers: Array<{ image: string }> } }
      }
    ).template.spec
    assert.equal(spec.containers[0].image, pinned)
    assert.equal(spec.initContainers[0].image, 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0')
    assert.equal(s, secret, 'not a workload: the same object')
  })
  test('an image already given by digest pins nothing', () => {
    const worker = deployment('celery-worker', [{ name: 'app', image: pinned }])
    assert.deepEqual(pinImage([worker], pinned, pinned).pinned, [])
  })
})

function pod(name: string, image: string, imageID: string | undefined): Pod {
  return {
    metadata: { name },
    spec: {
      containers: [
        { name: 'app', image },
        { name: 'sidecar', image: 'other:1' }
      ]
    },
    status: {
      containerStatuses: [
        { name: 'app', image, ...(imageID === undefined ? {} : { imageID }) },
        { name: 'sidecar', image: 'other:1', imageID: `docker.io/library/other@${D3}` }
      ]
    }
  }
}

describe('imageID checks', () => {
  const digestCases: Array<[string, string | undefined]> = [
    [`${AR}@${D1}`, D1],
    [D2, D2],
    [`docker-pullable://${AR}@${D1}`, D1],
    ['', undefined],
    [`${AR}@sha256:abc`, undefined],
    [`${'x'.repeat(700)}@${D1}`, undefined]
  ]
  for (const [imageID, digest] of digestCases) {
    test(`digestOfImageId ${JSON.stringify(imageID.slice(0, 50))}`, () =>
      assert.equal(digestOfImageId(imageID), digest))
  }

  const expected = { references: [`${AR}:v1`, `${AR}:v1@${D1}`], acceptedDigests: [D1, D2] }
  test('the index digest, a platform manifest and another repository name of the same bytes all match', () => {
    const check = checkPodImageIds(
      [
        pod('w-1', `${AR}:v1@${D1}`, `${AR}@${D1}`),
        pod('w-2', `${AR}:v1@${D1}`, `${AR}@${D2}`),
        pod('w-3', `${AR}:v1`, `mirror.example.com/app/web@${D1}`)
      ],
      expected
    )
    assert.deepEqual(
      check.matching.map(m => m.pod),
      ['w-1', 'w-2', 'w-3']
    )
    assert.deepEqual(check.mismatching, [])
  })
  test('other bytes are named, a container not started yet is unknown, other images are not looked at', () => {
    const check = checkPodImageIds(
      [pod('w-1', `${AR}:v1`, `${AR}@${D3}`), pod('w-2', `${AR}:v1`, ''), pod('w-3', `${AR}:v1`, undefined)],
      expected
    )
    assert.deepEqual(check.mismatching, [
      { pod: 'w-1', container: 'app', imageID: `${AR}@${D3}`, digest: D3 }
    ])
    assert.deepEqual(
      check.unknown.map(u => u.pod),
      ['w-2', 'w-3']
    )
    const described = describeImageIdMismatch(check, D1, false)!
    assert.match(described.cause, /1 new pod runs other bytes .*w-1\/app runs sha256:3{64}/)
    assert.match(described.remedy, /image_pinning: digest/)
    assert.match(describeImageIdMismatch(check, D1, true)!.remedy, /mutating admission webhook/)
    assert.equal(describeImageIdMismatch({ matching: [], mismatching: [], unknown: [] }, D1, true), undefined)
  })
})

describe('outcome texts', () => {
  const measured = { image: `${AR}:v2`, requests: 3, durationMs: 40 }
  const image = parseImageName(`${AR}:v2`)!
  test('denied on Artifact Registry: the reader grant for the deployer, an error', () => {
    const outcome = deniedOutcome(image, measured, {
      status: 403,
      authenticated: true,
      deployer: 'deployer@proj-123.iam.gserviceaccount.com',
      registryMessage: 'DENIED: Permission "artifactregistry.repositories.downloadArtifacts" denied'
    })
    assert.equal(outcome.severity, 'error')
    assert.match(outcome.cause, /refused to let the deployer read .*noesis2-web:v2 \(HTTP 403\)/)
    assert.match(
      outcome.remedy,
      /gcloud artifacts repositories add-iam-policy-binding app --project=proj-123 --location=europe-west3 --member=serviceAccount:deployer@proj-123\.iam\.gserviceaccount\.com --role=roles\/artifactregistry\.reader/
    )
    assert.match(outcome.registryMessage!, /downloadArtifacts/)
  })
  test('refused to an anonymous client: a warning, private or missing cannot be told apart', () => {
    const outcome = deniedOutcome(parseImageName('ghcr.io/org/web:v1')!, measured, {
      status: 401,
      authenticated: false
    })
    assert.equal(outcome.severity, 'warning')
    assert.match(outcome.cause, /private, or does not exist/)
  })
  test('not found on Artifact Registry: nearby tags and the push command with the docker login step', () => {
    const outcome = notFoundOutcome(image, measured, {
      reference: 'tag v2',
      listedTags: ['v1', 'v3', 'main']
    })
    assert.deepEqual(outcome.nearbyTags, ['v3', 'v1', 'main'])
    assert.match(outcome.cause, /close to it: v3, v1, main\.$/)
    assert.match(
      outcome.remedy,
      /`docker push europe-west3-docker\.pkg\.dev\/proj-123\/app\/noesis2-web:v2` \(after `gcloud auth configure-docker europe-west3-docker\.pkg\.dev`\)/
    )
  })
  test('wrong platform: what is missing, what is offered, the buildx command', () => {
    const outcome = wrongPlatformOutcome(image, measured, {
      digest: D1,
      platforms: [{ os: 'linux', architecture: 'arm64' }],
      missing: [{ os: 'linux', architecture: 'amd64' }]
    })
    assert.match(outcome.cause, /has no linux\/amd64 image: it offers linux\/arm64\. .*exec format error/)
    assert.match(outcome.remedy, /docker buildx build --platform linux\/amd64,linux\/arm64 --push/)
  })
  test('unreachable: a warning that lets the run go on', () => {
    const outcome = unreachableOutcome(image, measured, 'timeout', 'no answer in time')
    assert.equal(outcome.severity, 'warning')
    assert.match(outcome.cause, /could not be asked about .*: no answer in time\./)
  })
})
