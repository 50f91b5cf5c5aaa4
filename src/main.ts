// Reads the inputs, runs the steps, reports. The only module (with post.ts) that touches @actions/core's
// inputs and the process environment; everything it calls takes plain values.

import * as core from '@actions/core'
import { mkdtemp, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { credentialsFileFrom, traceFromEnvironment } from './action-environment.js'
import {
  INPUT_NAMES,
  SECRET_INPUTS,
  parseInputs,
  secretValuesOf,
  type DeployConfig,
  type RawInputs
} from './inputs.js'
import { loadTemplates } from './render/load-templates.js'
import { renderManifests, type RenderedManifests } from './render/render-manifests.js'
import { toYamlDocuments } from './render/serialize.js'
import { renderPlanSummary, type InputRow } from './report/plan-summary.js'

// dist/index.js and src/main.ts both sit one level below the action's root, beside manifests/. Built from the
// directory at run time so the bundler leaves the templates where users can read them.
const ACTION_ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const BUILT_IN_MANIFESTS = path.join(ACTION_ROOT, 'manifests')

export async function run(): Promise<void> {
  try {
    const raw = readInputs()
    const config = parseInputs(raw, { eventName: process.env.GITHUB_EVENT_NAME ?? '' })
    const rendered = await core.group('Render manifests', async () => {
      const templates = await loadTemplates(config.manifestsDir ?? BUILT_IN_MANIFESTS)
      const result = renderManifests(templates, config, traceFromEnvironment(process.env))
      for (const value of secretValuesOf(config, result.secretData ?? new Map())) core.setSecret(value)
      for (const item of result.objects)
        core.info(`${item.object.kind}/${item.object.metadata.name} (${item.file})`)
      for (const note of result.notes) core.notice(note)
      return result
    })
    const manifestsPath = await writeRenderedManifests(rendered)
    core.setOutput('manifests', manifestsPath)
    core.setOutput('image', config.image)

    const offline = config.dryRun && !hasClusterAccess(config)
    if (offline) {
      await reportOfflineDryRun(config, raw, rendered, manifestsPath)
      return
    }
    throw new Error(
      'deploying to a cluster (and the dry run against one) is not built yet; run with dry_run: true and no credentials for the offline plan'
    )
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
        if (name === 'secret_data' && equals > 0 && trimmed.length - equals - 1 >= 3)
          core.setSecret(trimmed.slice(equals + 1).trim())
      }
    }
    raw[name] = value
  }
  return raw
}

function hasClusterAccess(config: DeployConfig): boolean {
  if (config.clusterName) return credentialsFileFrom(process.env) !== undefined
  return Boolean(process.env.KUBECONFIG)
}

async function writeRenderedManifests(rendered: RenderedManifests): Promise<string> {
  const directory = await mkdtemp(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'deploy-gke-workers-'))
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

async function reportOfflineDryRun(
  config: DeployConfig,
  raw: RawInputs,
  rendered: RenderedManifests,
  manifestsPath: string
): Promise<void> {
  const reason = config.clusterName
    ? 'Dry run without Google credentials: rendered and validated offline.'
    : 'Dry run without a cluster: rendered and validated offline.'
  const inputs: InputRow[] = INPUT_NAMES.filter(name => (raw[name] ?? '').trim() !== '').map(name => ({
    name,
    value: raw[name] ?? '',
    secret: SECRET_INPUTS.includes(name)
  }))
  const markdown = renderPlanSummary({
    mode: 'offline',
    reason,
    namespace: config.namespace,
    image: config.image,
    inputs,
    rendered,
    manifestsPath
  })
  await core.summary.addRaw(markdown).write()
  core.setOutput('status', 'dry-run')
  core.info(
    `Dry run: ${rendered.objects.length} objects rendered and validated; nothing applied. Plan in the job summary.`
  )
}
