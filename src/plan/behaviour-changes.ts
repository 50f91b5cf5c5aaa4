// The few lines of a plan that change what the workers do, for a reviewer to read before the per-object plan
// and the raw diff: the image, replicas and autoscaling bounds, the environment variables and Secret keys
// added or removed, resources, the command. Compared field by field between the live objects and the rendered
// ones; everything else a diff may show (labels, annotations, defaults) is not behaviour.

import { identityKey, type LiveObjectMeta } from '../kube/objects.js'
import { parseQuantity } from '../k8s/quantity.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { SecretKeyChange } from './plan.js'
import { parseImageName } from '../registry/image-name.js'

export interface BehaviourChange {
  /** `Deployment/celery-worker` */
  object: string
  /** `image (app)`, `replicas`, `autoscaling`, `scale to zero`, `env (app)`, `Secret keys`, `resources (app)`, `command (app)` */
  what: string
  /** As it is now; empty for something new. */
  from: string
  /** As the deploy would leave it. */
  to: string
}

interface ContainerShape {
  name: string
  image?: string
  command?: string[]
  args?: string[]
  env?: Array<{ name: string }>
  envFrom?: Array<{ secretRef?: { name?: string }; configMapRef?: { name?: string } }>
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> }
}

interface WorkloadShape {
  spec?: {
    replicas?: number
    template?: { spec?: { containers?: ContainerShape[]; initContainers?: ContainerShape[] } }
    minReplicas?: number
    maxReplicas?: number
    metrics?: Array<{ resource?: { name?: string; target?: { averageUtilization?: number } } }>
  }
}

export function behaviourChanges(
  objects: KubeObject[],
  live: Map<string, LiveObjectMeta>,
  secretChanges: SecretKeyChange[],
  // The live autoscalers of another `autoscaling` choice, which the deploy deletes.
  retiredLive: LiveObjectMeta[] = []
): BehaviourChange[] {
  const changes: BehaviourChange[] = []
  for (const object of objects) {
    const name = `${object.kind}/${object.metadata.name}`
    const current = live.get(
      identityKey({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace })
    ) as unknown as WorkloadShape | undefined
    const desired = object as unknown as WorkloadShape
    if (object.kind === 'Deployment') changes.push(...deploymentChanges(name, current, desired))
  }
  changes.push(...autoscalerChanges(objects, live, retiredLive))
  const bySecret = new Map<string, SecretKeyChange[]>()
  for (const change of secretChanges)
    bySecret.set(change.secret, [...(bySecret.get(change.secret) ?? []), change])
  for (const [secret, keys] of bySecret) {
    const added = keys.filter(k => k.change === 'added').map(k => `+ ${k.key}`)
    const removed = keys.filter(k => k.change === 'removed').map(k => `− ${k.key}`)
    if (added.length + removed.length === 0) continue
    changes.push({
      object: `Secret/${secret}`,
      what: 'Secret keys',
      from: '',
      to: [...added, ...removed].join(', ')
    })
  }
  return changes
}

function deploymentChanges(
  name: string,
  current: WorkloadShape | undefined,
  desired: WorkloadShape
): BehaviourChange[] {
  const wanted = containersOf(desired)
  if (!current) {
    const app = wanted.find(c => c.name === 'app') ?? wanted[0]
    return [{ object: name, what: 'created', from: '', to: app?.image ? `image ${app.image}` : 'new' }]
  }
  const changes: BehaviourChange[] = []
  const now = containersOf(current)
  if (desired.spec?.replicas !== undefined && desired.spec.replicas !== (current.spec?.replicas ?? 1)) {
    changes.push({
      object: name,
      what: 'replicas',
      from: String(current.spec?.replicas ?? 1),
      to: String(desired.spec.replicas)
    })
  }
  for (const container of wanted) {
    const before = now.find(c => c.name === container.name)
    const what = (field: string) => `${field} (${container.name})`
    if (!before) {
      changes.push({
        object: name,
        what: what('container'),
        from: '',
        to: `added, image ${container.image ?? ''}`
      })
      continue
    }
    if (container.image !== before.image) {
      const note = imageChangeNote(before.image ?? '', container.image ?? '')
      changes.push({
        object: name,
        what: what('image'),
        from: before.image ?? '',
        to: `${container.image ?? ''}${note ? ` (${note})` : ''}`
      })
    }
    const command = (c: ContainerShape) => [...(c.command ?? []), ...(c.args ?? [])].join(' ')
    if (command(container) !== command(before)) {
      changes.push({ object: name, what: what('command'), from: command(before), to: command(container) })
    }
    const env = keyChanges(envNames(before), envNames(container))
    if (env) changes.push({ object: name, what: what('env'), from: '', to: env })
    if (!sameResources(container, before)) {
      changes.push({
        object: name,
        what: what('resources'),
        from: resources(before),
        to: resources(container)
      })
    }
  }
  for (const gone of now.filter(c => !wanted.some(w => w.name === c.name))) {
    changes.push({ object: name, what: `container (${gone.name})`, from: gone.image ?? '', to: 'removed' })
  }
  return changes
}

interface AutoscalerShape {
  kind: string
  metadata: { name: string }
  spec?: WorkloadShape['spec'] & {
    minReplicaCount?: number
    maxReplicaCount?: number
    pollingInterval?: number
    cooldownPeriod?: number
    scaleTargetRef?: { name?: string }
    triggers?: Array<{ type?: string; metadata?: Record<string, string> }>
  }
}

const AUTOSCALER_KINDS = ['HorizontalPodAutoscaler', 'ScaledObject']

// What scales the worker, before and after: the same autoscaler with other bounds or target, or a switch from
// the CPU HPA to KEDA's queue length (or back), which the reviewer should see in one line.
function autoscalerChanges(
  objects: KubeObject[],
  live: Map<string, LiveObjectMeta>,
  retiredLive: LiveObjectMeta[]
): BehaviourChange[] {
  const desired = objects.find(o => AUTOSCALER_KINDS.includes(o.kind)) as unknown as
    AutoscalerShape | undefined
  const liveOf = (o: AutoscalerShape) =>
    live.get(
      identityKey({
        kind: o.kind,
        name: o.metadata.name,
        namespace: (o.metadata as { namespace?: string }).namespace
      })
    ) as unknown as AutoscalerShape | undefined
  const current =
    (desired ? liveOf(desired) : undefined) ??
    (retiredLive.find(o => AUTOSCALER_KINDS.includes(o.kind)) as unknown as AutoscalerShape | undefined)
  if (!desired && !current) return []
  const worker = objects.find(o => o.kind === 'Deployment') as unknown as WorkloadShape | undefined
  const to = desired ? describeAutoscaler(desired) : `none: fixed at ${worker?.spec?.replicas ?? 1} replicas`
  const object = desired
    ? `${desired.kind}/${desired.metadata.name}`
    : `${current!.kind}/${current!.metadata.name}`
  const zero = desired ? scaleToZeroChange(object, desired, current) : []
  if (!current) return [{ object, what: 'autoscaling', from: '', to }, ...zero]
  const from = describeAutoscaler(current)
  const switched = !desired || current.kind !== desired.kind
  if (from === to) return zero
  return [
    {
      object,
      what: 'autoscaling',
      from: switched ? `${current.kind} ${current.metadata.name}: ${from}` : from,
      to: switched && desired ? `${desired.kind} ${desired.metadata.name}: ${to}` : to
    },
    ...zero
  ]
}

// A switch to scale-to-zero (a new ScaledObject at minimum 0, or one whose minimum drops to 0): when KEDA
// will take the worker to zero, and what starts it again, in KEDA's own terms (measured with KEDA v2.20.2: a
// new ScaledObject has no last activity, so its first poll after the deploy scales an idle worker to zero at
// once; later, the cooldown counts from the last poll that saw a task; a queue longer than the activation
// length starts minReplicaCount or 1 pod at the next poll, and its HPA adds more from there).
function scaleToZeroChange(
  object: string,
  desired: AutoscalerShape,
  current: AutoscalerShape | undefined
): BehaviourChange[] {
  if (desired.kind !== 'ScaledObject' || (desired.spec?.minReplicaCount ?? 0) !== 0) return []
  const wasScaledObject = current?.kind === 'ScaledObject'
  if (wasScaledObject && (current.spec?.minReplicaCount ?? 0) === 0) return []
  const spec = desired.spec
  const worker = spec?.scaleTargetRef?.name ?? 'the worker'
  const redis = (spec?.triggers ?? []).filter(t => t.type === 'redis')
  const queues = redis.map(t => t.metadata?.listName ?? '?').join(', ')
  const poll = spec?.pollingInterval ?? 30
  const cooldown = spec?.cooldownPeriod ?? 300
  const activation = redis[0]?.metadata?.activationListLength ?? '0'
  const when = wasScaledObject
    ? `once every queue (${queues}) has been empty for ${seconds(cooldown)} (keda_cooldown_period)`
    : `right after this deploy if every queue (${queues}) is empty then (a new ScaledObject has no last activity to cool down from; a worker that rolls is verified first), otherwise once they have been empty for ${seconds(cooldown)} (keda_cooldown_period)`
  return [
    {
      object,
      what: 'scale to zero',
      from: wasScaledObject
        ? `never (at least ${plural(current.spec?.minReplicaCount ?? 1, 'replica')})`
        : '',
      to: `KEDA scales ${worker} to 0 replicas ${when}. At zero, a queue holding more than ${activation} task${activation === '1' ? '' : 's'} (queue_activation_length) starts 1 pod at KEDA's next poll (every ${seconds(poll)}, keda_polling_interval), plus the time a pod takes to start; tasks wait in Redis meanwhile`
    }
  ]
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}

function seconds(value: number): string {
  return value % 60 === 0 && value >= 60 ? `${value / 60}m` : `${value}s`
}

// `1–5 replicas at 70% CPU`; `0–5 replicas at queue length 5 per replica (celery, rag_delete)`.
function describeAutoscaler(autoscaler: AutoscalerShape): string {
  const spec = autoscaler.spec
  if (autoscaler.kind === 'ScaledObject') {
    const redis = (spec?.triggers ?? []).filter(t => t.type === 'redis')
    const lengths = [...new Set(redis.map(t => t.metadata?.listLength ?? '5'))]
    const queues = redis.map(t => t.metadata?.listName ?? '?')
    const others = (spec?.triggers ?? []).filter(t => t.type !== 'redis').map(t => t.type ?? '?')
    return (
      `${spec?.minReplicaCount ?? 0}–${spec?.maxReplicaCount ?? 100} replicas at queue length ` +
      `${lengths.join('/')} per replica (${queues.join(', ')})` +
      (others.length > 0 ? ` and ${others.join(', ')}` : '')
    )
  }
  const cpu = spec?.metrics?.find(m => m.resource?.name === 'cpu')?.resource?.target?.averageUtilization
  return `${spec?.minReplicas ?? 1}–${spec?.maxReplicas ?? '?'} replicas${cpu !== undefined ? ` at ${cpu}% CPU` : ''}`
}

function containersOf(workload: WorkloadShape): ContainerShape[] {
  const spec = workload.spec?.template?.spec
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]
}

function envNames(container: ContainerShape): string[] {
  return [
    ...(container.env ?? []).map(e => e.name),
    ...(container.envFrom ?? []).map(e =>
      e.secretRef?.name
        ? `all of Secret ${e.secretRef.name}`
        : `all of ConfigMap ${e.configMapRef?.name ?? ''}`
    )
  ]
}

function keyChanges(before: string[], after: string[]): string | undefined {
  const added = after.filter(k => !before.includes(k)).map(k => `+ ${k}`)
  const removed = before.filter(k => !after.includes(k)).map(k => `− ${k}`)
  return added.length + removed.length > 0 ? [...added, ...removed].join(', ') : undefined
}

// By value: the server writes quantities in its own form (`0.5` comes back as `500m`).
function sameResources(a: ContainerShape, b: ContainerShape): boolean {
  const same = (x: Record<string, string> = {}, y: Record<string, string> = {}) => {
    const keys = new Set([...Object.keys(x), ...Object.keys(y)])
    return [...keys].every(
      k => x[k] === y[k] || (parseQuantity(x[k]) ?? NaN) === (parseQuantity(y[k]) ?? NaN)
    )
  }
  return same(a.resources?.requests, b.resources?.requests) && same(a.resources?.limits, b.resources?.limits)
}

// `requests cpu 250m, memory 512Mi; limits memory 1Gi`: the fields set, in a fixed order.
function resources(container: ContainerShape): string {
  const part = (label: string, values: Record<string, string> | undefined) => {
    const entries = Object.entries(values ?? {}).sort(([a], [b]) => a.localeCompare(b))
    return entries.length > 0 ? `${label} ${entries.map(([k, v]) => `${k} ${v}`).join(', ')}` : ''
  }
  return (
    [part('requests', container.resources?.requests), part('limits', container.resources?.limits)]
      .filter(Boolean)
      .join('; ') || 'none'
  )
}

// What a change of image reference means when the repository and tag stay: other bytes under the same name (a
// tag pushed again since the last deploy), or the same tag pinned to its digest for the first time.
export function imageChangeNote(from: string, to: string): string | undefined {
  const before = parseImageName(from)
  const after = parseImageName(to)
  if (!before || !after) return undefined
  if (before.registry !== after.registry || before.repository !== after.repository) return undefined
  if (before.tag !== after.tag) return undefined
  const tag = after.tag ? `tag ${after.tag}` : 'reference'
  if (before.digest && after.digest) return `same ${tag}, new bytes`
  if (after.digest) return `${tag} pinned to the digest it names now`
  if (before.digest) return `${tag} no longer pinned to a digest`
  return undefined
}
