// The registry check wired into the deploy, its pure pieces from tables: the proxy the environment names and
// the hosts NO_PROXY exempts (Go's rules), the node platforms of the rendered workloads, what the workloads get
// for each outcome (pinned, kept, as given), which bytes the new pods run and when that fails the verification,
// the pre-flight finding, the plan's reading of an image change, and the plan's image line.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { bypasses, parseNoProxy, proxySettingsFromEnv } from '../../src/registry/proxy.js'
import {
  imageCheckWarning,
  imagePreflightProblem,
  nodePlatformsOfImage,
  type ImageCheck
} from '../../src/deploy/image-preflight.js'
import { livePinOf, pinDeployments, type DeployImage } from '../../src/deploy/pin-deployments.js'
import { checkNewPodImages, expectedPodImages } from '../../src/deploy/verify-pod-images.js'
import { verified, type VerifyRecord } from '../../src/deploy/verify.js'
import { imageChangeNote } from '../../src/plan/behaviour-changes.js'
import { planImage } from '../../src/plan/plan-image.js'
import { explainImagePreflight, explainPodImages, imageSection } from '../../src/report/explain-image.js'
import {
  deniedOutcome,
  notFoundOutcome,
  unreachableOutcome,
  wrongPlatformOutcome,
  type ImageResolution,
  type ResolvedImage
} from '../../src/registry/image-resolution.js'
import { parseImageName } from '../../src/registry/image-name.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import type { LiveObjectMeta } from '../../src/kube/objects.js'
import type { Pod } from '../../src/k8s/types.js'
import type { RolloutResult } from '../../src/deploy/wait-rollouts.js'

const D1 = `sha256:${'1'.repeat(64)}`
const D2 = `sha256:${'2'.repeat(64)}`
const D3 = `sha256:${'3'.repeat(64)}`
const AR = 'europe-west3-docker.pkg.dev/proj-123/app/noesis2-web'
const IMAGE = `${AR}:v1`
const PINNED = `${AR}:v1@${D1}`
const PROXY = 'ci-proxy.internal:3128'

describe('the proxy of the environment', () => {
  const settingsCases: Array<{
    env: Record<string, string>
    url?: string
    authorization?: string
  }> = [
    { env: {} },
    { env: { HTTP_PROXY: `http://${PROXY}` } },
    { env: { HTTPS_PROXY: `http://${PROXY}` }, url: `http://${PROXY}/` },
    { env: { https_proxy: PROXY }, url: `http://${PROXY}/` },
    { env: { HTTPS_PROXY: `http://${PROXY}`, https_proxy: 'http://other:1' }, url: `http://${PROXY}/` },
    {
      env: { HTTPS_PROXY: `http://runner:p%40ss@${PROXY}` },
      url: `http://${PROXY}/`,
      authorization: `Basic ${Buffer.from('runner:p@ss').toString('base64')}`
    },
    { env: { HTTPS_PROXY: 'socks5://127.0.0.1:1080' } },
    { env: { HTTPS_PROXY: 'http://[not a url' } }
  ]
  for (const c of settingsCases) {
    test(`proxySettingsFromEnv ${JSON.stringify(c.env)}`, () => {
      const settings = proxySettingsFromEnv(c.env)
      assert.equal(settings?.url.toString(), c.url)
      assert.equal(settings?.authorization, c.authorization)
      // The credentials go in the header only, never in the URL that messages may quote.
      if (settings) assert.doesNotMatch(settings.url.toString(), /runner|p%40ss/)
    })
  }

  const bypassCases: Array<[noProxy: string, host: string, port: string, bypassed: boolean]> = [
    ['', 'europe-west3-docker.pkg.dev', '443', false],
    ['', 'localhost', '443', true],
    ['', '127.0.0.1', '5000', true],
    ['', '::1', '443', true],
    ['*', 'europe-west3-docker.pkg.dev', '443', true],
    ['pkg.dev', 'europe-west3-docker.pkg.dev', '443', true],
    ['pkg.dev', 'pkg.dev', '443', true],
    ['.pkg.dev', 'pkg.dev', '443', false],
    ['.pkg.dev', 'europe-west3-docker.pkg.dev', '443', true],
    ['*.pkg.dev', 'europe-west3-docker.pkg.dev', '443', true],
    ['ev', 'europe-west3-docker.pkg.dev', '443', false],
    ['gcr.io, .pkg.dev', 'europe-west3-docker.pkg.dev', '443', true],
    ['europe-west3-docker.pkg.dev:5000', 'europe-west3-docker.pkg.dev', '443', false],
    ['europe-west3-docker.pkg.dev:443', 'europe-west3-docker.pkg.dev', '443', true],
    ['EUROPE-WEST3-DOCKER.PKG.DEV', 'europe-west3-docker.pkg.dev', '443', true],
    ['10.0.0.0/8', '10.1.2.3', '443', true],
    ['10.0.0.0/8', '11.1.2.3', '443', false],
    ['10.1.2.3', '10.1.2.3', '443', true],
    ['10.1.2.3:5000', '10.1.2.3', '443', false],
    ['fd00::/8', 'fd00::1', '443', true],
    ['[fd00::1]:443', 'fd00::1', '443', true],
    ['10.0.0.0/99, , ,', 'europe-west3-docker.pkg.dev', '443', false]
  ]
  for (const [noProxy, host, port, bypassed] of bypassCases) {
    test(`NO_PROXY ${JSON.stringify(noProxy)}: ${host}:${port} ${bypassed ? 'direct' : 'proxied'}`, () =>
      assert.equal(bypasses(parseNoProxy(noProxy), host, port), bypassed))
  }
})

function deployment(name: string, podSpec: Record<string, unknown>, annotations = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: 'noesis2',
      annotations: {
        'kubernetes.io/change-cause': `deploy-gke-workers: ${IMAGE} at 0123 by octocat`,
        ...annotations
      }
    },
    spec: { template: { spec: podSpec } }
  }
}

const app = (image = IMAGE) => ({ containers: [{ name: 'app', image }] })
const proxySidecar = {
  initContainers: [{ name: 'cloud-sql-proxy', image: 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0' }]
}

describe('the node platforms the image must offer', () => {
  const cases: Array<{ name: string; objects: KubeObject[]; platforms: string[] }> = [
    {
      name: 'Autopilot default: amd64',
      objects: [deployment('celery-worker', app()), deployment('celery-beat', app())],
      platforms: ['linux/amd64']
    },
    {
      name: 'beat on Arm nodes: both',
      objects: [
        deployment('celery-worker', app()),
        deployment('celery-beat', { ...app(), nodeSelector: { 'kubernetes.io/arch': 'arm64' } })
      ],
      platforms: ['linux/amd64', 'linux/arm64']
    },
    {
      name: 'a workload that does not run the image does not count',
      objects: [
        deployment('celery-worker', app()),
        deployment('other', {
          ...app('docker.io/library/redis:7'),
          nodeSelector: { 'kubernetes.io/arch': 'arm64' }
        })
      ],
      platforms: ['linux/amd64']
    },
    {
      name: 'the image in an init container counts',
      objects: [
        deployment('migrate', {
          initContainers: [{ name: 'migrate', image: IMAGE }],
          containers: [{ name: 'x', image: 'docker.io/library/busybox:1' }],
          nodeSelector: { 'kubernetes.io/arch': 'arm64' }
        })
      ],
      platforms: ['linux/arm64']
    }
  ]
  for (const c of cases) {
    test(c.name, () =>
      assert.deepEqual(
        nodePlatformsOfImage(c.objects, IMAGE).map(p => `${p.os}/${p.architecture}`),
        c.platforms
      )
    )
  }
})

const measured = { image: IMAGE, requests: 4, durationMs: 30 }
const name = parseImageName(IMAGE)!
const resolved: ResolvedImage = {
  outcome: 'resolved',
  ...measured,
  digest: D1,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  platforms: [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' }
  ],
  platformManifests: [{ platform: { os: 'linux', architecture: 'amd64' }, digest: D2 }],
  pinned: PINNED,
  acceptedDigests: [D1, D2]
}
const unreachable = unreachableOutcome(name, measured, 'network', 'the connection failed')

function check(resolution: ImageResolution): ImageCheck {
  return { resolution, platforms: [{ os: 'linux', architecture: 'amd64' }], startMs: 0, endMs: 30 }
}

function liveWith(images: Record<string, string>): Map<string, LiveObjectMeta> {
  return new Map(
    Object.entries(images).map(([deploymentName, image]) => [
      `Deployment/noesis2/${deploymentName}`,
      {
        kind: 'Deployment',
        metadata: { name: deploymentName, namespace: 'noesis2' },
        spec: { template: { spec: { ...proxySidecar, ...app(image) } } }
      } as unknown as LiveObjectMeta
    ])
  )
}

function imageOf(object: KubeObject, container = 'app'): string | undefined {
  const spec = (object.spec as { template: { spec: { containers: Array<{ name: string; image: string }> } } })
    .template.spec
  return spec.containers.find(c => c.name === container)?.image
}

describe('what the workloads get', () => {
  const rendered = () => [
    deployment('celery-worker', { ...proxySidecar, ...app() }),
    deployment('celery-beat', app())
  ]

  test('resolved, image_pinning digest: pinned, the digest annotated, the change cause names it', () => {
    const { objects, image } = pinDeployments(
      rendered(),
      { image: IMAGE, pinning: 'digest' },
      check(resolved),
      new Map()
    )
    assert.deepEqual(
      objects.map(o => imageOf(o)),
      [PINNED, PINNED]
    )
    assert.equal(objects[0].metadata.annotations?.['deploy-gke-workers/image-digest'], D1)
    assert.equal(
      objects[0].metadata.annotations?.['kubernetes.io/change-cause'],
      `deploy-gke-workers: ${PINNED} at 0123 by octocat`
    )
    assert.deepEqual(
      { source: image.source, deployed: image.deployed, digest: image.digest, enforced: image.enforced },
      { source: 'resolved', deployed: PINNED, digest: D1, enforced: true }
    )
    // The proxy sidecar's image is not ours: untouched.
    const init = (objects[0].spec as { template: { spec: { initContainers: Array<{ image: string }> } } })
      .template.spec.initContainers[0]
    assert.equal(init.image, proxySidecar.initContainers[0].image)
  })

  test('resolved, image_pinning tag: the tag as given, the digest still annotated, not enforced', () => {
    const { objects, image } = pinDeployments(
      rendered(),
      { image: IMAGE, pinning: 'tag' },
      check(resolved),
      new Map()
    )
    assert.deepEqual(
      objects.map(o => imageOf(o)),
      [IMAGE, IMAGE]
    )
    assert.equal(objects[0].metadata.annotations?.['deploy-gke-workers/image-digest'], D1)
    assert.equal(
      objects[0].metadata.annotations?.['kubernetes.io/change-cause'],
      `deploy-gke-workers: ${IMAGE} at 0123 by octocat`
    )
    assert.deepEqual(
      { source: image.source, enforced: image.enforced, digest: image.digest },
      {
        source: 'unpinned',
        enforced: false,
        digest: D1
      }
    )
  })

  test('unreachable, the running release pinned this tag: its digest is kept (no roll)', () => {
    const live = liveWith({ 'celery-worker': `${IMAGE}@${D3}`, 'celery-beat': `${IMAGE}@${D3}` })
    const { objects, image } = pinDeployments(
      rendered(),
      { image: IMAGE, pinning: 'digest' },
      check(unreachable),
      live
    )
    assert.deepEqual(
      objects.map(o => imageOf(o)),
      [`${IMAGE}@${D3}`, `${IMAGE}@${D3}`]
    )
    assert.deepEqual(
      { source: image.source, accepted: image.acceptedDigests, digest: image.digest, warning: image.warning },
      { source: 'kept', accepted: [D3], digest: undefined, warning: unreachable.cause }
    )
  })

  const unpinnedCases: Array<{ name: string; live: Map<string, LiveObjectMeta>; pinning: 'digest' | 'tag' }> =
    [
      { name: 'nothing runs yet', live: new Map(), pinning: 'digest' },
      { name: 'another tag runs', live: liveWith({ 'celery-worker': `${AR}:v0@${D3}` }), pinning: 'digest' },
      {
        name: 'the Deployments disagree on the digest',
        live: liveWith({ 'celery-worker': `${IMAGE}@${D3}`, 'celery-beat': `${IMAGE}@${D2}` }),
        pinning: 'digest'
      },
      {
        name: 'tag mode keeps nothing',
        live: liveWith({ 'celery-worker': `${IMAGE}@${D3}` }),
        pinning: 'tag'
      }
    ]
  for (const c of unpinnedCases) {
    test(`unreachable, ${c.name}: the image as given`, () => {
      const { objects, image } = pinDeployments(
        rendered(),
        { image: IMAGE, pinning: c.pinning },
        check(unreachable),
        c.live
      )
      assert.deepEqual(
        objects.map(o => imageOf(o)),
        [IMAGE, IMAGE]
      )
      assert.deepEqual(
        { source: image.source, enforced: image.enforced },
        { source: 'unpinned', enforced: false }
      )
    })
  }

  test('an image given by digest: pinned by its author, enforced even when the registry is unreachable', () => {
    const given = `${AR}@${D2}`
    const objects = [deployment('celery-worker', app(given))]
    const { image } = pinDeployments(objects, { image: given, pinning: 'tag' }, check(unreachable), new Map())
    assert.deepEqual(
      { enforced: image.enforced, accepted: image.acceptedDigests },
      { enforced: true, accepted: [D2] }
    )
  })

  test('livePinOf reads only this exact reference', () => {
    assert.equal(livePinOf(rendered(), IMAGE, liveWith({ 'celery-worker': `${IMAGE}@${D3}` })), D3)
    assert.equal(livePinOf(rendered(), IMAGE, liveWith({ 'celery-worker': `${IMAGE}-rc@${D3}` })), undefined)
    assert.equal(
      livePinOf(rendered(), IMAGE, liveWith({ 'celery-worker': `${IMAGE}@sha256:short` })),
      undefined
    )
  })
})

function pod(podName: string, image: string, imageID: string | undefined): Pod {
  return {
    metadata: { name: podName },
    spec: { containers: [{ name: 'app', image }] },
    status: { containerStatuses: [{ name: 'app', image, ...(imageID === undefined ? {} : { imageID }) }] }
  } as unknown as Pod
}

function rollout(deploymentName: string, pods: Pod[]): RolloutResult {
  return { deployment: deploymentName, outcome: 'complete', message: '', durationMs: 1, failures: [], pods }
}

function deployImage(overrides: Partial<DeployImage>): DeployImage {
  return {
    given: IMAGE,
    pinning: 'digest',
    deployed: PINNED,
    digest: D1,
    source: 'resolved',
    acceptedDigests: [D1, D2],
    enforced: true,
    platforms: ['linux/amd64'],
    checkedFor: ['linux/amd64'],
    outcome: 'resolved',
    requests: 4,
    durationMs: 30,
    ...overrides
  }
}

describe('which bytes the new pods run', () => {
  const objects = [deployment('celery-worker', app(PINNED)), deployment('celery-beat', app(PINNED))]
  const expected = (image: DeployImage) => expectedPodImages(objects, image)

  test('pinned, every pod on the index or a platform manifest: verified', () => {
    const report = checkNewPodImages(
      [
        rollout('celery-worker', [pod('w-1', PINNED, `${AR}@${D1}`)]),
        rollout('celery-beat', [pod('b-1', PINNED, `${AR}@${D2}`)])
      ],
      expected(deployImage({}))
    )
    assert.equal(report.problem, undefined)
    assert.equal(report.warning, undefined)
    assert.deepEqual(report.seen, [D1, D2])
    assert.equal(report.pods, 2)
    const record: VerifyRecord = { rollouts: [], beatProblems: [], smoke: [], images: report }
    assert.equal(verified(record, []), true)
  })

  test('pinned, a pod on other bytes: the verification fails, the pod named', () => {
    const report = checkNewPodImages(
      [rollout('celery-worker', [pod('w-1', PINNED, `${AR}@${D1}`), pod('w-2', PINNED, `${AR}@${D3}`)])],
      expected(deployImage({}))
    )
    assert.match(
      report.problem?.cause ?? '',
      /1 new pod runs other bytes .*\(sha256:1{64}\): w-2\/app runs sha256:3{64}/
    )
    assert.equal(verified({ rollouts: [], beatProblems: [], smoke: [], images: report }, []), false)
    const [finding] = explainPodImages(report)
    assert.deepEqual({ class: finding.class, pods: finding.pods }, { class: 'image-mismatch', pods: ['w-2'] })
  })

  test('a pod whose image something rewrote is still checked, by its container name', () => {
    const rewritten = `${AR}:v1@${D3}`
    const report = checkNewPodImages(
      [rollout('celery-worker', [pod('w-1', rewritten, `${AR}@${D3}`)])],
      expected(deployImage({}))
    )
    assert.match(report.problem?.cause ?? '', /w-1\/app runs sha256:3{64} \(its spec says .*@sha256:3{64}\)/)
  })

  test('tag mode, other bytes: a warning, the run verified', () => {
    const report = checkNewPodImages(
      [rollout('celery-worker', [pod('w-1', IMAGE, `${AR}@${D3}`)])],
      expectedPodImages(
        [deployment('celery-worker', app())],
        deployImage({ deployed: IMAGE, enforced: false, source: 'unpinned' })
      )
    )
    assert.equal(report.problem, undefined)
    assert.match(report.warning ?? '', /other bytes .*imagePullPolicy IfNotPresent/)
    assert.equal(verified({ rollouts: [], beatProblems: [], smoke: [], images: report }, []), true)
  })

  test('a container with no imageID yet proves nothing either way: a warning, not a failure', () => {
    const report = checkNewPodImages(
      [rollout('celery-worker', [pod('w-1', PINNED, '')])],
      expected(deployImage({}))
    )
    assert.equal(report.problem, undefined)
    assert.match(report.warning ?? '', /1 container reported no imageID to check \(w-1\/app\)/)
  })

  test('nothing resolved to compare with: pods disagreeing with each other are said', () => {
    const report = checkNewPodImages(
      [rollout('celery-worker', [pod('w-1', IMAGE, `${AR}@${D1}`), pod('w-2', IMAGE, `${AR}@${D3}`)])],
      expectedPodImages(
        [deployment('celery-worker', app())],
        deployImage({
          deployed: IMAGE,
          digest: undefined,
          acceptedDigests: [],
          enforced: false,
          source: 'unpinned'
        })
      )
    )
    assert.equal(report.problem, undefined)
    assert.match(report.warning ?? '', /run 2 different images under .*: sha256:1{64}, sha256:3{64}/)
  })

  test('the summary section names tag, digest and what the pods run', () => {
    const image = deployImage({})
    const report = checkNewPodImages(
      [rollout('celery-worker', [pod('w-1', PINNED, `${AR}@${D1}`)])],
      expected(image)
    )
    const section = imageSection(image, report)
    assert.match(section, /### Image/)
    assert.match(section, /\| digest \| sha256:1{64} \|/)
    assert.match(section, /pinned to the digest resolved before any write/)
    assert.match(section, /sha256:111111111111… in every checked container \(1 in 1 pods\)/)
    assert.equal(imageSection(undefined, undefined), '')
  })
})

describe('the pre-flight: which outcomes stop the run before any write', () => {
  const cases: Array<{ outcome: ImageResolution; finding?: string; warning?: RegExp }> = [
    { outcome: resolved },
    { outcome: unreachable, warning: /could not be asked/ },
    {
      outcome: notFoundOutcome(name, measured, { reference: 'tag v1', listedTags: ['v1.0', 'v2'] }),
      finding: 'image-not-found'
    },
    {
      outcome: deniedOutcome(name, measured, {
        status: 403,
        authenticated: true,
        deployer: 'd@p.iam.gserviceaccount.com'
      }),
      finding: 'image-denied'
    },
    {
      outcome: deniedOutcome(name, measured, { status: 401, authenticated: false }),
      warning: /anonymous/
    },
    {
      outcome: wrongPlatformOutcome(name, measured, {
        digest: D1,
        platforms: [{ os: 'linux', architecture: 'arm64' }],
        missing: [{ os: 'linux', architecture: 'amd64' }]
      }),
      finding: 'image-platform'
    }
  ]
  for (const c of cases) {
    test(`${c.outcome.outcome}${'authenticated' in c.outcome ? ` (authenticated ${String(c.outcome.authenticated)})` : ''}`, () => {
      const problem = imagePreflightProblem(c.outcome)
      assert.equal(problem === undefined, c.finding === undefined)
      if (problem) {
        const finding = explainImagePreflight(problem)
        assert.equal(finding.class, c.finding)
        assert.match(finding.remedy, /Nothing was changed\.$/)
        assert.equal(finding.cause, (c.outcome as { cause: string }).cause)
      }
      const warning = imageCheckWarning(c.outcome)
      if (c.warning) assert.match(warning ?? '', c.warning)
      else assert.equal(warning, undefined)
    })
  }
})

describe('the plan', () => {
  const changeCases: Array<[from: string, to: string, note: string | undefined]> = [
    [`${AR}:main@${D1}`, `${AR}:main@${D2}`, 'same tag main, new bytes'],
    [`${AR}:main`, `${AR}:main@${D2}`, 'tag main pinned to the digest it names now'],
    [`${AR}:main@${D1}`, `${AR}:main`, 'tag main no longer pinned to a digest'],
    [`${AR}@${D1}`, `${AR}@${D2}`, 'same reference, new bytes'],
    [`${AR}:v1@${D1}`, `${AR}:v2@${D2}`, undefined],
    [`${AR}:v1`, `europe-docker.pkg.dev/proj-123/app/noesis2-web:v1`, undefined],
    ['not an image', `${AR}:v1`, undefined]
  ]
  for (const [from, to, note] of changeCases) {
    test(`image change ${from.slice(-20)} -> ${to.slice(-20)}`, () =>
      assert.equal(imageChangeNote(from, to), note))
  }

  const objects = [deployment('celery-worker', app())]
  const config = { image: IMAGE, imagePinning: 'digest' as const }
  test('resolved: the plan pins what a deploy would', () => {
    const { objects: planned, plan } = planImage(objects, config, check(resolved), new Map())
    assert.equal(imageOf(planned[0]), PINNED)
    assert.match(plan.text, /is sha256:1{64} in its registry: a deploy pins it/)
    assert.equal(plan.problem, undefined)
  })
  test("a refusal is about the plan's identity: a note, not a problem", () => {
    const denied = deniedOutcome(name, measured, { status: 403, authenticated: true })
    const { plan } = planImage(objects, config, check(denied), new Map())
    assert.equal(plan.problem, undefined)
    assert.match(plan.note ?? '', /refused to let this plan's identity read/)
  })
  test('a missing tag is a problem a deploy would hit', () => {
    const missing = notFoundOutcome(name, measured, { reference: 'tag v1', listedTags: [] })
    const { plan } = planImage(objects, config, check(missing), new Map())
    assert.match(plan.problem ?? '', /is not in the registry.*Push the image/)
  })
})
