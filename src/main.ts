// Reads the inputs, runs the steps, reports. The only module (with post.ts) that touches @actions/core's
// inputs and the process environment; everything it calls takes plain values.

import * as core from '@actions/core'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { traceFromEnvironment } from './action-environment.js'
import { deploy, type DeployOutcome } from './deploy/deploy.js'
import { planAgainstCluster } from './deploy/plan.js'
import { hasCredentials } from './gke/credentials.js'
import { GkeKubeconfigSession } from './gke/session.js'
import {
  INPUT_NAMES,
  SECRET_INPUTS,
  parseInputs,
  secretValuesOf,
  type DeployConfig,
  type RawInputs
} from './inputs.js'
import { Kubectl } from './kube/kubectl.js'
import { createRedactor, secretForms, type Redact, type Redactor } from './redact.js'
import { loadTemplates } from './render/load-templates.js'
import { renderManifests, type RenderedManifests } from './render/render-manifests.js'
import { toYamlDocuments } from './render/serialize.js'
import { PLAN_COMMENT_MARKER, renderClusterPlanSummary } from './report/cluster-plan-summary.js'
import { renderDeploySummary } from './report/deploy-summary.js'
import { renderPlanSummary, type InputRow } from './report/plan-summary.js'
import { upsertPlanComment } from './report/pr-comment.js'

// dist/index.js and src/main.ts both sit one level below the action's root, beside manifests/. Built from the
// directory at run time so the bundler leaves the templates where users can read them.
const ACTION_ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const BUILT_IN_MANIFESTS = path.join(ACTION_ROOT, 'manifests')
// A PR comment body may hold 65536 characters.
const MAX_COMMENT_CHARS = 60_000

interface ClusterAccess {
  kubectl: Kubectl
  describe: string
}

export async function run(): Promise<void> {
  try {
    const raw = readInputs()
    const config = parseInputs(raw, { eventName: process.env.GITHUB_EVENT_NAME ?? '' })
    const secretValues: string[] = []
    const rendered = await core.group('Render manifests', async () => {
      const templates = await loadTemplates(config.manifestsDir ?? BUILT_IN_MANIFESTS)
      const result = renderManifests(templates, config, traceFromEnvironment(process.env))
      for (const value of secretValuesOf(config, result.secretData ?? new Map())) {
        core.setSecret(value)
        secretValues.push(value)
      }
      for (const item of result.objects)
        core.info(`${item.object.kind}/${item.object.metadata.name} (${item.file})`)
      for (const note of result.notes) core.notice(note)
      return result
    })
    const redact = createRedactor(secretValues)
    const learnSecrets = (values: string[]): void => learnSecretValues(redact, values)
    const workDirectory = await mkdtemp(
      path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'deploy-gke-workers-')
    )
    const manifestsPath = await writeRenderedManifests(workDirectory, rendered)
    core.setOutput('manifests', manifestsPath)
    core.setOutput('image', config.image)

    if (config.dryRun && !hasClusterAccess(config)) {
      await reportOfflineDryRun(config, raw, rendered, manifestsPath)
      return
    }

    const access = await core.group('Cluster credentials', () =>
      openClusterAccess(config, workDirectory, redact)
    )
    core.info(access.describe)
    if (config.dryRun) {
      await dryRunAgainstCluster(config, access, rendered, manifestsPath, workDirectory, redact, learnSecrets)
      return
    }
    const outcome = await deploy({
      kubectl: access.kubectl,
      config,
      rendered,
      redact,
      learnSecrets,
      forceRestart: process.env.GITHUB_EVENT_NAME === 'workflow_dispatch',
      lockOwner: lockOwnerFromEnvironment(),
      group: (name, fn) => core.group(name, fn),
      log: line => core.info(line),
      warn: line => core.warning(line)
    })
    await reportDeploy(config, outcome, redact)
  } catch (error) {
    core.setOutput('status', 'failed')
    core.setFailed(`deploy-gke-workers: ${error instanceof Error ? error.message : String(error)}`)
  }
}

// Secret inputs are masked here, before anything else can print them; secret_data line by line too,
// because the runner masks a multi-line value only where it appears whole.
function readInputs(): RawInputs {
  const raw: RawInputs = {}
  for (const name of INPUT_NAMES) {
    const value = core.getInput(name)
    // Masking a one- or two-character value would blank that text out of every log line.
    if (SECRET_INPUTS.includes(name) && value.trim().length >= 3) {
      core.setSecret(value)
      for (const line of value.split(/\r?\n/)) {
        const trimmed = line.trim()
        if (trimmed.length >= 3) core.setSecret(trimmed)
        const equals = trimmed.indexOf('=')
        if (name === 'secret_data' && equals > 0 && trimmed.length - equals - 1 >= 3) {
          core.setSecret(trimmed.slice(equals + 1).trim())
        }
      }
    }
    raw[name] = value
  }
  return raw
}

function lockOwnerFromEnvironment(): { identity: string; runUrl?: string; actor?: string } {
  const trace = traceFromEnvironment(process.env)
  const run = process.env.GITHUB_RUN_ID
  // One identity per run attempt (and job), so a re-run of a dead attempt does not count as the same holder.
  const identity = run
    ? `${process.env.GITHUB_REPOSITORY ?? ''}/runs/${run}/attempts/${process.env.GITHUB_RUN_ATTEMPT ?? '1'}/${process.env.GITHUB_JOB ?? ''}`
    : `local-${os.hostname()}-${process.pid}`
  return { identity, runUrl: trace.runUrl, actor: trace.actor }
}

// Values read from the cluster (a live Secret) are masked like inputs: they reach pods, logs and errors.
function learnSecretValues(redactor: Redactor, values: string[]): void {
  const forms = values.filter(v => v.length >= 3).flatMap(secretForms)
  for (const form of forms) core.setSecret(form)
  redactor.add(forms)
}

function hasClusterAccess(config: DeployConfig): boolean {
  if (config.clusterName) return hasCredentials(process.env)
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
      describe: `cluster_name is empty: using the kubeconfig in place (${kubeconfig}) and its current context`
    }
  }
  const session = await new GkeKubeconfigSession({
    env: process.env,
    projectId: config.projectId,
    location: config.location!,
    clusterName: config.clusterName,
    endpoint: config.clusterEndpoint,
    namespace: config.namespace,
    dir: workDirectory,
    log: line => core.info(line),
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
    manifestsPath
  })
  await core.summary.addRaw(markdown).write()
  await commentOnPullRequest(config, markdown)
  core.setOutput('status', 'dry-run')
  core.info(
    `Dry run: ${rendered.objects.length} objects rendered and validated; nothing applied. Plan in the job summary.`
  )
}

async function dryRunAgainstCluster(
  config: DeployConfig,
  access: ClusterAccess,
  rendered: RenderedManifests,
  manifestsPath: string,
  workDirectory: string,
  redact: Redact,
  learnSecrets: (values: string[]) => void
): Promise<void> {
  const plan = await core.group('Dry run against the cluster', () =>
    planAgainstCluster(access.kubectl, rendered, config.namespace, redact, learnSecrets)
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
    manifestsPath
  })
  await core.summary.addRaw(markdown).write()
  await commentOnPullRequest(config, markdown)
  for (const action of plan.actions) core.info(`${action.kind}/${action.name}: would be ${action.action}`)
  core.setOutput('status', 'dry-run')
  if (plan.problems.length > 0) {
    for (const problem of plan.problems) core.warning(problem)
  }
}

async function reportDeploy(config: DeployConfig, outcome: DeployOutcome, redact: Redact): Promise<void> {
  await core.summary
    .addRaw(renderDeploySummary(outcome, { image: config.image, namespace: config.namespace, redact }))
    .write()
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
        duration_ms: s.durationMs,
        detail: redact(s.detail)
      }))
    )
  )
  if (outcome.status === 'failed' || outcome.status === 'rolled-back') {
    core.setFailed(
      `deploy-gke-workers: ${outcome.headline}${outcome.status === 'rolled-back' ? ' (rolled back)' : ''}`
    )
  } else {
    core.info(outcome.headline)
  }
}

async function commentOnPullRequest(config: DeployConfig, markdown: string): Promise<void> {
  if (!config.prComment || !config.githubToken) return
  const target = await pullRequestTarget(config.githubToken)
  if (!target) return
  const body =
    markdown.length > MAX_COMMENT_CHARS
      ? `${markdown.slice(0, MAX_COMMENT_CHARS)}\n\n…(cut; the job summary has all of it)`
      : markdown
  try {
    const result = await upsertPlanComment(
      target,
      `${PLAN_COMMENT_MARKER}<!-- namespace:${config.namespace} -->`,
      body
    )
    core.info(`Plan comment ${result} on pull request #${target.number}.`)
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
