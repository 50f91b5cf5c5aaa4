// A finding: why a run failed, said once, in the words a person acts on. One line of cause (what happened,
// with the evidence: the reason Kubernetes gave, the pods), one of remedy (what to do next). Findings come from
// the rollouts (explain-rollout.ts) and from errors before or during the deploy (explain-error.ts); the job
// summary, the log and the error annotations all show the same ones (headline.ts).

export type FindingClass =
  | 'image-not-found'
  | 'image-denied'
  | 'image-invalid'
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
  | 'rbac'
  | 'lock-held'
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

/** The finding with every text it carries redacted (they quote pod logs, kubelet and API messages). */
export function redactFinding(finding: Finding, redact: (text: string) => string): Finding {
  return {
    ...finding,
    subjects: finding.subjects.map(redact),
    title: redact(finding.title),
    cause: redact(finding.cause),
    ...(finding.evidence !== undefined ? { evidence: redact(finding.evidence) } : {}),
    pods: finding.pods.map(redact),
    ...(finding.tail !== undefined ? { tail: redact(finding.tail) } : {}),
    remedy: redact(finding.remedy)
  }
}
