// `npm run bench`: speed and memory targets, measured (not asserted by the test suite, whose timings would
// make it flaky). Prints one line per figure and exits 1 when a target is missed.

import { performance } from 'node:perf_hooks'
import path from 'node:path'
import { parseInputs } from '../src/inputs.js'
import { loadTemplates } from '../src/render/load-templates.js'
import { renderManifests } from '../src/render/render-manifests.js'
import { toYamlDocuments } from '../src/render/serialize.js'
import { EXAMPLE_INPUTS } from '../__tests__/support/example-inputs.js'
import { startRig } from '../__tests__/support/rig.js'
import { DIST_POST, REPO_ROOT, createWorkspace, runAction } from '../__tests__/support/run-action.js'
import { programSmokeExec } from '../__tests__/support/smoke-exec.js'

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

// 3. Against the emulators: a first deploy, and how fast an ImagePullBackOff is reported (timeout 300 s).
{
  const rig = await startRig()
  programSmokeExec(rig.kube)
  try {
    const workspace = await createWorkspace()
    let started = performance.now()
    const first = await runAction({
      inputs: { ...EXAMPLE_INPUTS, ...rig.clusterInputs, namespace: 'bench' },
      env: rig.env,
      workspace
    })
    record(
      'first deploy against the emulators (healthy pods ready in 0.2 s)',
      (performance.now() - started) / 1000,
      's',
      15
    )
    if (first.exitCode !== 0) throw new Error(`deploy failed: ${first.stdout}`)
    const bad = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:missing'
    rig.kube.control.setImageScenario(bad, { kind: 'imagePullBackOff' })
    started = performance.now()
    const failing = await runAction({
      inputs: {
        ...EXAMPLE_INPUTS,
        ...rig.clusterInputs,
        namespace: 'bench',
        image: bad,
        rollout_timeout: '300s'
      },
      env: rig.env,
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
    await runAction({ inputs: {}, env: rig.env, entry: DIST_POST, workspace })
    await workspace.remove()
  } finally {
    await rig.stop()
  }
}

const missed = figures.filter(f => f.value > f.target)
process.stdout.write(`${figures.length - missed.length} of ${figures.length} targets met\n`)
process.exitCode = missed.length > 0 ? 1 : 0
