// Pins the rendered workloads to the resolved digest: every container (init containers too) whose image is the
// deployed `image` gets REGISTRY/PATH:TAG@sha256:DIGEST, so every pod of the rollout runs the same bytes
// whatever happens to the tag, and a rollback to the previous revision restores the previous bytes. Structural:
// the objects' fields are set, never text; the input objects are left as they are (a copy is returned).

import { isRecord, type KubeObject } from '../k8s/kube-object.js'

export interface PinnedContainer {
  // Kind/name of the workload, e.g. Deployment/celery-worker.
  object: string
  container: string
  from: string
  to: string
}

// Where each workload kind keeps its pod spec.
function podSpecsOf(object: KubeObject): Array<Record<string, unknown>> {
  const spec = object.spec
  if (!isRecord(spec)) return []
  const templates: unknown[] =
    object.kind === 'CronJob'
      ? [
          isRecord(spec.jobTemplate) && isRecord(spec.jobTemplate.spec)
            ? spec.jobTemplate.spec.template
            : undefined
        ]
      : [spec.template]
  return templates.flatMap(template =>
    isRecord(template) && isRecord(template.spec) ? [template.spec as Record<string, unknown>] : []
  )
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'])

export function pinImage(
  objects: readonly KubeObject[],
  image: string,
  pinned: string
): { objects: KubeObject[]; pinned: PinnedContainer[] } {
  const changes: PinnedContainer[] = []
  const out = objects.map(original => {
    if (!WORKLOAD_KINDS.has(original.kind) || image === pinned) return original
    const object = structuredClone(original)
    for (const podSpec of podSpecsOf(object)) {
      for (const list of [podSpec.initContainers, podSpec.containers]) {
        if (!Array.isArray(list)) continue
        for (const container of list) {
          if (!isRecord(container) || container.image !== image) continue
          container.image = pinned
          changes.push({
            object: `${object.kind}/${object.metadata.name}`,
            container: String(container.name),
            from: image,
            to: pinned
          })
        }
      }
    }
    return object
  })
  return { objects: out, pinned: changes }
}
