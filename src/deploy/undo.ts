// Undo: the one way back to the last verified release, for a failed verification, a cancelled run, an error
// after the first write, the next run that finds an interrupted one, and the post step of a killed one.
//
// What to undo is read from the cluster, never taken from what the apply answered: the live Secret against the
// values before (the copy in UNDO_SECRET_NAME, or the snapshot), each Deployment's live pod template against the
// one before. Only what is still this run's is touched: a Deployment whose template is neither the one before nor
// the one this run applied, or a Secret whose values are neither, was changed by someone else since, and is left
// alone and named. Every write goes through the fenced runner (a run that lost its lock undoes nothing) and is
// idempotent (the pod template of the earlier revision set by a JSON patch, ./revision-template.ts; the Secret's
// values applied whole). Never throws: the record says what was done, what was not, and why.

import { podTemplateChangedBetween, serverSideApply } from '../kube/apply.js'
import { CancelledError, type Kubectl } from '../kube/kubectl.js'
import {
  getLiveObjects,
  getOptionalObject,
  identityKey,
  type KubeList,
  type LiveObjectMeta
} from '../kube/objects.js'
import type { Deployment, ReplicaSet } from '../k8s/types.js'
import { replicaSetOfRevision, restoreTemplatePatch, templateToRestore } from './revision-template.js'
import { toKubectlInput } from '../k8s/serialize.js'
import { UNDO_SECRET_NAME, type UndoTarget } from './journal.js'
import type { RolloutResult } from './wait-rollouts.js'

// The field manager of the undo's writes (a JSON patch of the pod template, as `kubectl rollout undo` makes).
export const UNDO_FIELD_MANAGER = 'deploy-gke-workers-undo'

export interface UndoStep {
  deployment: string
  toRevision?: string
  // The undo was sent and went through (or there was nothing to undo: `skipped`).
  done: boolean
  skipped?: boolean
  message: string
}

export interface SecretUndo {
  name: string
  state: 'restored' | 'unchanged' | 'kept-new' | 'changed-by-another' | 'failed'
  message: string
}

export interface UndoRecord {
  steps: UndoStep[]
  secret?: SecretUndo
  // The rollouts back, when watched.
  rollouts: RolloutResult[]
  // Changed by someone else since this run wrote it: not touched.
  leftAlone: string[]
  // The cluster could not be read, or a write was refused: why.
  error?: string
  // Everything this run changed is back as it was (and, when watched, rolled out).
  complete: boolean
  // Nothing had changed: there was nothing to undo.
  nothingChanged: boolean
}

export interface UndoInput {
  // Fenced by the lock; not cancelled (an undo is what a cancellation asks for), bounded by a deadline.
  kubectl: Kubectl
  namespace: string
  target: UndoTarget
  // In-process: the objects before this run (what "changed" means), and the templates and Secret values this run
  // meant to leave (what "still this run's" means). A journal's undo (post step) has neither: it undoes to the
  // target whatever is there, as it was the lock holder's and nobody else's.
  before?: Map<string, LiveObjectMeta>
  intendedTemplates?: Map<string, unknown>
  intendedSecretData?: Record<string, string>
  // The Secret before this run, when the target's Secret is this run's own; otherwise (a target taken over from
  // an interrupted run, or a journal's undo) its previous values are read from the copy in UNDO_SECRET_NAME.
  secretBefore?: LiveObjectMeta
  // Deployments of an interrupted run this run took over: undone to the target whether this run changed them or
  // not (their release was never verified).
  inheritedDeployments?: Set<string>
  // Secret keys that keep this run's values (KEDA's Redis keys, when the autoscaler switch stays).
  keepSecretKeys?: Record<string, string>
  // Watches the rollouts back; without it the undo is started, not watched (a cancelled run's seconds).
  watch?: (deployments: string[]) => Promise<RolloutResult[]>
  log: (line: string) => void
  redact: (text: string) => string
}

export async function undoChanges(input: UndoInput): Promise<UndoRecord> {
  const { kubectl, namespace, target, redact } = input
  const record: UndoRecord = {
    steps: [],
    rollouts: [],
    leftAlone: [],
    complete: false,
    nothingChanged: false
  }
  const identities = [
    ...target.deployments.map(d => ({ kind: 'Deployment', apiVersion: 'apps/v1', name: d.name })),
    ...(target.secret ? [{ kind: 'Secret', apiVersion: 'v1', name: target.secret.name }] : [])
  ]
  let live: Map<string, LiveObjectMeta>
  try {
    live = await getLiveObjects(
      kubectl,
      toKubectlInput(
        identities.map(i => ({
          apiVersion: i.apiVersion,
          kind: i.kind,
          metadata: { name: i.name, namespace }
        }))
      )
    )
  } catch (error) {
    if (error instanceof CancelledError) throw error
    record.error = `the cluster could not be read, so nothing was undone: ${redact((error as Error).message)}`
    return record
  }
  const keyOf = (kind: string, name: string): string => identityKey({ kind, name, namespace })

  // The Secret first: pods of the old template must read the old values, or a bad Secret survives the undo.
  let failures = 0
  if (target.secret) {
    record.secret = await undoSecret(input, live.get(keyOf('Secret', target.secret.name)))
    if (record.secret.state === 'failed') failures++
    if (record.secret.state === 'changed-by-another') record.leftAlone.push(`Secret/${target.secret.name}`)
  }

  const changed: string[] = []
  let replicaSets: ReplicaSet[] | undefined
  for (const deployment of target.deployments) {
    const now = live.get(keyOf('Deployment', deployment.name))
    if (!now) continue
    const was = input.before?.get(keyOf('Deployment', deployment.name))
    const inherited = input.inheritedDeployments?.has(deployment.name) === true
    if (input.before && !inherited) {
      if (!podTemplateChangedBetween(was, now)) continue
      const intended = input.intendedTemplates?.get(deployment.name)
      if (intended !== undefined && !sameTemplate(intended, now)) {
        record.leftAlone.push(`Deployment/${deployment.name}`)
        record.steps.push({
          deployment: deployment.name,
          toRevision: deployment.revision,
          done: false,
          message: 'left alone: its pod template was changed by someone else after this run applied it'
        })
        continue
      }
    }
    changed.push(deployment.name)
    const step = { deployment: deployment.name, toRevision: deployment.revision }
    if (deployment.revision === undefined) {
      record.steps.push({
        ...step,
        done: false,
        message: 'first deploy of this Deployment: there is no previous revision to roll back to'
      })
      failures++
      continue
    }
    try {
      replicaSets ??= (await kubectl.json<KubeList<ReplicaSet>>(['get', 'replicasets.apps', '-n', namespace]))
        .items
      const previous = replicaSetOfRevision(now as unknown as Deployment, replicaSets, deployment.revision)
      if (!previous) {
        record.steps.push({
          ...step,
          done: false,
          message: `the ReplicaSet of revision ${deployment.revision} is gone (the Deployment's revisionHistoryLimit), so there is nothing to roll back to`
        })
        failures++
        continue
      }
      const template = templateToRestore(previous)
      if (sameTemplate(template, now)) {
        record.steps.push({
          ...step,
          done: true,
          skipped: true,
          message: `already at the template of revision ${deployment.revision}`
        })
        continue
      }
      await kubectl.run([
        'patch',
        'deployment',
        deployment.name,
        '-n',
        namespace,
        '--type=json',
        `--field-manager=${UNDO_FIELD_MANAGER}`,
        '-p',
        restoreTemplatePatch(template)
      ])
      record.steps.push({
        ...step,
        done: true,
        message: `rolled back to the template of revision ${deployment.revision}`
      })
    } catch (error) {
      record.steps.push({
        ...step,
        done: false,
        message:
          error instanceof CancelledError
            ? `not rolled back: ${error.message}`
            : `the rollback failed: ${redact((error as Error).message)}`
      })
      failures++
    }
  }
  for (const step of record.steps) input.log(`${step.deployment}: ${redact(step.message)}`)
  record.nothingChanged =
    changed.length === 0 &&
    record.leftAlone.length === 0 &&
    (record.secret?.state ?? 'unchanged') === 'unchanged'

  const rolledBack = record.steps.filter(s => s.done && !s.skipped).map(s => s.deployment)
  if (input.watch && rolledBack.length > 0) {
    try {
      record.rollouts = await input.watch(rolledBack)
    } catch (error) {
      if (error instanceof CancelledError) throw error
      record.error = `watching the rollback failed: ${redact((error as Error).message)}`
    }
  }
  record.complete =
    failures === 0 &&
    record.leftAlone.length === 0 &&
    record.error === undefined &&
    (!input.watch ||
      rolledBack.every(name => record.rollouts.some(r => r.deployment === name && r.outcome === 'complete')))
  return record
}

async function undoSecret(input: UndoInput, now: LiveObjectMeta | undefined): Promise<SecretUndo> {
  const { kubectl, namespace, redact } = input
  const name = input.target.secret!.name
  if (!now) return { name, state: 'unchanged', message: `Secret ${name} does not exist` }
  if (input.target.secret!.backup === undefined) {
    // Created by this run (or the interrupted run it took over): nothing to go back to. The Deployments it
    // would serve are new as well.
    return {
      name,
      state: 'kept-new',
      message: `Secret ${name} was created by this deploy; it is left in place`
    }
  }
  let previous: LiveObjectMeta | undefined
  try {
    previous =
      input.secretBefore ??
      (await getOptionalObject<LiveObjectMeta>(kubectl, 'secret', UNDO_SECRET_NAME, namespace))
  } catch (error) {
    if (error instanceof CancelledError) throw error
    return {
      name,
      state: 'failed',
      message: `Secret ${name}: its previous values could not be read: ${redact((error as Error).message)}`
    }
  }
  if (!previous) {
    return {
      name,
      state: 'failed',
      message: `Secret ${name}: the copy of its previous values (Secret ${UNDO_SECRET_NAME}) is missing, so they could not be restored`
    }
  }
  const previousData = dataOf(previous)
  const liveData = dataOf(now)
  if (sameData(previousData, liveData, input.keepSecretKeys)) {
    return { name, state: 'unchanged', message: `Secret ${name}: already at its previous values` }
  }
  if (input.intendedSecretData && !sameData(input.intendedSecretData, liveData)) {
    return {
      name,
      state: 'changed-by-another',
      message: `Secret ${name}: left alone: its values were changed by someone else after this run wrote them`
    }
  }
  try {
    const secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace },
      type: (now as { type?: string }).type ?? 'Opaque',
      // Keys the previous Secret had get their previous values back, KEDA's too (a wrong Redis password must not
      // outlive the rollback); only keys it lacked keep this run's value.
      data: { ...(input.keepSecretKeys ?? {}), ...previousData }
    }
    // Server-side apply of the previous data under the action's field manager: keys this run added are pruned,
    // the old values come back. Through stdin, like every Secret.
    await serverSideApply(kubectl, [secret], new Map(), { dryRun: false, trusted: true })
    return { name, state: 'restored', message: `Secret ${name}: its previous values were restored` }
  } catch (error) {
    const reason = error instanceof CancelledError ? error.message : redact((error as Error).message)
    return {
      name,
      state: 'failed',
      message: `Secret ${name}: restoring its previous values failed: ${reason}`
    }
  }
}

function dataOf(secret: LiveObjectMeta): Record<string, string> {
  return ((secret as { data?: Record<string, string> }).data ?? {}) as Record<string, string>
}

// The same values, the keys in `ignore` aside.
function sameData(
  a: Record<string, string>,
  b: Record<string, string>,
  ignore: Record<string, string> = {}
): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)].filter(k => !(k in ignore)))
  return [...keys].every(k => a[k] === b[k])
}

function sameTemplate(intended: unknown, live: LiveObjectMeta): boolean {
  return !podTemplateChangedBetween(
    { kind: 'Deployment', metadata: { name: '' }, spec: { template: intended } },
    live
  )
}
