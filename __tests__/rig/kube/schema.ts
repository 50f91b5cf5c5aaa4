// A small structural schema of the kinds the emulator serves. It drives strict decoding (unknown fields),
// managedFields (which nodes are atomic, which lists are keyed) and strategic-merge-patch merge keys.
export type Schema = Scalar | Struct | List | MapOf | Free

export interface Scalar {
  t: 'scalar'
  // The JSON type the real API's schema declares (structured-merge-diff checks it on apply, the Go decoder on
  // create and update): a string, an integer (int32/int64), a boolean, an int-or-string, or a quantity (a
  // string or a number in the quantity grammar).
  type: 'string' | 'integer' | 'boolean' | 'int-or-string' | 'quantity'
}
export interface Free {
  t: 'free' // anything goes, owned as one leaf (e.g. HPA status, managedFields)
}
export interface Struct {
  t: 'struct'
  fields: Record<string, Schema | (() => Schema)>
  // The Go type's name, for the decoder's "cannot unmarshal ... into Go struct field EnvVar.value" message.
  go?: string
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

const str: Scalar = { t: 'scalar', type: 'string' }
const int: Scalar = { t: 'scalar', type: 'integer' }
const bool: Scalar = { t: 'scalar', type: 'boolean' }
const intOrString: Scalar = { t: 'scalar', type: 'int-or-string' }
const quantity: Scalar = { t: 'scalar', type: 'quantity' }
const quantityMap: MapOf = { t: 'map', of: quantity }
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
  controller: bool,
  blockOwnerDeletion: bool
})

export const objectMeta: Struct = struct(
  {
    name: str,
    generateName: str,
    namespace: str,
    selfLink: str,
    uid: str,
    resourceVersion: str,
    generation: int,
    creationTimestamp: str,
    deletionTimestamp: str,
    deletionGracePeriodSeconds: int,
    labels: strMap,
    annotations: strMap,
    ownerReferences: keyed(['uid'], ownerReference),
    finalizers: { t: 'list', of: str, set: true },
    managedFields: atomicList(managedFieldsEntry)
  },
  { go: 'ObjectMeta' }
)

const labelSelector = atomicStruct({
  matchLabels: strMap,
  matchExpressions: atomicList(struct({ key: str, operator: str, values: strList }))
})

const keyToPath = struct({ key: str, path: str, mode: int })
const objectFieldSelector = atomicStruct({ apiVersion: str, fieldPath: str })
const resourceFieldSelector = atomicStruct({ containerName: str, resource: str, divisor: quantity })

const envVar = struct(
  {
    name: str,
    value: str,
    valueFrom: struct(
      {
        fieldRef: objectFieldSelector,
        resourceFieldRef: resourceFieldSelector,
        configMapKeyRef: atomicStruct({ name: str, key: str, optional: bool }),
        secretKeyRef: atomicStruct({ name: str, key: str, optional: bool })
      },
      { ptr: true }
    )
  },
  { go: 'EnvVar' }
)

const envFromSource = struct({
  prefix: str,
  configMapRef: atomicStruct({ name: str, optional: bool }),
  secretRef: atomicStruct({ name: str, optional: bool })
})

const execAction = struct({ command: strList }, { ptr: true })
const httpGet = struct(
  {
    path: str,
    port: intOrString,
    host: str,
    scheme: str,
    httpHeaders: atomicList(struct({ name: str, value: str }))
  },
  { ptr: true }
)
const tcpSocket = struct({ port: intOrString, host: str }, { ptr: true })
const grpc = struct({ port: int, service: str }, { ptr: true })

const probe = struct(
  {
    exec: execAction,
    httpGet,
    tcpSocket,
    grpc,
    initialDelaySeconds: int,
    timeoutSeconds: int,
    periodSeconds: int,
    successThreshold: int,
    failureThreshold: int,
    terminationGracePeriodSeconds: int
  },
  { ptr: true, go: 'Probe' }
)

const lifecycleHandler = struct(
  { exec: execAction, httpGet, tcpSocket, sleep: struct({ seconds: int }, { ptr: true }) },
  { ptr: true }
)

const capabilities = struct({ add: strList, drop: strList }, { ptr: true })
const seccompProfile = struct({ type: str, localhostProfile: str }, { ptr: true })
const seLinuxOptions = struct({ user: str, role: str, type: str, level: str }, { ptr: true })
const appArmorProfile = struct({ type: str, localhostProfile: str }, { ptr: true })
const windowsOptions = struct(
  { gmsaCredentialSpecName: str, gmsaCredentialSpec: str, runAsUserName: str, hostProcess: bool },
  { ptr: true }
)

const securityContext = struct(
  {
    capabilities,
    privileged: bool,
    seLinuxOptions,
    windowsOptions,
    runAsUser: int,
    runAsGroup: int,
    runAsNonRoot: bool,
    readOnlyRootFilesystem: bool,
    allowPrivilegeEscalation: bool,
    procMount: str,
    seccompProfile,
    appArmorProfile
  },
  { ptr: true, go: 'SecurityContext' }
)

const resourceRequirements = struct(
  {
    limits: quantityMap,
    requests: quantityMap,
    claims: keyed(['name'], struct({ name: str, request: str }))
  },
  { go: 'ResourceRequirements' }
)

const container: Struct = struct(
  {
    name: str,
    image: str,
    command: strList,
    args: strList,
    workingDir: str,
    ports: keyed(
      ['containerPort', 'protocol'],
      struct({ name: str, hostPort: int, containerPort: int, protocol: str, hostIP: str })
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
        readOnly: bool,
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
    stdin: bool,
    stdinOnce: bool,
    tty: bool
  },
  { go: 'Container' }
)

const volume = struct({
  name: str,
  emptyDir: struct({ medium: str, sizeLimit: quantity }, { ptr: true }),
  secret: struct(
    { secretName: str, items: atomicList(keyToPath), defaultMode: int, optional: bool },
    { ptr: true }
  ),
  configMap: struct(
    { name: str, items: atomicList(keyToPath), defaultMode: int, optional: bool },
    { ptr: true }
  ),
  projected: struct({ sources: atomicList(free), defaultMode: int }, { ptr: true }),
  downwardAPI: struct({ items: atomicList(free), defaultMode: int }, { ptr: true }),
  persistentVolumeClaim: struct({ claimName: str, readOnly: bool }, { ptr: true }),
  csi: struct(
    { driver: str, readOnly: bool, fsType: str, volumeAttributes: strMap, nodePublishSecretRef: free },
    { ptr: true }
  ),
  ephemeral: struct({ volumeClaimTemplate: free }, { ptr: true }),
  hostPath: struct({ path: str, type: str }, { ptr: true })
})

const toleration = struct({ key: str, operator: str, value: str, effect: str, tolerationSeconds: int })

const topologySpreadConstraint = struct({
  maxSkew: int,
  topologyKey: str,
  whenUnsatisfiable: str,
  labelSelector,
  minDomains: int,
  nodeAffinityPolicy: str,
  nodeTaintsPolicy: str,
  matchLabelKeys: strList
})

const podSecurityContext = struct(
  {
    seLinuxOptions,
    windowsOptions,
    runAsUser: int,
    runAsGroup: int,
    runAsNonRoot: bool,
    supplementalGroups: atomicList(int),
    supplementalGroupsPolicy: str,
    fsGroup: int,
    sysctls: atomicList(struct({ name: str, value: str })),
    fsGroupChangePolicy: str,
    seccompProfile,
    appArmorProfile,
    seLinuxChangePolicy: str
  },
  { ptr: true }
)

export const podSpec: Struct = struct(
  {
    volumes: keyed(['name'], volume),
    initContainers: keyed(['name'], container),
    containers: keyed(['name'], container),
    ephemeralContainers: keyed(['name'], free),
    restartPolicy: str,
    terminationGracePeriodSeconds: int,
    activeDeadlineSeconds: int,
    dnsPolicy: str,
    nodeSelector: strMap,
    serviceAccountName: str,
    serviceAccount: str,
    automountServiceAccountToken: bool,
    nodeName: str,
    hostNetwork: bool,
    hostPID: bool,
    hostIPC: bool,
    shareProcessNamespace: bool,
    securityContext: podSecurityContext,
    imagePullSecrets: keyed(['name'], struct({ name: str })),
    hostname: str,
    subdomain: str,
    affinity: struct({ nodeAffinity: free, podAffinity: free, podAntiAffinity: free }, { ptr: true }),
    schedulerName: str,
    tolerations: atomicList(toleration),
    hostAliases: keyed(['ip'], struct({ ip: str, hostnames: strList })),
    priorityClassName: str,
    priority: int,
    dnsConfig: struct(
      { nameservers: strList, searches: strList, options: atomicList(struct({ name: str, value: str })) },
      { ptr: true }
    ),
    readinessGates: atomicList(struct({ conditionType: str })),
    runtimeClassName: str,
    enableServiceLinks: bool,
    preemptionPolicy: str,
    overhead: quantityMap,
    topologySpreadConstraints: keyed(['topologyKey', 'whenUnsatisfiable'], topologySpreadConstraint),
    setHostnameAsFQDN: bool,
    os: struct({ name: str }, { ptr: true }),
    hostUsers: bool,
    schedulingGates: keyed(['name'], struct({ name: str })),
    resourceClaims: keyed(['name'], free),
    resources: free
  },
  { go: 'PodSpec' }
)

const podTemplateSpec = struct({
  metadata: objectMeta,
  spec: podSpec
})

const intOrPercent = intOrString

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
    automountServiceAccountToken: bool
  }),
  Secret: top(null, { data: strMap, stringData: strMap, type: str, immutable: bool }),
  ConfigMap: top(null, { data: strMap, binaryData: strMap, immutable: bool }),
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
    count: int,
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
      replicas: int,
      selector: labelSelector,
      template: podTemplateSpec,
      strategy: struct({
        type: str,
        rollingUpdate: struct({ maxUnavailable: intOrPercent, maxSurge: intOrPercent }, { ptr: true })
      }),
      minReadySeconds: int,
      revisionHistoryLimit: int,
      paused: bool,
      progressDeadlineSeconds: int
    },
    {
      status: struct({
        observedGeneration: int,
        replicas: int,
        updatedReplicas: int,
        readyReplicas: int,
        availableReplicas: int,
        unavailableReplicas: int,
        terminatingReplicas: int,
        conditions: keyed(['type'], deploymentCondition),
        collisionCount: int
      })
    }
  ),
  ReplicaSet: top(
    { replicas: int, minReadySeconds: int, selector: labelSelector, template: podTemplateSpec },
    {
      status: struct({
        replicas: int,
        fullyLabeledReplicas: int,
        readyReplicas: int,
        availableReplicas: int,
        terminatingReplicas: int,
        observedGeneration: int,
        conditions: keyed(['type'], free)
      })
    }
  ),
  HorizontalPodAutoscaler: top(
    {
      scaleTargetRef: struct({ kind: str, name: str, apiVersion: str }),
      minReplicas: int,
      maxReplicas: int,
      metrics: atomicList(
        struct({
          type: str,
          object: free,
          pods: free,
          resource: struct(
            {
              name: str,
              target: struct({ type: str, value: quantity, averageValue: quantity, averageUtilization: int })
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
    leaseDurationSeconds: int,
    acquireTime: str,
    renewTime: str,
    leaseTransitions: int,
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

// Go type names for the decoder's messages: the kind itself, and its spec (DeploymentSpec, LeaseSpec, ...).
for (const [kind, schema] of Object.entries(KIND_SCHEMAS)) {
  schema.go = kind
  const spec = schema.fields.spec
  if (spec && typeof spec !== 'function' && spec.t === 'struct') spec.go ??= `${kind}Spec`
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
