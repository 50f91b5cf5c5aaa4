// After the rollout: does every new pod run the bytes that were resolved? The kubelet reports what the runtime
// pulled in status.containerStatuses[].imageID, in one of these forms:
//   REGISTRY/PATH@sha256:D   containerd (GKE): a repo digest, D the digest pulled (an index's, for multi-platform)
//   sha256:C                 some runtimes (CRI-O, preloaded images): the image config's digest
//   docker-pullable://REGISTRY/PATH@sha256:D   the old dockershim
// The repository part is not compared: a runtime reports the first repo digest it knows, which may be another
// name for the same bytes; digests are content addresses, and only they are compared. imageID comes from the
// cluster: it is read only through the digest pattern and clipped where it is quoted.

import type { Pod } from '../k8s/types.js'

export interface ExpectedImage {
  // Container images that count as this image: the `image` input and its pinned form.
  references: string[]
  // Containers (by name) the workload's template runs the image in: checked even when the pod's own spec names
  // another image (something between the Deployment and the pod rewrote it: a mutating admission webhook).
  containers?: string[]
  // ResolvedImage.acceptedDigests: the index, its platform manifests, their configs.
  acceptedDigests: string[]
}

export interface ContainerImageRecord {
  pod: string
  container: string
  imageID: string
  // The pod's spec image, when it is not one of the references (rewritten after the Deployment).
  specImage?: string
}

export interface ImageIdCheck {
  // Containers of the image whose imageID carries an accepted digest.
  matching: ContainerImageRecord[]
  // Containers that run other bytes than the ones resolved: the verification fails with these named.
  mismatching: Array<ContainerImageRecord & { digest: string }>
  // Containers whose imageID is empty or of no known form (not started yet): neither proof nor disproof.
  unknown: ContainerImageRecord[]
}

const DIGEST_AT_END = /@(sha256:[a-f0-9]{64})$/
const BARE_DIGEST = /^sha256:[a-f0-9]{64}$/
const MAX_IMAGE_ID_LENGTH = 600
const MAX_QUOTED = 300

export function digestOfImageId(imageID: string): string | undefined {
  if (imageID.length > MAX_IMAGE_ID_LENGTH) return undefined
  const withoutScheme = imageID.replace(/^[a-z-]+:\/\//, '')
  if (BARE_DIGEST.test(withoutScheme)) return withoutScheme
  return DIGEST_AT_END.exec(withoutScheme)?.[1]
}

function clip(text: string): string {
  return text.length > MAX_QUOTED ? `${text.slice(0, MAX_QUOTED)}…` : text
}

export function checkPodImageIds(pods: readonly Pod[], expected: ExpectedImage): ImageIdCheck {
  const references = new Set(expected.references)
  const named = new Set(expected.containers ?? [])
  const accepted = new Set(expected.acceptedDigests)
  const result: ImageIdCheck = { matching: [], mismatching: [], unknown: [] }
  for (const pod of pods) {
    const specContainers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
    for (const container of specContainers) {
      const ours = container.image !== undefined && references.has(container.image)
      if (!ours && !named.has(container.name)) continue
      const status = statuses.find(s => s.name === container.name)
      const imageID = status?.imageID ?? ''
      const record = {
        pod: pod.metadata.name,
        container: container.name,
        imageID: clip(imageID),
        ...(ours ? {} : { specImage: clip(container.image ?? '') })
      }
      const digest = digestOfImageId(imageID)
      if (!digest) result.unknown.push(record)
      else if (accepted.has(digest)) result.matching.push(record)
      else result.mismatching.push({ ...record, digest })
    }
  }
  return result
}

// One line per mismatching container, for the verification's failure: cause and remedy.
export function describeImageIdMismatch(
  check: ImageIdCheck,
  resolvedDigest: string,
  // Whether the pods' spec named the digest (image_pinning: digest, or an image given by digest).
  pinned: boolean
): { cause: string; remedy: string } | undefined {
  if (check.mismatching.length === 0) return undefined
  const pods = [...new Set(check.mismatching.map(m => m.pod))]
  const lines = check.mismatching.map(
    m => `${m.pod}/${m.container} runs ${m.digest}${m.specImage ? ` (its spec says ${m.specImage})` : ''}`
  )
  return {
    cause: `${pods.length} new pod${pods.length === 1 ? '' : 's'} run${pods.length === 1 ? 's' : ''} other bytes than the image resolved before the deploy (${resolvedDigest}): ${lines.join('; ')}.`,
    remedy: pinned
      ? "The pods named the digest and still run other bytes: something between the Deployment and the node rewrote the image (a mutating admission webhook, a registry mirror). Find it with `kubectl get pod POD -o jsonpath={.spec.containers[*].image}` and the cluster's mutating webhooks."
      : 'The pods name the tag, not the digest, so each node resolved the tag itself when it pulled: the tag was pushed again after the check, or a node ran an image it had cached under this tag (imagePullPolicy IfNotPresent). Deploy with image_pinning: digest (the default) so every pod pulls the resolved digest, or give image as REGISTRY/PATH@sha256:DIGEST.'
  }
}
