// Reads the inputs, runs the steps in order, reports. The only module (with post.ts) that touches @actions/core
// and the process; what it calls takes plain values, the runner's side through the Runner of ./action/runner.ts.

import * as core from '@actions/core'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { traceFromEnvironment } from './action-environment.js'
import { hasClusterAccess, openClusterAccess } from './action/cluster-access.js'
import { dryRunAgainstCluster, reportOfflineDryRun } from './action/dry-run.js'
import { writeRenderedManifests } from './action/manifests-file.js'
import { registryAccessFor } from './action/registry-access.js'
import {
  reportCancelledBeforeAnyChange,
  reportDeploy,
  reportStopped,
  type RunSoFar
} from './action/report-run.js'
import type { Runner, RunnerContext } from './action/runner.js'
import { deploy, PreflightError } from './deploy/deploy.js'
import { lockIdentity } from './deploy/deploy-lock.js'
import {
  INPUT_NAMES,
  SECRET_INPUTS,
  isMaskable,
  parseInputs,
  plainInputValues,
  secretValuesOf,
  type RawInputs
} from './inputs.js'
import { groupOf, kindName } from './k8s/kinds.js'
import { kedaProblems, kindProblems, readApiResources, resourceOfKind } from './kube/discovery.js'
import { CancelledError, cancellationReason } from './kube/kubectl.js'
import { createRedactor, secretForms, type Redactor } from './redact.js'
import { loadTemplates } from './render/load-templates.js'
import { RenderError, renderManifests } from './render/render-manifests.js'
import { Timeline } from './report/timeline.js'
import { forLog } from './untrusted-text.js'

// dist/index.js and src/main.ts both sit one level below the action's root, beside manifests/. Built from the
// directory at run time so the bundler leaves the templates where users can read them.
const ACTION_ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const BUILT_IN_MANIFESTS = path.join(ACTION_ROOT, 'manifests')

// The runner through @actions/core. Every line the action logs goes out through forLog: names and messages from
// templates and the cluster must not be able to issue workflow commands (core.warning, core.notice and core.error
// escape their text themselves).
const runner: Runner = {
  info: text => core.info(forLog(text)),
  debug: text => core.debug(text),
  notice: text => core.notice(text),
  warning: (text, title) => core.warning(text, title ? { title } : {}),
  error: (text, title) => core.error(text, { title }),
  setOutput: (name, value) => core.setOutput(name, value),
  setSecret: value => core.setSecret(value),
  saveState: (name, value) => core.saveState(name, value),
  group: (name, fn) => core.group(name, fn),
  ...(process.env.GITHUB_STEP_SUMMARY
    ? { appendSummary: async (markdown: string) => void (await core.summary.addRaw(markdown).write()) }
    : {}),
  fail: () => {
    process.exitCode = core.ExitCode.Failure
  }
}

function runnerContext(): RunnerContext & { runUrl?: string } {
  return {
    env: process.env,
    eventName: process.env.GITHUB_EVENT_NAME ?? '',
    eventPath: process.env.GITHUB_EVENT_PATH,
    repository: process.env.GITHUB_REPOSITORY,
    runnerTemp: process.env.RUNNER_TEMP || os.tmpdir(),
    home: os.homedir(),
    runUrl: traceFromEnvironment(process.env).runUrl
  }
}

export async function run(): Promise<void> {
  // GitHub cancels a step with SIGINT, then SIGTERM 7.5 s later, then kills it: the first signal stops the
  // deploy's waiting at once, so the rollback, the lock and the report fit in before the kill.
  const cancellation = new AbortController()
  const cancel = (signal: NodeJS.Signals): void => {
    if (cancellation.signal.aborted) return
    runner.info(`Received ${signal}: cancelling the deploy.`)
    cancellation.abort(signal)
  }
  process.on('SIGINT', cancel)
  process.on('SIGTERM', cancel)
  let during = 'reading the inputs'
  const timeline = new Timeline()
  const context = runnerContext()
  const soFar: RunSoFar = { redact: createRedactor(), timeline }
  try {
    const raw = readInputs()
    soFar.redact.add(SECRET_INPUTS.map(name => raw[name] ?? ''))
    const config = parseInputs(raw, { eventName: context.eventName })
    soFar.config = config
    const plain = plainInputValues(raw)
    const secretValues: string[] = []
    const rendered = await timeline.time('Before any change', 'Render manifests', () =>
      core.group('Render manifests', async () => {
        const templates = await loadTemplates(config.manifestsDir ?? BUILT_IN_MANIFESTS)
        const result = renderManifests(templates, config, traceFromEnvironment(context.env))
        for (const value of secretValuesOf(config, result.secretData ?? new Map(), plain)) {
          core.setSecret(value)
          secretValues.push(value)
        }
        for (const item of result.objects)
          runner.info(`${item.object.kind}/${item.object.metadata.name} (${item.file})`)
        for (const note of result.notes) core.notice(note)
        return result
      })
    )
    soFar.rendered = rendered
    const redact = soFar.redact
    redact.add(secretValues)
    const learnSecrets = (values: string[]): void => learnSecretValues(redact, values, plain)
    const workDirectory = await mkdtemp(path.join(context.runnerTemp, 'deploy-gke-workers-'))
    const manifestsPath = await writeRenderedManifests(workDirectory, rendered)
    core.setOutput('manifests', manifestsPath)
    core.setOutput('image', config.image)

    if (config.dryRun && !(await hasClusterAccess(config, context))) {
      const unknown = rendered.unverifiedKinds.filter(k => !k.named)
      if (unknown.length > 0) {
        throw new RenderError(
          unknown.map(
            k =>
              `${k.file}: ${k.object}: ${kindName(k.kind, k.group)} is not a kind this action knows to be namespaced, and an offline dry run has no cluster to ask; if it is a namespaced custom resource, name it in namespaced_kinds`
          )
        )
      }
      await reportOfflineDryRun(runner, context, config, raw, rendered, manifestsPath)
      return
    }

    during = 'the cluster credentials'
    const access = await timeline.time('Before any change', 'Cluster credentials', () =>
      core.group('Cluster credentials', () =>
        openClusterAccess(runner, context, config, workDirectory, redact)
      )
    )
    soFar.access = access
    runner.info(access.describe)
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
        runner,
        context,
        config,
        { ...access, kubectl: access.kubectl.withSignal(cancellation.signal) },
        rendered,
        { manifestsPath, workDirectory },
        redact,
        registryAccessFor(context.env, access),
        cancellation.signal
      )
      return
    }
    during = 'the pre-flight checks, before any change'
    const lockOwner = lockOwnerFromEnvironment()
    const outcome = await deploy({
      kubectl: access.kubectl,
      signal: cancellation.signal,
      resourceOfKind: resourceOf,
      registry: registryAccessFor(context.env, access),
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
      forceRestart: context.eventName === 'workflow_dispatch',
      lockOwner,
      group: (name, fn) => core.group(name, fn),
      log: line => runner.info(line),
      warn: line => core.warning(line)
    })
    await reportDeploy(runner, config, outcome, { ...soFar, access, rendered })
  } catch (error) {
    if (error instanceof CancelledError) {
      await reportCancelledBeforeAnyChange(runner, error.reason, error.during ?? during)
      return
    }
    await reportStopped(runner, error, soFar)
  }
}

function throwIfCancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new CancelledError(cancellationReason(signal))
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
