// Apply: the run's writes, in order, each through the fenced runner (none once the lock is lost): the journal
// first (what may change, how to undo it), the copy of the Secret's previous values, the autoscaler switch, the
// one server-side apply (restarts included), the hold of a worker at zero. With a pre-deploy gate the apply is
// cut in two around it: what the Deployments read (Namespace, ServiceAccount, Secret, configuration) first,
// then the gate, then, only if it passed, the autoscaler switch and the rest. Every write is idempotent: sent
// twice after a lost answer, it leaves what it left once. Never throws: the record says how far it got; what it
// changed is read back from the cluster by whoever needs to know (undo, judge), never taken from the answers.

import { serverSideApply, type AppliedObject } from '../kube/apply.js'
import type { Kubectl } from '../kube/kubectl.js'
import type { LiveObjectMeta } from '../kube/objects.js'
import { identityKey } from '../kube/objects.js'
import { MANAGED_BY } from '../render/render-manifests.js'
import type { DeployDecision } from './decide.js'
import type { HeldLock } from './deploy-lock.js'
import { UNDO_OF_ANNOTATION, UNDO_SECRET_NAME, type Journal } from './journal.js'
import type { RetiredObject } from '../render/render-manifests.js'
import { handOverReplicas, retireAutoscalers, type RetireStep } from './retire-autoscalers.js'
import { passed, type GateRecord } from './gate.js'
import type { KedaRolloutGuard } from './keda-rollout.js'

// What the pre-deploy gate goes before: the Deployments and what scales them (KEDA's webhook looks the target
// up, so they follow the Deployments anyway).
const AFTER_THE_GATE = new Set([
  'Deployment',
  'HorizontalPodAutoscaler',
  'ScaledObject',
  'PodDisruptionBudget'
])

export interface ApplyRecord {
  // The apply's answer, object by object, for the report (what changed is judged from the cluster).
  applied: AppliedObject[]
  retired: RetireStep[]
  restarted: Array<{ deployment: string; reason: string }>
  warnings: string[]
  // The journal reached the Lease: the run may have written more.
  journalWritten: boolean
  // The pre-deploy gate, when it ran: one that did not pass ends the apply before any Deployment is written.
  gate?: GateRecord
  // What stopped it (a CancelledError, a LockLostError, a KubectlError), and in which step.
  error?: unknown
  during?: string
}

export interface ApplyContext {
  // Fenced by the lock, cancelled with the run.
  kubectl: Kubectl
  lock: HeldLock
  namespace: string
  decision: DeployDecision
  before: Map<string, LiveObjectMeta>
  // The journal this run writes before its first write (its phase `applying`).
  journal: (phase: Journal['phase']) => Journal
  retiring: RetiredObject[]
  // autoscaling was none and the worker gets an autoscaler: its replicas are handed over first.
  handOverFrom?: LiveObjectMeta
  worker?: string
  replicasAfterKeda: number
  // KEDA's hold of the worker around the apply (keda-rollout.ts): its ScaledObjects paused before the
  // Deployments are written, a worker at zero started after.
  keda?: Pick<KedaRolloutGuard, 'beforeApply' | 'afterApply'>
  // The pre-deploy gate (pre_deploy_command), when this deploy rolls pods.
  gate?: () => Promise<GateRecord>
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  log: (line: string) => void
  redact: (text: string) => string
  now?: () => number
}

export async function applyChanges(context: ApplyContext): Promise<ApplyRecord> {
  const { kubectl, decision, namespace, log, redact } = context
  const record: ApplyRecord = {
    applied: [],
    retired: [],
    restarted: [],
    warnings: [],
    journalWritten: false
  }
  let during = 'the start of the apply'
  try {
    if (decision.guarded) {
      await context.lock.writeJournal(context.journal('applying'))
      record.journalWritten = true
    }
    if (decision.writeUndoSecret) {
      during = 'the copy of the previous Secret values'
      await writeUndoSecret(kubectl, context.before, namespace, decision.secretChange!.name)
    }
    let objects = decision.objects
    if (context.gate) {
      // The Job reads the Secret and runs as the ServiceAccount: they are written before it.
      during = 'the apply'
      await applyObjects(
        'Apply before the pre-deploy gate (server-side)',
        objects.filter(o => !AFTER_THE_GATE.has(o.kind))
      )
      during = 'the pre-deploy gate'
      record.gate = await context.gate()
      if (record.gate.stopped) throw record.gate.stopped
      if (!passed(record.gate)) return record
      objects = objects.filter(o => AFTER_THE_GATE.has(o.kind))
    }
    if (context.retiring.length > 0 || context.handOverFrom) {
      during = 'the autoscaler switch'
      record.retired = await context.group('Autoscaler switch', async () => {
        const steps: RetireStep[] = []
        if (context.handOverFrom) {
          const kept = await handOverReplicas(kubectl, context.handOverFrom)
          if (kept !== undefined) {
            steps.push({
              kind: 'Deployment',
              name: context.handOverFrom.metadata.name,
              reason: 'autoscaling was none',
              done: true,
              message: `replicas kept at ${kept} for the autoscaler to take over (autoscaling was none)`
            })
          }
        }
        steps.push(
          ...(await retireAutoscalers(kubectl, context.retiring, {
            namespace,
            worker: context.worker,
            replicasAfterKeda: context.replicasAfterKeda
          }))
        )
        for (const s of steps) log(`${s.kind}/${s.name} ${redact(s.message)}`)
        return steps
      })
    }
    if (context.keda) {
      during = "the pause of the worker's ScaledObject"
      await context.keda.beforeApply()
    }
    during = 'the apply'
    await applyObjects(
      context.gate ? 'Apply after the pre-deploy gate (server-side)' : 'Apply (server-side)',
      objects
    )
    for (const roll of decision.rolls.filter(r => r.restart)) {
      record.restarted.push({ deployment: roll.deployment, reason: roll.reason })
      log(`deployment/${roll.deployment} restarted: ${roll.reason}`)
    }
    if (context.keda) {
      during = 'the hold of the worker while it is verified'
      await context.keda.afterApply()
    }
  } catch (error) {
    record.error = error
    record.during = during
  }
  return record

  // One kubectl call: it applies the objects one after another in the order given, which is the order they
  // depend on (Namespace, ServiceAccount, Secret and configuration, Deployments, autoscaling).
  async function applyObjects(title: string, objects: DeployDecision['objects']): Promise<void> {
    if (objects.length === 0) return
    await context.group(title, async () => {
      const result = await serverSideApply(kubectl, objects, context.before, { dryRun: false, trusted: true })
      for (const item of result.objects) log(`${item.kind}/${item.name} ${item.action}`)
      record.applied.push(...result.objects)
      record.warnings.push(...result.warnings)
    })
  }
}

// The Secret's values before this run, in a Secret of the action's own, so that an undo by another process (the
// post step of a killed run, the next run) can put them back. Server-side apply: sent twice, written once.
async function writeUndoSecret(
  kubectl: Kubectl,
  before: Map<string, LiveObjectMeta>,
  namespace: string,
  secretName: string
): Promise<void> {
  const previous = before.get(identityKey({ kind: 'Secret', name: secretName, namespace }))
  if (!previous) return
  const copy = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: UNDO_SECRET_NAME,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': MANAGED_BY },
      annotations: { [UNDO_OF_ANNOTATION]: secretName }
    },
    type: 'Opaque',
    data: ((previous as { data?: Record<string, string> }).data ?? {}) as Record<string, string>
  }
  // Through stdin, like every Secret (our own object: no OpenAPI validation needed).
  await serverSideApply(kubectl, [copy], new Map(), { dryRun: false, trusted: true })
}
