// The server-side dry run of everything, before the first write: admission (Autopilot's policies), validation and
// RBAC say no here rather than half-way through the apply.

import { serverSideApply } from '../kube/apply.js'
import { CancelledError, KubectlError, type Kubectl } from '../kube/kubectl.js'
import type { LiveObjectMeta } from '../kube/objects.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { Redact } from '../redact.js'
import { PreflightError } from './preflight.js'
import type { RetirePlan } from './retire-autoscalers.js'

// The server-side dry run of everything. While a CPU HPA that this deploy deletes still scales the worker,
// KEDA's admission webhook (consulted by a dry run too) refuses the ScaledObject that replaces it; so when
// switching, the ScaledObject is dry-run on its own, and a refusal naming that HPA is the switch itself.
// An API server that does not answer is waited for; one that stays away is reported as that, not as a refusal.
export async function dryRunAll(
  kubectl: Kubectl,
  objects: KubeObject[],
  before: Map<string, LiveObjectMeta>,
  retirePlan: RetirePlan,
  log: (line: string) => void,
  redact: Redact
): Promise<Awaited<ReturnType<typeof serverSideApply>>> {
  const retiringHpas = retirePlan.retiring.filter(r => r.kind === 'HorizontalPodAutoscaler').map(r => r.name)
  try {
    const scaledObjects = objects.filter(o => o.kind === 'ScaledObject')
    if (retiringHpas.length === 0 || scaledObjects.length === 0) {
      return await serverSideApply(kubectl, objects, before, { dryRun: true })
    }
    const rest = await serverSideApply(
      kubectl,
      objects.filter(o => o.kind !== 'ScaledObject'),
      before,
      { dryRun: true }
    )
    try {
      const own = await serverSideApply(kubectl, scaledObjects, before, { dryRun: true })
      return {
        ...rest,
        objects: [...rest.objects, ...own.objects],
        warnings: [...rest.warnings, ...own.warnings]
      }
    } catch (error) {
      const text = error instanceof KubectlError ? error.stderr : ''
      if (!retiringHpas.some(name => text.includes(name))) throw error
      log(
        `ScaledObject dry run refused while HorizontalPodAutoscaler ${retiringHpas.join(', ')} still scales the worker (KEDA's webhook); it is deleted before the apply`
      )
      return rest
    }
  } catch (error) {
    if (error instanceof CancelledError) throw error
    if (error instanceof KubectlError && error.transient) {
      throw new PreflightError(
        [
          {
            kind: 'api-unavailable',
            text: `the API server did not answer the server-side dry run: ${redact(error.message.split('\n').slice(-1)[0] ?? error.message)}`
          }
        ],
        'The cluster API was unavailable during the server-side dry run'
      )
    }
    const reason =
      error instanceof KubectlError ? redact(error.stderr.trim() || error.message) : (error as Error).message
    throw new PreflightError(
      [{ kind: 'rejected', text: reason }],
      'The cluster rejected the manifests in a server-side dry run'
    )
  }
}
