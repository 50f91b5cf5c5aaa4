// Dry run against the cluster: what server-side apply would do to each object, kubectl diff's view of the
// non-Secret objects, and which Secret keys would change (names only). Nothing is persisted (dryRun=All).

import type { Kubectl } from '../kube/kubectl.js'
import { serverSideApply, FIELD_MANAGER, type AppliedObject } from '../kube/apply.js'
import { getLiveObjects, identityKey, namespaceExists, type LiveObjectMeta } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { RenderedManifests } from '../render/render-manifests.js'
import { redactSecrets, toKubectlInput } from '../render/serialize.js'
import { checkLiveSecrets } from './preflight.js'
import { keepLiveTraceAnnotations } from './trace-annotations.js'

export interface SecretKeyChange {
  secret: string
  key: string
  change: 'added' | 'changed' | 'removed'
}

export interface ClusterPlan {
  namespaceExists: boolean
  actions: AppliedObject[]
  // Unified diff of live vs. would-be objects, Secrets left out; empty when nothing would change.
  diff: string
  secretChanges: SecretKeyChange[]
  warnings: string[]
  problems: string[]
  notes: string[]
}

export async function planAgainstCluster(
  kubectl: Kubectl,
  rendered: RenderedManifests,
  namespace: string,
  redact: Redact,
  learnSecrets: (values: string[]) => void
): Promise<ClusterPlan> {
  const objects = rendered.objects.map(o => o.object)
  const notes: string[] = []
  const exists = await namespaceExists(kubectl, namespace)
  const problems = exists
    ? await checkLiveSecrets(kubectl, namespace, rendered.liveSecretKeys, rendered.liveSecrets, learnSecrets)
    : []
  if (!exists) {
    // A dry-run create inside a namespace that exists only in the same dry run fails on a real server, so the
    // objects in it can only be listed, not diffed.
    notes.push(`Namespace ${namespace} does not exist yet: every object would be created`)
    if (rendered.liveSecretKeys.length + rendered.liveSecrets.length > 0) {
      problems.push(
        `the Secret the Deployments need does not exist (namespace ${namespace} is new); give secret_data`
      )
    }
    return {
      namespaceExists: false,
      actions: objects.map(o => ({
        kind: o.kind,
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        action: 'created' as const,
        podTemplateChanged: true,
        applied: redactSecrets(o) as unknown as LiveObjectMeta
      })),
      diff: '',
      secretChanges: [],
      warnings: [],
      problems,
      notes
    }
  }
  const before = await getLiveObjects(kubectl, toKubectlInput(objects.map(redactSecrets)))
  const dryRun = await serverSideApply(kubectl, objects, before, { dryRun: true })
  const secretChanges = dryRun.objects
    .filter(a => a.kind === 'Secret')
    .flatMap(a => secretKeyChanges(a, before))
  const rolls = new Set(
    dryRun.objects.filter(a => a.kind === 'Deployment' && a.podTemplateChanged).map(a => a.name)
  )
  // As a deploy would: Deployments that do not roll keep their live trace annotations (no diff noise).
  const comparable = keepLiveTraceAnnotations(
    objects,
    before,
    name => rolls.has(name) || secretChanges.length > 0
  )
  // Secrets stay out of kubectl diff: it masks `data`, but not an old client-side-apply annotation that
  // can hold every old value in plain text.
  const diffed = comparable.filter(o => o.kind !== 'Secret')
  const diff = await kubectl.run(
    ['diff', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
    {
      stdin: toKubectlInput(diffed),
      okExitCodes: [0, 1]
    }
  )
  // What each object would see from the apply a deploy would really send (trace annotations kept).
  const actions = comparable.some((o, i) => o !== objects[i])
    ? (await serverSideApply(kubectl, comparable, before, { dryRun: true })).objects
    : dryRun.objects
  return {
    namespaceExists: true,
    actions,
    diff: redact(diff.stdout),
    secretChanges,
    warnings: dryRun.warnings,
    problems,
    notes
  }
}

function secretKeyChanges(applied: AppliedObject, before: Map<string, LiveObjectMeta>): SecretKeyChange[] {
  const live = before.get(identityKey({ kind: 'Secret', name: applied.name, namespace: applied.namespace }))
  const oldData = ((live as { data?: Record<string, string> } | undefined)?.data ?? {}) as Record<
    string,
    string
  >
  const newData = ((applied.applied as { data?: Record<string, string> }).data ?? {}) as Record<
    string,
    string
  >
  const changes: SecretKeyChange[] = []
  for (const key of Object.keys(newData).sort()) {
    if (!(key in oldData)) changes.push({ secret: applied.name, key, change: 'added' })
    else if (oldData[key] !== newData[key]) changes.push({ secret: applied.name, key, change: 'changed' })
  }
  for (const key of Object.keys(oldData).sort()) {
    if (!(key in newData)) changes.push({ secret: applied.name, key, change: 'removed' })
  }
  return changes
}
