// Minimal shapes of the Kubernetes objects the action reads back (only the fields it uses).
// Every field is optional where the API may omit it: the server drops zero counts and empty lists.

export interface OwnerReference {
  apiVersion?: string
  kind: string
  name: string
  uid: string
  controller?: boolean
  blockOwnerDeletion?: boolean
}

export interface ObjectMeta {
  name: string
  namespace?: string
  uid?: string
  generation?: number
  resourceVersion?: string
  creationTimestamp?: string
  deletionTimestamp?: string
  deletionGracePeriodSeconds?: number
  labels?: Record<string, string>
  annotations?: Record<string, string>
  ownerReferences?: OwnerReference[]
}

export interface Condition {
  type: string
  status: 'True' | 'False' | 'Unknown'
  reason?: string
  message?: string
  lastUpdateTime?: string
  lastTransitionTime?: string
}

export interface ResourceRequirements {
  limits?: Record<string, string>
  requests?: Record<string, string>
}

export interface Container {
  name: string
  image?: string
  command?: string[]
  args?: string[]
  resources?: ResourceRequirements
  /** `Always` on an init container makes it a native sidecar (Kubernetes 1.29+). */
  restartPolicy?: string
  readinessProbe?: Probe
  livenessProbe?: Probe
  startupProbe?: Probe
}

export interface Probe {
  exec?: { command?: string[] }
  httpGet?: { path?: string; port?: number | string }
  tcpSocket?: { port?: number | string }
  grpc?: { port?: number }
}

export interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  nodeName?: string
}

export interface PodTemplateSpec {
  metadata?: Partial<ObjectMeta>
  spec?: PodSpec
}

export interface DeploymentStatus {
  observedGeneration?: number
  replicas?: number
  updatedReplicas?: number
  readyReplicas?: number
  availableReplicas?: number
  unavailableReplicas?: number
  terminatingReplicas?: number
  conditions?: Condition[]
}

export interface Deployment {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec: {
    replicas?: number
    paused?: boolean
    progressDeadlineSeconds?: number
    strategy?: { type?: string }
    template?: PodTemplateSpec
  }
  status?: DeploymentStatus
}

export interface ReplicaSet {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: { replicas?: number; template?: PodTemplateSpec }
  status?: {
    replicas?: number
    readyReplicas?: number
    availableReplicas?: number
    terminatingReplicas?: number
    observedGeneration?: number
  }
}

export interface ContainerStateWaiting {
  reason?: string
  message?: string
}

export interface ContainerStateRunning {
  startedAt?: string
}

export interface ContainerStateTerminated {
  exitCode: number
  signal?: number
  reason?: string
  message?: string
  startedAt?: string
  finishedAt?: string
}

export interface ContainerState {
  waiting?: ContainerStateWaiting
  running?: ContainerStateRunning
  terminated?: ContainerStateTerminated
}

export interface ContainerStatus {
  name: string
  image?: string
  imageID?: string
  ready?: boolean
  started?: boolean
  restartCount?: number
  state?: ContainerState
  lastState?: ContainerState
}

export interface PodStatus {
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown'
  reason?: string
  message?: string
  conditions?: Condition[]
  startTime?: string
  initContainerStatuses?: ContainerStatus[]
  containerStatuses?: ContainerStatus[]
}

export interface Pod {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: PodSpec
  status?: PodStatus
}

// batch/v1 Job: what the pre-deploy gate reads (deploy/gate-state.ts).
export interface Job {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: { activeDeadlineSeconds?: number; backoffLimit?: number; template?: PodTemplateSpec }
  status?: {
    // Complete/SuccessCriteriaMet, Failed/FailureTarget (BackoffLimitExceeded, DeadlineExceeded), Suspended
    conditions?: Condition[]
    active?: number
    succeeded?: number
    failed?: number
    startTime?: string
    completionTime?: string
  }
}

// Only what the beat guard reads: which workload an autoscaler scales.
export interface HorizontalPodAutoscaler {
  apiVersion?: string
  kind?: string
  metadata: ObjectMeta
  spec?: { scaleTargetRef?: { kind?: string; name?: string } }
}

export interface ObjectReference {
  apiVersion?: string
  kind?: string
  name?: string
  namespace?: string
  uid?: string
  fieldPath?: string
}

/** core/v1 Event. Newer reporters fill eventTime/series and leave the legacy timestamps null. */
export interface Event {
  apiVersion?: string
  kind?: string
  metadata: Partial<ObjectMeta>
  involvedObject: ObjectReference
  reason?: string
  message?: string
  type?: 'Normal' | 'Warning' | string
  count?: number
  firstTimestamp?: string | null
  lastTimestamp?: string | null
  eventTime?: string | null
  series?: { count?: number; lastObservedTime?: string }
  source?: { component?: string; host?: string }
  reportingComponent?: string
}

/** When an event was last seen, whichever API generation wrote it (ms since epoch; 0 when unknown). */
export function eventLastSeen(event: Event): number {
  const stamp =
    event.series?.lastObservedTime ??
    event.lastTimestamp ??
    event.eventTime ??
    event.firstTimestamp ??
    event.metadata.creationTimestamp
  const ms = stamp ? Date.parse(stamp) : NaN
  return Number.isNaN(ms) ? 0 : ms
}

/** How many times an event happened; the API leaves count unset for single events. */
export function eventOccurrences(event: Event): number {
  return event.series?.count ?? event.count ?? 1
}
