// The job summary of a dry run: what would be applied, with every value escaped and secrets shown as ***.

import type { RenderedManifests } from '../render/render-manifests.js'
import { describeObject } from '../k8s/kube-object.js'
import { redactSecrets, toPortableYaml } from '../k8s/serialize.js'
import { gatePlanLine } from './gate-summary.js'
import { codeBlock, details, inline, runLink, table } from './markdown.js'

export interface InputRow {
  name: string
  value: string
  secret: boolean
}

export interface PlanSummaryInput {
  mode: 'offline' | 'cluster'
  reason: string
  namespace: string
  image: string
  inputs: InputRow[]
  rendered: RenderedManifests
  manifestsPath: string
  // Per object, the diff against the cluster (cluster mode); absent offline.
  diffs?: Map<string, string>
  runUrl?: string
  // pre_deploy_command: the plan says it would run (a dry run never runs it).
  gate?: { command: string; image: string; timeoutSeconds: number }
}

export function renderPlanSummary(plan: PlanSummaryInput): string {
  const parts: string[] = []
  const objects = plan.rendered.objects
  parts.push(`## deploy-gke-workers: dry run${plan.mode === 'offline' ? ' (offline)' : ''}`)
  parts.push(
    `${inline(plan.reason)} Nothing was applied. ${objects.length} objects rendered for namespace <code>${inline(plan.namespace)}</code>, image <code>${inline(plan.image)}</code>.`
  )
  if (plan.gate) parts.push(gatePlanLine(plan.gate))
  parts.push('### Plan')
  parts.push(
    table(
      ['#', 'kind', 'name', 'namespace', 'from'],
      objects.map((o, i) => [
        String(i + 1),
        o.object.kind,
        o.object.metadata.name,
        o.object.metadata.namespace ?? '',
        o.file
      ])
    )
  )
  if (plan.rendered.notes.length > 0) {
    parts.push('### Notes')
    parts.push(plan.rendered.notes.map(n => `- ${inline(n)}`).join('\n'))
  }
  if (plan.rendered.liveSecretKeys.length > 0) {
    const keys = [...new Set(plan.rendered.liveSecretKeys.map(k => `${k.secret}/${k.key}`))].join(', ')
    parts.push(
      `Keys that must exist in the cluster's Secret (checked before any write on a real deploy): <code>${inline(keys)}</code>`
    )
  }
  parts.push('### Objects')
  for (const item of objects) {
    const yaml = toPortableYaml(redactSecrets(item.object))
    parts.push(details(`${describeObject(item.object)} (${item.file})`, codeBlock(yaml, 'yaml')))
  }
  parts.push('### Inputs')
  parts.push(
    table(
      ['input', 'value'],
      plan.inputs.map(row => [row.name, row.secret ? '***' : row.value])
    )
  )
  const run = runLink(plan.runUrl)
  parts.push(
    `Rendered manifests (Secret values redacted): <code>${inline(plan.manifestsPath)}</code>${run ? ` · planned by ${run}` : ''}`
  )
  return parts.join('\n\n') + '\n'
}
