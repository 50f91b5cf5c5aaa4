// The pre-deploy gate's Job, built field by field from the worker Deployment as rendered for this deploy: its pod
// template carries the new image, the environment and Secret references, the service account (Workload
// Identity) and the Cloud SQL proxy as a native sidecar, which the kubelet stops once the command has ended, so
// the Job completes. The command replaces Celery's in the app container; what belongs to a long-running worker
// (probes, preStop, ports, the worker's labels, which its Deployment, autoscaler and spread constraints select
// by) is left out. Pure.

import type { DeployConfig } from '../inputs.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { MANAGED_BY, TRACE_ANNOTATIONS, type RenderedManifests } from './render-manifests.js'
import { appContainerOf, podSpecOf, type Container } from './workload.js'

export const GATE_COMPONENT = 'pre-deploy'
// A finished gate stays a day for `kubectl logs job/NAME`, then the ttl-after-finished controller removes it
// with its pod.
export const GATE_TTL_SECONDS = 86_400
// The command runs under a shell, so a user writes it as on a command line (`&&`, quotes, variables).
export const GATE_SHELL = ['/bin/sh', '-c']
// The Job's pods are named <job>-<5 characters>, and the name is also a label value (63 at most).
const MAX_NAME_CHARS = 52

export interface GateJobSettings {
  name: string
  command: string
  timeoutSeconds: number
}

// What only a long-running container has: the gate's process is started once and ends by itself.
const WORKER_ONLY_FIELDS = ['args', 'readinessProbe', 'livenessProbe', 'startupProbe', 'lifecycle', 'ports']

export function renderGateJob(worker: KubeObject, settings: GateJobSettings): KubeObject {
  const podSpec = podSpecOf(worker)
  const app = podSpec ? appContainerOf(podSpec) : undefined
  // renderManifests refuses a worker without them; this is a programming error, not a user's.
  if (!podSpec || !app) throw new Error(`${worker.metadata.name} has no pod template with an app container`)
  const template = (worker.spec as { template: { metadata?: Record<string, unknown> } }).template
  const labels = gateLabels(worker)

  const container: Container = structuredClone(app)
  for (const field of WORKER_ONLY_FIELDS) delete container[field]
  container.command = [...GATE_SHELL, settings.command]

  const spec: Record<string, unknown> = structuredClone(podSpec)
  spec.containers = [container]
  spec.restartPolicy = 'Never'
  delete spec.topologySpreadConstraints

  const annotations = Object.fromEntries(
    Object.entries(worker.metadata.annotations ?? {}).filter(
      ([key]) => TRACE_ANNOTATIONS.includes(key) && key !== 'kubernetes.io/change-cause'
    )
  )
  const templateAnnotations = Object.fromEntries(
    Object.entries((template.metadata?.annotations ?? {}) as Record<string, string>).filter(
      // The restart stamp and kubectl's other bookkeeping are the Deployment's.
      ([key]) => !key.startsWith('kubectl.kubernetes.io/')
    )
  )
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: settings.name,
      namespace: worker.metadata.namespace,
      labels,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {})
    },
    spec: {
      // One attempt: a failing check or migration is reported, not retried behind the user's back.
      backoffLimit: 0,
      activeDeadlineSeconds: settings.timeoutSeconds,
      ttlSecondsAfterFinished: GATE_TTL_SECONDS,
      template: {
        metadata: {
          labels,
          ...(Object.keys(templateAnnotations).length > 0 ? { annotations: templateAnnotations } : {})
        },
        spec
      }
    }
  }
}

function gateLabels(worker: KubeObject): Record<string, string> {
  const from = worker.metadata.labels ?? {}
  const name = alphanumericAtTheEnd(`${worker.metadata.name}-${GATE_COMPONENT}`.slice(0, 63))
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/component': GATE_COMPONENT,
    ...(from['app.kubernetes.io/part-of']
      ? { 'app.kubernetes.io/part-of': from['app.kubernetes.io/part-of'] }
      : {}),
    ...(from['app.kubernetes.io/version']
      ? { 'app.kubernetes.io/version': from['app.kubernetes.io/version'] }
      : {}),
    'app.kubernetes.io/managed-by': MANAGED_BY
  }
}

// A label value ends with a letter or digit (a cut may leave a dash).
function alphanumericAtTheEnd(text: string): string {
  let end = text.length
  while (end > 0 && !/[A-Za-z0-9]/.test(text[end - 1])) end--
  return text.slice(0, end)
}

/**
 * The Job's name, from the deploy lock's identity of this run (deploy/deploy-lock.ts lockIdentity): the run and
 * its attempt, for people (`pre-deploy-8812345678-2-3fa9c1`), and the identity's random part, so that a re-run,
 * and two matrix legs of one run, never meet an earlier Job of the same name, while a retried apply of this run
 * meets its own.
 */
export function gateJobName(identity: string): string {
  const run = /\/runs\/(\d{1,20})\/attempts\/(\d{1,6})\//.exec(identity)
  const random = /#([0-9a-f]{6,})$/.exec(identity)?.[1]
  const unique = (random ?? fallbackHash(identity)).slice(0, 6)
  const middle = run ? `${run[1]}-${run[2]}` : 'local'
  return `${GATE_COMPONENT}-${middle}-${unique}`.slice(0, MAX_NAME_CHARS)
}

// An identity without the random part (not one of lockIdentity's): still a name of its own, the same each time.
function fallbackHash(text: string): string {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0
  return hash.toString(16).padStart(8, '0')
}

/** The gate's Job for this deploy, or undefined when pre_deploy_command is not set. */
export function renderGateJobFor(
  rendered: RenderedManifests,
  config: DeployConfig,
  identity: string
): KubeObject | undefined {
  const worker = rendered.objects.find(o => o.role === 'worker')?.object
  if (!config.preDeploy || !worker) return undefined
  return renderGateJob(worker, {
    name: gateJobName(identity),
    command: config.preDeploy.command,
    timeoutSeconds: config.preDeploy.timeoutSeconds
  })
}
