import type { ResourceType } from './resources.js'
import { apiVersionOf, groupVersions, RESOURCES } from './resources.js'

export const AGGREGATED_V2 = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'
const AGGREGATED_V2BETA1 = 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList'

export function wantsAggregated(accept: string | undefined): 'v2' | 'v2beta1' | undefined {
  const a = (accept ?? '').replace(/\s/g, '')
  if (!a.includes('as=APIGroupDiscoveryList')) return undefined
  return a.includes('v=v2;') || a.includes('v=v2,') || a.endsWith('v=v2') || a.includes(';v=v2;as=')
    ? 'v2'
    : 'v2beta1'
}

export function aggregatedContentType(v: 'v2' | 'v2beta1'): string {
  return v === 'v2' ? AGGREGATED_V2 : AGGREGATED_V2BETA1
}

function discoveryResource(r: ResourceType): Record<string, unknown> {
  const out: Record<string, unknown> = {
    resource: r.resource,
    responseKind: { group: '', version: '', kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: r.verbs
  }
  if (r.shortNames) out.shortNames = r.shortNames
  if (r.categories) out.categories = r.categories
  if (r.subresources)
    out.subresources = r.subresources.map(s => ({
      subresource: s.name,
      responseKind: { group: s.group ?? '', version: s.version ?? '', kind: s.kind },
      verbs: s.verbs
    }))
  return out
}

export function aggregatedDiscovery(core: boolean, v: 'v2' | 'v2beta1'): Record<string, unknown> {
  const items = groupVersions()
    .filter(gv => (gv.group === '') === core)
    .map(gv => ({
      metadata: core ? {} : { name: gv.group },
      versions: [
        { version: gv.version, resources: gv.resources.map(discoveryResource), freshness: 'Current' }
      ]
    }))
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${v}`, metadata: {}, items }
}

export function legacyApiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }]
  }
}

function apiGroup(group: string): Record<string, unknown> {
  const versions = groupVersions()
    .filter(gv => gv.group === group)
    .map(gv => ({ groupVersion: `${group}/${gv.version}`, version: gv.version }))
  return { name: group, versions, preferredVersion: versions[0] }
}

export function legacyGroupList(): Record<string, unknown> {
  const groups = [...new Set(RESOURCES.filter(r => r.group).map(r => r.group))]
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(apiGroup) }
}

export function legacyGroup(group: string): Record<string, unknown> | undefined {
  if (!RESOURCES.some(r => r.group === group)) return undefined
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group) }
}

// APIResourceList for one group/version; `kubectl auth can-i` reads it even with aggregated discovery cached.
export function resourceList(group: string, version: string): Record<string, unknown> | undefined {
  const rs = RESOURCES.filter(r => r.group === group && r.version === version)
  if (!rs.length) return undefined
  const resources: Array<Record<string, unknown>> = []
  for (const r of rs) {
    const entry: Record<string, unknown> = {
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs
    }
    if (r.shortNames) entry.shortNames = r.shortNames
    if (r.categories) entry.categories = r.categories
    resources.push(entry)
    for (const s of r.subresources ?? [])
      resources.push({
        name: `${r.resource}/${s.name}`,
        singularName: '',
        namespaced: r.namespaced,
        ...(s.group ? { group: s.group, version: s.version } : {}),
        kind: s.kind,
        verbs: s.verbs
      })
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(rs[0]), resources }
}
