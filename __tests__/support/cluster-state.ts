// What the tests read back from the real cluster after a run: the image a Deployment's pod template runs, a
// Secret's value, its revision and ReplicaSets, and the deploy lock's Lease with its journal.

import type { ControlPlaneRig } from './rig.js'

export interface LeaseState {
  holder: string | undefined
  journal?: {
    phase: string
    run: { image: string }
    undo: { deployments: Array<{ name: string; revision?: string }> }
  }
}

export function clusterState(rig: ControlPlaneRig) {
  return {
    async image(namespace: string, deployment: string): Promise<string> {
      const live = await rig.kubectlJson<{
        spec: { template: { spec: { containers: Array<{ name: string; image: string }> } } }
      }>('get', 'deployment', deployment, '-n', namespace)
      return live.spec.template.spec.containers.find(c => c.name === 'app')!.image
    },
    async revision(namespace: string, deployment: string): Promise<number> {
      const live = await rig.kubectlJson<{ metadata: { annotations?: Record<string, string> } }>(
        'get',
        'deployment',
        deployment,
        '-n',
        namespace
      )
      return Number(live.metadata.annotations?.['deployment.kubernetes.io/revision'])
    },
    async replicaSets(namespace: string, deployment: string): Promise<number> {
      const list = await rig.kubectlJson<{ items: unknown[] }>(
        'get',
        'replicasets',
        '-n',
        namespace,
        '-l',
        `app=${deployment}`
      )
      return list.items.length
    },
    async secretValue(namespace: string, key: string, name = 'app-secrets'): Promise<string | undefined> {
      const result = await rig.kubectl('get', 'secret', name, '-n', namespace, '-o', 'json')
      if (result.code !== 0) return undefined
      const data = (JSON.parse(result.stdout) as { data?: Record<string, string> }).data ?? {}
      return data[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString()
    },
    async exists(namespace: string, kind: string, name: string): Promise<boolean> {
      return (await rig.kubectl('get', kind, name, '-n', namespace, '-o', 'name')).code === 0
    },
    async lease(namespace: string): Promise<LeaseState | undefined> {
      const result = await rig.kubectl('get', 'lease', 'deploy-gke-workers', '-n', namespace, '-o', 'json')
      if (result.code !== 0) return undefined
      const lease = JSON.parse(result.stdout) as {
        metadata: { annotations?: Record<string, string> }
        spec: { holderIdentity?: string }
      }
      const journal = lease.metadata.annotations?.['deploy-gke-workers/journal']
      return {
        holder: lease.spec.holderIdentity || undefined,
        ...(journal ? { journal: JSON.parse(journal) as LeaseState['journal'] } : {})
      }
    }
  }
}

// GitHub's cancel: SIGINT, SIGTERM 7.5 s later if the step still runs, and the kill 2.5 s after that. Resolves
// with how long the step took to end after the SIGINT.
export async function cancelLikeGitHub(run: {
  signal(s: NodeJS.Signals): void
  done: Promise<unknown>
}): Promise<number> {
  const started = Date.now()
  run.signal('SIGINT')
  const term = setTimeout(() => run.signal('SIGTERM'), 7500)
  const kill = setTimeout(() => run.signal('SIGKILL'), 10_000)
  await run.done
  clearTimeout(term)
  clearTimeout(kill)
  return Date.now() - started
}
