// What scales the worker after the deploy, for the summary: kind, bounds, target, and what the cluster
// reports now. For the CPU HPA that is the apply's own answer (it carries the status). For KEDA: the
// ScaledObject's own conditions (Ready, Active, Fallback, Paused, HPAActive), and the queue lengths KEDA
// reads, from KEDA's metrics adapter (external.metrics.k8s.io: one metric per trigger, named sN-redis-<list>
// for trigger N, its value the list's length; measured with KEDA v2.20.2), or, where that API is not served or
// not allowed, what KEDA's HPA (keda-hpa-<name>) last saw. KEDA's condition messages are untrusted: read
// bounded here, redacted, clipped and escaped by the summary.

import type { AppliedObject } from '../kube/apply.js'
import type { Kubectl } from '../kube/kubectl.js'
import { parseObjects } from '../kube/objects.js'
import { parseQuantity } from '../k8s/quantity.js'
import type { DeployConfig } from '../inputs.js'
import type { Deployment } from '../k8s/types.js'

export interface AutoscalerReport {
  kind: 'HorizontalPodAutoscaler' | 'ScaledObject' | 'none'
  name?: string
  minReplicas: number
  maxReplicas: number
  // `70% CPU`, `5 tasks per replica on celery, rag_delete`
  target: string
  replicas?: number
  // What the cluster says now, when it says anything: `12% CPU`, `celery 3, rag_delete 0 tasks queued`.
  current?: string
  // KEDA's conditions (`Ready False (ScaledObjectCheckFailed: KEDA's message)`), or the HPA's ScalingActive one
  // when it is false. KEDA's messages are bounded, not yet redacted or clipped: the summary does both.
  conditions: string[]
}

interface Condition {
  type?: string
  status?: string
  reason?: string
  message?: string
}

interface HpaStatus {
  status?: {
    currentReplicas?: number
    currentMetrics?: Array<{
      type?: string
      resource?: { name?: string; current?: { averageUtilization?: number } }
      external?: {
        metric?: { name?: string }
        current?: { averageValue?: string; value?: string }
      }
    }>
    conditions?: Condition[]
  }
}

export function kedaHpaName(scaledObject: string): string {
  return `keda-hpa-${scaledObject}`
}

export async function readAutoscaler(
  kubectl: Kubectl,
  context: { config: DeployConfig; applied: AppliedObject[]; worker?: Deployment }
): Promise<AutoscalerReport> {
  const { config } = context
  const replicas = context.worker?.spec?.replicas
  const bounds = { minReplicas: config.workerMinReplicas, maxReplicas: config.workerMaxReplicas }
  if (config.autoscaling === 'none') {
    return {
      kind: 'none',
      ...bounds,
      maxReplicas: config.workerMinReplicas,
      target: 'fixed',
      replicas,
      conditions: []
    }
  }
  if (config.autoscaling === 'cpu') {
    const hpa = context.applied.find(a => a.kind === 'HorizontalPodAutoscaler')
    const status = (hpa?.applied as HpaStatus | undefined)?.status
    const cpu = status?.currentMetrics?.find(m => m.resource?.name === 'cpu')?.resource?.current
      ?.averageUtilization
    return {
      kind: 'HorizontalPodAutoscaler',
      name: hpa?.name,
      ...bounds,
      target: `${config.workerCpuTarget}% CPU`,
      replicas: status?.currentReplicas ?? replicas,
      current: cpu !== undefined ? `${cpu}% CPU` : undefined,
      conditions: falseConditions(status?.conditions)
    }
  }
  const scaledObject = context.applied.find(a => a.kind === 'ScaledObject')
  const report: AutoscalerReport = {
    kind: 'ScaledObject',
    name: scaledObject?.name,
    ...bounds,
    target: `${config.keda.queueLengthTarget} tasks per replica on ${config.workerQueues.join(', ')}`,
    replicas,
    conditions: []
  }
  if (!scaledObject) return report
  // One call for both: the ScaledObject as KEDA reports it now, and the HPA KEDA made for it (when it has one).
  const found = await kubectl.run([
    'get',
    `scaledobjects.keda.sh/${scaledObject.name}`,
    `horizontalpodautoscalers.autoscaling/${kedaHpaName(scaledObject.name)}`,
    '-n',
    config.namespace,
    '--ignore-not-found',
    '-o',
    'json'
  ])
  const objects = parseObjects(found.stdout)
  const live = objects.find(o => o.kind === 'ScaledObject') as LiveScaledObject | undefined
  const hpa = objects.find(o => o.kind === 'HorizontalPodAutoscaler') as HpaStatus | undefined
  report.conditions = kedaConditions(live)
  const read = await readExternalMetrics(kubectl, config.namespace, scaledObject.name, live)
  report.current = read
    ? queueLengthsFromMetrics(read, config.workerQueues)
    : queueLengths(hpa?.status, config.workerQueues, replicas)
  return report
}

interface LiveScaledObject {
  status?: { conditions?: Condition[]; externalMetricNames?: unknown }
}

// KEDA's conditions as `Ready True`, `Active False (ScalerNotActive)`; the message of one that says something
// is wrong (Ready not True, HPAActive False, Fallback True), bounded (the summary redacts, then clips).
export function kedaConditions(live: LiveScaledObject | undefined): string[] {
  const order = ['Ready', 'Active', 'Fallback', 'Paused', 'HPAActive']
  return (live?.status?.conditions ?? [])
    .filter(c => typeof c.type === 'string' && order.includes(c.type) && typeof c.status === 'string')
    .sort((a, b) => order.indexOf(a.type!) - order.indexOf(b.type!))
    .map(c => {
      const wrong =
        (c.type === 'Ready' && c.status !== 'True' && c.reason) ||
        (c.type === 'HPAActive' && c.status === 'False') ||
        (c.type === 'Fallback' && c.status === 'True')
      const reason = typeof c.reason === 'string' && c.reason !== '' ? c.reason.slice(0, 128) : undefined
      const message = wrong && typeof c.message === 'string' ? c.message.slice(0, 4096) : undefined
      const detail = [reason, message].filter(Boolean).join(': ')
      return `${c.type} ${c.status!.slice(0, 16)}${detail ? ` (${detail})` : ''}`
    })
}

// KEDA's metric names: sN-<scaler>-<normalised list name> (a Celery queue may hold `_`, as rag_delete).
const METRIC_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/

// Each of the ScaledObject's metrics as KEDA's metrics adapter serves it now; undefined when the API is not
// there or not allowed (an older deployer role), so the caller falls back to the HPA.
async function readExternalMetrics(
  kubectl: Kubectl,
  namespace: string,
  scaledObject: string,
  live: LiveScaledObject | undefined
): Promise<Map<string, number> | undefined> {
  const names = Array.isArray(live?.status?.externalMetricNames)
    ? (live.status.externalMetricNames as unknown[]).filter(
        (n): n is string => typeof n === 'string' && METRIC_NAME.test(n)
      )
    : []
  if (names.length === 0) return undefined
  const values = new Map<string, number>()
  const selector = encodeURIComponent(`scaledobject.keda.sh/name=${scaledObject}`)
  try {
    for (const name of names.slice(0, 20)) {
      // Not retried, and soon given up: the summary has the HPA's view to fall back on.
      const result = await kubectl.run(
        [
          'get',
          '--raw',
          `/apis/external.metrics.k8s.io/v1beta1/namespaces/${namespace}/${encodeURIComponent(name)}?labelSelector=${selector}`,
          '--request-timeout=5s'
        ],
        { okExitCodes: [0, 1], accept: () => true, retry: false, timeoutMs: 10_000 }
      )
      if (result.exitCode !== 0) return undefined
      const value = (JSON.parse(result.stdout) as { items?: Array<{ value?: string }> }).items?.[0]?.value
      const amount = typeof value === 'string' ? parseQuantity(value.slice(0, 64)) : undefined
      if (amount !== undefined) values.set(name, amount)
    }
  } catch {
    return undefined
  }
  return values
}

// Trigger N's metric (sN-...) is worker_queues[N]: scaled-object.ts writes the queues' triggers first, in order.
export function queueLengthsFromMetrics(values: Map<string, number>, queues: string[]): string | undefined {
  const parts: string[] = []
  for (const [name, amount] of values) {
    const index = /^s(\d+)-/.exec(name)?.[1]
    const queue = index !== undefined ? queues[Number(index)] : undefined
    if (queue !== undefined) parts.push(`${queue} ${Math.round(amount)}`)
  }
  return parts.length > 0 ? `${parts.join(', ')} tasks queued` : undefined
}

// Each trigger's metric back to its queue (trigger N is worker_queues[N], scaled-object.ts writes them so).
// The HPA divides a list's length by the replicas it sees; times those replicas it is the length again.
export function queueLengths(
  status: HpaStatus['status'] | undefined,
  queues: string[],
  replicas: number | undefined
): string | undefined {
  const parts: string[] = []
  for (const metric of status?.currentMetrics ?? []) {
    const index = /^s(\d+)-/.exec(metric.external?.metric?.name ?? '')?.[1]
    const queue = index !== undefined ? queues[Number(index)] : undefined
    const value = metric.external?.current?.value ?? metric.external?.current?.averageValue
    const amount = value !== undefined ? parseQuantity(value) : undefined
    if (queue === undefined || amount === undefined) continue
    const perReplica = metric.external?.current?.value === undefined
    const length = perReplica ? amount * Math.max(status?.currentReplicas ?? replicas ?? 1, 1) : amount
    parts.push(`${queue} ${Math.round(length)}`)
  }
  return parts.length > 0 ? `${parts.join(', ')} tasks queued` : undefined
}

function falseConditions(conditions: Condition[] | undefined): string[] {
  return (conditions ?? [])
    .filter(c => c.status === 'False' && (c.type === 'ScalingActive' || c.type === 'AbleToScale'))
    .map(c => `${c.type} False${c.reason ? ` (${c.reason})` : ''}`)
}
