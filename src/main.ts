// Reads the inputs, runs the steps, reports. The only module (with post.ts) that touches @actions/core's
// inputs and the process environment; everything it calls takes plain values.

import * as core from '@actions/core'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { traceFromEnvironment } from './action-environment.js'
import { deploy, PreflightError, type DeployOutcome } from './deploy/deploy.js'
import { lockIdentity } from './deploy/deploy-lock.js'
import { planAgainstCluster } from './deploy/plan.js'
import {
  INPUT_NAMES,
  SECRET_INPUTS,
  isMaskable,
  parseInputs,
  plainInputValues,
  secretValuesOf,
  type DeployConfig,
  type RawInputs
} from './inputs.js'
import { kedaProblems, kindProblems, readApiResources, resourceOfKind } from './kube/discovery.js'
import { CancelledError, cancellationReason, Kubectl } from './kube/kubectl.js'
import { createRedactor, secretForms, type Redact, type Redactor } from './redact.js'
import { loadTemplates } from './render/load-templates.js'
import { groupOf, kindName } from './render/kinds.js'
import { RenderError, renderManifests, type RenderedManifests } from './render/render-manifests.js'
import { toYamlDocuments } from './render/serialize.js'
import { PLAN_COMMENT_MARKER, renderClusterPlanSummary } from './report/cluster-plan-summary.js'
import { renderDeploySummary, renderStoppedSummary, STATUS_ICON } from './report/deploy-summary.js'
import { explainError } from './report/explain-error.js'
import { explainOutcome } from './report/explain-outcome.js'
import type { RolloutFacts } from './report/explain-rollout.js'
import { redactFinding, type Finding } from './report/finding.js'
import { annotationsOf, type LinkContext } from './report/headline.js'
import { coordinatesOf, type GkeCoordinates } from './report/links.js'
import { inline, truncateMarkdown } from './report/markdown.js'
import { renderPlanSummary, type InputRow } from './report/plan-summary.js'
import { Timeline } from './report/timeline.js'
import type { PodSpec } from './kube/types.js'
import { forLog } from './untrusted-text.js'

// dist/index.js and src/main.ts both sit one level below the action's root, beside manifests/. Built from the
// directory at run time so the bundler leaves the templates where users can read them.
const ACTION_ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const BUILT_IN_MANIFESTS = path.join(ACTION_ROOT, 'manifests')
// A PR comment body may hold 65536 characters (kept in bytes, which is stricter); a job summary 1 MiB.
const MAX_COMMENT_BYTES = 60_000
const MAX_SUMMARY_BYTES = 1000 * 1024

interface ClusterAccess {
  kubectl: Kubectl
  // The kubeconfig its calls use (the post step releases a deploy lock left behind with it).
  kubeconfig: string
  describe: string
  // Where the cluster is in Google Cloud (for links to its logs and workloads), and who the deploy acts as.
  gke?: GkeCoordinates
  identity?: string
}

// What the report of a failure needs from the run so far; filled in as the run gets further.
interface RunSoFar {
  config?: DeployConfig
  rendered?: RenderedManifests
  access?: ClusterAccess
  redact: Redactor
  timeline: Timeline
}

export async function run(): Promise<void> {
  // GitHub cancels a step with SIGINT, then SIGTERM 7.5 s later, then kills it: the first signal stops the
  // deploy's waiting at once, so the rollback, the lock and the report fit in before the kill.
  const cancellation = new AbortController()
  const cancel = (signal: NodeJS.Signals): void => {
    if (cancellation.signal.aborted) return
    info(`Received ${signal}: cancelling the deploy.`)
    cancellation.abort(signal)
  }
  process.on('SIGINT', cancel)
  process.on('SIGTERM', cancel)
  let during = 'reading the inputs'
  const timeline = new Timeline()
  const soFar: RunSoFar = { redact: createRedactor(), timeline }
  try {
    const raw = readInputs()
    soFar.redact.add(SECRET_INPUTS.map(name => raw[name] ?? ''))
    const config = parseInputs(raw, { eventName: process.env.GITHUB_EVENT_NAME ?? '' })
    soFar.config = config
    const plain = plainInputValues(raw)
    const secretValues: string[] = []
    const rendered = await timeline.time('Before any change', 'Render manifests', () =>
      core.group('Render manifests', async () => {
        const templates = await loadTemplates(config.manifestsDir ?? BUILT_IN_MANIFESTS)
        const result = renderManifests(templates, config, traceFromEnvironment(process.env))
        for (const value of secretValuesOf(config, result.secretData ?? new Map(), plain)) {
          core.setSecret(value)
          secretValues.push(value)
        }
        for (const item of result.objects)
          info(`${item.object.kind}/${item.object.metadata.name} (${item.file})`)
        for (const note of result.notes) core.notice(note)
        return result
      })
    )
    soFar.rendered = rendered
    const redact = soFar.redact
    redact.add(secretValues)
    const learnSecrets = (values: string[]): void => learnSecretValues(redact, values, plain)
    const workDirectory = await mkdtemp(
      path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'deploy-gke-workers-')
    )
    const manifestsPath = await writeRenderedManifests(workDirectory, rendered)
    core.setOutput('manifests', manifestsPath)
    core.setOutput('image', config.image)

    if (config.dryRun && !(await hasClusterAccess(config))) {
      const unknown = rendered.unverifiedKinds.filter(k => !k.named)
      if (unknown.length > 0) {
        throw new RenderError(
          unknown.map(
            k =>
              `${k.file}: ${k.object}: ${kindName(k.kind, k.group)} is not a kind this action knows to be namespaced, and an offline dry run has no cluster to ask; if it is a namespaced custom resource, name it in namespaced_kinds`
          )
        )
      }
      await reportOfflineDryRun(config, raw, rendered, manifestsPath)
      return
    }

    during = 'the cluster credentials'
    const access = await timeline.time('Before any change', 'Cluster credentials', () =>
      core.group('Cluster credentials', () => openClusterAccess(config, workDirectory, redact))
    )
    soFar.access = access
    info(access.describe)
    throwIfCancelled(cancellation.signal)
    // Kinds this action does not know: the cluster's discovery says whether they are namespaced, and which
    // resource the access checks ask about.
    // KEDA's kinds too (autoscaling: keda): a cluster without KEDA must stop the run here, not half-way.
    const kedaKinds = rendered.objects
      .map(o => ({ kind: o.object.kind, group: groupOf(o.object.apiVersion) }))
      .filter(k => k.group === 'keda.sh')
    const discovered =
      rendered.unverifiedKinds.length + kedaKinds.length > 0 ? await readApiResources(access.kubectl) : []
    if (rendered.unverifiedKinds.length > 0) {
      const problems = kindProblems(rendered.unverifiedKinds, discovered)
      if (problems.length > 0) throw new RenderError(problems)
    }
    const kedaMissing = kedaProblems(kedaKinds, discovered)
    if (kedaMissing.length > 0) {
      throw new PreflightError(
        kedaMissing.map(text => ({ kind: 'keda-missing' as const, text })),
        'KEDA is not installed in the cluster'
      )
    }
    const resourceOf = (kind: string, apiVersion: string): string | undefined =>
      resourceOfKind(discovered, kind, groupOf(apiVersion))
    if (config.dryRun) {
      during = 'the dry run'
      await dryRunAgainstCluster(
        config,
        { ...access, kubectl: access.kubectl.withSignal(cancellation.signal) },
        rendered,
        manifestsPath,
        workDirectory,
        redact
      )
      return
    }
    during = 'the pre-flight checks, before any change'
    const lockOwner = lockOwnerFromEnvironment()
    const outcome = await deploy({
      kubectl: access.kubectl,
      signal: cancellation.signal,
      resourceOfKind: resourceOf,
      timeline,
      onLockHeld: held =>
        core.saveState(
          'lock',
          held
            ? JSON.stringify({
                namespace: config.namespace,
                identity: lockOwner.identity,
                kubeconfig: access.kubeconfig
              })
            : ''
        ),
      config,
      rendered,
      redact,
      learnSecrets,
      forceRestart: process.env.GITHUB_EVENT_NAME === 'workflow_dispatch',
      lockOwner,
      group: (name, fn) => core.group(name, fn),
      log: line => info(line),
      warn: line => core.warning(line)
    })
    await reportDeploy(config, outcome, { ...soFar, access, rendered })
  } catch (error) {
    if (error instanceof CancelledError) {
      await reportCancelledBeforeAnyChange(error.reason, error.during ?? during)
      return
    }
    await reportStopped(error, soFar)
  }
}

// The run stopped before its first write (or could not start): why, in the summary and as annotations; the
// whole message, with every problem, stays in the log.
async function reportStopped(error: unknown, soFar: RunSoFar): Promise<void> {
  const { config, redact } = soFar
  const explained = explainError(error, {
    namespace: config?.namespace ?? '',
    secretName: config?.secretName ?? '',
    writesSecret: config?.secretData !== undefined,
    identity: soFar.access?.identity
  })
  const findings = explained.findings.map(f => redactFinding(f, redact))
  core.setOutput('status', 'failed')
  info(`deploy-gke-workers: ${redact(error instanceof Error ? error.message : String(error))}`)
  await writeSummary(
    renderStoppedSummary({
      findings,
      problems: explained.problems.map(redact),
      timeline: soFar.timeline.steps
    })
  ).catch((failure: unknown) =>
    core.warning(`could not write the job summary: ${(failure as Error).message}`)
  )
  failWith(findings)
}

// One error annotation per finding, titled (the run page shows them without the log), and a failed step.
function failWith(findings: Finding[]): void {
  for (const annotation of annotationsOf(findings))
    core.error(annotation.message, { title: annotation.title })
  process.exitCode = core.ExitCode.Failure
}

// Every line the action logs goes out through forLog: names and messages from templates and the cluster
// must not be able to issue workflow commands. (core.warning and core.notice escape their text themselves.)
function info(text: string): void {
  core.info(forLog(text))
}

// The job summary, kept under GitHub's limit: a plan of very large templates points at the manifests file.
// Without GITHUB_STEP_SUMMARY (a local run, a runner too old for summaries) the deploy still counts: the
// summary is skipped with a warning, and everything in it is also in the log and the outputs.
async function writeSummary(markdown: string, manifestsPath?: string): Promise<void> {
  const fitted = truncateMarkdown(
    markdown,
    MAX_SUMMARY_BYTES,
    manifestsPath
      ? `a job summary holds 1 MiB; every object is in the rendered manifests file ${manifestsPath} (the manifests output)`
      : 'a job summary holds 1 MiB'
  )
  if (!process.env.GITHUB_STEP_SUMMARY) {
    core.warning(
      'deploy-gke-workers: GITHUB_STEP_SUMMARY is not set, so there is no job summary (the log has it all)'
    )
    return
  }
  await core.summary.addRaw(fitted).write()
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError(cancellationReason(signal))
}

// Cancelled before the first write (the Namespace and the deploy lock aside): nothing to roll back.
async function reportCancelledBeforeAnyChange(reason: string, during: string): Promise<void> {
  const headline = `Cancelled (${reason}) during ${during}: nothing was changed.`
  await writeSummary(
    `## ${STATUS_ICON.cancelled} deploy-gke-workers: cancelled\n\n${inline(headline)}\n`
  ).catch(() => undefined)
  core.setOutput('status', 'cancelled')
  core.error(headline, { title: 'deploy-gke-workers: cancelled' })
  process.exitCode = core.ExitCode.Failure
}

// Secret inputs are masked here, before anything else can print them; secret_data value by value too,
// because the runner masks a multi-line value only where it appears whole. Values are kept exactly as given
// (inputs.ts refuses surrounding whitespace rather than trimming a secret silently).
function readInputs(): RawInputs {
  const raw: RawInputs = {}
  for (const name of INPUT_NAMES) raw[name] = core.getInput(name, { trimWhitespace: false })
  const plain = plainInputValues(raw)
  const mask = (value: string): void => {
    if (isMaskable(value, plain)) core.setSecret(value)
  }
  for (const name of SECRET_INPUTS) {
    const value = raw[name] ?? ''
    mask(value.trim())
    if (name !== 'secret_data') continue
    for (const line of value.split(/\r?\n/)) {
      mask(line.trim())
      const equals = line.indexOf('=')
      if (equals > 0) mask(line.slice(equals + 1))
    }
  }
  return raw
}

function lockOwnerFromEnvironment(): { identity: string; runUrl?: string; actor?: string } {
  const trace = traceFromEnvironment(process.env)
  const run = process.env.GITHUB_RUN_ID
  // The run, attempt and job for people, and a random part: two matrix legs of one job share the rest.
  const identity = lockIdentity(
    run
      ? `${process.env.GITHUB_REPOSITORY ?? ''}/runs/${run}/attempts/${process.env.GITHUB_RUN_ATTEMPT ?? '1'}/${process.env.GITHUB_JOB ?? ''}`
      : `local-${os.hostname()}-${process.pid}`
  )
  return { identity, runUrl: trace.runUrl, actor: trace.actor }
}

// Values read from the cluster (a live Secret) are masked like inputs: they reach pods, logs and errors.
function learnSecretValues(redactor: Redactor, values: string[], plain: ReadonlySet<string>): void {
  const forms = values.filter(v => isMaskable(v, plain)).flatMap(secretForms)
  for (const form of forms) core.setSecret(form)
  redactor.add(forms)
}

async function hasClusterAccess(config: DeployConfig): Promise<boolean> {
  // Google's client library is most of the bundle: loaded only when the run gets that far (an input error or
  // an offline plan never pays for it).
  if (config.clusterName) return (await import('./gke/credentials.js')).hasCredentials(process.env)
  const files = (process.env.KUBECONFIG ?? path.join(os.homedir(), '.kube', 'config')).split(path.delimiter)
  return files.some(file => file !== '' && existsSync(file))
}

async function openClusterAccess(
  config: DeployConfig,
  workDirectory: string,
  redact: Redact
): Promise<ClusterAccess> {
  // Discovery cache of our own: nothing under the user's ~/.kube is read or written.
  const env = { ...process.env, KUBECACHEDIR: path.join(workDirectory, 'kube-cache') }
  await mkdir(env.KUBECACHEDIR, { recursive: true })
  const kubectlOptions = { env, redact, log: (line: string) => core.debug(line) }

  if (!config.clusterName) {
    const kubeconfig = existingKubeconfig()
    return {
      kubectl: new Kubectl({ ...kubectlOptions, kubeconfig }),
      kubeconfig,
      describe: `cluster_name is empty: using the kubeconfig in place (${kubeconfig}) and its current context`
    }
  }
  const { GkeKubeconfigSession } = await import('./gke/session.js')
  const session = await new GkeKubeconfigSession({
    env: process.env,
    projectId: config.projectId,
    location: config.location!,
    clusterName: config.clusterName,
    endpoint: config.clusterEndpoint,
    namespace: config.namespace,
    dir: workDirectory,
    log: line => info(line),
    onToken: token => core.setSecret(token)
  }).open()
  // Saved before anything else can fail, so the post step removes the kubeconfig whatever happens next.
  core.saveState('kubeconfig', session.path)
  core.setOutput('kubeconfig', session.path)
  return {
    kubectl: new Kubectl({
      ...kubectlOptions,
      kubeconfig: session.path,
      beforeCall: () => session.ensureFresh()
    }),
    kubeconfig: session.path,
    gke: coordinatesOf(session.cluster.resourceName),
    ...(session.identity ? { identity: session.identity } : {}),
    describe: `GKE cluster ${session.cluster.resourceName ?? config.clusterName} (${config.clusterEndpoint} endpoint ${session.server})`
  }
}

function existingKubeconfig(): string {
  const fromEnv = process.env.KUBECONFIG
  if (fromEnv) {
    const files = fromEnv.split(path.delimiter).filter(Boolean)
    if (files.length > 1) {
      throw new Error(
        `KUBECONFIG lists ${files.length} files; with cluster_name empty, point it at one kubeconfig file`
      )
    }
    return files[0]
  }
  const fallback = path.join(os.homedir(), '.kube', 'config')
  if (!existsSync(fallback)) {
    throw new Error(
      'cluster_name is empty and there is no kubeconfig in place (KUBECONFIG is unset and ~/.kube/config does not exist): give cluster_name and location'
    )
  }
  return fallback
}

async function writeRenderedManifests(directory: string, rendered: RenderedManifests): Promise<string> {
  const file = path.join(directory, 'manifests.yaml')
  const header =
    '# Rendered by deploy-gke-workers. Secret values are redacted (***): this file is a record, not for kubectl apply.\n'
  await writeFile(
    file,
    header +
      toYamlDocuments(
        rendered.objects.map(o => o.object),
        { redact: true }
      ),
    { mode: 0o600 }
  )
  return file
}

function inputRows(raw: RawInputs): InputRow[] {
  return INPUT_NAMES.filter(name => (raw[name] ?? '').trim() !== '').map(name => ({
    name,
    value: raw[name] ?? '',
    secret: SECRET_INPUTS.includes(name)
  }))
}

async function reportOfflineDryRun(
  config: DeployConfig,
  raw: RawInputs,
  rendered: RenderedManifests,
  manifestsPath: string
): Promise<void> {
  const reason = config.clusterName
    ? 'Dry run without Google credentials: rendered and validated offline.'
    : 'Dry run without a cluster: rendered and validated offline.'
  const markdown = renderPlanSummary({
    mode: 'offline',
    reason,
    namespace: config.namespace,
    image: config.image,
    inputs: inputRows(raw),
    rendered,
    manifestsPath,
    runUrl: traceFromEnvironment(process.env).runUrl
  })
  await writeSummary(markdown, manifestsPath)
  await commentOnPullRequest(config, markdown)
  core.setOutput('status', 'dry-run')
  info(
    `Dry run: ${rendered.objects.length} objects rendered and validated; nothing applied. Plan in the job summary.`
  )
}

async function dryRunAgainstCluster(
  config: DeployConfig,
  access: ClusterAccess,
  rendered: RenderedManifests,
  manifestsPath: string,
  workDirectory: string,
  redact: Redact
): Promise<void> {
  const plan = await core.group('Dry run against the cluster', () =>
    planAgainstCluster(access.kubectl, rendered, config, redact)
  )
  const diffPath = path.join(workDirectory, 'diff.txt')
  await writeFile(diffPath, plan.diff, { mode: 0o600 })
  core.setOutput('diff', diffPath)
  const reason =
    config.dryRunSource === 'pull_request' ? 'Dry run (pull request).' : 'Dry run (dry_run: true).'
  const markdown = renderClusterPlanSummary({
    plan,
    image: config.image,
    namespace: config.namespace,
    reason,
    manifestsPath,
    runUrl: traceFromEnvironment(process.env).runUrl
  })
  await writeSummary(markdown, manifestsPath)
  await commentOnPullRequest(config, markdown)
  for (const action of plan.actions) info(`${action.kind}/${action.name}: would be ${action.action}`)
  core.setOutput('status', 'dry-run')
  if (plan.problems.length > 0) {
    for (const problem of plan.problems) core.warning(problem)
  }
}

async function reportDeploy(
  config: DeployConfig,
  outcome: DeployOutcome,
  run: RunSoFar & { access: ClusterAccess; rendered: RenderedManifests }
): Promise<void> {
  const { redact, timeline } = run
  const findings = explainOutcome(outcome, rolloutFacts(config, run.rendered)).map(f =>
    redactFinding(f, redact)
  )
  const started = timeline.startedAt() ?? Date.now()
  const links: LinkContext = {
    gke: run.access.gke,
    namespace: config.namespace,
    deployments: Object.keys(outcome.revisionsAfter),
    // From a minute before the run (the cluster's clock may differ) to a while after, for pods still crashing.
    window: { fromMs: started - 60_000, toMs: Date.now() + 10 * 60_000 }
  }
  await writeSummary(
    renderDeploySummary(outcome, {
      image: config.image,
      namespace: config.namespace,
      redact,
      findings,
      links,
      timeline: timeline.steps
    })
  )
  core.setOutput('status', outcome.status)
  core.setOutput(
    'worker_revision',
    (outcome.roles.worker && outcome.revisionsAfter[outcome.roles.worker]) ?? ''
  )
  core.setOutput('beat_revision', (outcome.roles.beat && outcome.revisionsAfter[outcome.roles.beat]) ?? '')
  for (const warning of outcome.warnings) core.warning(`Kubernetes API: ${redact(warning)}`)
  core.setOutput(
    'smoke_results',
    JSON.stringify(
      outcome.smoke.map(s => ({
        name: s.name,
        pod: s.pod,
        ok: s.ok,
        ...(s.skipped ? { skipped: true } : {}),
        duration_ms: s.durationMs,
        detail: redact(s.detail)
      }))
    )
  )
  info(redact(outcome.headline))
  if (outcome.status === 'failed' || outcome.status === 'rolled-back' || outcome.status === 'cancelled') {
    failWith(findings)
  }
}

function rolloutFacts(config: DeployConfig, rendered: RenderedManifests): RolloutFacts {
  const podSpecs = new Map<string, PodSpec>()
  for (const { object } of rendered.objects) {
    const spec = (object.spec as { template?: { spec?: PodSpec } } | undefined)?.template?.spec
    if (object.kind === 'Deployment' && spec) podSpecs.set(object.metadata.name, spec)
  }
  return {
    namespace: config.namespace,
    serviceAccount: config.serviceAccount,
    gcpServiceAccount: config.gcpServiceAccount,
    cloudSqlInstance: config.cloudSqlInstance,
    secretName: config.secretName,
    writesSecret: config.secretData !== undefined,
    celeryApp: config.celeryApp,
    workerConcurrency: config.workerConcurrency,
    rolloutTimeoutSeconds: config.rolloutTimeoutSeconds,
    workerDeployment: rendered.objects.find(o => o.role === 'worker')?.object.metadata.name,
    podSpecs
  }
}

async function commentOnPullRequest(config: DeployConfig, markdown: string): Promise<void> {
  if (!config.prComment || !config.githubToken) return
  const target = await pullRequestTarget(config.githubToken)
  if (!target) return
  const body = truncateMarkdown(
    markdown,
    MAX_COMMENT_BYTES,
    'a comment holds 65536 characters; the job summary has the rest'
  )
  try {
    // GitHub's client (Octokit) is loaded only for a pull request's comment.
    const { upsertPlanComment } = await import('./report/pr-comment.js')
    const result = await upsertPlanComment(
      target,
      `${PLAN_COMMENT_MARKER}<!-- namespace:${config.namespace} -->`,
      body
    )
    info(`Plan comment ${result} on pull request #${target.number}.`)
  } catch (error) {
    // A fork's pull request gets a read-only token: the plan is still in the job summary.
    core.warning(`deploy-gke-workers: could not comment on the pull request: ${(error as Error).message}`)
  }
}

async function pullRequestTarget(
  token: string
): Promise<{ token: string; owner: string; repo: string; number: number } | undefined> {
  const eventPath = process.env.GITHUB_EVENT_PATH
  const repository = process.env.GITHUB_REPOSITORY
  if (
    !eventPath ||
    !repository ||
    !['pull_request', 'pull_request_target'].includes(process.env.GITHUB_EVENT_NAME ?? '')
  ) {
    return undefined
  }
  const event = JSON.parse(await readFile(eventPath, 'utf8')) as {
    pull_request?: { number?: number }
    number?: number
  }
  const number = event.pull_request?.number ?? event.number
  if (typeof number !== 'number') return undefined
  const [owner, repo] = repository.split('/')
  return { token, owner, repo, number }
}
