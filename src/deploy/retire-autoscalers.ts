// Exactly one autoscaler on the worker: when `autoscaling` changes, the objects of the previous choice that an
// earlier deploy left (the CPU HPA, or the ScaledObject and its TriggerAuthentication) are deleted before the
// new one is applied. Before, not after: KEDA's admission webhook refuses a ScaledObject for a Deployment that
// an HPA already scales, and an HPA applied beside KEDA's own HPA would fight it until the ScaledObject went.
//
// Which of them exist: the HPA is read with the other objects (every cluster serves HPAs). KEDA's kinds are
// asked about only when the worker Deployment says its last deploy used KEDA (AUTOSCALING_ANNOTATION): a
// cluster without KEDA does not serve them, and asking would fail every CPU deploy there.

import type { Kubectl } from '../kube/kubectl.js'
import { identityKey, type LiveObjectMeta } from '../kube/objects.js'
import {
  AUTOSCALING_ANNOTATION,
  type RenderedManifests,
  type RetiredObject
} from '../render/render-manifests.js'

const RESOURCE_OF: Record<string, string> = {
  HorizontalPodAutoscaler: 'horizontalpodautoscalers.autoscaling',
  ScaledObject: 'scaledobjects.keda.sh',
  TriggerAuthentication: 'triggerauthentications.keda.sh'
}

// A ScaledObject's deletion waits for KEDA's finalizer and (foreground) for the HPA KEDA made for it.
const DELETE_TIMEOUT = '90s'

export interface RetireStep {
  kind: string
  name: string
  reason: string
  done: boolean
  message: string
}

export function resourceOfRetired(kind: string): string | undefined {
  return RESOURCE_OF[kind]
}

// The retired objects that can be read with the rendered ones in one `kubectl get -f -` (served everywhere).
export function alwaysReadable(rendered: RenderedManifests): RetiredObject[] {
  return rendered.retired.filter(r => r.kind === 'HorizontalPodAutoscaler')
}

// The retired objects to delete: those found live, and KEDA's when the last deploy used KEDA.
export function retiredPresent(
  rendered: RenderedManifests,
  live: Map<string, LiveObjectMeta>
): RetiredObject[] {
  const worker = rendered.objects.find(o => o.role === 'worker')?.object
  const liveWorker = worker
    ? live.get(
        identityKey({ kind: 'Deployment', name: worker.metadata.name, namespace: worker.metadata.namespace })
      )
    : undefined
  const lastUsedKeda = liveWorker?.metadata.annotations?.[AUTOSCALING_ANNOTATION] === 'keda'
  return rendered.retired.filter(r =>
    r.kind === 'HorizontalPodAutoscaler'
      ? live.has(identityKey(r))
      : lastUsedKeda && RESOURCE_OF[r.kind] !== undefined
  )
}

// Deletes them in order (the ScaledObject before its TriggerAuthentication), each its own step. A worker KEDA
// had scaled to zero is given worker_min_replicas back: an HPA does nothing for a Deployment at zero replicas.
export async function retireAutoscalers(
  kubectl: Kubectl,
  retired: RetiredObject[],
  options: { namespace: string; worker?: LiveObjectMeta; replicasAfterKeda: number }
): Promise<RetireStep[]> {
  const steps: RetireStep[] = []
  const ordered = [...retired].sort((a, b) => rank(a.kind) - rank(b.kind))
  for (const object of ordered) {
    const resource = RESOURCE_OF[object.kind]
    if (!resource) continue
    await kubectl.run([
      'delete',
      `${resource}/${object.name}`,
      '-n',
      options.namespace,
      '--ignore-not-found',
      '--cascade=foreground',
      '--wait',
      `--timeout=${DELETE_TIMEOUT}`
    ])
    steps.push({
      kind: object.kind,
      name: object.name,
      reason: object.reason,
      done: true,
      message: `deleted (${object.reason})`
    })
  }
  const workerReplicas = (options.worker?.spec as { replicas?: number } | undefined)?.replicas
  const leftKeda = ordered.some(o => o.kind === 'ScaledObject')
  if (leftKeda && options.worker && workerReplicas === 0) {
    const replicas = Math.max(1, options.replicasAfterKeda)
    // --current-replicas: only if it is still at zero (nothing else scaled it since it was read).
    const result = await kubectl.run(
      [
        'scale',
        `deployment/${options.worker.metadata.name}`,
        '-n',
        options.namespace,
        '--current-replicas=0',
        `--replicas=${replicas}`
      ],
      { okExitCodes: [0, 1] }
    )
    steps.push({
      kind: 'Deployment',
      name: options.worker.metadata.name,
      reason: 'KEDA had scaled it to zero',
      done: result.exitCode === 0,
      message:
        result.exitCode === 0
          ? `scaled from 0 to ${replicas} replicas (KEDA had scaled it to zero; an HPA cannot start from zero)`
          : `left as it is: ${result.stderr.trim()}`
    })
  }
  return steps
}

function rank(kind: string): number {
  return ['ScaledObject', 'HorizontalPodAutoscaler', 'TriggerAuthentication'].indexOf(kind)
}
