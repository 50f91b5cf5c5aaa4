// The cluster's own word on which kinds are namespaced: `kubectl api-resources` (discovery, which kubectl
// caches for the run's later calls). Used for the kinds of users' templates that kinds.ts does not know.

import type { Kubectl } from './kubectl.js'
import { groupOf, kindName } from '../k8s/kinds.js'
import type { UnverifiedKind } from '../k8s/kinds.js'

export interface ApiResource {
  // the plural resource name, as RBAC and `kubectl auth can-i` name it
  resource: string
  kind: string
  group: string
  namespaced: boolean
}

// kubectl prints a table whose columns start where their headers do.
export function parseApiResources(table: string): ApiResource[] {
  const [header, ...rows] = table.split('\n').filter(line => line.trim() !== '')
  if (!header) return []
  const start = (name: string): number => header.indexOf(name)
  const columns = { apiVersion: start('APIVERSION'), namespaced: start('NAMESPACED'), kind: start('KIND') }
  if (Object.values(columns).some(at => at < 0)) return []
  const cell = (row: string, from: number): string => row.slice(from).trim().split(/\s+/)[0] ?? ''
  return rows.map(row => ({
    resource: cell(row, 0),
    group: groupOf(cell(row, columns.apiVersion)),
    namespaced: cell(row, columns.namespaced) === 'true',
    kind: cell(row, columns.kind)
  }))
}

export async function readApiResources(kubectl: Kubectl): Promise<ApiResource[]> {
  return parseApiResources((await kubectl.run(['api-resources'])).stdout)
}

// What is wrong with each unverified kind, by discovery: cluster-scoped, or not served at all.
export function kindProblems(kinds: UnverifiedKind[], resources: ApiResource[]): string[] {
  const problems: string[] = []
  for (const item of kinds) {
    const served = resources.filter(
      r => r.group === item.group && r.kind.toLowerCase() === item.kind.toLowerCase()
    )
    const name = kindName(item.kind, item.group)
    if (served.length === 0) {
      problems.push(
        `${item.file}: ${item.object}: the cluster serves no kind ${name} (is its CRD installed?)`
      )
    } else if (!served.some(r => r.namespaced)) {
      problems.push(
        `${item.file}: ${item.object}: ${name} is cluster-scoped; this action deploys only into its namespace`
      )
    }
  }
  return problems
}

// autoscaling: keda needs KEDA's kinds served: without them the apply would fail half-way, after the Deployments.
export function kedaProblems(
  kinds: Array<{ kind: string; group: string }>,
  resources: ApiResource[]
): string[] {
  const missing = [...new Set(kinds.filter(k => k.group === 'keda.sh').map(k => k.kind))].filter(
    kind => !resources.some(r => r.group === 'keda.sh' && r.kind === kind)
  )
  if (missing.length === 0) return []
  const crds = missing.map(kind => `${kind.toLowerCase()}s.keda.sh`).join(' and ')
  return [
    `autoscaling is keda, but the cluster serves no ${missing.join(' or ')} (KEDA's CRDs ${crds} are not installed)`
  ]
}

// `resource.group` for a kind the cluster serves (what `kubectl auth can-i` takes), if it does.
export function resourceOfKind(resources: ApiResource[], kind: string, group: string): string | undefined {
  const found = resources.find(r => r.group === group && r.kind.toLowerCase() === kind.toLowerCase())
  return found ? (group ? `${found.resource}.${group}` : found.resource) : undefined
}
