// Undo what a failed run changed: each Deployment whose pod template this run moved goes back to the revision
// it had before.

import type { Kubectl } from '../kube/kubectl.js'

export interface RollbackTarget {
  deployment: string
  // The revision before this run; undefined when this run created the Deployment.
  revisionBefore?: string
}

export interface RollbackStep {
  deployment: string
  toRevision?: string
  done: boolean
  message: string
}

export async function rollBack(
  kubectl: Kubectl,
  namespace: string,
  targets: RollbackTarget[]
): Promise<RollbackStep[]> {
  const steps: RollbackStep[] = []
  for (const target of targets) {
    if (target.revisionBefore === undefined) {
      steps.push({
        deployment: target.deployment,
        done: false,
        message: 'first deploy of this Deployment: there is no previous revision to roll back to'
      })
      continue
    }
    try {
      await kubectl.run([
        'rollout',
        'undo',
        `deployment/${target.deployment}`,
        '-n',
        namespace,
        `--to-revision=${target.revisionBefore}`
      ])
      steps.push({
        deployment: target.deployment,
        toRevision: target.revisionBefore,
        done: true,
        message: `rolled back to the template of revision ${target.revisionBefore}`
      })
    } catch (error) {
      steps.push({
        deployment: target.deployment,
        toRevision: target.revisionBefore,
        done: false,
        message: `rollout undo failed: ${(error as Error).message}`
      })
    }
  }
  return steps
}
