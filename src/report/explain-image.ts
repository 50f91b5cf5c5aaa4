// The image in the reports: why the registry check stopped a run before any write (a finding per outcome, the
// registry's own words as evidence), why the verification after the rollout failed (the pods that run other
// bytes), and the job summary's section with the tag, the digest it resolved to and what the pods run. The
// registry's words are untrusted text: they reach the summary only through inline()/table() and the findings'
// redaction.

import type { PreflightProblem } from '../deploy/preflight.js'
import type { DeployImage } from '../deploy/pin-deployments.js'
import type { PodImageReport } from '../deploy/verify-pod-images.js'
import type { Finding, FindingClass } from './finding.js'
import { inline, table } from './markdown.js'

type ImageOutcome = NonNullable<PreflightProblem['image']>['outcome']

const PREFLIGHT: Record<ImageOutcome, { class: FindingClass; title: string }> = {
  'not-found': { class: 'image-not-found', title: 'image not in the registry' },
  denied: { class: 'image-denied', title: 'may not read the image' },
  'wrong-platform': { class: 'image-platform', title: 'image not built for the node platform' },
  unreachable: { class: 'error', title: 'registry unreachable' }
}

export function explainImagePreflight(problem: PreflightProblem): Finding {
  const image = problem.image
  const kind = PREFLIGHT[image?.outcome ?? 'unreachable']
  return {
    class: kind.class,
    subjects: ['image'],
    title: kind.title,
    cause: image?.cause ?? problem.text,
    ...(image?.registryMessage ? { evidence: `the registry said: ${image.registryMessage}` } : {}),
    pods: [],
    remedy: `${image?.remedy ?? ''} Nothing was changed.`.trim()
  }
}

// The verification's finding: the pods that run other bytes than the ones resolved (pinned pods only).
export function explainPodImages(report: PodImageReport | undefined): Finding[] {
  if (!report?.problem) return []
  return [
    {
      class: 'image-mismatch',
      subjects: ['image'],
      title: 'pods run other bytes than the image resolved',
      cause: report.problem.cause,
      pods: [...new Set(report.mismatching.map(m => m.pod))],
      remedy: report.problem.remedy
    }
  ]
}

const SOURCE_TEXT: Record<DeployImage['source'], string> = {
  resolved: 'pinned to the digest resolved before any write',
  kept: 'the registry could not be asked: kept the digest the running release has for this tag',
  unpinned: 'as given, not pinned'
}

function short(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest
}

// The summary's section: what the tag named, what the Deployments got, and what the new pods run.
export function imageSection(image: DeployImage | undefined, pods: PodImageReport | undefined): string {
  if (!image) return ''
  const rows: string[][] = [
    ['image', image.given],
    ['digest', image.digest ?? (image.source === 'kept' ? `${image.acceptedDigests[0]} (kept)` : '–')],
    ['deployed as', `${image.deployed} (${SOURCE_TEXT[image.source]})`],
    [
      'platforms',
      image.platforms.length > 0
        ? `${image.platforms.join(', ')}; checked for ${image.checkedFor.join(', ')}`
        : `checked for ${image.checkedFor.join(', ')}`
    ],
    [
      'registry check',
      `${image.outcome}, ${image.requests} request${image.requests === 1 ? '' : 's'}, ${Math.round(image.durationMs)} ms`
    ]
  ]
  if (pods) rows.push(['new pods run', podsText(pods)])
  const warnings = [image.warning, pods?.warning]
    .filter((w): w is string => w !== undefined)
    .map(w => `\n\n⚠️ ${inline(w)}`)
    .join('')
  return `### Image\n\n${table(['', ''], rows)}${warnings}`
}

function podsText(pods: PodImageReport): string {
  const checked = pods.matching.length + pods.mismatching.length
  if (pods.mismatching.length > 0) {
    const where = pods.problem ? 'above' : 'below'
    return `other bytes in ${pods.mismatching.length} of ${checked} containers (${pods.seen.map(short).join(', ')}): see ${where}`
  }
  if (checked === 0) {
    return pods.unknown.length > 0 ? 'no container reported an imageID yet' : 'no new pod to check'
  }
  const digest = pods.expected ?? pods.seen[0]
  const unknown = pods.unknown.length > 0 ? `; ${pods.unknown.length} not reported yet` : ''
  return `${digest ? short(digest) : 'the same image'} in every checked container (${checked} in ${pods.pods} pods)${unknown}`
}
