// Exactly one autoscaler on the worker: when `autoscaling` changes, the autoscaler objects of the other choice
// (the CPU HPA, or the ScaledObject and its TriggerAuthentication) are deleted before the new one is applied.
// Before, not after: KEDA's admission webhook refuses a ScaledObject for a Deployment that an HPA already
// scales, and an HPA applied beside KEDA's own HPA would fight it until the ScaledObject went.
//
// What is there is read from the cluster, not inferred from an earlier run (a rollback, a template removed
// from a users' directory or KEDA uninstalled since would all fool a record): the HPAs that scale the worker
// (with keda or none), and, where the cluster serves KEDA's kinds at all, its ScaledObjects and
// TriggerAuthentications (with cpu or none). Ours are deleted: named by a template, or labelled as managed by
// this action. Another autoscaler of the worker that is not ours stops the run in pre-flight: deleting what
// someone else made is not this action's call, and leaving it would make two autoscalers fight.

import { KubectlError, type Kubectl } from '../kube/kubectl.js'
import type { LiveObjectMeta } from '../kube/objects.js'
import type { DeployConfig } from '../inputs.js'
import { MANAGED_BY, type RenderedManifests, type RetiredObject } from '../render/render-manifests.js'
import { resourceOf } from './preflight.js'
import { toKubectlInput } from '../k8s/serialize.js'
import { FIELD_MANAGER } from '../kube/apply.js'

// Owns a worker's replica count handed over from `autoscaling: none` (see handOverReplicas).
export const HANDOVER_MANAGER = `${FIELD_MANAGER}-handover`

// A ScaledObject's deletion waits for KEDA's finalizer and (foreground) for the HPA KEDA made for it.
const DELETE_TIMEOUT = '90s'

export interface Retiring extends RetiredObject {
  live: LiveObjectMeta
}

export interface RetirePlan {
  retiring: Retiring[]
  // Autoscalers of the worker that are not this action's: pre-flight problems.
  conflicts: string[]
  // What could not be looked at (an identity that may not list KEDA's kinds), for the summary.
  warnings: string[]
}

export interface RetireStep {
  kind: string
  name: string
  reason: string
  done: boolean
  message: string
}

interface Scaler extends LiveObjectMeta {
  metadata: LiveObjectMeta['metadata'] & {
    labels?: Record<string, string>
    ownerReferences?: Array<{ kind?: string }>
  }
  spec?: { scaleTargetRef?: { kind?: string; name?: string } }
}

export async function findRetiring(
  kubectl: Kubectl,
  rendered: RenderedManifests,
  config: DeployConfig
): Promise<RetirePlan> {
  const worker = rendered.objects.find(o => o.role === 'worker')?.object.metadata.name
  const plan: RetirePlan = { retiring: [], conflicts: [], warnings: [] }
  if (!worker) return plan
  const reason = `autoscaling is ${config.autoscaling}`
  const namedByTemplate = (kind: string, name: string) =>
    rendered.retired.some(r => r.kind === kind && r.name === name)
  const ours = (o: Scaler) =>
    namedByTemplate(o.kind, o.metadata.name) ||
    o.metadata.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY
  const scalesWorker = (o: Scaler) =>
    (o.spec?.scaleTargetRef?.kind ?? 'Deployment') === 'Deployment' && o.spec?.scaleTargetRef?.name === worker
  const retire = (o: Scaler, apiVersion: string) =>
    plan.retiring.push({
      kind: o.kind,
      apiVersion,
      name: o.metadata.name,
      namespace: config.namespace,
      reason,
      live: o
    })

  if (config.autoscaling !== 'cpu') {
    for (const hpa of await list(kubectl, 'horizontalpodautoscalers.autoscaling', config.namespace)) {
      // KEDA's own HPA goes with its ScaledObject.
      if (!scalesWorker(hpa) || hpa.metadata.ownerReferences?.some(r => r.kind === 'ScaledObject')) continue
      if (ours(hpa)) retire(hpa, 'autoscaling/v2')
      else
        plan.conflicts.push(
          `HorizontalPodAutoscaler ${hpa.metadata.name} also scales ${worker} and is not this action's (${reason}): delete it, or two autoscalers fight over the replica count`
        )
    }
  }
  if (config.autoscaling !== 'keda') {
    // A CPU deploy must not fail because the identity may not look at KEDA's kinds (an older deployer role):
    // it says so instead, and deletes nothing it cannot see.
    const found = await kedaObjects(kubectl, config.namespace).catch((error: unknown) => {
      if (!(error instanceof KubectlError) || !/forbidden/i.test(error.stderr)) throw error
      plan.warnings.push(
        `could not check for a ScaledObject left from autoscaling: keda (the deploy identity may not list scaledobjects.keda.sh in namespace ${config.namespace}; docs/rbac.yaml grants it)`
      )
      return []
    })
    for (const object of found.filter(o => o.kind === 'ScaledObject' && scalesWorker(o))) {
      if (ours(object)) retire(object, 'keda.sh/v1alpha1')
      else
        plan.conflicts.push(
          `ScaledObject ${object.metadata.name} (KEDA) also scales ${worker} and is not this action's (${reason}): delete it, or two autoscalers fight over the replica count`
        )
    }
    // Only the TriggerAuthentications a template names, or one a deleted ScaledObject used, and never one this
    // deploy applies (a users' template may keep one for another Deployment's ScaledObject).
    const usedByRetired = new Set(
      plan.retiring.filter(r => r.kind === 'ScaledObject').flatMap(r => authenticationsOf(r.live))
    )
    const applied = (name: string) =>
      rendered.objects.some(o => o.object.kind === 'TriggerAuthentication' && o.object.metadata.name === name)
    for (const object of found.filter(o => o.kind === 'TriggerAuthentication')) {
      const name = object.metadata.name
      if ((namedByTemplate('TriggerAuthentication', name) || usedByRetired.has(name)) && !applied(name))
        retire(object, 'keda.sh/v1alpha1')
    }
  }
  return plan
}

function authenticationsOf(scaledObject: LiveObjectMeta): string[] {
  const triggers =
    (scaledObject.spec as { triggers?: Array<{ authenticationRef?: { name?: string } }> } | undefined)
      ?.triggers ?? []
  return triggers.flatMap(t => (t.authenticationRef?.name ? [t.authenticationRef.name] : []))
}

async function kedaObjects(kubectl: Kubectl, namespace: string): Promise<Scaler[]> {
  if (!(await servesKeda(kubectl))) return []
  return list(kubectl, 'scaledobjects.keda.sh,triggerauthentications.keda.sh', namespace)
}

// From the discovery this run's kubectl calls already made (no process, no request); if none has yet, one
// request without discovery: a cluster without KEDA answers 404 for its group.
async function servesKeda(kubectl: Kubectl): Promise<boolean> {
  const discovered = await kubectl.discoveredGroups()
  if (discovered) return discovered.has('keda.sh')
  const result = await kubectl.run(['get', '--raw', '/apis/keda.sh/v1alpha1'], {
    okExitCodes: [0, 1],
    accept: r => r.exitCode === 0 || /NotFound|could not find the requested resource/i.test(r.stderr)
  })
  if (result.exitCode !== 0) return false
  const resources = (JSON.parse(result.stdout) as { resources?: Array<{ name?: string }> }).resources ?? []
  return resources.some(r => r.name === 'scaledobjects')
}

async function list(kubectl: Kubectl, resources: string, namespace: string): Promise<Scaler[]> {
  const result = await kubectl.run(['get', resources, '-n', namespace, '-o', 'json'])
  const parsed = JSON.parse(result.stdout || '{"items":[]}') as { items?: Scaler[] }
  return parsed.items ?? []
}

// Deletes them in order (the ScaledObject before its TriggerAuthentication), each its own step. Then a worker
// KEDA had scaled to zero gets worker_min_replicas back, checked at that moment (KEDA may have scaled it down
// until its ScaledObject went): an HPA does nothing for a Deployment at zero replicas.
export async function retireAutoscalers(
  kubectl: Kubectl,
  retiring: RetiredObject[],
  options: { namespace: string; worker?: string; replicasAfterKeda: number }
): Promise<RetireStep[]> {
  const steps: RetireStep[] = []
  const ordered = [...retiring].sort((a, b) => rank(a.kind) - rank(b.kind))
  for (const object of ordered) {
    const resource = resourceOf(object.kind)
    if (!resource) continue
    await kubectl.run(
      [
        'delete',
        `${resource}/${object.name}`,
        '-n',
        options.namespace,
        '--ignore-not-found',
        '--cascade=foreground',
        '--wait',
        `--timeout=${DELETE_TIMEOUT}`
      ],
      { timeoutMs: 120_000 }
    )
    steps.push({
      kind: object.kind,
      name: object.name,
      reason: object.reason,
      done: true,
      message: `deleted (${object.reason})`
    })
  }
  if (options.worker && ordered.some(o => o.kind === 'ScaledObject')) {
    const replicas = Math.max(1, options.replicasAfterKeda)
    // --current-replicas: only if it is at zero now; otherwise kubectl refuses (exit 1) and nothing changes.
    const result = await kubectl.run(
      [
        'scale',
        `deployment/${options.worker}`,
        '-n',
        options.namespace,
        '--current-replicas=0',
        `--replicas=${replicas}`
      ],
      { okExitCodes: [0, 1], accept: r => r.exitCode === 0 || /Expected replicas to be 0/.test(r.stderr) }
    )
    if (result.exitCode === 0) {
      steps.push({
        kind: 'Deployment',
        name: options.worker,
        reason: 'KEDA had scaled it to zero',
        done: true,
        message: `scaled from 0 to ${replicas} replicas (KEDA had scaled it to zero; an HPA cannot start from zero)`
      })
    }
  }
  return steps
}

// From `autoscaling: none` (where this action's apply owns spec.replicas) to an autoscaler: an apply without
// replicas would drop the field, and the API server would reset the worker to 1 replica at once. Another
// field manager takes the field over first, at its live value, as Kubernetes documents for handing replicas
// to an HPA; the autoscaler moves it from there.
export async function handOverReplicas(
  kubectl: Kubectl,
  worker: LiveObjectMeta
): Promise<number | undefined> {
  const replicas = (worker.spec as { replicas?: number } | undefined)?.replicas
  if (replicas === undefined) return undefined
  const handover = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: worker.metadata.name, namespace: worker.metadata.namespace },
    spec: { replicas }
  }
  await kubectl.run(
    // --validate=false: the body is only spec.replicas, as in the Kubernetes docs' handover.
    [
      'apply',
      '--server-side',
      `--field-manager=${HANDOVER_MANAGER}`,
      '--force-conflicts',
      '--validate=false',
      '-f',
      '-'
    ],
    { stdin: toKubectlInput([handover]) }
  )
  return replicas
}

function rank(kind: string): number {
  return ['ScaledObject', 'HorizontalPodAutoscaler', 'TriggerAuthentication'].indexOf(kind)
}
