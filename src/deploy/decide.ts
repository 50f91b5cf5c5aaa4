// Decide: what this run will change and how to undo it, from the rendered objects, the live objects read before
// any write (the snapshot) and the server-side dry run. Pure: no call, no clock (the restart stamp comes in).
//
// A restart is part of the apply: the pod template's `kubectl.kubernetes.io/restartedAt` annotation, with a
// value that belongs to the run, set by server-side apply. Sent twice (a retried call whose answer was lost),
// it restarts once. Deployments that do not restart keep the live value, so that an apply never takes away a
// restart (its own or `kubectl rollout restart`'s) and rolls the pods by that.

import type { AppliedObject } from '../kube/apply.js'
import { identityKey, type LiveObjectMeta } from '../kube/objects.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { REVISION_ANNOTATION } from './rollout-state.js'
import { changedKeys, keysPodsRead, podsRead } from './secret-readers.js'
import { keepLiveTraceAnnotations } from './trace-annotations.js'
import { mergeUndoTargets, UNDO_SECRET_NAME, type Journal, type UndoTarget } from './journal.js'

export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt'

export interface DecideInput {
  namespace: string
  secretName: string
  // The objects the apply will send (the Namespace left out when it is already as rendered), as prepared by
  // carryRestartStamps, in apply order.
  objects: KubeObject[]
  roles: { worker?: string; beat?: string }
  // The live objects before any write.
  before: Map<string, LiveObjectMeta>
  // The server-side dry run's answer for those objects.
  dryRun: AppliedObject[]
  // workflow_dispatch: roll the pods even when the pod template did not change.
  forceRestart: boolean
  // This run's value of the restart annotation.
  restartStamp: string
  autoscaling: 'cpu' | 'keda' | 'none'
  // The journal of an interrupted run that this run found in the lock: its release was never verified.
  inherited?: Journal
}

export interface Roll {
  deployment: string
  // 'template': the pod template changed; otherwise why the pods are restarted.
  reason: string
  restart: boolean
}

export interface DeployDecision {
  // What the apply sends, in order.
  objects: KubeObject[]
  deployments: string[]
  rolls: Roll[]
  // The Secret's keys whose values change, and whether the pods read any of them.
  secretChange?: { name: string; keys: string[]; podsRead: boolean; existed: boolean }
  // The previous Secret values are copied to UNDO_SECRET_NAME before the apply.
  writeUndoSecret: boolean
  // The Deployments whose rollout this run waits for and checks.
  verify: string[]
  // The last verified release, for an undo: before this run, or before the interrupted run it took over.
  undo: UndoTarget
  // Anything for the journal to guard: a Deployment or the Secret may change, or an unverified release is here.
  guarded: boolean
  // The pod templates this run's apply will leave, for telling later whether a Deployment is still as this run
  // left it (the dry run's, with the restart annotation this run sets).
  intendedTemplates: Map<string, unknown>
}

// Before the dry run: every Deployment carries the live restart annotation, so that leaving it out is no
// change to the pod template (server-side apply would remove a value it owns).
export function carryRestartStamps(objects: KubeObject[], before: Map<string, LiveObjectMeta>): KubeObject[] {
  return objects.map(object => {
    if (object.kind !== 'Deployment') return object
    const live = before.get(identityOf(object))
    const stamp = templateAnnotations(live)?.[RESTARTED_AT_ANNOTATION]
    if (stamp === undefined || templateAnnotations(object)?.[RESTARTED_AT_ANNOTATION] !== undefined)
      return object
    return withTemplateAnnotation(object, RESTARTED_AT_ANNOTATION, stamp)
  })
}

export function decide(input: DecideInput): DeployDecision {
  const { before, dryRun } = input
  const renderedDeployments = input.objects.filter(o => o.kind === 'Deployment')
  const deployments = renderedDeployments.map(o => o.metadata.name)
  const templateChanges = new Set(
    dryRun.filter(a => a.kind === 'Deployment' && a.podTemplateChanged).map(a => a.name)
  )

  const secretAnswer = dryRun.find(a => a.kind === 'Secret' && a.name === input.secretName)
  const secretBefore = before.get(
    identityKey({ kind: 'Secret', name: input.secretName, namespace: input.namespace })
  )
  const secretKeys =
    secretAnswer && secretAnswer.action !== 'unchanged' ? changedKeys(secretBefore, secretAnswer.applied) : []
  const secretChange =
    secretAnswer && secretAnswer.action !== 'unchanged'
      ? {
          name: input.secretName,
          keys: secretKeys,
          podsRead: secretKeys.some(key =>
            podsRead(keysPodsRead(renderedDeployments, input.secretName), key)
          ),
          existed: secretBefore !== undefined
        }
      : undefined

  const rolls: Roll[] = []
  for (const name of deployments) {
    if (templateChanges.has(name)) rolls.push({ deployment: name, reason: 'template', restart: false })
    else if (input.forceRestart)
      rolls.push({
        deployment: name,
        reason:
          'redeploy requested (workflow_dispatch): the pod template did not change, so the pods are restarted',
        restart: true
      })
    else if (secretChange?.podsRead)
      rolls.push({
        deployment: name,
        reason: `Secret ${input.secretName} changed: pods read it only at start, so they are restarted`,
        restart: true
      })
  }
  const rolling = new Set(rolls.map(r => r.deployment))

  const restarted = new Set(rolls.filter(r => r.restart).map(r => r.deployment))
  const stamped = input.objects.map(o =>
    o.kind === 'Deployment' && restarted.has(o.metadata.name)
      ? withTemplateAnnotation(o, RESTARTED_AT_ANNOTATION, input.restartStamp)
      : o
  )
  // KEDA's hold of the worker during the rollout is added by the orchestrator (keda-rollout.ts).
  const objects = keepLiveTraceAnnotations(stamped, before, name => rolling.has(name))

  const own: UndoTarget = {
    deployments: deployments.map(name => {
      const revision = before.get(identityKey({ kind: 'Deployment', name, namespace: input.namespace }))
        ?.metadata.annotations?.[REVISION_ANNOTATION]
      return { name, ...(revision !== undefined ? { revision } : {}) }
    }),
    ...(secretChange
      ? { secret: { name: input.secretName, ...(secretChange.existed ? { backup: UNDO_SECRET_NAME } : {}) } }
      : {})
  }
  const inherited = input.inherited?.undo
  const undo = mergeUndoTargets(own, inherited)
  // The interrupted run's copy of the Secret holds the last verified values: it is not overwritten.
  const writeUndoSecret = secretChange?.existed === true && !(inherited?.secret?.name === input.secretName)

  const unverified = new Set(
    (inherited?.deployments ?? []).map(d => d.name).filter(d => deployments.includes(d))
  )
  const verify = deployments.filter(name => rolling.has(name) || unverified.has(name))

  const intendedTemplates = new Map<string, unknown>()
  for (const answer of dryRun.filter(a => a.kind === 'Deployment')) {
    const template = (answer.applied.spec as { template?: unknown } | undefined)?.template
    if (template === undefined) continue
    intendedTemplates.set(
      answer.name,
      restarted.has(answer.name)
        ? templateWithAnnotation(template, RESTARTED_AT_ANNOTATION, input.restartStamp)
        : template
    )
  }

  return {
    objects,
    deployments,
    rolls,
    ...(secretChange ? { secretChange } : {}),
    writeUndoSecret,
    verify,
    undo,
    guarded: rolls.length > 0 || secretChange !== undefined || input.inherited !== undefined,
    intendedTemplates
  }
}

function identityOf(object: KubeObject): string {
  return identityKey({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace })
}

function templateAnnotations(
  object: KubeObject | LiveObjectMeta | undefined
): Record<string, string> | undefined {
  return (
    (object as { spec?: unknown } | undefined)?.spec as
      { template?: { metadata?: { annotations?: Record<string, string> } } } | undefined
  )?.template?.metadata?.annotations
}

function templateWithAnnotation(template: unknown, key: string, value: string): unknown {
  const t = (template ?? {}) as { metadata?: { annotations?: Record<string, string> } }
  return {
    ...t,
    metadata: { ...(t.metadata ?? {}), annotations: { ...(t.metadata?.annotations ?? {}), [key]: value } }
  }
}

function withTemplateAnnotation(object: KubeObject, key: string, value: string): KubeObject {
  const spec = (object.spec ?? {}) as { template?: unknown }
  return { ...object, spec: { ...spec, template: templateWithAnnotation(spec.template, key, value) } }
}
