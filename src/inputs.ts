// Raw action inputs -> a validated DeployConfig. Pure: main.ts reads the inputs and the environment and
// passes them in. Every problem is collected, so a user fixes all of them in one round.

import {
  checkCeleryApp,
  checkCloudSqlInstance,
  checkClusterName,
  checkDnsLabel,
  checkDnsSubdomain,
  checkImageReference,
  checkLocation,
  checkProjectId,
  checkQueueName,
  checkServiceAccountEmail,
  parseClusterName,
  parseDurationSeconds,
  parseHostPort
} from './input-rules.js'
import { parseKeyValueLines, type KeyValue } from './key-value-lines.js'
import { parsePreDeployInputs, type PreDeployConfig } from './pre-deploy-inputs.js'
import { secretForms } from './redact.js'
import { parseRedisUrl, REDIS_KEYS, type RedisConnection } from './render/redis-connection.js'

export const INPUT_NAMES = [
  'project_id',
  'location',
  'cluster_name',
  'cluster_endpoint',
  'image',
  'image_pinning',
  'namespace',
  'service_account',
  'gcp_service_account',
  'celery_app',
  'worker_queues',
  'worker_concurrency',
  'worker_min_replicas',
  'worker_max_replicas',
  'worker_cpu_target',
  'autoscaling',
  'queue_length_target',
  'queue_activation_length',
  'keda_polling_interval',
  'keda_cooldown_period',
  'redis_server_ca',
  'beat',
  'env',
  'secret_name',
  'secret_data',
  'db_user',
  'db_password',
  'db_name',
  'db_host',
  'cloud_sql_instance',
  'cloud_sql_proxy_image',
  'manifests',
  'namespaced_kinds',
  'dry_run',
  'rollout_timeout',
  'scheduling_grace',
  'lock_timeout',
  'rollback_on_failure',
  'smoke_checks',
  'pre_deploy_command',
  'pre_deploy_timeout',
  'task_safety',
  'github_token',
  'pr_comment'
] as const

export type InputName = (typeof INPUT_NAMES)[number]
export type RawInputs = Partial<Record<InputName, string>>

// Inputs whose values are secret: never echoed in an error, masked by main.ts the moment they are read. A
// database user name is not a secret (it shows in every connection log); masking it would blank that word,
// often the app's or the namespace's name, out of every log line, the summary and the plan.
export const SECRET_INPUTS: readonly InputName[] = ['secret_data', 'db_password', 'github_token']

// Keys of the written Secret that the action fills from plain inputs (db_user, db_name): not secrets.
// REDIS_ADDRESS (host:port, from REDIS_URL for KEDA) is no secret either: it shows in every connection error.
// Nor is a Redis ACL user name (masking "worker" would blank celery-worker everywhere) or a CA certificate.
export const PLAIN_SECRET_KEYS: readonly string[] = [
  'DB_USER',
  'DB_NAME',
  REDIS_KEYS.address,
  REDIS_KEYS.username,
  REDIS_KEYS.ca
]

export const DEFAULT_CLOUD_SQL_PROXY_IMAGE = 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0'

export type ClusterEndpoint = 'public' | 'private' | 'dns'
// digest: the Deployments get REGISTRY/PATH:TAG@sha256:DIGEST as resolved before any write; tag: `image` as given.
export type ImagePinning = 'digest' | 'tag'
// What scales the worker: a CPU HorizontalPodAutoscaler, KEDA on the queues' lengths, or nothing (a fixed
// replica count, worker_min_replicas).
export type Autoscaling = 'cpu' | 'keda' | 'none'

export interface KedaConfig {
  // Tasks waiting per replica (KEDA's listLength).
  queueLengthTarget: number
  // At 0 replicas, a queue longer than this starts the first one (KEDA's activationListLength).
  activationQueueLength: number
  pollingIntervalSeconds: number
  // How long all queues stay empty before the worker scales to zero (with worker_min_replicas 0).
  cooldownSeconds: number
}
// warn: findings in the summary and as warnings; strict: a finding fails the verification; off: not checked.
export type TaskSafetyMode = 'warn' | 'strict' | 'off'
export type SmokeCheckChoice = 'worker' | 'beat' | 'database' | 'redis' | 'celery-ping'
const SMOKE_CHECK_CHOICES: readonly SmokeCheckChoice[] = [
  'worker',
  'beat',
  'database',
  'redis',
  'celery-ping'
]

export interface DatabaseConfig {
  user: string
  password: string
  name: string
  host: string
  port: number
}

export interface DeployConfig {
  projectId?: string
  location?: string
  clusterName?: string
  clusterEndpoint: ClusterEndpoint
  image: string
  imagePinning: ImagePinning
  namespace: string
  serviceAccount: string
  gcpServiceAccount?: string
  celeryApp: string
  workerQueues: string[]
  workerConcurrency?: number
  workerMinReplicas: number
  workerMaxReplicas: number
  workerCpuTarget: number
  autoscaling: Autoscaling
  keda: KedaConfig
  // With keda, from REDIS_URL in secret_data: where KEDA reads the queues' lengths.
  redis?: RedisConnection
  beat: boolean
  env: KeyValue[]
  secretName: string
  // undefined: the action writes no Secret; the one in the cluster must already hold every referenced key.
  secretData?: KeyValue[]
  database?: DatabaseConfig
  cloudSqlInstance?: string
  cloudSqlProxyImage: string
  manifestsDir?: string
  // Users' namespaced custom resources (Kind.group) their templates hold, for an offline plan to accept.
  namespacedKinds: string[]
  dryRun: boolean
  dryRunSource: 'input' | 'pull_request' | 'default'
  rolloutTimeoutSeconds: number
  // How long a pod may wait for a node (Autopilot scale-up) before that counts as a failure.
  schedulingGraceSeconds: number
  // How long to wait for another run's deploy lock.
  lockTimeoutSeconds: number
  rollbackOnFailure: boolean
  smokeChecks: SmokeCheckChoice[]
  // A command run once in the new image (a Job) before any Deployment is written; undefined: no gate.
  preDeploy?: PreDeployConfig
  taskSafety: TaskSafetyMode
  githubToken?: string
  prComment: boolean
}

export interface InputContext {
  eventName: string
}

export class InputError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid input${problems.length === 1 ? '' : 's'} (${problems.length}):\n` +
        problems.map(p => `  - ${p}`).join('\n')
    )
    this.name = 'InputError'
  }
}

// One certificate or several (Memorystore lists two CAs while it rotates them).
const PEM_CERTIFICATE =
  /^(?:-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/
const PULL_REQUEST_EVENTS = new Set(['pull_request', 'pull_request_target'])
const MAX_SHOWN_CHARS = 80
const MAX_ROLLOUT_TIMEOUT_SECONDS = 6 * 3600

export function parseInputs(raw: RawInputs, context: InputContext): DeployConfig {
  const problems: string[] = []
  const text = (name: InputName): string => (raw[name] ?? '').trim()
  const optional = (name: InputName): string | undefined => text(name) || undefined
  // Quoted so a newline or a trailing space shows; a long value only by its start (an error that echoes a
  // 100 KB paste is no help, and could bury the other errors).
  const shown = (value: string): string =>
    value.length > MAX_SHOWN_CHARS
      ? `${JSON.stringify(value.slice(0, MAX_SHOWN_CHARS))}… (${value.length} characters)`
      : JSON.stringify(value)

  const checked = (
    name: InputName,
    fallback: string,
    ...rules: Array<(value: string) => string | undefined>
  ): string => {
    const value = text(name) || fallback
    for (const rule of rules) {
      const problem = rule(value)
      if (problem) {
        problems.push(`${name}: ${shown(value)} ${problem}`)
        break
      }
    }
    return value
  }

  const optionalChecked = (
    name: InputName,
    rule: (value: string) => string | undefined
  ): string | undefined => {
    const value = optional(name)
    if (value === undefined) return undefined
    const problem = rule(value)
    if (problem) problems.push(`${name}: ${shown(value)} ${problem}`)
    return value
  }

  const oneOf = <T extends string>(name: InputName, fallback: T, allowed: readonly T[]): T => {
    const value = (text(name) || fallback).toLowerCase() as T
    if (!allowed.includes(value)) {
      problems.push(`${name}: ${shown(text(name))} must be one of ${allowed.join(', ')}`)
      return fallback
    }
    return value
  }

  const boolean = (name: InputName, fallback: boolean): boolean =>
    oneOf(name, fallback ? 'true' : 'false', ['true', 'false'] as const) === 'true'

  const integer = (
    name: InputName,
    fallback: number | undefined,
    min: number,
    max: number
  ): number | undefined => {
    const value = text(name)
    if (value === '') return fallback
    if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      problems.push(`${name}: ${shown(value)} must be a whole number from ${min} to ${max}`)
      return fallback
    }
    return Number(value)
  }

  const kedaSeconds = (name: InputName, fallback: string, min: number): number => {
    const value = text(name) || fallback
    const seconds = parseDurationSeconds(value)
    if (seconds === undefined || seconds < min || seconds > 24 * 3600) {
      problems.push(
        `${name}: ${shown(value)} is not a duration from ${min}s to 24h (e.g. ${fallback}, 90s, 1m30s)`
      )
      return parseDurationSeconds(fallback) ?? 0
    }
    return seconds
  }

  // Cluster
  const projectId = optionalChecked('project_id', checkProjectId)
  const clusterInput = optionalChecked('cluster_name', checkClusterName)
  const clusterReference = clusterInput ? parseClusterName(clusterInput) : undefined
  let location = optionalChecked('location', checkLocation)
  if (clusterReference?.location) {
    if (location && location !== clusterReference.location) {
      problems.push(
        `location: ${shown(location)} differs from the location in cluster_name (${clusterReference.location}); give one or make them agree`
      )
    }
    location = clusterReference.location
  }
  if (clusterReference && !clusterReference.location && !location) {
    problems.push('location: is required with cluster_name (the region or zone of the GKE cluster)')
  }
  if (location && !clusterInput) {
    problems.push('cluster_name: is required with location (the GKE cluster to deploy to)')
  }
  const clusterEndpoint = oneOf<ClusterEndpoint>('cluster_endpoint', 'public', ['public', 'private', 'dns'])

  // Workload
  const image = text('image')
  if (image === '') problems.push('image: is required (the full image reference of the worker and beat)')
  else {
    const problem = checkImageReference(image)
    if (problem) problems.push(`image: ${shown(image)} ${problem}`)
  }
  const imagePinning = oneOf<ImagePinning>('image_pinning', 'digest', ['digest', 'tag'])
  const namespace = checked('namespace', 'noesis2', checkDnsLabel)
  const serviceAccount = checked('service_account', 'noesis2-worker-sa', checkDnsSubdomain)
  const gcpServiceAccount = optionalChecked('gcp_service_account', checkServiceAccountEmail)
  const celeryApp = checked('celery_app', 'noesis2', checkCeleryApp)

  const queuesText = text('worker_queues') || 'celery'
  const workerQueues = queuesText.split(',').map(q => q.trim())
  const emptyQueue = workerQueues.some(q => q === '')
  const badQueue = workerQueues.find(q => q !== '' && checkQueueName(q))
  const duplicateQueue = workerQueues.find((q, i) => workerQueues.indexOf(q) !== i)
  if (emptyQueue)
    problems.push(`worker_queues: ${shown(queuesText)} has an empty queue name (comma-separated names)`)
  else if (badQueue) problems.push(`worker_queues: ${shown(badQueue)} ${checkQueueName(badQueue)}`)
  else if (duplicateQueue) problems.push(`worker_queues: ${shown(duplicateQueue)} is listed more than once`)

  const workerConcurrency = integer('worker_concurrency', undefined, 1, 256)
  const autoscaling = oneOf<Autoscaling>('autoscaling', 'cpu', ['cpu', 'keda', 'none'])
  const workerMinReplicas = integer('worker_min_replicas', 1, 0, 1000) ?? 1
  const workerMaxReplicas = integer('worker_max_replicas', 5, 1, 1000) ?? 5
  if (workerMinReplicas === 0 && autoscaling !== 'keda') {
    problems.push(
      `worker_min_replicas: 0 (scale to zero) needs autoscaling: keda; a CPU autoscaler cannot start a worker for a queued task (autoscaling is ${autoscaling})`
    )
  }
  if (workerMinReplicas > workerMaxReplicas) {
    problems.push(
      `worker_min_replicas: ${workerMinReplicas} is greater than worker_max_replicas (${workerMaxReplicas}); min must be <= max`
    )
  }
  const workerCpuTarget = integer('worker_cpu_target', 70, 1, 100) ?? 70
  const keda: KedaConfig = {
    queueLengthTarget: integer('queue_length_target', 5, 1, 100000) ?? 5,
    activationQueueLength: integer('queue_activation_length', 0, 0, 100000) ?? 0,
    pollingIntervalSeconds: kedaSeconds('keda_polling_interval', '30s', 1),
    cooldownSeconds: kedaSeconds('keda_cooldown_period', '5m', 0)
  }
  if (autoscaling !== 'keda') {
    for (const name of [
      'queue_length_target',
      'queue_activation_length',
      'keda_polling_interval',
      'keda_cooldown_period',
      'redis_server_ca'
    ] as const) {
      if (text(name) !== '') problems.push(`${name}: is set, but autoscaling is ${autoscaling}, not keda`)
    }
  }
  const beat = boolean('beat', true)

  // Environment and Secret
  const envParse = parseKeyValueLines(raw.env ?? '')
  for (const problem of envParse.problems) problems.push(`env: ${problem}`)
  const secretName = checked('secret_name', 'app-secrets', checkDnsSubdomain)
  const secretParse = parseKeyValueLines(raw.secret_data ?? '', { secret: true })
  for (const problem of secretParse.problems) problems.push(`secret_data: ${problem}`)

  const dbUser = optional('db_user')
  // The password exactly as given: not trimmed (it is secret, so it is not quoted either).
  const dbPasswordRaw = raw.db_password ?? ''
  const dbPassword = dbPasswordRaw.trim() === '' ? undefined : dbPasswordRaw
  if (dbPassword !== undefined && dbPassword !== dbPassword.trim()) {
    problems.push(
      'db_password: starts or ends with white space (a trailing newline of the stored secret, say); it is used exactly as given, so remove it'
    )
  }
  const dbName = optional('db_name')
  const dbGiven = [dbUser, dbPassword, dbName].filter(v => v !== undefined).length
  if (dbGiven > 0 && dbGiven < 3) {
    const missing = (['db_user', 'db_password', 'db_name'] as const).filter(n => optional(n) === undefined)
    problems.push(
      `${missing.join(', ')}: ${missing.length === 1 ? 'is' : 'are'} required when any of db_user, db_password, db_name is given`
    )
  }
  if (dbName !== undefined && !/^[A-Za-z0-9_$-]{1,63}$/.test(dbName)) {
    problems.push(
      `db_name: ${shown(dbName)} is not a PostgreSQL database name (letters, digits, "_", "$" and "-", at most 63)`
    )
  }
  const cloudSqlInstance = optionalChecked('cloud_sql_instance', checkCloudSqlInstance)
  const dbHostText = optional('db_host')
  let dbHost = { host: '127.0.0.1', port: 5432 }
  if (dbHostText !== undefined) {
    const parsed = parseHostPort(dbHostText)
    if (!parsed) problems.push(`db_host: ${shown(dbHostText)} is not HOST or HOST:PORT`)
    else dbHost = parsed
    if (cloudSqlInstance) {
      problems.push(
        'db_host: cannot be combined with cloud_sql_instance (the proxy sidecar listens on 127.0.0.1:5432)'
      )
    }
  } else if (dbGiven === 3 && !cloudSqlInstance) {
    problems.push(
      'db_host: is required when db_user/db_password/db_name are given without cloud_sql_instance (the private IP of the database)'
    )
  }
  const database: DatabaseConfig | undefined =
    dbGiven === 3 ? { user: dbUser!, password: dbPassword!, name: dbName!, ...dbHost } : undefined

  const derivedSecretKeys = database ? ['DB_USER', 'DB_PASSWORD', 'DB_NAME', 'DATABASE_URL'] : []
  for (const entry of secretParse.entries) {
    if (derivedSecretKeys.includes(entry.name)) {
      problems.push(
        `secret_data: ${entry.name} is also built from db_user/db_password/db_name; give it in one place only`
      )
    }
  }
  const secretKeys = new Set([...secretParse.entries.map(e => e.name), ...derivedSecretKeys])
  for (const entry of envParse.entries) {
    if (secretKeys.has(entry.name)) {
      problems.push(
        `env: ${entry.name} is also a Secret key; a variable comes from env or from the Secret, not both`
      )
    }
  }
  const writesSecret = secretParse.entries.length > 0 || database !== undefined
  const redisUrl =
    autoscaling === 'keda'
      ? redisForKeda(secretParse.entries, writesSecret, optional('manifests') !== undefined, problems)
      : undefined
  const serverCa = optional('redis_server_ca')
  if (serverCa !== undefined && !PEM_CERTIFICATE.test(serverCa)) {
    problems.push(
      'redis_server_ca: is not a PEM certificate (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----; Memorystore: gcloud redis instances describe INSTANCE --region REGION --format="value(serverCaCerts[0].cert)")'
    )
  }
  if (serverCa !== undefined && redisUrl && !redisUrl.tls) {
    problems.push('redis_server_ca: is set, but REDIS_URL is redis:// (no TLS); use rediss:// or drop it')
  }
  const redis = redisUrl && serverCa !== undefined ? { ...redisUrl, serverCa: `${serverCa}\n` } : redisUrl

  const cloudSqlProxyImage = checked(
    'cloud_sql_proxy_image',
    DEFAULT_CLOUD_SQL_PROXY_IMAGE,
    checkImageReference
  )

  // Behaviour
  const dryRunChoice = oneOf('dry_run', 'auto', ['auto', 'true', 'false'] as const)
  const isPullRequest = PULL_REQUEST_EVENTS.has(context.eventName)
  const dryRun = dryRunChoice === 'auto' ? isPullRequest : dryRunChoice === 'true'
  const dryRunSource = dryRunChoice === 'auto' ? (isPullRequest ? 'pull_request' : 'default') : 'input'

  const timeoutText = text('rollout_timeout') || '300s'
  const rolloutTimeoutSeconds = parseDurationSeconds(timeoutText)
  if (
    rolloutTimeoutSeconds === undefined ||
    rolloutTimeoutSeconds < 1 ||
    rolloutTimeoutSeconds > MAX_ROLLOUT_TIMEOUT_SECONDS
  ) {
    problems.push(
      `rollout_timeout: ${shown(timeoutText)} is not a duration from 1s to 6h (e.g. 90, 90s, 5m, 1m30s)`
    )
  }
  const graceText = text('scheduling_grace') || '4m'
  const schedulingGraceSeconds = parseDurationSeconds(graceText)
  if (schedulingGraceSeconds === undefined || schedulingGraceSeconds > MAX_ROLLOUT_TIMEOUT_SECONDS) {
    problems.push(`scheduling_grace: ${shown(graceText)} is not a duration up to 6h (e.g. 0, 90s, 4m)`)
  }
  const lockText = text('lock_timeout') || '5m'
  const lockTimeoutSeconds = parseDurationSeconds(lockText)
  if (lockTimeoutSeconds === undefined || lockTimeoutSeconds > MAX_ROLLOUT_TIMEOUT_SECONDS) {
    problems.push(`lock_timeout: ${shown(lockText)} is not a duration up to 6h (e.g. 0, 90s, 5m)`)
  }
  const namespacedKinds = text('namespaced_kinds')
    .split(/[\s,]+/)
    .filter(Boolean)
  for (const kind of namespacedKinds) {
    if (!/^[A-Za-z][A-Za-z0-9]*(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(kind)) {
      problems.push(
        `namespaced_kinds: ${shown(kind)} is not Kind or Kind.group (e.g. PodMonitoring.monitoring.googleapis.com)`
      )
    }
  }
  const rollbackOnFailure = boolean('rollback_on_failure', true)
  const smokeChecks = parseSmokeChecks(text('smoke_checks') || 'true', beat, problems)
  const taskSafety = oneOf<TaskSafetyMode>('task_safety', 'warn', ['warn', 'strict', 'off'])
  const prComment = boolean('pr_comment', true)
  const preDeploy = parsePreDeployInputs(text('pre_deploy_command'), text('pre_deploy_timeout'), problems)

  if (problems.length > 0) throw new InputError(problems)

  return {
    projectId: projectId ?? clusterReference?.projectId,
    location,
    clusterName: clusterReference?.name,
    clusterEndpoint,
    image,
    imagePinning,
    namespace,
    serviceAccount,
    gcpServiceAccount,
    celeryApp,
    workerQueues,
    workerConcurrency,
    workerMinReplicas,
    workerMaxReplicas,
    workerCpuTarget,
    autoscaling,
    keda,
    redis,
    beat,
    env: envParse.entries,
    secretName,
    secretData: writesSecret ? secretParse.entries : undefined,
    database,
    cloudSqlInstance,
    cloudSqlProxyImage,
    manifestsDir: optional('manifests'),
    namespacedKinds,
    dryRun,
    dryRunSource,
    rolloutTimeoutSeconds: rolloutTimeoutSeconds ?? 300,
    schedulingGraceSeconds: schedulingGraceSeconds ?? 240,
    lockTimeoutSeconds: lockTimeoutSeconds ?? 300,
    rollbackOnFailure,
    smokeChecks,
    ...(preDeploy ? { preDeploy } : {}),
    taskSafety,
    githubToken: optional('github_token'),
    prComment
  }
}

// KEDA's redis scaler takes no URL: with keda, REDIS_URL in secret_data is split into Secret keys of their own
// (render/redis-connection.ts). Without it (a Secret the action does not write), only users' own templates can
// say where Redis is; theirs are checked when rendered.
function redisForKeda(
  secretData: KeyValue[],
  writesSecret: boolean,
  ownTemplates: boolean,
  problems: string[]
): RedisConnection | undefined {
  const url = secretData.find(e => e.name === 'REDIS_URL')
  if (!url) {
    if (!ownTemplates) {
      problems.push(
        writesSecret
          ? 'autoscaling: keda reads the queue lengths from Redis, and secret_data has no REDIS_URL (the action splits it into REDIS_ADDRESS and REDIS_PASSWORD for KEDA)'
          : 'autoscaling: keda reads the queue lengths from Redis: give REDIS_URL in secret_data (KEDA has no URL form; the action splits it into the Secret keys KEDA reads), or bring your own ScaledObject and TriggerAuthentication in manifests'
      )
    }
    return undefined
  }
  for (const key of Object.values(REDIS_KEYS)) {
    if (key !== REDIS_KEYS.ca && secretData.some(e => e.name === key)) {
      problems.push(
        `secret_data: ${key} is also built from REDIS_URL for KEDA (autoscaling: keda); give it in one place only`
      )
    }
  }
  const parsed = parseRedisUrl(url.value)
  if (typeof parsed === 'string') {
    problems.push(`secret_data: REDIS_URL ${parsed}`)
    return undefined
  }
  return parsed
}

// `true` means the default set for this deployment; `false` none; or a comma-separated list of checks.
function parseSmokeChecks(value: string, beat: boolean, problems: string[]): SmokeCheckChoice[] {
  const lowered = value.toLowerCase()
  if (lowered === 'false') return []
  if (lowered === 'true') {
    return beat ? ['worker', 'beat', 'database', 'redis'] : ['worker', 'database', 'redis']
  }
  const chosen = lowered.split(',').map(s => s.trim())
  const unknown = chosen.filter(c => !SMOKE_CHECK_CHOICES.includes(c as SmokeCheckChoice))
  if (unknown.length > 0) {
    problems.push(
      `smoke_checks: ${JSON.stringify(value)} must be true, false or a comma-separated list of ${SMOKE_CHECK_CHOICES.join(', ')}`
    )
    return []
  }
  if (!beat && chosen.includes('beat')) {
    problems.push('smoke_checks: "beat" is chosen but beat is false (no beat is deployed)')
  }
  return [...new Set(chosen)] as SmokeCheckChoice[]
}

// Every value a plain input holds (its lines too): public by definition. A secret that equals one of them is no
// secret worth masking, and masking it would blank a namespace, an image tag or a user name everywhere.
export function plainInputValues(raw: RawInputs): Set<string> {
  const values = new Set<string>()
  for (const name of INPUT_NAMES) {
    if (SECRET_INPUTS.includes(name)) continue
    const value = raw[name] ?? ''
    for (const part of [value, ...value.split(/\r?\n/), ...value.split(/[\r\n,=]/)]) {
      if (part.trim() !== '') values.add(part.trim())
    }
  }
  return values
}

// Whether a value is worth masking: long enough not to blank ordinary words, and not a plain input's value.
export function isMaskable(value: string, plain: ReadonlySet<string>): boolean {
  return value.length >= 3 && !plain.has(value)
}

// Every value derived from secret inputs that could surface somewhere, for main.ts to mask.
export function secretValuesOf(
  config: DeployConfig,
  secretFields: ReadonlyMap<string, string>,
  plain: ReadonlySet<string> = new Set()
): string[] {
  const values = new Set<string>()
  const add = (value: string | undefined): void => {
    if (value === undefined || !isMaskable(value, plain)) return
    for (const form of secretForms(value)) if (!plain.has(form)) values.add(form)
  }
  for (const entry of config.secretData ?? []) add(entry.value)
  for (const [key, value] of secretFields) if (!PLAIN_SECRET_KEYS.includes(key)) add(value)
  add(config.database?.password)
  add(config.githubToken)
  return [...values]
}
