// Dry run against the cluster: what server-side apply would do to each object, and `kubectl diff`'s view of
// it. Nothing is persisted (dryRun=All on every call).

import type { Kubectl } from '../kube/kubectl.js'
import { objectsToYaml, serverSideApply, FIELD_MANAGER, type AppliedObject } from '../kube/apply.js'
import { getLiveObjects, namespaceExists } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { RenderedManifests } from '../render/render-manifests.js'
import { redactSecrets } from '../render/serialize.js'
import { checkLiveSecrets } from './preflight.js'

export interface ClusterPlan {
  namespaceExists: boolean
  actions: AppliedObject[]
  // Unified diff of live vs. would-be objects (redacted); empty when nothing would change.
  diff: string
  problems: string[]
  notes: string[]
}

export async function planAgainstCluster(
  kubectl: Kubectl,
  rendered: RenderedManifests,
  namespace: string,
  redact: Redact
): Promise<ClusterPlan> {
  const objects = rendered.objects.map(o => o.object)
  const notes: string[] = []
  const exists = await namespaceExists(kubectl, namespace)
  const problems = exists
    ? await checkLiveSecrets(kubectl, namespace, rendered.liveSecretKeys, rendered.liveSecrets)
    : []
  if (!exists) {
    // A dry-run create inside a namespace that exists only in the same dry run fails on a real server, so the
    // objects in it can only be listed, not diffed.
    notes.push(`Namespace ${namespace} does not exist yet: every object would be created`)
    const namespaced = rendered.liveSecretKeys.length + rendered.liveSecrets.length
    if (namespaced > 0)
      problems.push(
        `the Secret the Deployments need does not exist (namespace ${namespace} is new); give secret_data`
      )
    return {
      namespaceExists: false,
      actions: objects.map(o => ({
        kind: o.kind,
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        action: 'created' as const,
        specChanged: true,
        applied: o as never
      })),
      diff: '',
      problems,
      notes
    }
  }
  const before = await getLiveObjects(kubectl, objectsToYaml(objects.map(redactSecrets)))
  const actions = await serverSideApply(kubectl, objects, before, { dryRun: true })
  // kubectl diff exits 1 when there are differences; it prints Secret data masked, and redact() covers the rest.
  const diff = await kubectl.run(
    ['diff', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
    { stdin: objectsToYaml(objects), okExitCodes: [0, 1] }
  )
  return { namespaceExists: true, actions, diff: redact(diff.stdout), problems, notes }
}
