// A deploy that rolls nothing keeps the Deployments' live trace annotations (commit, run URL, actor, change
// cause). They name the run that put the running pods there; overwriting them on every run would make every
// run a change, and `kubectl rollout history` would credit a revision to a run that did not make it.

import type { LiveObjectMeta } from '../kube/objects.js'
import { identityKey } from '../kube/objects.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { TRACE_ANNOTATIONS } from '../render/render-manifests.js'

export function keepLiveTraceAnnotations(
  objects: KubeObject[],
  live: Map<string, LiveObjectMeta>,
  rolls: (deployment: string) => boolean
): KubeObject[] {
  return objects.map(object => {
    if (object.kind !== 'Deployment' || rolls(object.metadata.name)) return object
    const current = live.get(
      identityKey({ kind: 'Deployment', name: object.metadata.name, namespace: object.metadata.namespace })
    )
    if (!current) return object
    const annotations = { ...(object.metadata.annotations ?? {}) }
    const liveAnnotations = current.metadata.annotations ?? {}
    for (const key of TRACE_ANNOTATIONS) {
      if (liveAnnotations[key] !== undefined) annotations[key] = liveAnnotations[key]
      else delete annotations[key]
    }
    return { ...object, metadata: { ...object.metadata, annotations } }
  })
}
