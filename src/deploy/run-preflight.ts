// The pre-flight, before any write: everything the deploy touches read as it is (one read: a forbidden read is
// one more problem), the autoscalers of another `autoscaling` choice, every verb the deploy needs, the live
// Secret's keys when the action does not write it, and the image in its registry (asked beside all this). All
// problems together, as one PreflightError.

import { CancelledError, cancellationReason, KubectlError, type Kubectl } from '../kube/kubectl.js'
import { getLiveObjects, identityKey, type LiveObjectMeta } from '../kube/objects.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { redactSecrets, toKubectlInput } from '../k8s/serialize.js'
import type { DeployContext } from './deploy.js'
import { gatePermissions } from './gate.js'
import {
  describeResolution,
  imageCheckWarning,
  imagePreflightProblem,
  type ImageCheck
} from './image-preflight.js'
import { isAtZero } from './keda-hold.js'
import {
  checkLiveSecrets,
  checkPermissions,
  permissionsFor,
  PreflightError,
  resourceOf,
  type PreflightProblem
} from './preflight.js'
import { findRetiring, type RetirePlan } from './retire-autoscalers.js'

export interface PreflightRead {
  // The live objects before any write.
  live: Map<string, LiveObjectMeta>
  retirePlan: RetirePlan
  // The image as its registry answered, when it was asked.
  image?: ImageCheck
}

export async function runPreflight(
  context: DeployContext,
  // Cancelled with the run.
  kubectl: Kubectl,
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>,
  imageCheck: Promise<ImageCheck> | undefined
): Promise<PreflightRead> {
  const { config, rendered, log } = context
  const namespace = config.namespace
  const objects = rendered.objects.map(o => o.object)
  let image: ImageCheck | undefined
  // Everything as it is now, in one read (before any write: a forbidden read is one more pre-flight problem);
  // read again after the lock only if another deploy held it.
  let readProblem: PreflightProblem | undefined
  const live = await getLiveObjects(kubectl, identityInput(objects)).catch((error: unknown) => {
    if (!(error instanceof KubectlError) || !/forbidden/i.test(error.stderr)) throw error
    readProblem = {
      kind: 'unreadable',
      text: `the deploy credentials may not read the objects it deploys: ${context.redact(error.stderr.trim())}`
    }
    return new Map<string, LiveObjectMeta>()
  })
  // The autoscalers of another `autoscaling` choice. After that read: its discovery (cached for the run)
  // tells whether the cluster serves KEDA's kinds at all, with no call of its own.
  const retirePlan = await findRetiring(kubectl, rendered, config)
  const workerName = rendered.objects.find(r => r.role === 'worker')?.object.metadata.name
  await group('Pre-flight checks', async () => {
    const retiring = retirePlan.retiring
    const problems = [
      ...retirePlan.conflicts.map(text => ({ kind: 'autoscaler-conflict' as const, text })),
      ...(await checkPermissions(kubectl, [
        ...retiring.flatMap(r =>
          ['delete', 'watch'].map(verb => ({ verb, resource: resourceOf(r.kind)!, namespace }))
        ),
        // kubectl scale: a worker KEDA left at zero gets replicas back (switching away), or is held at one.
        ...(retiring.some(r => r.kind === 'ScaledObject') ||
        (config.autoscaling === 'keda' &&
          workerName !== undefined &&
          isAtZero(live.get(identityKey({ kind: 'Deployment', name: workerName, namespace }))))
          ? [
              { verb: 'get', resource: 'deployments.apps/scale', namespace },
              { verb: 'update', resource: 'deployments.apps/scale', namespace }
            ]
          : []),
        // The pre-deploy gate's Job (pre_deploy_command).
        ...(config.preDeploy ? gatePermissions(namespace) : []),
        ...permissionsFor(objects, namespace, {
          smokeChecks: config.smokeChecks.length > 0 || config.taskSafety !== 'off',
          writesSecret: config.secretData !== undefined,
          resourceOfKind: context.resourceOfKind,
          exists: object =>
            live.has(
              identityKey({
                kind: object.kind,
                name: object.metadata.name,
                namespace: object.metadata.namespace
              })
            )
        })
      ])),
      ...(await checkLiveSecrets(
        kubectl,
        namespace,
        rendered.liveSecretKeys,
        rendered.liveSecrets,
        context.learnSecrets
      ))
    ]
    if (readProblem) problems.unshift(readProblem)
    image = await imageCheck
    // A check cut short by a cancellation is no finding about the image.
    if (context.signal?.aborted) throw new CancelledError(cancellationReason(context.signal))
    if (image) {
      log(`Image: ${describeResolution(image)}`)
      const imageProblem = imagePreflightProblem(image.resolution)
      if (imageProblem) problems.push(imageProblem)
      const warning = imageCheckWarning(image.resolution)
      if (warning) context.warn(context.redact(`deploy-gke-workers: ${warning}`))
    }
    if (problems.length > 0) throw new PreflightError(problems)
    log('Permissions and Secret keys are in place.')
  })
  return { live, retirePlan, image }
}

// The objects' identities for `kubectl get -f -`: their Secret values left out.
export function identityInput(objects: KubeObject[]): string {
  return toKubectlInput(objects.map(redactSecrets))
}
