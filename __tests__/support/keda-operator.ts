// End-to-end runs with the real KEDA: the real control plane (startControlPlaneE2E), KEDA's operator and
// metrics adapter beside it (../rig/keda), and two real Redis servers for the queues, one plain and one TLS only
// with a CA of its own. The action's inputs point REDIS_URL at them; KEDA polls every second, so what it does
// shows within a second or two, and the tests wait on what the cluster shows, never on time alone.

import assert from 'node:assert/strict'
import { startControlPlaneE2E, type E2E } from './e2e.js'
import type { ControlPlaneRig, ControlPlaneRigOptions } from './rig.js'
import { startKeda, type KedaRig } from '../rig/keda/index.js'
import { startRedis, type RigRedis } from '../rig/redis.js'

export const REDIS_PASSWORD = 'redis-rig-pass-9f3e'

export interface KedaE2E {
  e2e: E2E
  rig: ControlPlaneRig
  keda: KedaRig
  redis: RigRedis
  tlsRedis: RigRedis
  stop(): Promise<void>
}

export async function startKedaE2E(options: ControlPlaneRigOptions = {}): Promise<KedaE2E> {
  const e2e = await startControlPlaneE2E(options)
  const started: Array<{ stop(): Promise<void> }> = []
  try {
    const keda = await startKeda(e2e.rig.controlPlane)
    started.push(keda)
    const [redis, tlsRedis] = await Promise.all([
      startRedis({ password: REDIS_PASSWORD }),
      startRedis({ password: REDIS_PASSWORD, tls: true })
    ])
    started.push(redis, tlsRedis)
    return {
      e2e,
      rig: e2e.rig,
      keda,
      redis,
      tlsRedis,
      async stop() {
        for (const s of started.reverse()) await s.stop().catch(() => undefined)
        await e2e.stop()
      }
    }
  } catch (error) {
    for (const s of started.reverse()) await s.stop().catch(() => undefined)
    await e2e.stop()
    throw error
  }
}

// The inputs of a worker under KEDA reading `redis`: one queue, scale to zero, KEDA polling every second.
export function kedaInputs(
  redis: RigRedis,
  extra: Record<string, string> = {},
  options: { password?: string } = {}
): Record<string, string> {
  return {
    autoscaling: 'keda',
    worker_queues: 'celery',
    worker_min_replicas: '0',
    worker_max_replicas: '5',
    keda_polling_interval: '1s',
    keda_cooldown_period: '0s',
    secret_data: `SECRET_KEY=django-insecure-example-key\nREDIS_URL=${redis.url(options.password)}`,
    ...extra
  }
}

// Polls what the cluster shows until `ok` holds (a read every 100 ms; each read is a kubectl call), or fails
// with the last value seen. The bound only turns a hang into a failure.
export async function waitFor<T>(
  what: string,
  read: () => Promise<T>,
  ok: (value: T) => boolean,
  timeoutMs = 30_000
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  for (;;) {
    last = await read()
    if (ok(last)) return last
    if (Date.now() > deadline)
      assert.fail(`${what}: not within ${timeoutMs} ms; last seen ${JSON.stringify(last)}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

export interface LiveScaledObject {
  metadata: { annotations?: Record<string, string>; labels?: Record<string, string> }
  status?: {
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>
    pausedReplicaCount?: number
    lastActiveTime?: string
    hpaName?: string
  }
}

export async function workerReplicas(rig: ControlPlaneRig, ns: string): Promise<number | undefined> {
  const found = await rig.kubectl(
    'get',
    'deployment',
    'celery-worker',
    '-n',
    ns,
    '-o',
    'jsonpath={.spec.replicas}'
  )
  return found.code === 0 && found.stdout !== '' ? Number(found.stdout) : undefined
}

export async function scaledObject(rig: ControlPlaneRig, ns: string): Promise<LiveScaledObject> {
  return rig.kubectlJson<LiveScaledObject>('get', 'scaledobjects.keda.sh', 'celery-worker', '-n', ns)
}

export function condition(
  object: LiveScaledObject,
  type: string
): { status: string; reason?: string; message?: string } | undefined {
  return object.status?.conditions?.find(c => c.type === type)
}
