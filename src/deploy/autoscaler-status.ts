// What scales the worker after the deploy, for the summary: kind, bounds, target, and what the cluster
// reports now. For the CPU HPA that is the apply's own answer (it carries the status). For KEDA the queue
// lengths are not in the ScaledObject's status: KEDA's HPA (keda-hpa-<name>) holds them, one external metric
// per trigger, named sN-redis-<list> for trigger N, as an average per replica (KEDA v2.20.2's naming; read
// from its source, not measured against a running KEDA here).

import type { AppliedObject } from '../kube/apply.js'
import type { Kubectl } from '../kube/kubectl.js'
import { getOptionalObject } from '../kube/objects.js'
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
  // KEDA's Ready/Active conditions, or the HPA's ScalingActive one when it is false.
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
  const hpa = await getOptionalObject<HpaStatus & { kind: string; metadata: { name: string } }>(
    kubectl,
    'horizontalpodautoscalers.autoscaling',
    kedaHpaName(scaledObject.name),
    config.namespace
  )
  report.current = queueLengths(hpa?.status, config.workerQueues, replicas)
  // Not the ScaledObject's own conditions: the apply's answer carries them from before this change, which
  // KEDA has not looked at yet. Its HPA says whether it can read the metrics.
  report.conditions = falseConditions(hpa?.status?.conditions)
  return report
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
