// Sets the action's inputs into a KEDA ScaledObject and its TriggerAuthentication (autoscaling: keda), field
// by field. A Celery queue on a Redis broker is a Redis list of the queue's name, so each queue in
// worker_queues becomes one `redis` trigger; KEDA scales on the largest replica count any trigger asks for.

import type { DeployConfig } from '../inputs.js'
import { isRecord, type KubeObject } from '../k8s/kube-object.js'
import { REDIS_KEYS } from './redis-connection.js'
import { PLACEHOLDER_ONLY } from './checks.js'

interface Trigger {
  type?: unknown
  metadata?: Record<string, unknown>
  [field: string]: unknown
}

// Problems are phrased to follow the object's description; the object is changed in place.
export function renderScaledObject(
  object: KubeObject,
  config: DeployConfig,
  state: { workerName: string | undefined; beatName: string }
): string[] {
  const spec = isRecord(object.spec) ? object.spec : undefined
  if (!spec) return ['has no spec']
  const target = isRecord(spec.scaleTargetRef) ? spec.scaleTargetRef : undefined
  if (!target) return ['has no spec.scaleTargetRef']
  if (target.name === state.beatName || object.metadata.labels?.['app.kubernetes.io/component'] === 'beat')
    return ['targets the beat Deployment; beat must never be autoscaled (two beats fire every task twice)']
  if (target.kind !== undefined && target.kind !== 'Deployment')
    return [`scales a ${String(target.kind)}; the worker is a Deployment`]
  if (state.workerName) target.name = state.workerName

  spec.minReplicaCount = config.workerMinReplicas
  spec.maxReplicaCount = config.workerMaxReplicas
  spec.pollingInterval = config.keda.pollingIntervalSeconds
  spec.cooldownPeriod = config.keda.cooldownSeconds

  const triggers: Trigger[] = Array.isArray(spec.triggers)
    ? (spec.triggers.filter(isRecord) as Trigger[])
    : []
  const prototype = triggers.find(t => t.type === 'redis')
  if (!prototype) {
    return ['has no trigger of type redis to write the queues into (one redis trigger per queue)']
  }
  const queueTriggers = config.workerQueues.map(queue => {
    const trigger = structuredClone(prototype)
    const metadata: Record<string, unknown> = { ...(trigger.metadata ?? {}) }
    // KEDA's trigger metadata is a map of strings (its CRD says so): numbers go in as text.
    metadata.listName = queue
    metadata.listLength = String(config.keda.queueLengthTarget)
    metadata.activationListLength = String(config.keda.activationQueueLength)
    const redis = config.redis
    if (redis) {
      metadata.databaseIndex = String(redis.database)
      if (redis.tls) metadata.enableTLS = 'true'
      else delete metadata.enableTLS
      if (redis.skipVerify) metadata.unsafeSsl = 'true'
      else delete metadata.unsafeSsl
    }
    trigger.metadata = metadata
    return trigger
  })
  // The queues first, in worker_queues order: KEDA names trigger N's metric sN-..., which the report reads back.
  spec.triggers = [...queueTriggers, ...triggers.filter(t => t.type !== 'redis')]
  return []
}

// secretTargetRef entries name the Secret the action writes; with REDIS_URL split for KEDA, the entries for
// its parts are the ones that Secret holds (no password entry for a Redis without AUTH: KEDA has no optional
// reference, and a missing key fails its scaler).
export function renderTriggerAuthentication(
  object: KubeObject,
  config: DeployConfig,
  secretData: Map<string, string> | undefined
): void {
  const spec = isRecord(object.spec) ? object.spec : (object.spec = {})
  const entries = (Array.isArray(spec.secretTargetRef) ? spec.secretTargetRef : []).filter(isRecord)
  for (const entry of entries) {
    if (typeof entry.name === 'string' && PLACEHOLDER_ONLY.test(entry.name)) entry.name = config.secretName
  }
  if (!config.redis || !secretData) {
    spec.secretTargetRef = entries
    return
  }
  const derived: Array<[parameter: string, key: string]> = [
    ['address', REDIS_KEYS.address],
    ['username', REDIS_KEYS.username],
    ['password', REDIS_KEYS.password],
    ['ca', REDIS_KEYS.ca]
  ]
  const ours = new Set<unknown>(derived.map(([, key]) => key))
  spec.secretTargetRef = [
    ...derived
      .filter(([, key]) => secretData.has(key))
      .map(([parameter, key]) => ({ parameter, name: config.secretName, key })),
    ...entries.filter(e => !ours.has(e.key))
  ]
}
