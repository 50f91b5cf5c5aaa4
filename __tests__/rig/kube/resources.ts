// The one table every other module (routing, discovery, OpenAPI, status bodies) is generated from.
export interface ResourceType {
  group: string // '' for the core group
  version: string
  resource: string // plural, as in URLs
  kind: string
  singular: string
  namespaced: boolean
  shortNames?: string[]
  categories?: string[]
  verbs: string[]
  subresources?: Array<{ name: string; kind: string; group?: string; version?: string; verbs: string[] }>
  // Kinds whose registry strategy sets metadata.generation (the golden record shows Lease, Secret, HPA ... have none)
  hasGeneration?: boolean
  // Kinds that only accept create and are never stored (SelfSubjectAccessReview)
  virtual?: boolean
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']
const STATUS = { name: 'status', kind: '', verbs: ['get', 'patch', 'update'] }

export const RESOURCES: ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    kind: 'Namespace',
    singular: 'namespace',
    namespaced: false,
    shortNames: ['ns'],
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    subresources: [{ ...STATUS, kind: 'Namespace' }]
  },
  {
    group: '',
    version: 'v1',
    resource: 'serviceaccounts',
    kind: 'ServiceAccount',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
    verbs: CRUD
  },
  {
    group: '',
    version: 'v1',
    resource: 'secrets',
    kind: 'Secret',
    singular: 'secret',
    namespaced: true,
    verbs: CRUD
  },
  {
    group: '',
    version: 'v1',
    resource: 'configmaps',
    kind: 'ConfigMap',
    singular: 'configmap',
    namespaced: true,
    shortNames: ['cm'],
    verbs: CRUD
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
    singular: 'event',
    namespaced: true,
    shortNames: ['ev'],
    verbs: CRUD
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
    singular: 'pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    verbs: CRUD,
    subresources: [
      { name: 'exec', kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'log', kind: 'Pod', verbs: ['get'] },
      { ...STATUS, kind: 'Pod' }
    ]
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    kind: 'Deployment',
    singular: 'deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    verbs: CRUD,
    hasGeneration: true,
    subresources: [
      {
        name: 'scale',
        kind: 'Scale',
        group: 'autoscaling',
        version: 'v1',
        verbs: ['get', 'patch', 'update']
      },
      { ...STATUS, kind: 'Deployment' }
    ]
  },
  {
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    kind: 'ReplicaSet',
    singular: 'replicaset',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    verbs: CRUD,
    hasGeneration: true,
    subresources: [
      {
        name: 'scale',
        kind: 'Scale',
        group: 'autoscaling',
        version: 'v1',
        verbs: ['get', 'patch', 'update']
      },
      { ...STATUS, kind: 'ReplicaSet' }
    ]
  },
  {
    group: 'autoscaling',
    version: 'v2',
    resource: 'horizontalpodautoscalers',
    kind: 'HorizontalPodAutoscaler',
    singular: 'horizontalpodautoscaler',
    namespaced: true,
    shortNames: ['hpa'],
    categories: ['all'],
    verbs: CRUD,
    subresources: [{ ...STATUS, kind: 'HorizontalPodAutoscaler' }]
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    resource: 'leases',
    kind: 'Lease',
    singular: 'lease',
    namespaced: true,
    verbs: CRUD
  },
  {
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectaccessreviews',
    kind: 'SelfSubjectAccessReview',
    singular: 'selfsubjectaccessreview',
    namespaced: false,
    verbs: ['create'],
    virtual: true
  },
  {
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectrulesreviews',
    kind: 'SelfSubjectRulesReview',
    singular: 'selfsubjectrulesreview',
    namespaced: false,
    verbs: ['create'],
    virtual: true
  }
]

export function apiVersionOf(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version
}

// A GroupVersionKind as Go prints it in messages: `apps/v1, Kind=Deployment`, `/v1, Kind=ConfigMap`.
export function groupVersionKind(rt: ResourceType): string {
  return `${rt.group}/${rt.version}, Kind=${rt.kind}`
}

// `deployments.apps`, or just `namespaces` for the core group: the form Status messages use
export function qualifiedResource(rt: ResourceType): string {
  return rt.group ? `${rt.resource}.${rt.group}` : rt.resource
}

export function qualifiedKind(rt: ResourceType): string {
  return rt.group ? `${rt.kind}.${rt.group}` : rt.kind
}

export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCES.find(r => r.group === group && r.version === version && r.resource === resource)
}

export function findByKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCES.find(
    r => apiVersionOf(r) === apiVersion && r.kind === kind && !(r.group === 'events.k8s.io')
  )
}

export function groupVersions(): Array<{ group: string; version: string; resources: ResourceType[] }> {
  const out: Array<{ group: string; version: string; resources: ResourceType[] }> = []
  for (const r of RESOURCES) {
    let gv = out.find(g => g.group === r.group && g.version === r.version)
    if (!gv) out.push((gv = { group: r.group, version: r.version, resources: [] }))
    gv.resources.push(r)
  }
  return out
}
