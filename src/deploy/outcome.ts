// What a deploy that got past its first write reports: assembled by the judge (./judge.ts) from the phases'
// records and the cluster as it was read at the end; the job summary, the outputs and the annotations are made
// from it.

import type { AppliedObject } from '../kube/apply.js'
import type { Event } from '../k8s/types.js'
import type { ContainerLog } from '../report/diagnostics.js'
import type { AutoscalerReport } from './autoscaler-status.js'
import type { KedaVerdict } from './keda-verdict.js'
import type { DeployImage } from './pin-deployments.js'
import type { PodImageReport } from './verify-pod-images.js'
import type { GateRecord } from './gate.js'
import type { PodFailure } from './pod-failures.js'
import type { RetireStep } from './retire-autoscalers.js'
import type { SmokeCheckResult } from './smoke-checks.js'
import type { TaskSafetyRecord } from './task-safety.js'
import type { UndoStep } from './undo.js'
import type { RolloutResult } from './wait-rollouts.js'

export type DeployStatus = 'deployed' | 'unchanged' | 'rolled-back' | 'cancelled' | 'failed'

// Where one object stands at the end of the run, read from the cluster.
export interface ObjectState {
  // `Deployment/celery-worker`, `Secret/app-secrets`
  object: string
  state: 'previous' | 'this-run' | 'other' | 'unknown' | 'absent'
  // For people: "revision 4, image …:v2, not verified"
  text: string
}

export interface DeployOutcome {
  status: DeployStatus
  headline: string
  // The Deployments by role, for the worker_revision and beat_revision outputs.
  roles: { worker?: string; beat?: string }
  applied: AppliedObject[]
  // Autoscaler objects of an earlier `autoscaling` choice, deleted before the apply.
  retired: RetireStep[]
  // The worker's autoscaler after the deploy, as the cluster reports it.
  autoscaler?: AutoscalerReport
  // KEDA's verdict on the worker's ScaledObject after a good rollout (autoscaling: keda).
  keda?: KedaVerdict[]
  restarted: Array<{ deployment: string; reason: string }>
  rollouts: RolloutResult[]
  rollbackRollouts: RolloutResult[]
  smoke: SmokeCheckResult[]
  // The Celery settings against how the pods are stopped, how the old workers stopped, the queues (task_safety).
  taskSafety?: TaskSafetyRecord
  beatProblems: string[]
  // The image as the registry check resolved and pinned it, and which bytes the new pods run.
  image?: DeployImage
  images?: PodImageReport
  rollback: UndoStep[]
  notes: string[]
  // The API server's warnings on apply (GKE Autopilot adjusting resources, deprecations).
  warnings: string[]
  error?: string
  // Set when the run was cancelled: the signal, and the step it was in.
  cancelled?: { reason: string; during: string }
  // Set when another run took the deploy lock over (or this one could not renew it): this run stopped writing.
  lockLost?: { reason: string; during: string; holder?: string }
  // An earlier run that was interrupted after its first write, whose release this run found unverified.
  interrupted?: string
  // When the API server was away during the run, waited out (one line each).
  outages: string[]
  // Where each object this run could change stands at the end, when the run did not end verified.
  left: ObjectState[]
  // What explains a failed rollout: the events of this run's ReplicaSets and pods, failing containers' logs.
  diagnostics?: { events: Event[]; logs: ContainerLog[] }
  // Set when the diagnostics could not be collected.
  diagnosticsError?: string
  failures: PodFailure[]
  revisionsBefore: Record<string, string | undefined>
  revisionsAfter: Record<string, string | undefined>
  // The pre-deploy gate, when it ran.
  gate?: GateRecord
}
