// Which Secret keys the pods read. Pods read a Secret's keys into their environment only when they start, so a
// changed value restarts them; a key no pod reads (the Redis address and password split out for KEDA, say)
// changes nothing for them and restarts nobody.

import type { LiveObjectMeta } from '../kube/objects.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { allContainersOf, podSpecOf } from '../render/workload.js'

// 'all': a pod loads the Secret whole (envFrom) or mounts it as a volume.
export function keysPodsRead(deployments: KubeObject[], secret: string): Set<string> | 'all' {
  const keys = new Set<string>()
  for (const deployment of deployments) {
    const podSpec = podSpecOf(deployment)
    if (!podSpec) continue
    const volumes = (podSpec.volumes ?? []) as Array<{ secret?: { secretName?: string } }>
    if (volumes.some(v => v.secret?.secretName === secret)) return 'all'
    for (const container of allContainersOf(podSpec)) {
      if ((container.envFrom ?? []).some(e => e.secretRef?.name === secret)) return 'all'
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef
        if (ref?.name === secret && ref.key) keys.add(ref.key)
      }
    }
  }
  return keys
}

export function podsRead(read: Set<string> | 'all', key: string): boolean {
  return read === 'all' || read.has(key)
}

// The keys whose value differs between two versions of a Secret (added and removed ones too).
export function changedKeys(before: LiveObjectMeta | undefined, after: LiveObjectMeta | undefined): string[] {
  const data = (secret: LiveObjectMeta | undefined) =>
    ((secret as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<string, string>
  const was = data(before)
  const is = data(after)
  return [...new Set([...Object.keys(was), ...Object.keys(is)])].filter(k => was[k] !== is[k]).sort()
}
