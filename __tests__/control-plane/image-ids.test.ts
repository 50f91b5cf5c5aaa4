// What runs after the rollout, on the real control plane: an image resolved in the real registry rig, a
// Deployment pinned to its digest by pinImage, pods made by the real deployment and replicaset controllers and
// started by kwok, whose imageID (reported as containerd reports it) the check compares with the resolution.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startControlPlane, type ControlPlane } from '../rig/control-plane/index.js'
import { waitUntil } from '../rig/control-plane/processes.js'
import { startGoogleStandIns, type GoogleStandIns } from '../rig/gcp/index.js'
import { startRegistry, type RegistryRig } from '../rig/registry/index.js'
import { resolveImage, type ResolvedImage } from '../../src/registry/resolve-image.js'
import { httpsTransport } from '../../src/registry/transport.js'
import { pinImage } from '../../src/registry/pin-image.js'
import { checkPodImageIds, describeImageIdMismatch } from '../../src/registry/verify-image-ids.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import type { Pod } from '../../src/k8s/types.js'

const DEPLOYER = 'deployer@noesis2-test.iam.gserviceaccount.com'
const NAMESPACE = 'image-ids'

let cluster: ControlPlane
let google: GoogleStandIns
let registry: RegistryRig

before(async () => {
  google = await startGoogleStandIns({ metadataServiceAccount: DEPLOYER, serviceAccountEmail: DEPLOYER })
  ;[cluster, registry] = await Promise.all([
    startControlPlane(),
    startRegistry({ principalOfAccessToken: token => google.principalOfAccessToken(token) })
  ])
  const created = await cluster.kubectl(['create', 'namespace', NAMESPACE])
  assert.equal(created.code, 0, created.stderr)
})

after(async () => {
  await Promise.all([cluster?.stop(), registry?.stop()])
  await google?.stop()
})

async function resolved(image: string): Promise<ResolvedImage> {
  const token = await fetch(
    `http://${google.metadataHost}/computeMetadata/v1/instance/service-accounts/default/token`,
    { headers: { 'Metadata-Flavor': 'Google' } }
  ).then(async res => ((await res.json()) as { access_token: string }).access_token)
  const resolution = await resolveImage({
    image,
    transport: httpsTransport({ ca: registry.caPem }),
    googleAccessToken: async () => token,
    takesGoogleToken: host => host === registry.host || host === registry.tokenHost
  })
  assert.equal(resolution.outcome, 'resolved', JSON.stringify(resolution))
  return resolution as ResolvedImage
}

function deployment(name: string, image: string): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image, command: ['celery'] }] }
      }
    }
  }
}

// The running pods of a Deployment, once each has reported an imageID: the kubelet (kwok) sets it when the
// container starts.
async function startedPods(app: string): Promise<Pod[]> {
  let pods: Pod[] = []
  await waitUntil(
    `the pods of ${app}`,
    async () => {
      const listed = await cluster.kubectl(['get', 'pods', '-n', NAMESPACE, '-l', `app=${app}`, '-o', 'json'])
      pods = (JSON.parse(listed.stdout) as { items: Pod[] }).items
      return (
        pods.length === 2 &&
        pods.every(p => p.status?.containerStatuses?.every(s => s.state?.running && s.imageID))
      )
    },
    { timeoutMs: 60_000 }
  )
  return pods
}

describe('imageID of new pods against the resolved digest', () => {
  test('pods of a pinned Deployment report the resolved digest, as containerd would', async () => {
    const image = registry.reference('app/web', 'v1')
    const index = await registry.pushIndex(image, [
      { platform: 'linux/amd64', content: 'v1' },
      { platform: 'linux/arm64', content: 'v1' }
    ])
    const resolution = await resolved(image)
    assert.equal(resolution.digest, index.digest)
    const { objects, pinned } = pinImage([deployment('pinned', image)], image, resolution.pinned)
    assert.equal(pinned.length, 1)
    const applied = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(objects[0]))
    assert.equal(applied.code, 0, applied.stderr)

    const pods = await startedPods('pinned')
    for (const pod of pods) {
      assert.equal(pod.spec?.containers[0].image, `${image}@${index.digest}`)
      assert.equal(pod.status?.containerStatuses?.[0].imageID, `${registry.host}/app/web@${index.digest}`)
    }
    const check = checkPodImageIds(pods, {
      references: [image, resolution.pinned],
      acceptedDigests: resolution.acceptedDigests
    })
    assert.equal(check.matching.length, 2)
    assert.deepEqual(check.mismatching, [])

    // The tag is pushed again after the rollout: the pinned pods still run the bytes resolved before it, and a
    // check against the tag's new digest names each of them.
    await registry.pushImage(image, { platform: 'linux/amd64', content: 'v1 rebuilt' })
    const moved = await resolved(image)
    assert.notEqual(moved.digest, resolution.digest)
    const against = checkPodImageIds(pods, {
      references: [image, resolution.pinned],
      acceptedDigests: moved.acceptedDigests
    })
    assert.deepEqual(against.mismatching.map(m => m.pod).sort(), pods.map(p => p.metadata.name).sort())
    assert.match(describeImageIdMismatch(against, moved.digest, true)!.cause, /2 new pods run other bytes/)
  })

  test('a tag-only image: kwok asks no registry, so its imageID is a stand-in digest that matches nothing', async () => {
    const image = registry.reference('app/web', 'tag-only')
    await registry.pushImage(image, { platform: 'linux/amd64', content: 'tag only' })
    const resolution = await resolved(image)
    const applied = await cluster.kubectl(['apply', '-f', '-'], JSON.stringify(deployment('tag-only', image)))
    assert.equal(applied.code, 0, applied.stderr)
    const pods = await startedPods('tag-only')
    const check = checkPodImageIds(pods, { references: [image], acceptedDigests: resolution.acceptedDigests })
    assert.equal(check.mismatching.length, 2)
    for (const mismatch of check.mismatching) {
      assert.equal(mismatch.imageID.startsWith(`${registry.host}/app/web@sha256:`), true)
    }
  })
})
