// `npm run bench`: speed and memory targets, measured (not asserted by the test suite, whose timings would
// make it flaky). Prints one line per figure and exits 1 when a target is missed. Every cluster figure is taken
// on the tests' real control plane (kube-apiserver, controllers, kwok), its smoke checks exec'd in the pods for
// real against the rig's PostgreSQL and Redis.

import { writeFile } from 'node:fs/promises'
import * as prettier from 'prettier'
import os from 'node:os'
import { performance } from 'node:perf_hooks'
import path from 'node:path'
import { parseInputs } from '../src/inputs.js'
import { loadTemplates } from '../src/render/load-templates.js'
import { renderManifests } from '../src/render/render-manifests.js'
import { toYamlDocuments } from '../src/k8s/serialize.js'
import { EXAMPLE_INPUTS } from '../__tests__/support/example-inputs.js'
import { RIG_REGISTRY_HOST, startControlPlaneRig } from '../__tests__/support/rig.js'
import {
  DIST_POST,
  REPO_ROOT,
  createWorkspace,
  runAction,
  startAction
} from '../__tests__/support/run-action.js'
import { runOldJob } from './old-job.js'

interface Figure {
  name: string
  value: number
  unit: string
  target: number
}
const figures: Figure[] = []
const record = (name: string, value: number, unit: string, target: number): void => {
  figures.push({ name, value, unit, target })
  const verdict = value <= target ? 'ok' : 'MISSED'
  process.stdout.write(`${name}: ${value.toFixed(2)} ${unit} (target <= ${target} ${unit}) ${verdict}\n`)
}
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

// 1. Render: inputs -> parsed templates -> objects -> YAML, in process.
{
  const templates = await loadTemplates(path.join(REPO_ROOT, 'manifests'))
  const config = parseInputs(EXAMPLE_INPUTS, { eventName: 'push' })
  const iterations = 500
  global.gc?.()
  const heapBefore = process.memoryUsage().heapUsed
  const started = performance.now()
  for (let i = 0; i < iterations; i++) {
    const rendered = renderManifests(templates, parseInputs(EXAMPLE_INPUTS, { eventName: 'push' }), {
      commitSha: String(i)
    })
    toYamlDocuments(rendered.objects.map(o => o.object))
  }
  record('render+serialize, mean per run', (performance.now() - started) / iterations, 'ms', 10)
  record('heap growth over 500 renders', (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20, 'MiB', 64)
  void config
}

// 2. The bundle's offline dry run, as a process (startup dominates).
{
  const times: number[] = []
  for (let i = 0; i < 5; i++) {
    const workspace = await createWorkspace()
    const started = performance.now()
    const run = await runAction({ inputs: { ...EXAMPLE_INPUTS, dry_run: 'true' }, workspace })
    times.push(performance.now() - started)
    await workspace.remove()
    if (run.exitCode !== 0) throw new Error(`offline dry run failed: ${run.stdout}`)
  }
  record('offline dry run (dist/index.js), median of 5', median(times), 'ms', 1500)
}

// 3. A first deploy on the real control plane with the tests' timing (pods ready 0.35 s after they are bound),
//    its smoke checks and task-safety check exec'd for real, and how fast an ImagePullBackOff is reported.
{
  const rig = await startControlPlaneRig()
  const env = { ...rig.env, PATH: rig.path }
  const inputs = { ...EXAMPLE_INPUTS, ...rig.clusterInputs, ...rig.services.inputs, namespace: 'bench' }
  try {
    const workspace = await createWorkspace()
    let started = performance.now()
    const first = await runAction({ inputs, env, workspace })
    record(
      "first deploy, real control plane (pods ready 0.35 s after start), smoke checks exec'd",
      (performance.now() - started) / 1000,
      's',
      15
    )
    if (first.exitCode !== 0) throw new Error(`deploy failed: ${first.stdout}`)
    started = performance.now()
    const failing = await runAction({
      inputs: { ...inputs, image: `${EXAMPLE_INPUTS.image}-image-not-found`, rollout_timeout: '300s' },
      env,
      workspace
    })
    record(
      'ImagePullBackOff: run start to failure reported and rolled back (timeout 300 s)',
      (performance.now() - started) / 1000,
      's',
      20
    )
    if (failing.outputs.status !== 'rolled-back')
      throw new Error(`expected rolled-back, got ${failing.outputs.status}`)
    await runAction({ inputs: {}, env, entry: DIST_POST, workspace })
    await workspace.remove()
  } finally {
    await rig.stop()
  }
}

// 4. Cold start: process start to the first line of output (an offline plan), median of 7.
{
  const times: number[] = []
  for (let i = 0; i < 7; i++) {
    const workspace = await createWorkspace()
    const started = performance.now()
    const first = await firstOutputLine({ ...EXAMPLE_INPUTS, dry_run: 'true' }, workspace)
    times.push(first - started)
    await workspace.remove()
  }
  record('cold start to the first log line (dist/index.js)', median(times), 'ms', 150)
}

// 5. Side by side with the old job's shell steps (bench/old-job.ts), alternating on one real control plane with
//    kubelet timings as a real node's (pods ready 5 s after start, restart back-off from 10 s), a fresh namespace
//    each run: the old steps; the action without smoke checks (what the old job did, nothing more); the action
//    as it runs by default, its four smoke checks and the task-safety check exec'd in the pods. Wall time,
//    kubectl processes and API requests of a healthy deploy. The image's registry is the real registry rig (as
//    europe-west3-docker.pkg.dev, through the runner's proxy): the action resolves and pins the image, as it
//    does by default. Then how soon a crash loop is named after the first crash, on that real back-off.
const READY_MS = 5000
const PAIRS = 3
type Run = { ms: number; processes: number; requests: number }
const sideBySide: Record<'old' | 'action' | 'checked', Run[]> = { old: [], action: [], checked: [] }
let crashNamedAfterS = NaN
// 6. The pre-flight with the registry check beside it (on the same control plane): the registry local, 100 ms away each way, or refused at
//    once by the proxy (the check then costs one refused CONNECT: as good as no check).
const PREFLIGHT_ROUNDS = 3
const REGISTRY_LATENCY_MS = 100
const preflight: Record<'refused' | 'local' | 'far', Array<{ preflightMs: number; imageMs: number }>> = {
  refused: [],
  local: [],
  far: []
}
{
  const rig = await startControlPlaneRig({
    controlPlane: {
      timing: {
        startMs: 100,
        runMs: READY_MS,
        crashAfterMs: 1000,
        backOffBaseMs: 10_000,
        pullBackOffMs: 5000,
        terminateMs: 1000,
        drainMs: 1000
      }
    },
    registry: {}
  })
  const kubeconfig = path.join(rig.directory, 'bench-admin-kubeconfig')
  await rig.controlPlane.writeKubeconfig(kubeconfig)
  const templates = await loadTemplates(path.join(REPO_ROOT, 'manifests'))
  const env = { ...rig.env, PATH: rig.path }
  for (const image of [EXAMPLE_INPUTS.image, `${EXAMPLE_INPUTS.image}-crash-loop`]) {
    await rig.registry!.pushIndex(image, [
      { platform: 'linux/amd64', content: image },
      { platform: 'linux/arm64', content: image }
    ])
  }
  try {
    for (let pair = 0; pair < PAIRS; pair++) {
      const namespace = `old-${pair}`
      const config = parseInputs({ ...EXAMPLE_INPUTS, namespace }, { eventName: 'push' })
      const rendered = renderManifests(templates, config, {})
      let requestsBefore = rig.requestLog().length
      const old = await runOldJob({
        kubeconfig,
        namespace,
        objects: rendered.objects.map(o => o.object),
        image: config.image,
        instance: config.cloudSqlInstance!,
        secret: Object.fromEntries(rendered.secretData ?? new Map()),
        env: { ...process.env, PATH: rig.path, HOME: rig.directory }
      })
      sideBySide.old.push({
        ms: old.ms,
        processes: old.kubectlProcesses,
        requests: rig.requestLog().length - requestsBefore
      })
      const workspace = await createWorkspace()
      requestsBefore = rig.requestLog().length
      const started = performance.now()
      const run = await runAction({
        inputs: {
          ...EXAMPLE_INPUTS,
          ...rig.clusterInputs,
          namespace: `action-${pair}`,
          smoke_checks: 'false',
          task_safety: 'off'
        },
        env,
        workspace
      })
      const ms = performance.now() - started
      if (run.exitCode !== 0) throw new Error(`deploy failed: ${run.stdout}`)
      sideBySide.action.push({
        ms,
        processes: kubectlProcesses(run.stdout),
        requests: rig.requestLog().length - requestsBefore
      })
      await runAction({ inputs: {}, env, entry: DIST_POST, workspace })
      await workspace.remove()
      // The action as it runs by default: the smoke checks and the task-safety check exec'd in the pods, with
      // the inputs that reach the rig's services (no Cloud SQL proxy: its port would be the pod's own loopback).
      const checkedWorkspace = await createWorkspace()
      requestsBefore = rig.requestLog().length
      const checkedStarted = performance.now()
      const checked = await runAction({
        inputs: {
          ...EXAMPLE_INPUTS,
          ...rig.clusterInputs,
          ...rig.services.inputs,
          namespace: `checked-${pair}`
        },
        env,
        workspace: checkedWorkspace
      })
      const checkedMs = performance.now() - checkedStarted
      if (checked.exitCode !== 0) throw new Error(`deploy failed: ${checked.stdout}`)
      sideBySide.checked.push({
        ms: checkedMs,
        processes: kubectlProcesses(checked.stdout),
        requests: rig.requestLog().length - requestsBefore
      })
      await runAction({ inputs: {}, env, entry: DIST_POST, workspace: checkedWorkspace })
      await checkedWorkspace.remove()
    }
    // A crash loop on a real back-off: from the first crash (its BackOff event) to the named failure.
    const workspace = await createWorkspace()
    const crash = await runAction({
      inputs: {
        ...EXAMPLE_INPUTS,
        ...rig.clusterInputs,
        namespace: 'crash',
        image: `${EXAMPLE_INPUTS.image}-crash-loop`,
        smoke_checks: 'false',
        task_safety: 'off',
        rollout_timeout: '300s'
      },
      env,
      workspace,
      timeoutMs: 300_000
    })
    const endedMs = Date.now()
    if (crash.outputs.status !== 'failed')
      throw new Error(`expected a failed first deploy, got ${crash.outputs.status}`)
    const events = JSON.parse((await rig.kubectl('get', 'events', '-n', 'crash', '-o', 'json')).stdout) as {
      items: Array<{ reason: string; firstTimestamp?: string }>
    }
    const firstCrash = Math.min(
      ...events.items.filter(e => e.reason === 'BackOff').map(e => Date.parse(e.firstTimestamp ?? ''))
    )
    crashNamedAfterS = (endedMs - firstCrash) / 1000
    await runAction({ inputs: {}, env, entry: DIST_POST, workspace })
    await workspace.remove()

    // The pre-flight of a first deploy, the three registries alternating, a fresh namespace each run.
    const registryRoute = `${RIG_REGISTRY_HOST}:443`
    for (let round = 0; round < PREFLIGHT_ROUNDS; round++) {
      for (const variant of ['refused', 'local', 'far'] as const) {
        rig.proxy.setLatency(variant === 'far' ? REGISTRY_LATENCY_MS : 0)
        if (variant === 'refused') rig.proxy.unroute(registryRoute)
        else rig.proxy.route(registryRoute, rig.registry!.address)
        const preflightWorkspace = await createWorkspace()
        const run = await runAction({
          inputs: {
            ...EXAMPLE_INPUTS,
            ...rig.clusterInputs,
            namespace: `preflight-${variant}-${round}`,
            smoke_checks: 'false'
          },
          env,
          workspace: preflightWorkspace
        })
        if (run.exitCode !== 0) throw new Error(`deploy failed: ${run.stdout}`)
        const expected = variant === 'refused' ? '' : 'sha256:'
        if (!run.outputs.image_digest?.startsWith(expected))
          throw new Error(`image_digest ${run.outputs.image_digest} for ${variant}`)
        preflight[variant].push(preflightOf(run.summary))
        await runAction({ inputs: {}, env, entry: DIST_POST, workspace: preflightWorkspace })
        await preflightWorkspace.remove()
      }
    }
    rig.proxy.setLatency(0)
    rig.proxy.route(registryRoute, rig.registry!.address)
  } finally {
    await rig.stop()
  }
  const m = (who: keyof typeof sideBySide, key: keyof Run): number => median(sideBySide[who].map(r => r[key]))
  process.stdout.write(
    `old job's steps: ${(m('old', 'ms') / 1000).toFixed(2)} s, ${m('old', 'processes')} kubectl processes, ${m('old', 'requests')} API requests (medians of ${PAIRS})\n`
  )
  record(
    'healthy deploy (no smoke checks): action / old job steps, wall time',
    m('action', 'ms') / m('old', 'ms'),
    'x',
    1.1
  )
  record('healthy deploy (no smoke checks): kubectl processes', m('action', 'processes'), '', 12)
  record('healthy deploy (no smoke checks): API requests', m('action', 'requests'), '', 60)
  // The checks' Python runs on this machine, beside the action (in a cluster it runs in the pod): the figure
  // holds their CPU time too.
  record(
    `healthy deploy with the smoke and task-safety checks: overhead above the ${READY_MS / 1000} s rollout`,
    (m('checked', 'ms') - READY_MS) / 1000,
    's',
    2.5
  )
  // The budget without checks, plus what the checks spawn by design on a first deploy: one exec per Deployment
  // (the worker's batch, beat's process check), and task_safety's list of the worker's pods for the queue reading
  // beside the pre-flight, its list of the old workers to follow, and the queue reading's exec after the rollout.
  record(
    'healthy deploy with the smoke and task-safety checks: kubectl processes',
    m('checked', 'processes'),
    '',
    12 + 2 + 3
  )
  record(
    'healthy deploy with the smoke and task-safety checks: API requests',
    m('checked', 'requests'),
    '',
    75
  )
  record(
    'crash loop named after the first crash (10 s back-off, run end incl. rollback report)',
    crashNamedAfterS,
    's',
    15
  )
  const pre = (variant: keyof typeof preflight, key: 'preflightMs' | 'imageMs'): number =>
    median(preflight[variant].map(r => r[key]))
  process.stdout.write(
    `pre-flight (credentials to the end of the checks), medians of ${PREFLIGHT_ROUNDS}: registry refused at once ${pre('refused', 'preflightMs').toFixed(0)} ms, local ${pre('local', 'preflightMs').toFixed(0)} ms (check ${pre('local', 'imageMs').toFixed(0)} ms), ${REGISTRY_LATENCY_MS} ms away ${pre('far', 'preflightMs').toFixed(0)} ms (check ${pre('far', 'imageMs').toFixed(0)} ms)\n`
  )
  record(
    'pre-flight time the registry check adds (registry on the runner, beside the access checks)',
    pre('local', 'preflightMs') - pre('refused', 'preflightMs'),
    'ms',
    100
  )
}

// Every kubectl process the runner starts logs one debug line, ending with its attempt or `watch`.
function kubectlProcesses(stdout: string): number {
  return stdout
    .split('\n')
    .filter(line => /^::debug::kubectl .*\((attempt \d+\/\d+|attempt \d+|watch)\)$/.test(line)).length
}

// From the summary's timeline: the pre-flight, from the end of the cluster credentials to the end of the
// pre-flight checks (the live read, the access checks, the Secret keys and the registry check), and the check.
function preflightOf(summary: string): { preflightMs: number; imageMs: number } {
  const bar = (name: string): [number, number] => {
    const line = summary.split('\n').find(l => l.trimStart().startsWith(`${name} :`))
    if (!line) throw new Error(`no ${name} in the timeline:\n${summary}`)
    const [start, end] = line.split(',').slice(-2).map(Number)
    return [start, end]
  }
  const [, credentialsEnd] = bar('Cluster credentials')
  const [, checksEnd] = bar('Pre-flight checks')
  const [imageStart, imageEnd] = bar('Image in its registry')
  return { preflightMs: checksEnd - credentialsEnd, imageMs: imageEnd - imageStart }
}

await writeBenchmarksDoc()

const missed = figures.filter(f => f.value > f.target)
process.stdout.write(`${figures.length - missed.length} of ${figures.length} targets met\n`)
process.exitCode = missed.length > 0 ? 1 : 0

// When the bundle prints its first line, started as the runner starts it.
async function firstOutputLine(
  inputs: Record<string, string>,
  workspace: Awaited<ReturnType<typeof createWorkspace>>
): Promise<number> {
  const running = await startAction({ inputs, workspace })
  await running.waitForOutput(/\n/)
  const at = performance.now()
  await running.done
  return at
}

// docs/benchmarks.md: the figures of this run, the machine, the command.
async function writeBenchmarksDoc(): Promise<void> {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  const row = (f: Figure): string =>
    `| ${f.name} | ${f.value.toFixed(2)} ${f.unit} | <= ${f.target} ${f.unit} | ${f.value <= f.target ? 'met' : '**missed**'} |`
  const med = (who: keyof typeof sideBySide, key: keyof Run): number =>
    median(sideBySide[who].map(r => r[key]))
  const pmed = (variant: keyof typeof preflight, key: 'preflightMs' | 'imageMs'): string =>
    median(preflight[variant].map(r => r[key])).toFixed(0)
  const lines = [
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/run.ts): edit that, not this file. -->',
    '',
    'Written by `npm run bench` (bench/run.ts); figures are medians where a run repeats. Measured on',
    `${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}, ${new Date().toISOString().slice(0, 10)}.`,
    '',
    '## Side by side with the old job',
    '',
    `The old job's shell steps (bench/old-job.ts) and the bundled action, alternating ${PAIRS} times on the tests'`,
    `real control plane (kube-apiserver v1.36.3, kwok as the kubelet, pods ready ${READY_MS / 1000} s after start), a fresh`,
    'namespace each run. The action without smoke checks does what the old job did and more (access checks, a',
    'deploy lock, a server-side dry run before the first write, both rollouts watched at once, the image resolved',
    'and pinned); by default it also execs its four smoke checks and the task-safety check in the pods, whose',
    "Python here runs on this machine beside the action (in a cluster it runs in the pod, on the cluster's CPU).",
    '',
    "| | old job's steps | this action, no smoke checks | this action, default checks |",
    '| --- | --- | --- | --- |',
    `| healthy deploy, wall time | ${(med('old', 'ms') / 1000).toFixed(2)} s | ${(med('action', 'ms') / 1000).toFixed(2)} s (${(med('action', 'ms') / med('old', 'ms')).toFixed(2)} ×) | ${(med('checked', 'ms') / 1000).toFixed(2)} s |`,
    `| overhead above the ${READY_MS / 1000} s rollout | ${((med('old', 'ms') - READY_MS) / 1000).toFixed(2)} s | ${((med('action', 'ms') - READY_MS) / 1000).toFixed(2)} s | ${((med('checked', 'ms') - READY_MS) / 1000).toFixed(2)} s |`,
    `| kubectl processes | ${med('old', 'processes')} | ${med('action', 'processes')} | ${med('checked', 'processes')} |`,
    `| API requests | ${med('old', 'requests')} | ${med('action', 'requests')} | ${med('checked', 'requests')} |`,
    '',
    `A crash loop (restart back-off 10 s, 20 s, ... as a real kubelet's) was named ${crashNamedAfterS.toFixed(1)} s after the first crash.`,
    '',
    '## The registry check in the pre-flight',
    '',
    'The image is resolved in its registry (the real CNCF registry as europe-west3-docker.pkg.dev, through the',
    "runner's proxy, with the Google token and the token flow) while the live objects are read and the access",
    'checks run. The pre-flight of a first deploy on the real control plane, from the end of the cluster',
    `credentials to the end of the checks, medians of ${PREFLIGHT_ROUNDS}:`,
    '',
    '| registry | pre-flight | the registry check itself |',
    '| --- | --- | --- |',
    `| refused at once by the proxy (as good as no check) | ${pmed('refused', 'preflightMs')} ms | ${pmed('refused', 'imageMs')} ms |`,
    `| on the runner | ${pmed('local', 'preflightMs')} ms | ${pmed('local', 'imageMs')} ms |`,
    `| ${REGISTRY_LATENCY_MS} ms away each way | ${pmed('far', 'preflightMs')} ms | ${pmed('far', 'imageMs')} ms |`,
    '',
    'Beside the access checks a registry on the runner adds nothing. One far away adds what its round trips take',
    "beyond the checks' own: the rig's registry wants the token flow (the Google token is exchanged at its realm,",
    'over a second TLS connection) before the HEAD and the two GETs; Artifact Registry takes the token as it is,',
    'so there the check is one TLS handshake and three requests.',
    '',
    '## Targets',
    '',
    '| figure | value | target | |',
    '| --- | --- | --- | --- |',
    ...figures.map(row),
    ''
  ]
  // Formatted as the repository's other Markdown is (format:check runs over it in CI).
  const file = path.join(REPO_ROOT, 'docs', 'benchmarks.md')
  const options = (await prettier.resolveConfig(file)) ?? {}
  await writeFile(file, await prettier.format(lines.join('\n'), { ...options, filepath: file }))
}
