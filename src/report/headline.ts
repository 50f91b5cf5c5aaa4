// The first thing a failed run shows: per finding one line of cause and one of remedy, then where to look (the
// pods' logs in Cloud Logging, the workload in the GKE console). The same findings become the run's error
// annotations, titled, so the run page says why without opening the log.

import { causeLine, type Finding } from './finding.js'
import { podLogsUrl, workloadUrl, type GkeCoordinates } from './links.js'
import { inline } from './markdown.js'

export interface LinkContext {
  gke?: GkeCoordinates
  namespace: string
  /** Deployments among the findings' subjects (they get a workload link). */
  deployments: string[]
  /** The logs' time window. */
  window: { fromMs: number; toMs: number }
}

// Enough to act on; a run where more pods fail says how many were left out.
const MAX_POD_LINKS = 4

export function headlineMarkdown(findings: Finding[], links?: LinkContext): string {
  return findings
    .map(finding => {
      const lines = [
        `- **${inline(finding.subjects.join(', '))}**: ${inline(causeLine(finding))}`,
        `  - **Fix:** ${inline(finding.remedy)}`
      ]
      const where = linkLine(finding, links)
      if (where) lines.push(`  - ${where}`)
      return lines.join('\n')
    })
    .join('\n')
}

function linkLine(finding: Finding, links: LinkContext | undefined): string | undefined {
  const gke = links?.gke
  if (!gke || !links) return undefined
  const parts: string[] = []
  const pods = finding.pods.slice(0, MAX_POD_LINKS)
  if (pods.length > 0) {
    const more = finding.pods.length - pods.length
    parts.push(
      `**Logs:** ${pods.map(pod => link(pod, podLogsUrl(gke, links.namespace, pod, links.window))).join(' · ')}${more > 0 ? ` (and ${more} more pods)` : ''}`
    )
  }
  const workloads = finding.subjects.filter(s => links.deployments.includes(s))
  if (workloads.length > 0) {
    parts.push(`**GKE:** ${workloads.map(d => link(d, workloadUrl(gke, links.namespace, d))).join(' · ')}`)
  }
  return parts.length > 0 ? parts.join(' · ') : undefined
}

// The label is text from the cluster, escaped; the URL is built from encoded parts (links.ts).
function link(label: string, url: string): string {
  return `[${inline(label)}](${url})`
}

/** The run's error annotations: `::error title=celery-worker: image not found::…`. */
export function annotationsOf(findings: Finding[]): Array<{ title: string; message: string }> {
  return findings.map(finding => ({
    title: `${finding.subjects.join(', ')}: ${finding.title}`.slice(0, 200),
    message: `${finding.subjects.join(', ')}: ${causeLine(finding)}\nFix: ${finding.remedy}`
  }))
}
