// After the rollouts: which bytes the new pods run, from each container's imageID (what the runtime pulled, as
// the kubelet reports it), against the digest resolved before any write. Pure.
//
// - Pinned (image_pinning digest, or an image given by digest): the pods' spec names the digest, so a pod that
//   runs anything else means something between the Deployment and the node changed it (a mutating webhook, a
//   mirror serving other bytes): the verification fails, the pods named, and the release is undone.
// - Tag mode: each node resolves the tag itself when it pulls, later than the check, and may reuse an image it
//   has cached under that tag (imagePullPolicy IfNotPresent). Other bytes are then possible by design: they are
//   reported as a warning naming the pods and digests, not a failure; so are pods that disagree with each other.
// - A container that has not reported an imageID yet proves nothing either way: reported, never failed.

import type { KubeObject } from '../k8s/kube-object.js'
import { isRecord } from '../k8s/kube-object.js'
import {
  checkPodImageIds,
  describeImageIdMismatch,
  digestOfImageId,
  type ContainerImageRecord,
  type ImageIdCheck
} from '../registry/verify-image-ids.js'
import type { DeployImage } from './pin-deployments.js'
import type { RolloutResult } from './wait-rollouts.js'

export interface ExpectedPodImages {
  image: DeployImage
  // Per Deployment, the containers its template runs the image in.
  containers: Record<string, string[]>
}

export interface PodImageReport {
  enforced: boolean
  // The digest the pods were checked against (resolved now, or kept from the running release).
  expected?: string
  pods: number
  matching: ContainerImageRecord[]
  mismatching: ImageIdCheck['mismatching']
  unknown: ContainerImageRecord[]
  // The distinct digests the new pods report.
  seen: string[]
  // Enforced and other bytes found: the verification fails with this.
  problem?: { cause: string; remedy: string }
  // Not enforced, or not provable: said, and the run goes on.
  warning?: string
}

export function expectedPodImages(objects: readonly KubeObject[], image: DeployImage): ExpectedPodImages {
  const containers: Record<string, string[]> = {}
  for (const object of objects) {
    if (object.kind !== 'Deployment') continue
    const spec = isRecord(object.spec) ? object.spec : undefined
    const template = isRecord(spec?.template) ? spec.template : undefined
    const podSpec = isRecord(template?.spec) ? template.spec : undefined
    const names = [podSpec?.initContainers, podSpec?.containers]
      .flatMap(list => (Array.isArray(list) ? list.filter(isRecord) : []))
      .filter(c => c.image === image.deployed || c.image === image.given)
      .map(c => String(c.name))
    if (names.length > 0) containers[object.metadata.name] = names
  }
  return { image, containers }
}

function digestsOf(check: ImageIdCheck): string[] {
  const all = [
    ...check.matching.map(m => digestOfImageId(m.imageID)),
    ...check.mismatching.map(m => m.digest)
  ]
  return [...new Set(all.filter((d): d is string => d !== undefined))].sort()
}

export function checkNewPodImages(
  rollouts: readonly RolloutResult[],
  expected: ExpectedPodImages
): PodImageReport {
  const { image } = expected
  const references = [...new Set([image.given, image.deployed])]
  const combined: ImageIdCheck = { matching: [], mismatching: [], unknown: [] }
  let pods = 0
  for (const rollout of rollouts) {
    const names = expected.containers[rollout.deployment]
    if (!names) continue
    pods += rollout.pods.length
    const check = checkPodImageIds(rollout.pods, {
      references,
      containers: names,
      acceptedDigests: image.acceptedDigests
    })
    combined.matching.push(...check.matching)
    combined.mismatching.push(...check.mismatching)
    combined.unknown.push(...check.unknown)
  }
  const expectedDigest = image.digest ?? (image.source === 'kept' ? image.acceptedDigests[0] : undefined)
  const report: PodImageReport = {
    enforced: image.enforced,
    ...(expectedDigest ? { expected: expectedDigest } : {}),
    pods,
    matching: combined.matching,
    mismatching: combined.mismatching,
    unknown: combined.unknown,
    seen: digestsOf(combined)
  }
  const unknownText =
    combined.unknown.length > 0
      ? `${combined.unknown.length} container${combined.unknown.length === 1 ? '' : 's'} reported no imageID to check (${combined.unknown
          .slice(0, 5)
          .map(u => `${u.pod}/${u.container}`)
          .join(', ')}${combined.unknown.length > 5 ? ', …' : ''})`
      : undefined
  if (image.acceptedDigests.length === 0) {
    // Nothing resolved to compare with (the registry could not be asked): what the pods run, for the record.
    report.warning = [
      report.seen.length > 1
        ? `The new pods run ${report.seen.length} different images under ${image.given}: ${report.seen.join(', ')}`
        : undefined,
      unknownText
    ]
      .filter(Boolean)
      .join('; ')
    if (report.warning === '') delete report.warning
    return report
  }
  const mismatch = describeImageIdMismatch(
    combined,
    expectedDigest ?? image.acceptedDigests[0],
    image.enforced
  )
  if (mismatch && image.enforced) report.problem = mismatch
  const warnings = [
    mismatch && !image.enforced ? `${mismatch.cause} ${mismatch.remedy}` : undefined,
    unknownText
  ]
  const warning = warnings.filter(Boolean).join(' ')
  if (warning) report.warning = warning
  return report
}
