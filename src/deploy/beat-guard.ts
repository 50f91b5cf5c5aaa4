// After a rollout: exactly one ready beat pod and no autoscaler aimed at beat. Two beats would fire every
// periodic task twice; this catches what the templates cannot (a stray HPA, a pod left from a manual scale).

import type { Kubectl } from '../kube/kubectl.js'
import type { KubeList } from '../kube/objects.js'
import type { HorizontalPodAutoscaler, Pod } from '../k8s/types.js'
import { isPodReady } from './rollout-state.js'

export async function checkBeatGuard(
  kubectl: Kubectl,
  // autoscalers: the namespace's HPAs as the rollout's first look listed them (read here when not given).
  options: {
    namespace: string
    beatDeployment: string
    beatPods: Pod[]
    autoscalers?: HorizontalPodAutoscaler[]
  }
): Promise<string[]> {
  const problems: string[] = []
  const ready = options.beatPods.filter(isPodReady)
  if (ready.length !== 1) {
    problems.push(
      `expected exactly one ready beat pod, found ${ready.length}${ready.length ? ` (${ready.map(p => p.metadata.name).join(', ')})` : ''}`
    )
  }
  const hpas =
    options.autoscalers ??
    (
      await kubectl.json<KubeList<HorizontalPodAutoscaler>>([
        'get',
        'horizontalpodautoscalers.autoscaling',
        '-n',
        options.namespace
      ])
    ).items
  for (const hpa of hpas) {
    const target = hpa.spec?.scaleTargetRef
    if (target?.kind === 'Deployment' && target.name === options.beatDeployment) {
      problems.push(
        `HorizontalPodAutoscaler ${hpa.metadata.name} targets ${options.beatDeployment}; beat must never be autoscaled`
      )
    }
  }
  return problems
}
