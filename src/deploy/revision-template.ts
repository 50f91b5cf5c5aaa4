// The pod template of a Deployment's earlier revision, found the way `kubectl rollout undo` finds it: in the
// ReplicaSet the Deployment owns for that revision. Revision numbers move: a rollback to revision 3 makes that
// ReplicaSet revision 5 and records the 3 in its revision-history annotation, so a revision noted before (by this
// run, or in the journal of an interrupted one) is looked up in both.
//
// The undo itself is a JSON patch that sets the Deployment's pod template to that ReplicaSet's (without its
// pod-template-hash label, as `rollout undo` does): sent twice (a retry after a lost answer), it sets the same
// template twice, and the second changes nothing. `rollout undo --to-revision=3` sent twice fails the second
// time, since revision 3 has become 5.

import type { Deployment, ReplicaSet } from '../k8s/types.js'
import { isControlledBy, REVISION_ANNOTATION } from './rollout-state.js'

export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history'
const TEMPLATE_HASH_LABEL = 'pod-template-hash'

export function replicaSetOfRevision(
  deployment: Deployment,
  replicaSets: ReplicaSet[],
  revision: string
): ReplicaSet | undefined {
  const uid = deployment.metadata.uid
  return replicaSets.find(rs => {
    if (uid !== undefined && !isControlledBy(rs, uid)) return false
    const annotations = rs.metadata.annotations ?? {}
    if (annotations[REVISION_ANNOTATION] === revision) return true
    return (annotations[REVISION_HISTORY_ANNOTATION] ?? '').split(',').includes(revision)
  })
}

// The template to put back: the ReplicaSet's, its pod-template-hash label taken out (the controller adds it).
export function templateToRestore(replicaSet: ReplicaSet): unknown {
  const template = structuredClone(replicaSet.spec?.template ?? {}) as {
    metadata?: { labels?: Record<string, string> }
  }
  if (template.metadata?.labels) delete template.metadata.labels[TEMPLATE_HASH_LABEL]
  return template
}

export function restoreTemplatePatch(template: unknown): string {
  return JSON.stringify([{ op: 'replace', path: '/spec/template', value: template }])
}
