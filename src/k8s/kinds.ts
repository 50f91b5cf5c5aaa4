// Which kinds a users' template may hold. kubectl maps kinds case-insensitively (`kind: clusterrolebinding`
// applies a ClusterRoleBinding), so kinds are compared, and written back, in their canonical spelling.
// Everything the action deploys must live in the target namespace: a worker deploy must not be able to grant
// itself cluster-wide RBAC or admission policies. So the rule is an allowlist of namespaced kinds, not a list
// of forbidden ones: offline, these (and the users' own namespaced custom resources named in the
// namespaced_kinds input) pass; against a cluster, the API's discovery decides for any other kind.

// group ('' for the core group) -> namespaced kinds this action knows.
const NAMESPACED: Record<string, readonly string[]> = {
  '': [
    'ConfigMap',
    'Secret',
    'ServiceAccount',
    'Service',
    'PersistentVolumeClaim',
    'LimitRange',
    'ResourceQuota'
  ],
  apps: ['Deployment', 'StatefulSet', 'DaemonSet'],
  autoscaling: ['HorizontalPodAutoscaler'],
  policy: ['PodDisruptionBudget'],
  batch: ['Job', 'CronJob'],
  'networking.k8s.io': ['NetworkPolicy', 'Ingress'],
  'rbac.authorization.k8s.io': ['Role', 'RoleBinding'],
  'keda.sh': ['ScaledObject', 'ScaledJob', 'TriggerAuthentication'],
  'monitoring.googleapis.com': ['PodMonitoring'],
  'cloud.google.com': ['BackendConfig']
}

// Cluster-scoped kinds worth naming in an error (any other kind outside the allowlist is refused as unknown).
const CLUSTER_SCOPED = [
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
  'APIService',
  'Node',
  'RuntimeClass',
  'IngressClass',
  'CSIDriver',
  'CSINode',
  'FlowSchema',
  'PriorityLevelConfiguration',
  'CertificateSigningRequest',
  'ClusterTriggerAuthentication'
]

const CANONICAL = new Map(
  [...Object.values(NAMESPACED).flat(), ...CLUSTER_SCOPED, 'Namespace', 'List'].map(kind => [
    kind.toLowerCase(),
    kind
  ])
)

export function canonicalKind(kind: string): string {
  return CANONICAL.get(kind.toLowerCase()) ?? kind
}

export function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0] : ''
}

// `Kind.group`, or `Kind` for the core group: how kinds are named in messages and in namespaced_kinds.
export function kindName(kind: string, group: string): string {
  return group ? `${kind}.${group}` : kind
}

export function isKnownClusterScoped(kind: string): boolean {
  return CLUSTER_SCOPED.includes(canonicalKind(kind))
}

export function isKnownNamespaced(kind: string, apiVersion: string, extra: readonly string[] = []): boolean {
  const group = groupOf(apiVersion)
  if ((NAMESPACED[group] ?? []).includes(canonicalKind(kind))) return true
  const name = kindName(kind, group).toLowerCase()
  return extra.some(e => e.toLowerCase() === name)
}

// A kind in the user's templates that this action does not know to be namespaced: the cluster's discovery (or the
// user, through namespaced_kinds) has to say.
export interface UnverifiedKind {
  file: string
  object: string
  kind: string
  group: string
  // Named in namespaced_kinds: an offline plan takes the user's word for it.
  named: boolean
}
