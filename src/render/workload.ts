// Sets the action's inputs into a worker or beat Deployment template, field by field.

import type { DeployConfig } from '../inputs.js'
import { isRecord, type KubeObject } from '../k8s/kube-object.js'

export const PROXY_CONTAINER_NAME = 'cloud-sql-proxy'
export const APP_CONTAINER_NAME = 'app'

export interface Container {
  name: string
  image?: string
  args?: unknown[]
  env?: EnvVar[]
  envFrom?: Array<{ secretRef?: { name?: string; optional?: boolean }; [field: string]: unknown }>
  restartPolicy?: string
  [field: string]: unknown
}

export interface EnvVar {
  name: string
  value?: string
  valueFrom?: { secretKeyRef?: { name?: string; key?: string; optional?: boolean }; [field: string]: unknown }
}

export interface PodSpec {
  containers: Container[]
  initContainers?: Container[]
  serviceAccountName?: string
  [field: string]: unknown
}

export function podSpecOf(deployment: KubeObject): PodSpec | undefined {
  const spec = deployment.spec
  if (!isRecord(spec) || !isRecord(spec.template) || !isRecord(spec.template.spec)) return undefined
  const podSpec = spec.template.spec
  if (!Array.isArray(podSpec.containers)) return undefined
  return podSpec as unknown as PodSpec
}

// The app container is the one named "app", or the only container.
export function appContainerOf(podSpec: PodSpec): Container | undefined {
  return (
    podSpec.containers.find(c => c.name === APP_CONTAINER_NAME) ??
    (podSpec.containers.length === 1 ? podSpec.containers[0] : undefined)
  )
}

export function allContainersOf(podSpec: PodSpec): Container[] {
  return [...(podSpec.initContainers ?? []), ...podSpec.containers]
}

export interface WorkloadSettings {
  role: 'worker' | 'beat'
  secretKeys: string[] | undefined
}

// Returns problems (phrased to follow the object's description); mutates the deployment in place.
export function renderWorkload(
  deployment: KubeObject,
  config: DeployConfig,
  settings: WorkloadSettings
): string[] {
  const problems: string[] = []
  const podSpec = podSpecOf(deployment)
  if (!podSpec) return ['has no spec.template.spec.containers']
  const app = appContainerOf(podSpec)
  if (!app) return [`has no container named "${APP_CONTAINER_NAME}" (the Celery container)`]

  podSpec.serviceAccountName = config.serviceAccount
  app.image = config.image
  app.args = settings.role === 'worker' ? workerArgs(app.args, config) : beatArgs(app.args, config)
  app.env = mergeEnv(app.env ?? [], config, settings.secretKeys)
  for (const container of allContainersOf(podSpec)) pointSecretReferences(container, config.secretName)
  renderProxySidecar(podSpec, config, problems)
  return problems
}

function argsAsStrings(args: unknown[] | undefined): string[] {
  return (args ?? []).map(a => String(a))
}

// Replaces the value of an option given as "-X value", "--long value" or "--long=value"; adds it when absent.
function setOption(args: string[], short: string | undefined, long: string, value: string): string[] {
  const out = [...args]
  for (let i = 0; i < out.length; i++) {
    if ((short !== undefined && out[i] === short) || out[i] === long) {
      out[i + 1] = value
      return out
    }
    if (out[i].startsWith(`${long}=`)) {
      out[i] = `${long}=${value}`
      return out
    }
  }
  return [...out, long, value]
}

function removeOption(args: string[], short: string | undefined, long: string): string[] {
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    if ((short !== undefined && args[i] === short) || args[i] === long) {
      i++
      continue
    }
    if (args[i].startsWith(`${long}=`)) continue
    out.push(args[i])
  }
  return out
}

function workerArgs(template: unknown[] | undefined, config: DeployConfig): string[] {
  let args = setOption(argsAsStrings(template), '-A', '--app', config.celeryApp)
  args = setOption(args, '-Q', '--queues', config.workerQueues.join(','))
  args = removeOption(args, '-c', '--concurrency')
  if (config.workerConcurrency !== undefined) args.push(`--concurrency=${config.workerConcurrency}`)
  return args
}

function beatArgs(template: unknown[] | undefined, config: DeployConfig): string[] {
  return setOption(argsAsStrings(template), '-A', '--app', config.celeryApp)
}

// Template env first (inputs override same-named plain values), then `env` input entries, then a
// secretKeyRef for each key of the written Secret that the template does not reference yet, so a key
// added to secret_data reaches the pods without editing templates.
function mergeEnv(templateEnv: EnvVar[], config: DeployConfig, secretKeys: string[] | undefined): EnvVar[] {
  const env = templateEnv.map(e => ({ ...e }))
  for (const entry of config.env) {
    const existing = env.find(e => e.name === entry.name)
    if (existing) {
      delete existing.valueFrom
      existing.value = entry.value
    } else env.push({ name: entry.name, value: entry.value })
  }
  for (const key of secretKeys ?? []) {
    if (env.some(e => e.name === key)) continue
    env.push({ name: key, valueFrom: { secretKeyRef: { name: config.secretName, key } } })
  }
  return env
}

// Templates reference the Secret as ${SECRET_NAME}; point every reference to a Secret at secret_name.
function pointSecretReferences(container: Container, secretName: string): void {
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom?.secretKeyRef
    if (ref && (ref.name === undefined || /^\$\{[A-Z0-9_]+\}$/.test(ref.name))) ref.name = secretName
  }
  for (const source of container.envFrom ?? []) {
    if (
      source.secretRef &&
      (source.secretRef.name === undefined || /^\$\{[A-Z0-9_]+\}$/.test(source.secretRef.name))
    ) {
      source.secretRef.name = secretName
    }
  }
}

function renderProxySidecar(podSpec: PodSpec, config: DeployConfig, problems: string[]): void {
  const initContainers = podSpec.initContainers ?? []
  const proxy =
    initContainers.find(c => c.name === PROXY_CONTAINER_NAME) ??
    podSpec.containers.find(c => c.name === PROXY_CONTAINER_NAME)
  if (!config.cloudSqlInstance) {
    // No instance: the app reaches the database's private IP directly, so no proxy container at all.
    if (proxy) {
      podSpec.initContainers = initContainers.filter(c => c !== proxy)
      if (podSpec.initContainers.length === 0) delete podSpec.initContainers
      podSpec.containers = podSpec.containers.filter(c => c !== proxy)
    }
    return
  }
  if (!proxy) {
    problems.push(`has no "${PROXY_CONTAINER_NAME}" container, but cloud_sql_instance is set`)
    return
  }
  if (!initContainers.includes(proxy) || proxy.restartPolicy !== 'Always') {
    problems.push(
      `runs "${PROXY_CONTAINER_NAME}" as a plain container; it must be a native sidecar (an initContainer with restartPolicy: Always) so it starts before and stops after the app`
    )
  }
  proxy.image = config.cloudSqlProxyImage
  const args = argsAsStrings(proxy.args)
  // The instance is the positional argument: the template's placeholder or an instance name already set.
  const positional = args.findIndex(a => a === '${CLOUD_SQL_INSTANCE}' || /^[^-][^=]*:[^=]*:/.test(a))
  if (positional === -1) args.push(config.cloudSqlInstance)
  else args[positional] = config.cloudSqlInstance
  proxy.args = args
}
