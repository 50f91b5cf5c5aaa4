// The image in a pull-request plan: the tag resolved in its registry as a deploy would resolve it, so the plan
// compares what a deploy would really send (REGISTRY/PATH:TAG@sha256:DIGEST by default) with the live objects:
// a tag pushed again since the last deploy shows as a behaviour change, same tag, new bytes. What the check
// finds that would stop a deploy (no such tag, no manifest for the nodes) is a problem a deploy would hit; a
// refusal is about the plan's identity, which may not be the deployer's.

import type { ImagePinning } from '../inputs.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { LiveObjectMeta } from '../kube/objects.js'
import type { ImageCheck } from '../deploy/image-preflight.js'
import { pinDeployments, type DeployImage } from '../deploy/pin-deployments.js'

export interface PlanImage {
  image: DeployImage
  // One line for the plan's header: the tag and the digest a deploy would pin.
  text: string
  // Would stop a deploy before any write.
  problem?: string
  // Said, not a problem for the deploy.
  note?: string
}

export function planImage(
  objects: readonly KubeObject[],
  config: { image: string; imagePinning: ImagePinning },
  check: ImageCheck,
  live: ReadonlyMap<string, LiveObjectMeta>
): { objects: KubeObject[]; plan: PlanImage } {
  const pinned = pinDeployments(objects, { image: config.image, pinning: config.imagePinning }, check, live)
  const image = pinned.image
  const r = check.resolution
  let text: string
  let problem: string | undefined
  let note: string | undefined
  if (r.outcome === 'resolved') {
    text =
      image.deployed !== config.image
        ? `${config.image} is ${r.digest} in its registry: a deploy pins it (${image.deployed}).`
        : `${config.image} is ${r.digest} in its registry (image_pinning ${config.imagePinning}: deployed as given).`
  } else if (r.outcome === 'denied' && r.authenticated) {
    text = `${config.image}: the registry refused this plan's identity (HTTP ${r.status}).`
    note = `The registry refused to let this plan's identity read ${config.image}: the digest could not be compared. A deploy asks with the deployer's identity, which needs roles/artifactregistry.reader on the repository.`
  } else if (r.severity === 'error') {
    text = `${config.image}: ${r.outcome}.`
    problem = `${r.cause} ${r.remedy}`
  } else {
    text =
      image.source === 'kept'
        ? `${config.image}: the registry could not be asked; a deploy would keep the running digest ${image.acceptedDigests[0]}.`
        : `${config.image}: the registry could not be asked.`
    note = r.cause
  }
  return {
    objects: pinned.objects,
    plan: { image, text, ...(problem ? { problem } : {}), ...(note ? { note } : {}) }
  }
}
