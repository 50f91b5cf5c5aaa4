// A finding: why a run failed, said once, in the words a person acts on. One line of cause (what happened,
// with the evidence: the reason Kubernetes gave, the pods), one of remedy (what to do next). Findings come from
// the rollouts (explain-rollout.ts) and from errors before or during the deploy (explain-error.ts); the job
// summary, the log and the error annotations all show the same ones (headline.ts).

import { redactAndClip, type Redact } from '../redact.js'

export type FindingClass =
  | 'image-not-found'
  | 'image-denied'
  | 'image-invalid'
  | 'image-platform'
  | 'image-mismatch'
  | 'image-pull'
  | 'crash-loop'
  | 'start-error'
  | 'proxy-sidecar'
  | 'config-error'
  | 'container-error'
  | 'unschedulable'
  | 'oom-killed'
  | 'probe'
  | 'progress-deadline'
  | 'timeout'
  | 'not-verified'
  | 'replica-failure'
  | 'smoke-check'
  | 'beat-guard'
  | 'pre-deploy'
  | 'task-safety'
  | 'rbac'
  | 'lock-held'
  | 'lock-lost'
  | 'api-unavailable'
  | 'missing-secret'
  | 'rejected'
  | 'keda-missing'
  | 'keda-not-ready'
  | 'autoscaler-conflict'
  | 'input'
  | 'credentials'
  | 'cancelled'
  | 'error'

export interface Finding {
  class: FindingClass
  /** What failed: Deployments (merged when several fail alike), or a step ("pre-flight", "inputs"). */
  subjects: string[]
  /** Short, for the error annotation's title: "image not found". */
  title: string
  /** What happened, without the evidence below; plain text. */
  cause: string
  /** Kubernetes' own word for it (ImagePullBackOff, CrashLoopBackOff after 3 restarts), if any. */
  evidence?: string
  /** The pods it was seen in (their log links follow the finding). */
  pods: string[]
  /** Said after the evidence, e.g. the last log line of a crashed process. */
  tail?: string
  /** What to do next; plain text. */
  remedy: string
}

/**
 * Findings that say the same thing about different Deployments or pods (worker and beat run the same image,
 * so a missing image fails both) become one, naming all of them: each message is said once.
 */
export function mergeFindings(findings: Finding[]): Finding[] {
  const merged = new Map<string, Finding>()
  for (const finding of findings) {
    // The evidence may differ by the moment each pod was looked at (ErrImagePull, then ImagePullBackOff).
    const key = JSON.stringify([finding.class, finding.cause, finding.tail, finding.remedy])
    const seen = merged.get(key)
    if (!seen) {
      merged.set(key, { ...finding, subjects: [...finding.subjects], pods: [...finding.pods] })
      continue
    }
    for (const subject of finding.subjects) if (!seen.subjects.includes(subject)) seen.subjects.push(subject)
    for (const pod of finding.pods) if (!seen.pods.includes(pod)) seen.pods.push(pod)
    if (finding.evidence !== seen.evidence) seen.evidence = mergedEvidence(seen.evidence, finding.evidence)
  }
  return [...merged.values()]
}

// Two pods seen at different moments (3 restarts and 5, ErrImagePull and ImagePullBackOff): the reasons
// alone, each once; the counts stay in the pods' rows.
function mergedEvidence(a: string | undefined, b: string | undefined): string | undefined {
  const reasons = [a, b]
    .flatMap(e => (e ?? '').split(' / '))
    .map(e => e.split(',')[0].trim())
    .filter(Boolean)
  return reasons.length > 0 ? [...new Set(reasons)].join(' / ') : undefined
}

/** `image … was not found (ImagePullBackOff, pods a, b); last log line: …`, plain text. */
export function causeLine(finding: Finding): string {
  const evidence = [
    finding.evidence,
    finding.pods.length > 0 ? `${finding.pods.length === 1 ? 'pod' : 'pods'} ${finding.pods.join(', ')}` : ''
  ].filter(Boolean)
  return `${finding.cause}${evidence.length > 0 ? ` (${evidence.join(', ')})` : ''}${finding.tail ?? ''}`
}

// What a finding shows of the text it quotes: one line each, of a length an annotation and a summary row carry.
const MAX_QUOTED_CHARS = { title: 200, cause: 2000, evidence: 500, tail: 400, remedy: 2000, name: 300 }

/**
 * The finding with every text it carries redacted (they quote pod logs, kubelet and API messages), then cut to
 * size: the one place findings are shortened, after redaction, so a cut never leaves part of a secret.
 */
export function redactFinding(finding: Finding, redact: Redact): Finding {
  const fit = (text: string, max: number): string => redactAndClip(redact, text, max)
  return {
    ...finding,
    subjects: finding.subjects.map(s => fit(s, MAX_QUOTED_CHARS.name)),
    title: fit(finding.title, MAX_QUOTED_CHARS.title),
    cause: fit(finding.cause, MAX_QUOTED_CHARS.cause),
    ...(finding.evidence !== undefined ? { evidence: fit(finding.evidence, MAX_QUOTED_CHARS.evidence) } : {}),
    pods: finding.pods.map(p => fit(p, MAX_QUOTED_CHARS.name)),
    ...(finding.tail !== undefined ? { tail: fit(finding.tail, MAX_QUOTED_CHARS.tail) } : {}),
    remedy: fit(finding.remedy, MAX_QUOTED_CHARS.remedy)
  }
}
