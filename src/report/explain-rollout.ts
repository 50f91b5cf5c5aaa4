// Why a rollout failed, as one finding per failed Deployment: the pod failure that explains it (a broken
// sidecar before the app it starves, a missing Secret key before a crash, ...), classified, with a remedy
// written for that class, or, when no pod failed, what the Deployment's own state says (progress deadline,
// a ReplicaSet that may not create pods, a rollout that was only slow).

import type { PodFailure } from '../deploy/pod-failures.js'
import { isPodReady } from '../deploy/rollout-state.js'
import type { RolloutResult } from '../deploy/wait-rollouts.js'
import type { SmokeCheckResult } from '../deploy/smoke-checks.js'
import { formatCpu, formatMemory, parseQuantity } from '../k8s/quantity.js'
import { eventLastSeen, eventOccurrences } from '../k8s/types.js'
import type { Container, Event, PodSpec, Probe } from '../k8s/types.js'
import { collapseLineBreaks } from '../untrusted-text.js'
import { TERMINAL_ESCAPES, type ContainerLog } from './diagnostics.js'
import type { Finding, FindingClass } from './finding.js'

export interface RolloutFacts {
  namespace: string
  /** The Kubernetes service account the pods run as (Workload Identity). */
  serviceAccount: string
  gcpServiceAccount?: string
  cloudSqlInstance?: string
  secretName: string
  /** The action writes the Secret (secret_data given): a missing key is added there. */
  writesSecret: boolean
  celeryApp: string
  workerConcurrency?: number
  rolloutTimeoutSeconds: number
  /** The Deployment of the worker (worker_concurrency applies to it alone). */
  workerDeployment?: string
  /** Each Deployment's pod spec as rendered, for a rollout that created no pod to look at. */
  podSpecs: Map<string, PodSpec>
}

export interface RolloutEvidence {
  rollouts: RolloutResult[]
  /** Events of this run's ReplicaSets and pods. */
  events: Event[]
  logs: ContainerLog[]
}

const PULL_REASONS = new Set(['ImagePullBackOff', 'ErrImagePull'])
const NOT_FOUND = /not ?found|manifest unknown|name unknown|no such host/i
const DENIED = /denied|unauthorized|forbidden|\b40[13]\b/i
const INVALID_REFERENCE = /invalid reference format/i
const PROGRESS_DEADLINE = 'ProgressDeadlineExceeded'
const AUTOPILOT_RESOURCES =
  'https://cloud.google.com/kubernetes-engine/docs/concepts/autopilot-resource-requests'

export function explainRollouts(evidence: RolloutEvidence, facts: RolloutFacts): Finding[] {
  return evidence.rollouts
    .filter(r => r.outcome !== 'complete')
    .map(rollout => explainRollout(rollout, evidence, facts))
}

function explainRollout(rollout: RolloutResult, evidence: RolloutEvidence, facts: RolloutFacts): Finding {
  if (rollout.outcome === 'not-verified') return explainNotVerified(rollout, facts)
  const fatal = rollout.failures.filter(f => f.fatal)
  const primary = mostTelling(fatal) ?? mostTelling(rollout.failures)
  const probe = probeFailure(rollout, evidence.events)
  const slow =
    rollout.outcome === 'timeout' ? ` and rollout_timeout (${facts.rolloutTimeoutSeconds}s) ran out` : ''
  // A liveness probe that kills the container explains its restarts better than the restarts do.
  if (probe && (!primary || (!primary.fatal && primary.container === probe.container))) {
    return withSlow(explainProbe(rollout, probe, facts), slow)
  }
  if (primary)
    return withSlow(explainPodFailure(rollout, primary, evidence.logs, facts), primary.fatal ? '' : slow)
  if (rollout.reason === PROGRESS_DEADLINE) {
    return {
      class: 'progress-deadline',
      subjects: [rollout.deployment],
      title: 'progress deadline exceeded',
      cause: `made no progress within the Deployment's progress deadline: ${readiness(rollout)}`,
      evidence: PROGRESS_DEADLINE,
      pods: rollout.pods.map(p => p.metadata.name),
      remedy:
        "No pod showed an error: look at the pods' logs and events below; raise spec.progressDeadlineSeconds in the templates only if a pod legitimately needs longer to become ready."
    }
  }
  if (rollout.outcome === 'failed' && rollout.reason) return explainReplicaFailure(rollout, facts)
  return {
    class: 'timeout',
    subjects: [rollout.deployment],
    title: 'rollout timed out',
    cause: `not rolled out within rollout_timeout (${facts.rolloutTimeoutSeconds}s): ${readiness(rollout)}`,
    pods: rollout.pods.map(p => p.metadata.name),
    remedy:
      "No pod showed an error: if the pods only start slowly (Autopilot adds a node in a few minutes, a long start-up), raise rollout_timeout; otherwise look at the pods' logs below."
  }
}

// Scaled to zero while it rolled, before any new pod was ready: for Kubernetes a Deployment at zero replicas
// has rolled out, but no pod of the new image ever ran, so nothing says it works.
function explainNotVerified(rollout: RolloutResult, facts: RolloutFacts): Finding {
  const started = rollout.pods.length
  return {
    class: 'not-verified',
    subjects: [rollout.deployment],
    title: 'scaled to zero before it was verified',
    cause: `was scaled to 0 replicas during its rollout before any pod of the new template was ready (${started} new pod${started === 1 ? '' : 's'} started, none ready): the new image is not verified`,
    evidence: rollout.reason,
    pods: rollout.pods.map(p => p.metadata.name),
    remedy: `Something scaled the Deployment to zero while it rolled out: KEDA (with autoscaling: keda the action holds the worker while it verifies it, unless the ScaledObject is paused by an annotation of its own: then the pause decides), or a person (kubectl scale). Deploy again; kubectl get events -n ${facts.namespace} shows who scaled it.`
  }
}

function withSlow(finding: Finding, slow: string): Finding {
  return slow ? { ...finding, cause: `${finding.cause}${slow}` } : finding
}

// How far the new pods got (kubectl's own wording would be about the old pods still running, which a
// rolling update keeps until the new ones are ready).
function readiness(rollout: RolloutResult): string {
  const ready = rollout.pods.filter(isPodReady).length
  return `${ready} of ${rollout.pods.length} new pods ready`
}

// Which failure explains the rollout: the sidecar the app waits for, then what stops a container before it
// runs (its configuration, its image), then what kills it once running.
const PRIORITY: Array<(f: PodFailure) => boolean> = [
  f => f.sidecar && !PULL_REASONS.has(f.reason),
  f => f.reason === 'CreateContainerConfigError',
  f => PULL_REASONS.has(f.reason) || f.reason === 'InvalidImageName' || f.reason === 'ErrImageNeverPull',
  f => f.reason === 'OOMKilled',
  f => f.reason === 'StartError',
  f => f.reason === 'CrashLoopBackOff',
  f => f.reason === 'CreateContainerError' || f.reason === 'RunContainerError',
  f => f.reason === 'Unschedulable',
  () => true
]

function mostTelling(failures: PodFailure[]): PodFailure | undefined {
  for (const matches of PRIORITY) {
    const found = failures.find(matches)
    if (found) return found
  }
  return undefined
}

function specOf(rollout: RolloutResult, failure: PodFailure, facts: RolloutFacts): PodSpec | undefined {
  return (
    rollout.pods.find(p => p.metadata.name === failure.pod)?.spec ?? facts.podSpecs.get(rollout.deployment)
  )
}

function containerOf(spec: PodSpec | undefined, name: string): Container | undefined {
  return [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])].find(c => c.name === name)
}

function isCloudSqlProxy(container: Container | undefined, name: string): boolean {
  return (
    /cloud-?sql-?proxy/i.test(name) ||
    /cloud-sql-proxy|cloudsql-proxy|cloud-sql-connectors/.test(container?.image ?? '')
  )
}

function explainPodFailure(
  rollout: RolloutResult,
  failure: PodFailure,
  logs: ContainerLog[],
  facts: RolloutFacts
): Finding {
  const spec = specOf(rollout, failure, facts)
  const container = containerOf(spec, failure.container)
  const base = { subjects: [rollout.deployment], pods: [failure.pod] }
  const restarts = failure.restartCount ? `, ${failure.restartCount} restarts` : ''
  const image = container?.image ?? 'the image'

  if (
    PULL_REASONS.has(failure.reason) ||
    failure.reason === 'InvalidImageName' ||
    failure.reason === 'ErrImageNeverPull'
  ) {
    return { ...base, ...explainPull(failure, image, facts) }
  }
  const proxy = failure.sidecar && isCloudSqlProxy(container, failure.container)
  if (failure.reason === 'CreateContainerConfigError')
    return { ...base, ...explainConfigError(failure, facts) }
  if (failure.reason === 'OOMKilled') {
    const limit = container?.resources?.limits?.memory
    const request = container?.resources?.requests?.memory
    const worker = rollout.deployment === facts.workerDeployment && !failure.sidecar
    return {
      ...base,
      class: 'oom-killed',
      title: `${failure.container} out of memory`,
      cause: `container ${failure.container} ran out of memory ${limit ? `at its limit of ${limit}` : '(no memory limit set)'}`,
      evidence: `OOMKilled, exit code ${failure.lastExitCode ?? 137}${restarts}`,
      remedy:
        `Raise the memory request and limit of ${failure.container} in the templates (now ${request ?? 'unset'} / ${limit ?? 'unset'})` +
        (worker
          ? `, or lower worker_concurrency (${facts.workerConcurrency ?? 'the CPU count'}): each prefork process holds its own copy of the app`
          : '') +
        '. Kubernetes does not record the peak; Cloud Monitoring has it (kubernetes.io/container/memory/used_bytes).'
    }
  }
  if (proxy) return { ...base, ...explainProxy(failure, logs, facts) }
  if (failure.reason === 'StartError') {
    return {
      ...base,
      class: 'start-error',
      title: `${failure.container} command cannot start`,
      cause: `container ${failure.container} could not start its command: ${clean(failure.message)}`,
      evidence: 'StartError',
      remedy: `The command (${commandOf(container)}) must exist in the image and be executable: check the image's PATH and the command in the templates.`
    }
  }
  if (failure.reason === 'CreateContainerError' || failure.reason === 'RunContainerError') {
    return {
      ...base,
      class: 'container-error',
      title: `${failure.container} cannot be created`,
      cause: `container ${failure.container} could not be created: ${clean(failure.message)}`,
      evidence: failure.reason,
      remedy:
        'The container runtime refused the container: fix what the message names (command, volume mounts, securityContext) in the templates.'
    }
  }
  if (failure.reason === 'Unschedulable') return { ...base, ...explainUnschedulable(failure, spec) }
  return { ...base, ...explainCrash(rollout, failure, container, logs, facts) }
}

function explainPull(
  failure: PodFailure,
  image: string,
  facts: RolloutFacts
): Omit<Finding, 'subjects' | 'pods'> {
  // What the registry answered, with the image reference itself taken out (a tag may contain "403").
  const answer = failure.message.split(image).join(' ')
  const where = failure.sidecar ? ` (sidecar ${failure.container})` : ''
  if (failure.reason === 'InvalidImageName' || INVALID_REFERENCE.test(answer)) {
    return {
      class: 'image-invalid',
      title: 'invalid image reference',
      cause: `image reference ${image}${where} is not valid`,
      evidence: failure.reason,
      remedy: 'Give the image as REGISTRY/PATH:TAG or REGISTRY/PATH@sha256:DIGEST (lower case, no spaces).'
    }
  }
  const registry = artifactRegistry(image)
  if (NOT_FOUND.test(answer)) {
    return {
      class: 'image-not-found',
      title: 'image not found',
      cause: `image ${image}${where} was not found`,
      evidence: failure.reason,
      remedy: registry
        ? `Check the tag and the repository path (gcloud artifacts docker images list ${registry.imagePath} --include-tags lists the tags there); push the image before deploying, or deploy a tag that exists.`
        : 'Check the tag and the repository path, and push the image before deploying (or deploy a tag that exists).'
    }
  }
  if (DENIED.test(answer)) {
    return {
      class: 'image-denied',
      title: 'image pull not authorised',
      cause: `the nodes may not pull image ${image}${where}`,
      evidence: `${failure.reason}: ${lastClause(answer)}`,
      remedy: registry
        ? `Grant the nodes' service account roles/artifactregistry.reader on repository ${registry.repository}: gcloud artifacts repositories add-iam-policy-binding ${registry.repository} --project=${registry.project} --location=${registry.location} --member=serviceAccount:NODE_SERVICE_ACCOUNT --role=roles/artifactregistry.reader (Autopilot nodes run as the Compute Engine default service account unless the cluster was created with another).`
        : `Give the nodes credentials for the registry: an imagePullSecret on the Kubernetes service account ${facts.serviceAccount}, or host the image in Artifact Registry.`
    }
  }
  return {
    class: 'image-pull',
    title: 'image pull keeps failing',
    cause: `pulling image ${image}${where} kept failing: ${lastClause(answer)}`,
    evidence: failure.reason,
    remedy:
      "The registry or the way to it is failing: check the registry's status and the cluster's egress (Cloud NAT, or Private Google Access for private nodes), then run the deploy again."
  }
}

function artifactRegistry(
  image: string
): { location: string; project: string; repository: string; imagePath: string } | undefined {
  const match = /^([a-z0-9-]+)-docker\.pkg\.dev\/([^/]+)\/([^/]+)\/([^@:]+)/.exec(image)
  if (!match) return undefined
  const [, location, project, repository, name] = match
  return {
    location,
    project,
    repository,
    imagePath: `${location}-docker.pkg.dev/${project}/${repository}/${name}`
  }
}

// `…: failed to resolve reference "…": not found` → `not found`; the registry's words, without the wrapping.
function lastClause(text: string): string {
  const parts = clean(text)
    .split(/:\s+/)
    .map(p => p.trim())
    .filter(p => p !== '' && p !== '""')
  return parts[parts.length - 1] ?? clean(text)
}

function clean(text: string): string {
  return collapseLineBreaks(text, ' ').trim()
}

function explainConfigError(failure: PodFailure, facts: RolloutFacts): Omit<Finding, 'subjects' | 'pods'> {
  const message = clean(failure.message)
  const base = { class: 'config-error' as FindingClass, evidence: 'CreateContainerConfigError' }
  const key = /couldn't find key (\S+) in (Secret|ConfigMap) (?:[^/\s]+\/)?(\S+)/.exec(message)
  if (key) {
    const [, name, kind, object] = key
    const ours = kind === 'Secret' && object === facts.secretName && facts.writesSecret
    return {
      ...base,
      title: `${kind} key ${name} missing`,
      cause: `container ${failure.container} cannot start: ${kind} ${object} has no key ${name}`,
      remedy: ours
        ? `Add ${name}=… to secret_data (the action writes Secret ${object}), or remove the reference to it from the templates.`
        : `Add key ${name} to ${kind} ${object} in namespace ${facts.namespace}, or mark the reference optional: true in the templates.`
    }
  }
  const missing = /(secret|configmap) "([^"]+)" not found/i.exec(message)
  if (missing) {
    const kind = missing[1].toLowerCase() === 'secret' ? 'Secret' : 'ConfigMap'
    return {
      ...base,
      title: `${kind} ${missing[2]} missing`,
      cause: `container ${failure.container} cannot start: ${kind} ${missing[2]} does not exist in namespace ${facts.namespace}`,
      remedy:
        kind === 'Secret' && missing[2] === facts.secretName
          ? `Give secret_data so the action writes Secret ${missing[2]}, or create it before deploying.`
          : `Create ${kind} ${missing[2]} in namespace ${facts.namespace} before deploying, or remove the reference from the templates.`
    }
  }
  return {
    ...base,
    title: `${failure.container} configuration error`,
    cause: `container ${failure.container} cannot start: ${message}`,
    remedy: "Fix what the message names in the container's env, envFrom or volumes."
  }
}

function explainProxy(
  failure: PodFailure,
  logs: ContainerLog[],
  facts: RolloutFacts
): Omit<Finding, 'subjects' | 'pods'> {
  const exit = failure.lastExitCode !== undefined ? ` with code ${failure.lastExitCode}` : ''
  const last = lastLogLine(logs, failure)
  return {
    class: 'proxy-sidecar',
    title: 'Cloud SQL proxy sidecar failing',
    cause: `the Cloud SQL Auth Proxy sidecar (${failure.container}) exits${exit}`,
    evidence: `${failure.reason}${failure.restartCount ? `, ${failure.restartCount} restarts` : ''}`,
    ...(last ? { tail: `; its last log line: ${last}` } : {}),
    remedy: proxyRemedy(facts)
  }
}

function proxyRemedy(facts: RolloutFacts): string {
  const gsa = facts.gcpServiceAccount ?? 'the Google service account of the pods'
  return (
    `Check cloud_sql_instance (${facts.cloudSqlInstance ?? 'not set'}; PROJECT:REGION:INSTANCE), that ${gsa} has roles/cloudsql.client ` +
    `and that Kubernetes service account ${facts.namespace}/${facts.serviceAccount} may act as it (roles/iam.workloadIdentityUser), ` +
    "and, with --private-ip, that the cluster's VPC reaches the instance's private IP."
  )
}

function explainUnschedulable(
  failure: PodFailure,
  spec: PodSpec | undefined
): Omit<Finding, 'subjects' | 'pods'> {
  // The scheduler's words come first in the message; the grace bookkeeping after them is ours.
  const said = failure.message.split(/; (?:still unscheduled|pending for) /)[0]
  const requests = podRequests(spec)
  return {
    class: 'unschedulable',
    title: 'pod cannot be scheduled',
    cause: `no node can run the pod: ${clean(said)}`,
    evidence: 'Unschedulable',
    remedy:
      `The pod requests ${requests} in all (its containers and sidecars); on Autopilot that must fit a compute class's per-pod limits (${AUTOPILOT_RESOURCES}) ` +
      'and the project quota: lower the requests in the templates, or raise scheduling_grace if a node scale-up is only slow.'
  }
}

// Containers and native sidecars run side by side, so their requests add up (plain init containers run
// before them, one at a time, and are left out).
function podRequests(spec: PodSpec | undefined): string {
  const running = [
    ...(spec?.containers ?? []),
    ...(spec?.initContainers ?? []).filter(c => c.restartPolicy === 'Always')
  ]
  const sum = (resource: 'cpu' | 'memory') =>
    running.reduce((total, c) => total + (parseQuantity(c.resources?.requests?.[resource]) ?? 0), 0)
  const cpu = sum('cpu')
  const memory = sum('memory')
  if (cpu === 0 && memory === 0) return 'no explicit resources (Autopilot applies its defaults)'
  return `${formatCpu(cpu)} CPU and ${formatMemory(memory)} memory`
}

export const EXIT_MEANINGS: Record<number, string> = {
  1: 'an error in the application',
  2: 'its command line was rejected',
  126: 'the command is not executable',
  127: 'the command was not found in the image',
  137: 'killed with SIGKILL',
  139: 'a segmentation fault',
  143: 'stopped with SIGTERM'
}

function explainCrash(
  rollout: RolloutResult,
  failure: PodFailure,
  container: Container | undefined,
  logs: ContainerLog[],
  facts: RolloutFacts
): Omit<Finding, 'subjects' | 'pods'> {
  const code = failure.lastExitCode
  const meaning = code !== undefined && EXIT_MEANINGS[code] ? `, ${EXIT_MEANINGS[code]}` : ''
  const last = lastLogLine(logs, failure)
  const log = logOf(logs, failure)?.text ?? ''
  const command = commandOf(container)
  return {
    class: 'crash-loop',
    title: `${failure.container} crashes`,
    cause: `container ${failure.container}${failure.sidecar ? ' (sidecar)' : ''} exits${code !== undefined ? ` with code ${code}${meaning}` : ''}`,
    evidence: `${failure.reason}${failure.restartCount ? `, ${failure.restartCount} restarts` : ''}`,
    ...(last ? { tail: `; last log line: ${last}` } : {}),
    remedy: crashRemedy(
      code,
      log,
      command,
      rollout.deployment === facts.workerDeployment || command.includes('celery'),
      facts
    )
  }
}

function crashRemedy(
  code: number | undefined,
  log: string,
  command: string,
  celery: boolean,
  facts: RolloutFacts
): string {
  const ran = `the command run: ${command}`
  if (code === 127)
    return `The command is not in the image: check ${command.split(' ')[0]} and the image's PATH (${ran}).`
  if (code === 126)
    return `The command is not executable in the image: check its file mode and interpreter (${ran}).`
  if (/ModuleNotFoundError|ImportError|No module named/.test(log)) {
    return `The app cannot be imported: celery_app (${facts.celeryApp}) must name a module in the image, with its dependencies installed (${ran}).`
  }
  if (
    /redis|6379/i.test(log) &&
    /refused|timed? ?out|unreachable|Name or service not known|WRONGPASS|NOAUTH/i.test(log)
  ) {
    return `It cannot reach Redis: check REDIS_URL (Memorystore's AUTH string, rediss:// with in-transit encryption) and that the cluster's VPC reaches the instance (${ran}).`
  }
  if (
    /psycopg|OperationalError|5432|database/i.test(log) &&
    /refused|timed? ?out|authentication failed|does not exist/i.test(log)
  ) {
    return `It cannot use the database: check DATABASE_URL or the db_* inputs and the Cloud SQL proxy sidecar (${ran}).`
  }
  if (code === 2 && celery) {
    return `celery rejected its arguments: check celery_app, worker_queues and worker_concurrency (${ran}).`
  }
  if (code === 137)
    return `Killed without OOMKilled: a failing liveness probe or the runtime stopped it; see the events below (${ran}).`
  return `Fix what the log of its previous instance shows (below); ${ran}.`
}

function commandOf(container: Container | undefined): string {
  const argv = [...(container?.command ?? []), ...(container?.args ?? [])]
  return argv.length > 0 ? argv.join(' ') : "the image's entrypoint"
}

function logOf(
  logs: ContainerLog[],
  failure: Pick<PodFailure, 'pod' | 'container'>
): ContainerLog | undefined {
  return logs.find(l => l.pod === failure.pod && l.container === failure.container)
}

// The last line the process wrote (usually the exception), without terminal escapes; undefined without one.
export function lastLogLine(
  logs: ContainerLog[],
  failure: Pick<PodFailure, 'pod' | 'container'>
): string | undefined {
  const text = logOf(logs, failure)?.text
  if (!text || /^\(log not available/.test(text)) return undefined
  const lines = text
    .replace(TERMINAL_ESCAPES, '')
    .split(/\r?\n/)
    .map(l => l.trim())
    .filter(Boolean)
  // Without a leading timestamp, so two pods that died of the same thing say the same line.
  const last = lines[lines.length - 1]?.replace(LEADING_TIMESTAMP, '')
  // Whole: the finding is redacted before it is cut to size (redactFinding), never the other way round.
  return last || undefined
}

// `2026-12-02T01:06:27.093Z `, `[2026-12-02 01:06:27,093: ` (Celery's), `2026/12/02 01:06:27 ` (Go's log).
const LEADING_TIMESTAMP = /^\[?\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?Z?(?:\]|:)?\s+/

interface ProbeFailure {
  pod: string
  container: string
  kind: 'readiness' | 'liveness' | 'startup'
  said: string
  count: number
}

// The newest Unhealthy event of this rollout's pods: `Readiness probe failed: <what the probe printed>`.
function probeFailure(rollout: RolloutResult, events: Event[]): ProbeFailure | undefined {
  const pods = new Set(rollout.pods.map(p => p.metadata.name))
  const unhealthy = events
    .filter(
      e =>
        e.reason === 'Unhealthy' && e.involvedObject.kind === 'Pod' && pods.has(e.involvedObject.name ?? '')
    )
    .sort((a, b) => eventLastSeen(b) - eventLastSeen(a))
  const event = unhealthy[0]
  if (!event) return undefined
  const match = /^(Readiness|Liveness|Startup) probe failed:?\s*(.*)$/s.exec(event.message ?? '')
  if (!match) return undefined
  const container = containerOfFieldPath(event.involvedObject.fieldPath ?? '')
  const same = unhealthy.filter(e => e.involvedObject.fieldPath === event.involvedObject.fieldPath)
  return {
    pod: event.involvedObject.name ?? '',
    container,
    kind: match[1].toLowerCase() as ProbeFailure['kind'],
    said: clean(match[2]),
    count: same.reduce((total, e) => total + eventOccurrences(e), 0)
  }
}

// `spec.containers{app}` → `app`: from the first `{` to a closing `}` at the end (as /\{(.+)\}$/ reads it,
// without that pattern's retries from every `{`).
function containerOfFieldPath(fieldPath: string): string {
  const open = fieldPath.indexOf('{')
  return open >= 0 && fieldPath.endsWith('}') && open < fieldPath.length - 2 && !fieldPath.includes('\n')
    ? fieldPath.slice(open + 1, -1)
    : ''
}

function explainProbe(rollout: RolloutResult, probe: ProbeFailure, facts: RolloutFacts): Finding {
  const pod = rollout.pods.find(p => p.metadata.name === probe.pod)
  const container = containerOf(pod?.spec ?? facts.podSpecs.get(rollout.deployment), probe.container)
  const spec = container?.[`${probe.kind}Probe` as 'readinessProbe' | 'livenessProbe' | 'startupProbe']
  const proxy = isCloudSqlProxy(container, probe.container)
  const what =
    probe.kind === 'liveness' ? 'is restarted by its liveness probe' : `never passes its ${probe.kind} probe`
  const name = probe.container || 'a container'
  return {
    class: 'probe',
    subjects: [rollout.deployment],
    title: `${name} ${probe.kind} probe failing`,
    cause: `container ${name} ${what}`,
    evidence: `Unhealthy ×${probe.count}`,
    pods: [probe.pod],
    ...(probe.said ? { tail: `; the probe said: ${probe.said}` } : {}),
    remedy: proxy
      ? proxyRemedy(facts)
      : `Run the probe by hand (kubectl exec -n ${facts.namespace} ${probe.pod} -c ${name} -- ${probeCommand(spec)}) and fix what it checks, or give the process longer (initialDelaySeconds, failureThreshold).`
  }
}

function probeCommand(probe: Probe | undefined): string {
  if (probe?.exec?.command?.length) return probe.exec.command.join(' ')
  if (probe?.httpGet)
    return `curl -fsS http://localhost:${probe.httpGet.port ?? ''}${probe.httpGet.path ?? '/'}`
  if (probe?.tcpSocket) return `sh -c 'echo > /dev/tcp/127.0.0.1/${probe.tcpSocket.port ?? ''}'`
  return 'THE_PROBE_COMMAND'
}

function explainReplicaFailure(rollout: RolloutResult, facts: RolloutFacts): Finding {
  // The reason is the cluster's text: compared, never made into a pattern.
  const prefix = `${rollout.reason}: `
  const message = clean(
    rollout.message.startsWith(prefix) ? rollout.message.slice(prefix.length) : rollout.message
  )
  const remedy = /exceeded quota/i.test(message)
    ? `A ResourceQuota in namespace ${facts.namespace} is used up: raise it, or lower the pods' requests or replicas.`
    : /violates PodSecurity|admission webhook|denied the request|GKE Warden|autopilot/i.test(message)
      ? 'An admission policy (on Autopilot, GKE Warden) refused the pod: change the field the message names in the templates.'
      : /serviceaccount/i.test(message)
        ? `The pods' service account is missing: the action creates ${facts.serviceAccount}; check the serviceAccountName in the templates.`
        : 'Fix what the message names; the ReplicaSet tries again by itself once it can create the pods.'
  return {
    class: 'replica-failure',
    subjects: [rollout.deployment],
    title: 'pods cannot be created',
    cause: `the ReplicaSet may not create pods: ${message}`,
    evidence: rollout.reason,
    pods: [],
    remedy
  }
}

const SMOKE_REMEDIES: Record<string, (facts: RolloutFacts) => string> = {
  'worker-process': () =>
    "The worker process is not running in the pod: see the pod's log; its command is in the worker Deployment.",
  'beat-process': () =>
    "The beat process is not running in the pod: see the pod's log; its command is in the beat Deployment.",
  database: facts =>
    `The worker cannot use the database: check DATABASE_URL (or db_user, db_password, db_name), ${facts.cloudSqlInstance ? `the Cloud SQL proxy (instance ${facts.cloudSqlInstance})` : 'db_host (the private IP)'}, and the database user's grants.`,
  redis: () =>
    "The worker cannot use Redis: check REDIS_URL (Memorystore with AUTH: redis://:AUTH_STRING@HOST:6379/0; with in-transit encryption rediss:// and the server CA) and that the cluster's VPC reaches the instance.",
  'celery-ping': facts =>
    `No worker answered celery inspect ping: check the worker's log, and that celery_app (${facts.celeryApp}) and the broker URL of worker and check agree.`
}

export function explainSmokeChecks(results: SmokeCheckResult[], facts: RolloutFacts): Finding[] {
  return results
    .filter(r => !r.ok)
    .map(r => ({
      class: 'smoke-check' as const,
      subjects: [`smoke check ${r.name}`],
      title: 'failed',
      cause: `failed: ${clean(r.detail)}`,
      pods: r.pod ? [r.pod] : [],
      remedy: (SMOKE_REMEDIES[r.name] ?? (() => "See the check's output and the pod's log."))(facts)
    }))
}

export function explainBeatGuard(problems: string[], beat: string): Finding[] {
  return problems.map(problem => ({
    class: 'beat-guard' as const,
    subjects: [beat],
    title: 'beat guard',
    cause: problem,
    pods: [],
    remedy: /autoscal/i.test(problem)
      ? 'Celery beat must run as exactly one replica: delete the autoscaler aimed at it.'
      : 'Celery beat must run as exactly one replica: keep its replicas at 1 and see its pod below.'
  }))
}
