// The KEDA side of a deploy, as the steps of the deploy call it: the hold on the worker's ScaledObject around
// the rollout (keda-hold.ts) and KEDA's verdict after it (keda-verdict.ts). One object per run, so the deploy
// itself only calls it at five points:
//   toApply(objects)  the objects to apply: the ScaledObjects carry the hold
//   beforeApply()     before the apply (after an autoscaler switch): existing ScaledObjects paused, KEDA's
//                     acknowledgement awaited
//   afterApply()      after the apply and any restart: a worker at zero started
//   replicasAtStart   for the rollout watch: the held count is what the worker's rollout starts from
//   verify()          after the rollout and checks passed: the hold released, KEDA's verdict read
//   holdForUndo()     before a failure's rollback of the worker: the hold put back if verify() released it
//   release()         last, whatever happened (failure, rollback, cancellation): a hold still on released
// Nothing here throws into the deploy except what verify() and the hold's own writes raise (a failed write
// after the first one is a failed deploy, rolled back like any).

import type { AppliedObject } from '../kube/apply.js'
import type { Kubectl } from '../kube/kubectl.js'
import { identityKey, type LiveObjectMeta } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { Autoscaling } from '../inputs.js'
import {
  decideHold,
  holdNote,
  kedaInputsChanged,
  pauseBeforeApply,
  PAUSED_REPLICAS_ANNOTATION,
  readScaledObjects,
  releaseHold,
  startFromZero,
  withHold,
  type HoldDecision,
  type HoldStarted
} from './keda-hold.js'
import { awaitKedaVerdicts, SETTLE_TIMEOUT_MS, type KedaVerdict } from './keda-verdict.js'

export interface KedaRolloutGuard {
  decision: HoldDecision
  toApply(objects: KubeObject[]): KubeObject[]
  beforeApply(): Promise<void>
  afterApply(): Promise<void>
  replicasAtStart: Record<string, number>
  verify(): Promise<KedaVerdict[]>
  holdForUndo(undoing: string[]): Promise<void>
  release(): Promise<void>
}

export interface KedaRolloutInput {
  autoscaling: Autoscaling
  namespace: string
  worker: string | undefined
  // The rendered objects this run applies (the ScaledObjects among them as rendered, without a hold).
  objects: KubeObject[]
  before: Map<string, LiveObjectMeta>
  // The server-side dry run's answer for every object (what changes).
  dryRun: AppliedObject[]
  workerRolls: boolean
  redact: Redact
  note: (text: string) => void
  warn: (text: string) => void
  log: (line: string) => void
  now?: () => number
  sleep?: (ms: number) => Promise<void>
}

// `kubectl` is the run's (cancellable) runner; `cleanup` keeps working after a cancellation, for the release.
export function guardKedaRollout(
  kubectl: Kubectl,
  cleanup: Kubectl,
  input: KedaRolloutInput
): KedaRolloutGuard {
  const scaledObjects = input.objects.filter(o => o.kind === 'ScaledObject')
  const liveKey = (o: KubeObject) =>
    identityKey({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace })
  const liveOf = (o: KubeObject) => input.before.get(liveKey(o))
  const liveWorker = input.worker
    ? input.before.get(identityKey({ kind: 'Deployment', name: input.worker, namespace: input.namespace }))
    : undefined
  const decision = decideHold({
    autoscaling: input.autoscaling,
    worker: input.worker,
    scaledObjects,
    before: input.before,
    liveWorker,
    workerRolls: input.workerRolls,
    kedaChanged: kedaInputsChanged(input.dryRun, input.before, input.objects)
  })
  // Set once a write carrying the hold was sent: only then is there a hold to release.
  let held = false
  let started: HoldStarted | undefined
  const release = async (runner: Kubectl): Promise<boolean> => {
    if (!held) return true
    try {
      await releaseHold(runner, scaledObjects, input.before)
      held = false
      return true
    } catch (error) {
      const message = `The ScaledObject's ${PAUSED_REPLICAS_ANNOTATION} annotation could not be removed, so KEDA keeps the worker at ${decision.hold ? decision.replicas : 1} replica(s) until the next deploy: ${input.redact((error as Error).message)}`
      input.note(message)
      input.warn(`deploy-gke-workers: ${message}`)
      return false
    }
  }

  return {
    decision,
    toApply: objects => withHold(objects, decision),
    replicasAtStart: decision.hold && decision.verifies ? { [decision.worker]: decision.replicas } : {},
    async beforeApply() {
      if (!decision.hold) return
      held = decision.pauseFirst.length > 0
      started = await pauseBeforeApply(kubectl, {
        decision,
        held: withHold(input.objects, decision),
        before: input.before,
        namespace: input.namespace,
        now: input.now,
        sleep: input.sleep
      })
    },
    async afterApply() {
      const note = holdNote(decision, started)
      if (!decision.hold) {
        if (note) input.note(note)
        return
      }
      // The apply carried the hold to every ScaledObject.
      held = true
      await startFromZero(kubectl, input.namespace, decision)
      if (note) input.note(note)
      input.log(
        decision.verifies
          ? `deployment/${decision.worker} held at ${decision.replicas} replica(s) while it is verified${decision.fromZero ? ' (it was at zero)' : ''}`
          : `ScaledObject paused at ${decision.replicas} replica(s) until the checks are done, for KEDA to check its changed configuration afresh`
      )
    },
    async verify() {
      if (scaledObjects.length === 0 || input.autoscaling !== 'keda') return []
      const wasHeld = held
      if (!(await release(kubectl))) return []
      const verdicts = await awaitKedaVerdicts(kubectl, {
        namespace: input.namespace,
        names: scaledObjects.map(o => o.metadata.name),
        released: wasHeld,
        created: name => liveOf(scaledObjects.find(o => o.metadata.name === name)!) === undefined,
        redact: input.redact,
        now: input.now,
        sleep: input.sleep
      })
      for (const verdict of verdicts) {
        // An operator's pause is said once, by the hold's note.
        const said = verdict.state === 'paused' && !decision.hold && decision.why === 'paused-by-operator'
        const line = said ? undefined : verdictNote(verdict)
        if (line) input.note(line)
        if (verdict.state === 'unseen') input.warn(`deploy-gke-workers: ${line}`)
        input.log(`ScaledObject/${verdict.scaledObject}: ${verdict.state}`)
      }
      return verdicts
    },
    // KEDA's verdict is read after the release, so a ScaledObject KEDA refuses fails the run with the worker
    // unheld. The rollback that follows restores the Secret KEDA reads (a wrong Redis password put right): KEDA
    // then scales the idle worker to zero at its next check, before a pod of the restored template is ready,
    // and the rollback could not be verified (seen with the real operator under load). So the rollback of the
    // worker is held like its rollout, at the same count, and release() hands it back last.
    async holdForUndo(undoing) {
      if (!decision.hold || !decision.verifies || held || !undoing.includes(decision.worker)) return
      try {
        const names = scaledObjects.map(o => o.metadata.name)
        const live = await readScaledObjects(cleanup, input.namespace, names)
        const now = new Map(
          scaledObjects.flatMap(o => {
            const state = live.get(o.metadata.name)
            return state ? [[liveKey(o), state] as const] : []
          })
        )
        held = true
        const again = await pauseBeforeApply(cleanup, {
          decision: { ...decision, pauseFirst: names.filter(name => live.has(name)) },
          held: withHold(input.objects, decision),
          before: now,
          namespace: input.namespace,
          now: input.now,
          sleep: input.sleep
        })
        // KEDA may have scaled the worker away since the release: the restored template needs a pod to verify.
        await startFromZero(cleanup, input.namespace, { ...decision, fromZero: true })
        input.log(
          `deployment/${decision.worker} held at ${decision.replicas} replica(s) while it is rolled back${
            again.unconfirmed.length > 0
              ? ` (KEDA did not confirm the pause of ${again.unconfirmed.join(', ')})`
              : ''
          }`
        )
      } catch (error) {
        input.log(
          `deploy-gke-workers: the worker could not be held for its rollback (KEDA may scale it away before it is verified): ${input.redact((error as Error).message)}`
        )
      }
    },
    async release() {
      await release(cleanup)
    }
  }
}

// What the run can say when KEDA gave no verdict to act on.
function verdictNote(verdict: KedaVerdict): string | undefined {
  switch (verdict.state) {
    case 'unseen':
      return `KEDA has not reported on ScaledObject ${verdict.scaledObject} (it has no conditions): is KEDA's operator running? (kubectl get pods -n keda) Until it is, nothing scales the worker on its queues`
    case 'unsettled':
      return `KEDA had not answered on ScaledObject ${verdict.scaledObject} since this deploy within ${SETTLE_TIMEOUT_MS / 1000}s: its conditions below may be from before`
    case 'paused':
      return `ScaledObject ${verdict.scaledObject} is paused by its own annotation: KEDA does not scale the worker until the pause is removed`
    default:
      return undefined
  }
}
