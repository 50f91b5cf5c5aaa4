// How a run ends, on the runner: the job summary, the outputs, one titled error annotation per finding, and the
// step's exit code. For a deploy that got past its first write, a run stopped before it, and a run cancelled
// before it.

import type { DeployConfig } from '../inputs.js'
import type { DeployOutcome } from '../deploy/outcome.js'
import type { PodSpec } from '../k8s/types.js'
import type { Redactor } from '../redact.js'
import type { RenderedManifests } from '../render/render-manifests.js'
import { renderDeploySummary, renderStoppedSummary, STATUS_ICON } from '../report/deploy-summary.js'
import { explainError } from '../report/explain-error.js'
import { explainOutcome } from '../report/explain-outcome.js'
import type { RolloutFacts } from '../report/explain-rollout.js'
import { redactFinding, type Finding } from '../report/finding.js'
import { redactAndClip } from '../redact.js'
import { annotationsOf, type LinkContext } from '../report/headline.js'
import { taskSafetyWarnings } from '../report/task-safety-report.js'
import { inline } from '../report/markdown.js'
import type { Timeline } from '../report/timeline.js'
import type { ClusterAccess } from './cluster-access.js'
import { writeSummary } from './job-summary.js'
import type { Runner } from './runner.js'

// What the report of a failure needs from the run so far; filled in as the run gets further.
export interface RunSoFar {
  config?: DeployConfig
  rendered?: RenderedManifests
  access?: ClusterAccess
  redact: Redactor
  timeline: Timeline
}

// The run stopped before its first write (or could not start): why, in the summary and as annotations; the
// whole message, with every problem, stays in the log.
export async function reportStopped(runner: Runner, error: unknown, soFar: RunSoFar): Promise<void> {
  const { config, redact } = soFar
  const explained = explainError(error, {
    namespace: config?.namespace ?? '',
    secretName: config?.secretName ?? '',
    writesSecret: config?.secretData !== undefined,
    identity: soFar.access?.identity
  })
  const findings = explained.findings.map(f => redactFinding(f, redact))
  runner.setOutput('status', 'failed')
  runner.info(`deploy-gke-workers: ${redact(error instanceof Error ? error.message : String(error))}`)
  await writeSummary(
    runner,
    renderStoppedSummary({
      findings,
      problems: explained.problems.map(redact),
      timeline: soFar.timeline.steps
    })
  ).catch((failure: unknown) =>
    runner.warning(`could not write the job summary: ${(failure as Error).message}`)
  )
  failWith(runner, findings)
}

// Cancelled before the first write (the Namespace and the deploy lock aside): nothing to roll back.
export async function reportCancelledBeforeAnyChange(
  runner: Runner,
  reason: string,
  during: string
): Promise<void> {
  const headline = `Cancelled (${reason}) during ${during}: nothing was changed.`
  await writeSummary(
    runner,
    `## ${STATUS_ICON.cancelled} deploy-gke-workers: cancelled\n\n${inline(headline)}\n`
  ).catch(() => undefined)
  runner.setOutput('status', 'cancelled')
  runner.error(headline, 'deploy-gke-workers: cancelled')
  runner.fail()
}

export async function reportDeploy(
  runner: Runner,
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
    runner,
    renderDeploySummary(outcome, {
      image: config.image,
      namespace: config.namespace,
      redact,
      findings,
      links,
      timeline: timeline.steps
    })
  )
  runner.setOutput('status', outcome.status)
  runner.setOutput('image_digest', outcome.image?.digest ?? '')
  runner.setOutput(
    'worker_revision',
    (outcome.roles.worker && outcome.revisionsAfter[outcome.roles.worker]) ?? ''
  )
  runner.setOutput('beat_revision', (outcome.roles.beat && outcome.revisionsAfter[outcome.roles.beat]) ?? '')
  for (const warning of outcome.warnings) runner.warning(`Kubernetes API: ${redact(warning)}`)
  // task_safety: warn: each finding a warning of its own (under strict they are the failure's findings).
  for (const warning of taskSafetyWarnings(outcome.taskSafety)) {
    runner.warning(
      redactAndClip(redact, warning.message, MAX_WARNING_CHARS),
      redactAndClip(redact, warning.title, 200)
    )
  }
  runner.setOutput(
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
  runner.info(redact(outcome.headline))
  if (outcome.status === 'failed' || outcome.status === 'rolled-back' || outcome.status === 'cancelled') {
    failWith(runner, findings)
  }
}

const MAX_WARNING_CHARS = 4000

// One error annotation per finding, titled (the run page shows them without the log), and a failed step.
function failWith(runner: Runner, findings: Finding[]): void {
  for (const annotation of annotationsOf(findings)) runner.error(annotation.message, annotation.title)
  runner.fail()
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
