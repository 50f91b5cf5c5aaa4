// A deploy to a worker KEDA has scaled to zero starts no pod of the new image: its rollout completes at once,
// and a broken image would show only when the first task arrives, with nothing to roll back to. So the deploy
// holds the worker at one replica while it verifies it: KEDA's `paused-replicas` annotation on the ScaledObject
// (KEDA scales the target to that count and leaves it there), the one replica started at once, and the
// annotation taken away again afterwards (KEDA resumes; the worker's last activity is as old as before the hold,
// so KEDA scales it to zero again at its next poll if the queues are empty).

import type { Kubectl } from '../kube/kubectl.js'
import { serverSideApply } from '../kube/apply.js'
import type { LiveObjectMeta } from '../kube/objects.js'
import type { KubeObject } from '../k8s/kube-object.js'

export const PAUSED_REPLICAS_ANNOTATION = 'autoscaling.keda.sh/paused-replicas'

// Paused by someone (KEDA's paused or paused-replicas annotation): KEDA leaves the worker as it is.
export function isPaused(scaledObject: LiveObjectMeta | undefined): boolean {
  const annotations = scaledObject?.metadata.annotations ?? {}
  return (
    annotations['autoscaling.keda.sh/paused'] === 'true' ||
    annotations[PAUSED_REPLICAS_ANNOTATION] !== undefined
  )
}

export function isAtZero(worker: LiveObjectMeta | undefined): boolean {
  return (worker?.spec as { replicas?: number } | undefined)?.replicas === 0
}

// The objects to apply, the ScaledObjects paused at `replicas`.
export function withPausedReplicas(objects: KubeObject[], replicas: number): KubeObject[] {
  return objects.map(object =>
    object.kind === 'ScaledObject'
      ? {
          ...object,
          metadata: {
            ...object.metadata,
            annotations: {
              ...(object.metadata.annotations ?? {}),
              [PAUSED_REPLICAS_ANNOTATION]: String(replicas)
            }
          }
        }
      : object
  )
}

// One replica now, not at KEDA's next reconcile: the rollout watch that follows must see it.
export async function startHold(kubectl: Kubectl, namespace: string, worker: string): Promise<void> {
  // Exit 1 with "Expected replicas to be 0" is the precondition failing (KEDA was quicker): fine. Any other
  // failure is one.
  await kubectl.run(
    ['scale', `deployment/${worker}`, '-n', namespace, '--current-replicas=0', '--replicas=1'],
    { okExitCodes: [0, 1], accept: r => r.exitCode === 0 || /Expected replicas to be 0/.test(r.stderr) }
  )
}

// The ScaledObjects as rendered (no pause annotation): server-side apply drops the annotation this action set.
export async function releaseHold(
  kubectl: Kubectl,
  scaledObjects: KubeObject[],
  before: Map<string, LiveObjectMeta>
): Promise<void> {
  await serverSideApply(kubectl, scaledObjects, before, { dryRun: false, trusted: true })
}
