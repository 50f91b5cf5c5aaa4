// After a rollout: exactly one ready beat pod and no autoscaler aimed at beat. Two beats would fire every
// periodic task twice; this catches what the templates cannot (a stray HPA, a pod left from a manual scale).

import type { Kubectl } from '../kube/kubectl.js'
import type { KubeList } from '../kube/objects.js'
import type { Pod } from '../kube/types.js'
import { isPodReady } from './rollout-state.js'

interface Hpa {
  metadata: { name: string }
  spec?: { scaleTargetRef?: { kind?: string; name?: string } }
}

export async function checkBeatGuard(
  kubectl: Kubectl,
  options: { namespace: string; beatDeployment: string; beatPods: Pod[] }
): Promise<string[]> {
  const problems: string[] = []
  const ready = options.beatPods.filter(isPodReady)
  if (ready.length !== 1) {
    problems.push(
      `expected exactly one ready beat pod, found ${ready.length}${ready.length ? ` (${ready.map(p => p.metadata.name).join(', ')})` : ''}`
    )
  }
  const hpas = await kubectl.json<KubeList<Hpa>>([
    'get',
    'horizontalpodautoscalers.autoscaling',
    '-n',
    options.namespace
  ])
  for (const hpa of hpas.items) {
    const target = hpa.spec?.scaleTargetRef
    if (target?.kind === 'Deployment' && target.name === options.beatDeployment) {
      problems.push(
        `HorizontalPodAutoscaler ${hpa.metadata.name} targets ${options.beatDeployment}; beat must never be autoscaled`
      )
    }
  }
  return problems
}
