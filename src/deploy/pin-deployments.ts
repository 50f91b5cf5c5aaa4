// Decide what image reference the workloads get, from the registry check: with image_pinning digest (the
// default) REGISTRY/PATH:TAG@sha256:DIGEST as resolved before any write, so every pod of the rollout runs the
// same bytes whatever happens to the tag, and a rollback to the previous revision restores the previous bytes;
// with `tag` the image as given. The Deployments' trace annotations name the digest too. Pure.
//
// A registry the run could not ask leaves nothing to pin to. Rather than roll the pods from TAG@DIGEST back to
// the bare tag (a change of every pod template, and bytes nobody checked), a workload that already runs this
// same tag pinned keeps that digest: the bytes of the last release of the tag, named in the summary.

import type { ImagePinning } from '../inputs.js'
import { isRecord, type KubeObject } from '../k8s/kube-object.js'
import { identityKey, type LiveObjectMeta } from '../kube/objects.js'
import { isSha256Digest } from '../registry/image-name.js'
import { pinImage } from '../registry/pin-image.js'
import { platformText } from '../registry/platform.js'
import { IMAGE_DIGEST_ANNOTATION } from '../render/render-manifests.js'
import type { ImageCheck } from './image-preflight.js'

const CHANGE_CAUSE = 'kubernetes.io/change-cause'

// The image of a deploy, for the verification after the rollout, the outputs and the reports.
export interface DeployImage {
  // The `image` input.
  given: string
  pinning: ImagePinning
  // What the workloads run: the pinned reference, or the image as given.
  deployed: string
  // The digest the registry named now (image_digest output); absent when it could not be asked.
  digest?: string
  // resolved: asked now; kept: the registry could not be asked, the running release's digest of this same
  // tag was kept; unpinned: the image as given (tag mode, or nothing to pin to).
  source: 'resolved' | 'kept' | 'unpinned'
  // Digests a new pod's imageID may carry: the index, its platform manifests, their configs.
  acceptedDigests: string[]
  // The pods' spec names the digest: a pod that runs other bytes fails the verification (tag mode: a warning).
  enforced: boolean
  // What the registry says the image offers, and the platforms it was checked for.
  platforms: string[]
  checkedFor: string[]
  outcome: ImageCheck['resolution']['outcome']
  requests: number
  durationMs: number
  // The check's warning, when it could not be made.
  warning?: string
}

function containersOf(object: KubeObject): Array<Record<string, unknown>> {
  const spec = isRecord(object.spec) ? object.spec : undefined
  const template = isRecord(spec?.template) ? spec.template : undefined
  const podSpec = isRecord(template?.spec) ? template.spec : undefined
  return [podSpec?.initContainers, podSpec?.containers].flatMap(list =>
    Array.isArray(list) ? list.filter(isRecord) : []
  )
}

// The one digest the live workloads run this exact reference at (`GIVEN@sha256:...`), if they agree on one.
export function livePinOf(
  objects: readonly KubeObject[],
  given: string,
  live: ReadonlyMap<string, LiveObjectMeta>
): string | undefined {
  const digests = new Set<string>()
  for (const object of objects) {
    if (object.kind !== 'Deployment') continue
    const current = live.get(
      identityKey({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace })
    )
    if (!current) continue
    for (const container of containersOf(current as unknown as KubeObject)) {
      const image = typeof container.image === 'string' ? container.image : ''
      if (!image.startsWith(`${given}@`)) continue
      const digest = image.slice(given.length + 1)
      if (isSha256Digest(digest)) digests.add(digest)
    }
  }
  return digests.size === 1 ? [...digests][0] : undefined
}

// The Deployments that run the deployed image name its digest, and their change cause the reference pinned.
function annotateDigest(
  objects: KubeObject[],
  given: string,
  deployed: string,
  digest: string
): KubeObject[] {
  return objects.map(object => {
    if (object.kind !== 'Deployment') return object
    if (!containersOf(object).some(c => c.image === deployed || c.image === given)) return object
    const annotations: Record<string, string> = {
      ...(object.metadata.annotations ?? {}),
      [IMAGE_DIGEST_ANNOTATION]: digest
    }
    const cause = annotations[CHANGE_CAUSE]
    if (deployed !== given && cause?.startsWith(`deploy-gke-workers: ${given}`)) {
      annotations[CHANGE_CAUSE] =
        `deploy-gke-workers: ${deployed}${cause.slice(`deploy-gke-workers: ${given}`.length)}`
    }
    return { ...object, metadata: { ...object.metadata, annotations } }
  })
}

export function pinDeployments(
  objects: readonly KubeObject[],
  input: { image: string; pinning: ImagePinning },
  check: ImageCheck,
  live: ReadonlyMap<string, LiveObjectMeta>
): { objects: KubeObject[]; image: DeployImage } {
  const { resolution } = check
  const given = input.image
  const common = {
    given,
    pinning: input.pinning,
    checkedFor: check.platforms.map(platformText),
    outcome: resolution.outcome,
    requests: resolution.requests,
    durationMs: resolution.durationMs
  }
  const givenDigest = given.includes('@') ? given.slice(given.indexOf('@') + 1) : undefined

  if (resolution.outcome === 'resolved') {
    const deployed = input.pinning === 'digest' ? resolution.pinned : given
    const pinned = pinImage(objects, given, deployed).objects
    return {
      objects: annotateDigest(pinned, given, deployed, resolution.digest),
      image: {
        ...common,
        deployed,
        digest: resolution.digest,
        source: deployed === given && !givenDigest ? 'unpinned' : 'resolved',
        acceptedDigests: resolution.acceptedDigests,
        enforced: deployed.includes('@'),
        platforms: resolution.platforms.map(platformText)
      }
    }
  }

  const warning = resolution.severity === 'warning' ? resolution.cause : undefined
  const kept = input.pinning === 'digest' && !givenDigest ? livePinOf(objects, given, live) : undefined
  if (kept) {
    const deployed = `${given}@${kept}`
    return {
      objects: annotateDigest(pinImage(objects, given, deployed).objects, given, deployed, kept),
      image: {
        ...common,
        deployed,
        source: 'kept',
        acceptedDigests: [kept],
        enforced: true,
        platforms: [],
        ...(warning ? { warning } : {})
      }
    }
  }
  return {
    objects: [...objects],
    image: {
      ...common,
      deployed: given,
      source: 'unpinned',
      // An image given by digest is pinned by its author: the pods must run that digest.
      acceptedDigests: givenDigest ? [givenDigest] : [],
      enforced: givenDigest !== undefined,
      platforms: [],
      ...(warning ? { warning } : {})
    }
  }
}
