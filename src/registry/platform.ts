// Which platform the pods' nodes have, and whether an image offers it. GKE Autopilot runs amd64 nodes unless
// the pod template asks for Arm (nodeSelector or required node affinity on kubernetes.io/arch).

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

export const DEFAULT_NODE_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' }
const ARCH_LABEL = 'kubernetes.io/arch'
const KNOWN_ARCHITECTURES = new Set(['amd64', 'arm64'])

export function platformText(platform: Platform): string {
  return `${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''}`
}

// containerd's matcher: arm64 without a variant is arm64/v8; other variants must agree when both say one.
function normalVariant(platform: Platform): string | undefined {
  if (platform.architecture === 'arm64') return platform.variant ?? 'v8'
  return platform.variant
}

export function platformMatches(wanted: Platform, offered: Platform): boolean {
  if (wanted.os !== offered.os || wanted.architecture !== offered.architecture) return false
  const want = normalVariant(wanted)
  const have = normalVariant(offered)
  return want === undefined || have === undefined || want === have
}

interface NodeSelectorRequirement {
  key?: unknown
  operator?: unknown
  values?: unknown
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// The architectures a required node-affinity term allows (`In`), or undefined when it does not constrain them.
function architecturesOfTerm(term: unknown): string[] | undefined {
  if (!isRecord(term) || !Array.isArray(term.matchExpressions)) return undefined
  for (const expression of term.matchExpressions as NodeSelectorRequirement[]) {
    if (isRecord(expression) && expression.key === ARCH_LABEL && expression.operator === 'In') {
      if (Array.isArray(expression.values)) return expression.values.filter(v => typeof v === 'string')
    }
  }
  return undefined
}

// Every platform a pod of this template may be scheduled on: each needs a manifest in the image. A nodeSelector
// pins one; required node affinity may allow several (one term per alternative, any of which may match).
export function nodePlatformsOfPodSpec(podSpec: unknown): Platform[] {
  const architectures = new Set<string>()
  if (isRecord(podSpec)) {
    const selector = isRecord(podSpec.nodeSelector) ? podSpec.nodeSelector[ARCH_LABEL] : undefined
    if (typeof selector === 'string') architectures.add(selector)
    else {
      const affinity = isRecord(podSpec.affinity) ? podSpec.affinity.nodeAffinity : undefined
      const required = isRecord(affinity)
        ? affinity.requiredDuringSchedulingIgnoredDuringExecution
        : undefined
      const terms =
        isRecord(required) && Array.isArray(required.nodeSelectorTerms) ? required.nodeSelectorTerms : []
      const perTerm = terms.map(architecturesOfTerm)
      // A term without an arch constraint lets the pod land on the default nodes too.
      if (perTerm.length > 0 && perTerm.every(list => list !== undefined)) {
        for (const list of perTerm) for (const architecture of list!) architectures.add(architecture)
      }
    }
  }
  const known = [...architectures].filter(a => KNOWN_ARCHITECTURES.has(a)).sort()
  if (known.length === 0) return [DEFAULT_NODE_PLATFORM]
  return known.map(architecture => ({ os: 'linux', architecture }))
}
