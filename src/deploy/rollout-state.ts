import type { Condition, Deployment, Pod, ReplicaSet } from '../k8s/types.js'

export type RolloutPhase = 'progressing' | 'complete' | 'failed'

export interface RolloutState {
  phase: RolloutPhase
  message: string
  /** Why it failed, e.g. ProgressDeadlineExceeded. */
  reason?: string
  updated: number
  ready: number
  available: number
  desired: number
  /** The Deployment's deployment.kubernetes.io/revision annotation. */
  revision?: string
  /**
   * ReplicaFailure condition (e.g. FailedCreate: a quota or an admission webhook such as Autopilot's policy
   * rejected the pods). kubectl keeps waiting on it until the progress deadline, so it stays 'progressing'
   * here; the caller decides whether to fail fast.
   */
  replicaFailure?: { reason: string; message: string }
}

export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision'
const PROGRESS_DEADLINE_EXCEEDED = 'ProgressDeadlineExceeded'

function findCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find(c => c.type === type)
}

/**
 * Where a Deployment's rollout stands, decided the way `kubectl rollout status` decides it
 * (DeploymentStatusViewer), so the action and a user running kubectl by hand agree.
 */
export function assessDeployment(deploy: Deployment): RolloutState {
  const name = deploy.metadata.name
  const status = deploy.status ?? {}
  // The API defaults spec.replicas to 1 and omits zero counts from status.
  const desired = deploy.spec.replicas ?? 1
  const updated = status.updatedReplicas ?? 0
  const ready = status.readyReplicas ?? 0
  const available = status.availableReplicas ?? 0
  const total = status.replicas ?? 0
  const revision = deploy.metadata.annotations?.[REVISION_ANNOTATION]
  const counts = { updated, ready, available, desired, revision }
  const waiting = (detail: string): RolloutState => ({
    phase: 'progressing',
    message: `Waiting for deployment "${name}" rollout to finish: ${detail}...`,
    ...counts,
    ...replicaFailureOf(deploy)
  })

  // Until the controller has seen the latest spec, status (and any deadline condition) describes the old one.
  if ((deploy.metadata.generation ?? 0) > (status.observedGeneration ?? 0)) {
    return {
      phase: 'progressing',
      message: `Waiting for deployment "${name}" spec update to be observed...`,
      ...counts
    }
  }
  const progressing = findCondition(status.conditions, 'Progressing')
  if (progressing?.status === 'False' && progressing.reason === PROGRESS_DEADLINE_EXCEEDED) {
    const detail = progressing.message ? ` (${progressing.message})` : ''
    return {
      phase: 'failed',
      reason: PROGRESS_DEADLINE_EXCEEDED,
      message: `deployment "${name}" exceeded its progress deadline${detail}`,
      ...counts,
      ...replicaFailureOf(deploy)
    }
  }
  if (updated < desired) return waiting(`${updated} out of ${desired} new replicas have been updated`)
  // Old pods still counted in status.replicas block completion; terminatingReplicas are already outside it.
  if (total > updated) return waiting(`${total - updated} old replicas are pending termination`)
  if (available < updated) return waiting(`${available} of ${updated} updated replicas are available`)
  return { phase: 'complete', message: `deployment "${name}" successfully rolled out`, ...counts }
}

function replicaFailureOf(deploy: Deployment): Pick<RolloutState, 'replicaFailure'> {
  const condition = findCondition(deploy.status?.conditions, 'ReplicaFailure')
  if (condition?.status !== 'True') return {}
  return {
    replicaFailure: { reason: condition.reason ?? 'ReplicaFailure', message: condition.message ?? '' }
  }
}

export function isControlledBy(
  owned: { metadata: { ownerReferences?: { uid: string; controller?: boolean }[] } },
  uid: string
) {
  return (owned.metadata.ownerReferences ?? []).some(ref => ref.uid === uid && ref.controller === true)
}

/**
 * The ReplicaSet of the Deployment's current template: controlled by it and carrying the same revision.
 * Undefined while the controller has not caught up with the latest spec (the revision annotation then still
 * names the previous template) or before the first revision exists.
 */
export function findNewReplicaSet(deploy: Deployment, replicaSets: ReplicaSet[]): ReplicaSet | undefined {
  const revision = deploy.metadata.annotations?.[REVISION_ANNOTATION]
  const uid = deploy.metadata.uid
  if (!revision || !uid) return undefined
  if ((deploy.metadata.generation ?? 0) > (deploy.status?.observedGeneration ?? 0)) return undefined
  const matches = replicaSets.filter(
    rs => isControlledBy(rs, uid) && rs.metadata.annotations?.[REVISION_ANNOTATION] === revision
  )
  // Two ReplicaSets never share a revision in practice; should it happen, the newest is the one being rolled.
  return matches.sort(
    (a, b) => timeOf(b.metadata.creationTimestamp) - timeOf(a.metadata.creationTimestamp)
  )[0]
}

function timeOf(stamp: string | undefined): number {
  const ms = stamp ? Date.parse(stamp) : NaN
  return Number.isNaN(ms) ? 0 : ms
}

/** The pods a ReplicaSet controls (matched by owner uid, not labels: labels can overlap between revisions). */
export function podsOfReplicaSet(rs: ReplicaSet, pods: Pod[]): Pod[] {
  const uid = rs.metadata.uid
  if (!uid) return []
  return pods.filter(pod => isControlledBy(pod, uid))
}

/** Running, Ready and not on its way out: a pod a smoke check can exec into, and that counts as beat's one. */
export function isPodReady(pod: Pod): boolean {
  if (pod.metadata.deletionTimestamp || pod.status?.phase !== 'Running') return false
  return pod.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') ?? false
}
