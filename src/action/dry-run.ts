// The dry runs: offline (rendered and validated, no credentials or cluster) and against the cluster (the
// pull-request plan): the plan in the job summary and the pull request's comment, the diff as a file.

import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { INPUT_NAMES, SECRET_INPUTS, type DeployConfig, type RawInputs } from '../inputs.js'
import { planAgainstCluster } from '../plan/plan.js'
import type { Redact } from '../redact.js'
import type { RenderedManifests } from '../render/render-manifests.js'
import { renderClusterPlanSummary } from '../report/cluster-plan-summary.js'
import { renderPlanSummary, type InputRow } from '../report/plan-summary.js'
import type { ClusterAccess } from './cluster-access.js'
import { checkImage, type RegistryAccess } from '../deploy/image-preflight.js'
import { writeSummary } from './job-summary.js'
import { commentOnPullRequest } from './pull-request.js'
import type { Runner, RunnerContext } from './runner.js'

export async function reportOfflineDryRun(
  runner: Runner,
  context: RunnerContext & { runUrl?: string },
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
    runUrl: context.runUrl,
    ...gateOf(config, value => value)
  })
  await writeSummary(runner, markdown, manifestsPath)
  await commentOnPullRequest(runner, context, config, markdown)
  runner.setOutput('status', 'dry-run')
  runner.info(
    `Dry run: ${rendered.objects.length} objects rendered and validated; nothing applied. Plan in the job summary.`
  )
}

export async function dryRunAgainstCluster(
  runner: Runner,
  context: RunnerContext & { runUrl?: string },
  config: DeployConfig,
  access: ClusterAccess,
  rendered: RenderedManifests,
  files: { manifestsPath: string; workDirectory: string },
  redact: Redact,
  registry?: RegistryAccess,
  signal?: AbortSignal
): Promise<void> {
  // The registry is asked while the plan reads the cluster.
  const image = registry
    ? checkImage(
        config,
        rendered.objects.map(o => o.object),
        registry,
        signal ? { signal } : {}
      )
    : undefined
  image?.catch(() => undefined)
  const plan = await runner.group('Dry run against the cluster', () =>
    planAgainstCluster(access.kubectl, rendered, config, redact, image ? { image } : {})
  )
  runner.setOutput('image_digest', plan.image?.image.digest ?? '')
  if (plan.image) runner.info(`Image: ${plan.image.text}`)
  const diffPath = path.join(files.workDirectory, 'diff.txt')
  await writeFile(diffPath, plan.diff, { mode: 0o600 })
  runner.setOutput('diff', diffPath)
  const reason =
    config.dryRunSource === 'pull_request' ? 'Dry run (pull request).' : 'Dry run (dry_run: true).'
  const markdown = renderClusterPlanSummary({
    plan,
    image: config.image,
    namespace: config.namespace,
    reason,
    manifestsPath: files.manifestsPath,
    runUrl: context.runUrl,
    ...gateOf(config, redact)
  })
  await writeSummary(runner, markdown, files.manifestsPath)
  await commentOnPullRequest(runner, context, config, markdown)
  for (const action of plan.actions) runner.info(`${action.kind}/${action.name}: would be ${action.action}`)
  runner.setOutput('status', 'dry-run')
  for (const problem of plan.problems) runner.warning(problem)
}

// What the plan says of the pre-deploy gate: the command it would run, in the image the workers get.
function gateOf(
  config: DeployConfig,
  redact: Redact
): { gate?: { command: string; image: string; timeoutSeconds: number } } {
  if (!config.preDeploy) return {}
  const { command, timeoutSeconds } = config.preDeploy
  return { gate: { command: redact(command), image: config.image, timeoutSeconds } }
}

// The inputs given, for the offline plan's table (secret ones shown masked by the plan).
function inputRows(raw: RawInputs): InputRow[] {
  return INPUT_NAMES.filter(name => (raw[name] ?? '').trim() !== '').map(name => ({
    name,
    value: raw[name] ?? '',
    secret: SECRET_INPUTS.includes(name)
  }))
}
