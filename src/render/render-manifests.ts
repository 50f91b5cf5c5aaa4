// Templates -> the ordered, checked list of objects to apply. Structural throughout: every input lands in a
// field of a parsed object, never in YAML text.

import type { DeployConfig } from '../inputs.js'
import { parseImageReference } from '../input-rules.js'
import { describeObject, isRecord, type KubeObject, type TemplateObject } from '../k8s/kube-object.js'
import {
  findPlaceholders,
  findUnapplicableCharacters,
  PLACEHOLDER_ONLY,
  requiredSecretKeys,
  requiredSecretsFromEnvFrom,
  whoNeeds,
  type SecretKeyReference
} from './checks.js'
import { groupOf, isKnownClusterScoped, isKnownNamespaced } from '../k8s/kinds.js'
import { buildSecretData } from './secret-data.js'
import { renderWorkload } from './workload.js'
import { renderScaledObject, renderTriggerAuthentication } from './scaled-object.js'
import { REDIS_KEYS } from './redis-connection.js'
import type { UnverifiedKind } from '../k8s/kinds.js'

export type { UnverifiedKind } from '../k8s/kinds.js'

const KEDA_ONLY_KEYS = new Set<string>(Object.values(REDIS_KEYS))

export type ObjectRole =
  | 'namespace'
  | 'service-account'
  | 'secret'
  | 'worker'
  | 'beat'
  | 'worker-hpa'
  | 'worker-scaledobject'
  | 'worker-trigger-auth'
  | 'other'

// The autoscaler objects each `autoscaling` choice deploys; the templates of the others are not deployed, and
// their objects, left from an earlier deploy, are deleted (deploy/retire-autoscalers.ts): two autoscalers on
// one Deployment fight over its replica count.
const AUTOSCALER_ROLES: Record<DeployConfig['autoscaling'], readonly ObjectRole[]> = {
  cpu: ['worker-hpa'],
  keda: ['worker-scaledobject', 'worker-trigger-auth'],
  none: []
}
const ALL_AUTOSCALER_ROLES: readonly ObjectRole[] = [
  'worker-hpa',
  'worker-scaledobject',
  'worker-trigger-auth'
]

// An object of the action's templates that this deploy does not deploy and removes from the cluster.
export interface RetiredObject {
  kind: string
  apiVersion: string
  name: string
  namespace: string
  // Why, for the plan and the summary.
  reason: string
}

export interface RenderedObject {
  file: string
  role: ObjectRole
  object: KubeObject
}

export interface RenderedManifests {
  // In apply order: Namespace, ServiceAccount, Secret (and other config), Deployments, HPA.
  objects: RenderedObject[]
  // The Secret's values, when the action writes it (kept in memory only; never serialized unredacted).
  secretData?: Map<string, string>
  // Keys that must already exist in live Secrets, because the action does not write those Secrets.
  liveSecretKeys: SecretKeyReference[]
  liveSecrets: Array<{ object: string; container: string; secret: string }>
  // Objects of kinds this action does not know to be namespaced: the cluster's discovery decides (main.ts).
  unverifiedKinds: UnverifiedKind[]
  // Autoscaler objects of another `autoscaling` choice, to delete where an earlier deploy left them.
  retired: RetiredObject[]
  notes: string[]
}

export interface TraceContext {
  commitSha?: string
  runUrl?: string
  actor?: string
  repository?: string
  eventName?: string
}

export class RenderError extends Error {
  constructor(readonly problems: string[]) {
    super(`The manifests cannot be rendered:\n${problems.map(p => `  - ${p}`).join('\n')}`)
    this.name = 'RenderError'
  }
}

export const ANNOTATION_PREFIX = 'deploy-gke-workers'
// On the worker Deployment: the `autoscaling` choice of the deploy that last wrote it, so the next deploy knows
// whether a ScaledObject may be left to delete without asking a cluster that may not serve KEDA's kinds.
export const AUTOSCALING_ANNOTATION = `${ANNOTATION_PREFIX}/autoscaling`
// Who deployed what, on the Deployments. They name a run, so they change with every run; a deploy that rolls
// nothing keeps the live ones (see deploy/trace-annotations.ts), or every run would count as a change.
// The digest the image resolved to when it was deployed (set by deploy/pin-deployments.ts, not here: the render
// happens before the registry is asked).
export const IMAGE_DIGEST_ANNOTATION = `${ANNOTATION_PREFIX}/image-digest`
export const TRACE_ANNOTATIONS = [
  `${ANNOTATION_PREFIX}/image`,
  IMAGE_DIGEST_ANNOTATION,
  `${ANNOTATION_PREFIX}/commit-sha`,
  `${ANNOTATION_PREFIX}/run-url`,
  `${ANNOTATION_PREFIX}/actor`,
  `${ANNOTATION_PREFIX}/repository`,
  'kubernetes.io/change-cause'
]
export const MANAGED_BY = 'deploy-gke-workers'

const APPLY_RANK: Record<string, number> = {
  Namespace: 0,
  ServiceAccount: 1,
  Secret: 2,
  ConfigMap: 2,
  TriggerAuthentication: 2,
  Deployment: 4,
  HorizontalPodAutoscaler: 5,
  ScaledObject: 5,
  PodDisruptionBudget: 5
}
const OTHER_RANK = 3

export function renderManifests(
  templates: TemplateObject[],
  config: DeployConfig,
  trace: TraceContext
): RenderedManifests {
  const problems: string[] = []
  const notes: string[] = []
  const at = (t: TemplateObject): string => `${t.file}: ${describeObject(t.object)}`
  const secretData = buildSecretData(config)

  const working = templates.map(t => ({ ...t, object: structuredClone(t.object) }))
  const roles = working.map(t => roleOf(t.object, config))
  const byRole = (role: ObjectRole): Array<TemplateObject> => working.filter((_, i) => roles[i] === role)

  for (const role of [
    'namespace',
    'service-account',
    'worker',
    'beat',
    'worker-hpa',
    'worker-scaledobject',
    'worker-trigger-auth',
    'secret'
  ] as const) {
    const found = byRole(role)
    if (found.length > 1) problems.push(`${found.map(at).join(' and ')}: more than one ${role} template`)
  }
  const workers = byRole('worker')
  if (workers.length === 0) {
    problems.push('no worker Deployment template (a Deployment labelled app.kubernetes.io/component: worker)')
  }
  if (config.beat && byRole('beat').length === 0) {
    problems.push('beat is true but there is no beat Deployment template (app.kubernetes.io/component: beat)')
  }
  const workerName = workers[0]?.object.metadata.name
  const beatName = byRole('beat')[0]?.object.metadata.name ?? 'celery-beat'
  const deployedAutoscalers = AUTOSCALER_ROLES[config.autoscaling]
  if (config.autoscaling === 'keda' && byRole('worker-scaledobject').length === 0) {
    problems.push(
      'autoscaling is keda but there is no ScaledObject template (kind ScaledObject, apiVersion keda.sh/v1alpha1, labelled app.kubernetes.io/component: worker)'
    )
  }
  const retired: RetiredObject[] = []

  const rendered: RenderedObject[] = []
  const unverifiedKinds: UnverifiedKind[] = []
  working.forEach((template, index) => {
    const role = roles[index]
    const object = template.object
    // Cluster-wide objects are out of this action's remit (kinds.ts): a worker deploy must not be able to grant
    // itself RBAC. Kinds it does not know are checked against the cluster's discovery, or refused offline.
    if (object.kind !== 'Namespace' && isKnownClusterScoped(object.kind)) {
      problems.push(`${at(template)}: cluster-scoped ${object.kind} objects are not deployed by this action`)
      return
    }
    if (object.kind !== 'Namespace' && !isKnownNamespaced(object.kind, object.apiVersion)) {
      unverifiedKinds.push({
        file: template.file,
        object: describeObject(object),
        kind: object.kind,
        group: groupOf(object.apiVersion),
        named: isKnownNamespaced(object.kind, object.apiVersion, config.namespacedKinds)
      })
    }
    if (ALL_AUTOSCALER_ROLES.includes(role) && !deployedAutoscalers.includes(role)) {
      if (!PLACEHOLDER_ONLY.test(object.metadata.name ?? '')) {
        retired.push({
          kind: object.kind,
          apiVersion: object.apiVersion,
          name: object.metadata.name,
          namespace: config.namespace,
          reason: `autoscaling is ${config.autoscaling}`
        })
      }
      return
    }
    if (role === 'beat' && !config.beat) {
      notes.push(`beat is false: ${describeObject(object)} from ${template.file} is not deployed`)
      return
    }
    if (role === 'secret' && secretData === undefined) {
      notes.push(
        `No Secret is written (secret_data and db_* are empty): Secret ${config.secretName} must already exist in namespace ${config.namespace}`
      )
      return
    }
    const objectProblems = renderObject(object, role, config, trace, {
      secretData,
      workerName,
      beatName,
      autoscaled: deployedAutoscalers.some(r => byRole(r).length > 0),
      notes
    })
    for (const p of objectProblems) problems.push(`${at(template)}: ${p}`)
    rendered.push({ file: template.file, role, object })
  })

  if (
    config.autoscaling === 'keda' &&
    config.redis?.tls &&
    !config.redis.skipVerify &&
    !config.redis.serverCa
  ) {
    notes.push(
      "KEDA reaches Redis over TLS (rediss://) and verifies its certificate against KEDA's system CAs; Memorystore signs with a CA of the instance's own: give it in redis_server_ca, or KEDA cannot read the queues"
    )
  }
  if (secretData !== undefined && byRole('secret').length === 0) {
    const secret = buildSecretObject(config, secretData)
    rendered.push({ file: '(built from secret_data)', role: 'secret', object: secret })
  }

  const envValues = new Set(config.env.map(e => e.value))
  for (const item of rendered) {
    const found = findPlaceholders(item.object, {
      skip: (path, value) =>
        (item.role === 'secret' && (path.startsWith('stringData.') || path.startsWith('data.'))) ||
        (/\.env\[\d+\]\.value$/.test(path) && typeof value === 'string' && envValues.has(value))
    })
    for (const { path, placeholder } of found) {
      problems.push(
        `${item.file}: ${describeObject(item.object)} field ${path} still holds the placeholder ${placeholder}`
      )
    }
    for (const { path, code } of findUnapplicableCharacters(item.object)) {
      // A Secret's value is not described, not even by one of its characters.
      const what =
        item.role === 'secret' || item.object.kind === 'Secret'
          ? 'a control character'
          : `the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`
      problems.push(
        `${item.file}: ${describeObject(item.object)} field ${path} holds ${what}, which kubectl's server-side apply cannot carry (the API server refuses DEL and the C1 controls, and reads NEL as a line break): remove it from the input or template it comes from`
      )
    }
  }

  const objects = rendered.map(r => r.object)
  const liveSecretKeys: SecretKeyReference[] = []
  for (const reference of requiredSecretKeys(objects)) {
    if (reference.secret === config.secretName && secretData !== undefined) {
      if (!secretData.has(reference.key)) {
        problems.push(
          `${whoNeeds(reference)} needs key ${reference.key} of Secret ${reference.secret}, which the Secret built from secret_data${config.database ? ' and db_*' : ''} does not provide (add ${reference.key}=... to secret_data, or mark the reference optional)`
        )
      }
    } else liveSecretKeys.push(reference)
  }
  const liveSecrets = requiredSecretsFromEnvFrom(objects).filter(
    s => !(s.secret === config.secretName && secretData !== undefined)
  )

  if (problems.length > 0) throw new RenderError(problems)
  rendered.sort((a, b) => rankOf(a.object) - rankOf(b.object))
  return { objects: rendered, secretData, liveSecretKeys, liveSecrets, notes, unverifiedKinds, retired }
}

function rankOf(object: KubeObject): number {
  return APPLY_RANK[object.kind] ?? OTHER_RANK
}

function componentOf(object: KubeObject): string | undefined {
  return object.metadata.labels?.['app.kubernetes.io/component']
}

function roleOf(object: KubeObject, config: DeployConfig): ObjectRole {
  switch (object.kind) {
    case 'Namespace':
      return 'namespace'
    case 'ServiceAccount':
      return 'service-account'
    case 'Secret': {
      const name = object.metadata.name
      return PLACEHOLDER_ONLY.test(name) || name === config.secretName ? 'secret' : 'other'
    }
    case 'Deployment': {
      const component = componentOf(object)
      if (component === 'worker' || (component === undefined && object.metadata.name === 'celery-worker'))
        return 'worker'
      if (component === 'beat' || (component === undefined && object.metadata.name === 'celery-beat'))
        return 'beat'
      return 'other'
    }
    case 'HorizontalPodAutoscaler':
      return componentOf(object) === 'beat' ? 'other' : 'worker-hpa'
    // Beat's are refused when rendered (an autoscaler on beat runs two schedulers).
    case 'ScaledObject': {
      const target =
        isRecord(object.spec) && isRecord(object.spec.scaleTargetRef) ? object.spec.scaleTargetRef : {}
      const component = componentOf(object)
      return component === 'worker' ||
        component === 'beat' ||
        ['celery-worker', 'celery-beat'].includes(String(target.name))
        ? 'worker-scaledobject'
        : 'other'
    }
    case 'TriggerAuthentication':
      return componentOf(object) === 'worker' || object.metadata.name === 'celery-worker-redis'
        ? 'worker-trigger-auth'
        : 'other'
    default:
      return 'other'
  }
}

interface RenderState {
  secretData: Map<string, string> | undefined
  workerName: string | undefined
  beatName: string
  // An autoscaler this deploy deploys owns the worker's replica count.
  autoscaled: boolean
  notes: string[]
}

function renderObject(
  object: KubeObject,
  role: ObjectRole,
  config: DeployConfig,
  trace: TraceContext,
  state: RenderState
): string[] {
  const problems: string[] = []
  const metadata = object.metadata
  metadata.labels = { ...(metadata.labels ?? {}), 'app.kubernetes.io/managed-by': MANAGED_BY }

  if (role === 'namespace') {
    metadata.name = config.namespace
    return problems
  }
  const declared = metadata.namespace
  if (declared !== undefined && !PLACEHOLDER_ONLY.test(declared) && declared !== config.namespace) {
    problems.push(
      `metadata.namespace is "${declared}", but this deploy targets namespace "${config.namespace}"`
    )
  }
  metadata.namespace = config.namespace

  switch (role) {
    case 'service-account':
      metadata.name = config.serviceAccount
      metadata.annotations = { ...(metadata.annotations ?? {}) }
      if (config.gcpServiceAccount)
        metadata.annotations['iam.gke.io/gcp-service-account'] = config.gcpServiceAccount
      else delete metadata.annotations['iam.gke.io/gcp-service-account']
      if (Object.keys(metadata.annotations).length === 0) delete metadata.annotations
      break
    case 'secret':
      metadata.name = config.secretName
      delete object.stringData
      object.type = object.type ?? 'Opaque'
      object.data = secretDataField(state.secretData ?? new Map())
      break
    case 'worker':
    case 'beat':
      problems.push(...renderDeployment(object, role, config, trace, state))
      break
    case 'worker-hpa':
      problems.push(...renderHpa(object, config, state.workerName))
      break
    case 'worker-scaledobject':
      problems.push(...renderScaledObject(object, config, state))
      break
    case 'worker-trigger-auth':
      renderTriggerAuthentication(object, config, state.secretData)
      break
    case 'other':
      break
  }
  return problems
}

function renderDeployment(
  object: KubeObject,
  role: 'worker' | 'beat',
  config: DeployConfig,
  trace: TraceContext,
  state: RenderState
): string[] {
  const spec = isRecord(object.spec) ? object.spec : undefined
  if (!spec) return ['has no spec']
  const problems = renderWorkload(object, config, {
    role,
    // The parts of REDIS_URL split for KEDA are KEDA's, not the app's: the pods keep reading REDIS_URL.
    secretKeys: state.secretData
      ? [...state.secretData.keys()].filter(k => !(config.redis && KEDA_ONLY_KEYS.has(k))).sort()
      : undefined
  })

  if (role === 'beat') {
    // Two schedulers fire every periodic task twice; refuse templates that could run two.
    if (spec.replicas !== undefined && spec.replicas !== 1)
      problems.push(`beat must run exactly one replica (spec.replicas is ${String(spec.replicas)})`)
    spec.replicas = 1
    const strategy = isRecord(spec.strategy) ? spec.strategy.type : undefined
    if (strategy !== undefined && strategy !== 'Recreate') {
      problems.push(
        `beat must use strategy Recreate, not ${String(strategy)} (a rolling update runs two beats at once)`
      )
    }
    spec.strategy = { type: 'Recreate' }
  } else if (config.autoscaling === 'none') {
    spec.replicas = config.workerMinReplicas
  } else if (state.autoscaled && spec.replicas !== undefined) {
    delete spec.replicas
    state.notes.push(
      `${describeObject(object)}: spec.replicas removed; the ${config.autoscaling === 'keda' ? 'ScaledObject' : 'HorizontalPodAutoscaler'} owns the replica count`
    )
  }

  const version = versionLabel(config.image)
  const labels = object.metadata.labels ?? {}
  if (version) labels['app.kubernetes.io/version'] = version
  object.metadata.labels = labels
  const template = isRecord(spec.template) ? spec.template : undefined
  if (template && isRecord(template.metadata)) {
    const templateLabels = (template.metadata.labels ?? {}) as Record<string, string>
    if (version) templateLabels['app.kubernetes.io/version'] = version
    template.metadata.labels = templateLabels
  }

  // On the Deployment, not the pod template: a new run of the same image must not roll pods by itself.
  const annotations = { ...(object.metadata.annotations ?? {}) }
  annotations[`${ANNOTATION_PREFIX}/image`] = config.image
  if (trace.commitSha) annotations[`${ANNOTATION_PREFIX}/commit-sha`] = trace.commitSha
  if (trace.runUrl) annotations[`${ANNOTATION_PREFIX}/run-url`] = trace.runUrl
  if (trace.actor) annotations[`${ANNOTATION_PREFIX}/actor`] = trace.actor
  if (trace.repository) annotations[`${ANNOTATION_PREFIX}/repository`] = trace.repository
  if (role === 'worker') annotations[AUTOSCALING_ANNOTATION] = config.autoscaling
  const shortSha = trace.commitSha ? ` at ${trace.commitSha.slice(0, 12)}` : ''
  annotations['kubernetes.io/change-cause'] =
    `deploy-gke-workers: ${config.image}${shortSha}${trace.actor ? ` by ${trace.actor}` : ''}`
  object.metadata.annotations = annotations
  return problems
}

function renderHpa(object: KubeObject, config: DeployConfig, workerName: string | undefined): string[] {
  const spec = isRecord(object.spec) ? object.spec : undefined
  if (!spec) return ['has no spec']
  const target = isRecord(spec.scaleTargetRef) ? spec.scaleTargetRef : undefined
  if (!target) return ['has no spec.scaleTargetRef']
  if (target.name === 'celery-beat') return ['targets the beat Deployment; beat must never be autoscaled']
  if (workerName) target.name = workerName
  spec.minReplicas = config.workerMinReplicas
  spec.maxReplicas = config.workerMaxReplicas
  const metrics = Array.isArray(spec.metrics) ? (spec.metrics as Array<Record<string, unknown>>) : []
  const cpu = metrics.find(m => m.type === 'Resource' && isRecord(m.resource) && m.resource.name === 'cpu')
  const cpuTarget = { type: 'Utilization', averageUtilization: config.workerCpuTarget }
  if (cpu && isRecord(cpu.resource)) cpu.resource.target = cpuTarget
  else metrics.push({ type: 'Resource', resource: { name: 'cpu', target: cpuTarget } })
  spec.metrics = metrics
  return []
}

function buildSecretObject(config: DeployConfig, data: Map<string, string>): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: config.secretName,
      namespace: config.namespace,
      labels: { 'app.kubernetes.io/part-of': 'noesis2', 'app.kubernetes.io/managed-by': MANAGED_BY }
    },
    type: 'Opaque',
    data: secretDataField(data)
  }
}

// `data` (base64), not `stringData`: server-side apply only prunes a key that was removed from the field it
// manages, and the API server folds stringData into data, so a key dropped from secret_data would live on.
function secretDataField(data: Map<string, string>): Record<string, string> {
  return Object.fromEntries(
    [...data.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')])
  )
}

// A label value (63 characters of [A-Za-z0-9._-], alphanumeric at both ends) naming the image version.
export function versionLabel(image: string): string | undefined {
  const reference = parseImageReference(image)
  const raw = reference?.tag ?? reference?.digest?.replace('sha256:', 'sha256-').slice(0, 19)
  if (!raw) return undefined
  const cleaned = raw
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '')
  return cleaned || undefined
}
