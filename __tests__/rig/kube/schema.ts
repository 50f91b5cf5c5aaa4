// A small structural schema of the kinds the emulator serves. It drives strict decoding (unknown fields),
// managedFields (which nodes are atomic, which lists are keyed) and strategic-merge-patch merge keys.
export type Schema = Scalar | Struct | List | MapOf | Free

export interface Scalar {
  t: 'scalar'
}
export interface Free {
  t: 'free' // anything goes, owned as one leaf (e.g. HPA status, managedFields)
}
export interface Struct {
  t: 'struct'
  fields: Record<string, Schema | (() => Schema)>
  atomic?: boolean
  // a pointer in Go: when added, an Update's field set marks it with "."
  ptr?: boolean
}
export interface List {
  t: 'list'
  of: Schema | (() => Schema)
  keys?: string[] // x-kubernetes-list-map-keys; the first one is the strategic-merge-patch merge key
  set?: boolean // x-kubernetes-list-type: set (scalars)
}
export interface MapOf {
  t: 'map'
  of: Schema
  atomic?: boolean
}

const str: Scalar = { t: 'scalar' }
const free: Free = { t: 'free' }
const struct = (fields: Struct['fields'], extra: Partial<Struct> = {}): Struct => ({
  t: 'struct',
  fields,
  ...extra
})
const atomicStruct = (fields: Struct['fields']): Struct => ({ t: 'struct', fields, atomic: true })
const atomicList = (of: Schema | (() => Schema)): List => ({ t: 'list', of })
const keyed = (keys: string[], of: Schema | (() => Schema)): List => ({ t: 'list', of, keys })
const strMap: MapOf = { t: 'map', of: str }
const strList = atomicList(str)

export function resolve(s: Schema | (() => Schema)): Schema {
  return typeof s === 'function' ? s() : s
}

const managedFieldsEntry = struct({
  manager: str,
  operation: str,
  apiVersion: str,
  time: str,
  fieldsType: str,
  fieldsV1: free,
  subresource: str
})

const ownerReference = struct({
  apiVersion: str,
  kind: str,
  name: str,
  uid: str,
  controller: str,
  blockOwnerDeletion: str
})

export const objectMeta: Struct = struct({
  name: str,
  generateName: str,
  namespace: str,
  selfLink: str,
  uid: str,
  resourceVersion: str,
  generation: str,
  creationTimestamp: str,
  deletionTimestamp: str,
  deletionGracePeriodSeconds: str,
  labels: strMap,
  annotations: strMap,
  ownerReferences: keyed(['uid'], ownerReference),
  finalizers: { t: 'list', of: str, set: true },
  managedFields: atomicList(managedFieldsEntry)
})

const labelSelector = atomicStruct({
  matchLabels: strMap,
  matchExpressions: atomicList(struct({ key: str, operator: str, values: strList }))
})

const keyToPath = struct({ key: str, path: str, mode: str })
const objectFieldSelector = atomicStruct({ apiVersion: str, fieldPath: str })
const resourceFieldSelector = atomicStruct({ containerName: str, resource: str, divisor: str })

const envVar = struct({
  name: str,
  value: str,
  valueFrom: struct(
    {
      fieldRef: objectFieldSelector,
      resourceFieldRef: resourceFieldSelector,
      configMapKeyRef: atomicStruct({ name: str, key: str, optional: str }),
      secretKeyRef: atomicStruct({ name: str, key: str, optional: str })
    },
    { ptr: true }
  )
})

const envFromSource = struct({
  prefix: str,
  configMapRef: atomicStruct({ name: str, optional: str }),
  secretRef: atomicStruct({ name: str, optional: str })
})

const execAction = struct({ command: strList }, { ptr: true })
const httpGet = struct(
  {
    path: str,
    port: str,
    host: str,
    scheme: str,
    httpHeaders: atomicList(struct({ name: str, value: str }))
  },
  { ptr: true }
)
const tcpSocket = struct({ port: str, host: str }, { ptr: true })
const grpc = struct({ port: str, service: str }, { ptr: true })

const probe = struct(
  {
    exec: execAction,
    httpGet,
    tcpSocket,
    grpc,
    initialDelaySeconds: str,
    timeoutSeconds: str,
    periodSeconds: str,
    successThreshold: str,
    failureThreshold: str,
    terminationGracePeriodSeconds: str
  },
  { ptr: true }
)

const lifecycleHandler = struct(
  { exec: execAction, httpGet, tcpSocket, sleep: struct({ seconds: str }, { ptr: true }) },
  { ptr: true }
)

const capabilities = struct({ add: strList, drop: strList }, { ptr: true })
const seccompProfile = struct({ type: str, localhostProfile: str }, { ptr: true })
const seLinuxOptions = struct({ user: str, role: str, type: str, level: str }, { ptr: true })
const appArmorProfile = struct({ type: str, localhostProfile: str }, { ptr: true })
const windowsOptions = struct(
  { gmsaCredentialSpecName: str, gmsaCredentialSpec: str, runAsUserName: str, hostProcess: str },
  { ptr: true }
)

const securityContext = struct(
  {
    capabilities,
    privileged: str,
    seLinuxOptions,
    windowsOptions,
    runAsUser: str,
    runAsGroup: str,
    runAsNonRoot: str,
    readOnlyRootFilesystem: str,
    allowPrivilegeEscalation: str,
    procMount: str,
    seccompProfile,
    appArmorProfile
  },
  { ptr: true }
)

const resourceRequirements = struct({
  limits: strMap,
  requests: strMap,
  claims: keyed(['name'], struct({ name: str, request: str }))
})

const container: Struct = struct({
  name: str,
  image: str,
  command: strList,
  args: strList,
  workingDir: str,
  ports: keyed(
    ['containerPort', 'protocol'],
    struct({ name: str, hostPort: str, containerPort: str, protocol: str, hostIP: str })
  ),
  envFrom: atomicList(envFromSource),
  env: keyed(['name'], envVar),
  resources: resourceRequirements,
  resizePolicy: atomicList(struct({ resourceName: str, restartPolicy: str })),
  restartPolicy: str,
  volumeMounts: keyed(
    ['mountPath'],
    struct({
      name: str,
      readOnly: str,
      recursiveReadOnly: str,
      mountPath: str,
      subPath: str,
      mountPropagation: str,
      subPathExpr: str
    })
  ),
  volumeDevices: keyed(['devicePath'], struct({ name: str, devicePath: str })),
  livenessProbe: probe,
  readinessProbe: probe,
  startupProbe: probe,
  lifecycle: struct(
    { postStart: lifecycleHandler, preStop: lifecycleHandler, stopSignal: str },
    { ptr: true }
  ),
  terminationMessagePath: str,
  terminationMessagePolicy: str,
  imagePullPolicy: str,
  securityContext,
  stdin: str,
  stdinOnce: str,
  tty: str
})

const volume = struct({
  name: str,
  emptyDir: struct({ medium: str, sizeLimit: str }, { ptr: true }),
  secret: struct(
    { secretName: str, items: atomicList(keyToPath), defaultMode: str, optional: str },
    { ptr: true }
  ),
  configMap: struct(
    { name: str, items: atomicList(keyToPath), defaultMode: str, optional: str },
    { ptr: true }
  ),
  projected: struct({ sources: atomicList(free), defaultMode: str }, { ptr: true }),
  downwardAPI: struct({ items: atomicList(free), defaultMode: str }, { ptr: true }),
  persistentVolumeClaim: struct({ claimName: str, readOnly: str }, { ptr: true }),
  csi: struct(
    { driver: str, readOnly: str, fsType: str, volumeAttributes: strMap, nodePublishSecretRef: free },
    { ptr: true }
  ),
  ephemeral: struct({ volumeClaimTemplate: free }, { ptr: true }),
  hostPath: struct({ path: str, type: str }, { ptr: true })
})

const toleration = struct({ key: str, operator: str, value: str, effect: str, tolerationSeconds: str })

const topologySpreadConstraint = struct({
  maxSkew: str,
  topologyKey: str,
  whenUnsatisfiable: str,
  labelSelector,
  minDomains: str,
  nodeAffinityPolicy: str,
  nodeTaintsPolicy: str,
  matchLabelKeys: strList
})

const podSecurityContext = struct(
  {
    seLinuxOptions,
    windowsOptions,
    runAsUser: str,
    runAsGroup: str,
    runAsNonRoot: str,
    supplementalGroups: strList,
    supplementalGroupsPolicy: str,
    fsGroup: str,
    sysctls: atomicList(struct({ name: str, value: str })),
    fsGroupChangePolicy: str,
    seccompProfile,
    appArmorProfile,
    seLinuxChangePolicy: str
  },
  { ptr: true }
)

export const podSpec: Struct = struct({
  volumes: keyed(['name'], volume),
  initContainers: keyed(['name'], container),
  containers: keyed(['name'], container),
  ephemeralContainers: keyed(['name'], free),
  restartPolicy: str,
  terminationGracePeriodSeconds: str,
  activeDeadlineSeconds: str,
  dnsPolicy: str,
  nodeSelector: strMap,
  serviceAccountName: str,
  serviceAccount: str,
  automountServiceAccountToken: str,
  nodeName: str,
  hostNetwork: str,
  hostPID: str,
  hostIPC: str,
  shareProcessNamespace: str,
  securityContext: podSecurityContext,
  imagePullSecrets: keyed(['name'], struct({ name: str })),
  hostname: str,
  subdomain: str,
  affinity: struct({ nodeAffinity: free, podAffinity: free, podAntiAffinity: free }, { ptr: true }),
  schedulerName: str,
  tolerations: atomicList(toleration),
  hostAliases: keyed(['ip'], struct({ ip: str, hostnames: strList })),
  priorityClassName: str,
  priority: str,
  dnsConfig: struct(
    { nameservers: strList, searches: strList, options: atomicList(struct({ name: str, value: str })) },
    { ptr: true }
  ),
  readinessGates: atomicList(struct({ conditionType: str })),
  runtimeClassName: str,
  enableServiceLinks: str,
  preemptionPolicy: str,
  overhead: strMap,
  topologySpreadConstraints: keyed(['topologyKey', 'whenUnsatisfiable'], topologySpreadConstraint),
  setHostnameAsFQDN: str,
  os: struct({ name: str }, { ptr: true }),
  hostUsers: str,
  schedulingGates: keyed(['name'], struct({ name: str })),
  resourceClaims: keyed(['name'], free),
  resources: free
})

const podTemplateSpec = struct({
  metadata: objectMeta,
  spec: podSpec
})

const intOrPercent = str

function top(specFields: Struct['fields'] | null, extra: Struct['fields'] = {}): Struct {
  const fields: Struct['fields'] = { apiVersion: str, kind: str, metadata: objectMeta, ...extra }
  if (specFields) fields.spec = struct(specFields)
  return struct(fields)
}

const deploymentCondition = struct({
  type: str,
  status: str,
  lastUpdateTime: str,
  lastTransitionTime: str,
  reason: str,
  message: str
})

export const KIND_SCHEMAS: Record<string, Struct> = {
  Namespace: top(
    { finalizers: strList },
    { status: struct({ phase: str, conditions: keyed(['type'], free) }) }
  ),
  ServiceAccount: top(null, {
    secrets: keyed(['name'], free),
    imagePullSecrets: atomicList(struct({ name: str })),
    automountServiceAccountToken: str
  }),
  Secret: top(null, { data: strMap, stringData: strMap, type: str, immutable: str }),
  ConfigMap: top(null, { data: strMap, binaryData: strMap, immutable: str }),
  Event: top(null, {
    involvedObject: struct({
      kind: str,
      namespace: str,
      name: str,
      uid: str,
      apiVersion: str,
      resourceVersion: str,
      fieldPath: str
    }),
    reason: str,
    message: str,
    source: struct({ component: str, host: str }),
    firstTimestamp: str,
    lastTimestamp: str,
    count: str,
    type: str,
    eventTime: str,
    series: free,
    action: str,
    related: free,
    reportingComponent: str,
    reportingInstance: str
  }),
  Pod: top(podSpec.fields, { status: free }),
  Deployment: top(
    {
      replicas: str,
      selector: labelSelector,
      template: podTemplateSpec,
      strategy: struct({
        type: str,
        rollingUpdate: struct({ maxUnavailable: intOrPercent, maxSurge: intOrPercent }, { ptr: true })
      }),
      minReadySeconds: str,
      revisionHistoryLimit: str,
      paused: str,
      progressDeadlineSeconds: str
    },
    {
      status: struct({
        observedGeneration: str,
        replicas: str,
        updatedReplicas: str,
        readyReplicas: str,
        availableReplicas: str,
        unavailableReplicas: str,
        terminatingReplicas: str,
        conditions: keyed(['type'], deploymentCondition),
        collisionCount: str
      })
    }
  ),
  ReplicaSet: top(
    { replicas: str, minReadySeconds: str, selector: labelSelector, template: podTemplateSpec },
    {
      status: struct({
        replicas: str,
        fullyLabeledReplicas: str,
        readyReplicas: str,
        availableReplicas: str,
        terminatingReplicas: str,
        observedGeneration: str,
        conditions: keyed(['type'], free)
      })
    }
  ),
  HorizontalPodAutoscaler: top(
    {
      scaleTargetRef: struct({ kind: str, name: str, apiVersion: str }),
      minReplicas: str,
      maxReplicas: str,
      metrics: atomicList(
        struct({
          type: str,
          object: free,
          pods: free,
          resource: struct(
            {
              name: str,
              target: struct({ type: str, value: str, averageValue: str, averageUtilization: str })
            },
            { ptr: true }
          ),
          containerResource: free,
          external: free
        })
      ),
      behavior: struct({ scaleUp: free, scaleDown: free }, { ptr: true })
    },
    { status: free }
  ),
  Lease: top({
    holderIdentity: str,
    leaseDurationSeconds: str,
    acquireTime: str,
    renewTime: str,
    leaseTransitions: str,
    strategy: str,
    preferredHolder: str
  }),
  SelfSubjectAccessReview: top(
    {
      resourceAttributes: struct(
        {
          namespace: str,
          verb: str,
          group: str,
          version: str,
          resource: str,
          subresource: str,
          name: str,
          fieldSelector: free,
          labelSelector: free
        },
        { ptr: true }
      ),
      nonResourceAttributes: struct({ path: str, verb: str }, { ptr: true })
    },
    { status: free }
  )
}

export function childSchema(s: Schema | undefined, key: string): Schema | undefined {
  if (!s) return undefined
  if (s.t === 'struct') {
    const f = s.fields[key]
    return f ? resolve(f) : undefined
  }
  if (s.t === 'map') return s.of
  if (s.t === 'free') return free
  return undefined
}
