// What task_safety (warn) adds to a deploy's wall time, on the real control plane with real exec: the same
// rolling deploy (a new image tag each time) with task_safety off and warn, alternately, in two namespaces whose
// "pods" run Debian's python3 with Celery 5.2 against the rig's real Redis and a real Celery app module (as
// __tests__/control-plane/task-safety.test.ts). The old pods go the way kwok's default stage takes them (300 ms,
// no warm shutdown to wait for), so the figure is the check's own cost: the queue reading beside the pre-flight,
// the list and watch of the old workers, the check in the worker's exec, the queue reading after.
//
//   PATH="$(bash scripts/build-control-plane.sh):$PATH" node_modules/.bin/node --import tsx bench/task-safety-overhead.ts [pairs] [smoke_checks]
//
// smoke_checks (default false): with `redis`, both sides run the Redis PING and the check rides in its exec.

import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { REGISTRY, startControlPlaneE2E } from '../__tests__/support/e2e.js'

const pairs = Number(process.argv[2] ?? 5)
const smokeChecks = process.argv[3] ?? 'false'
const apps = await mkdtemp(path.join(os.tmpdir(), 'dgw-ts-bench-'))
await writeFile(
  path.join(apps, 'benchapp.py'),
  `import os\nfrom celery import Celery\napp = Celery('benchapp', broker=os.environ['REDIS_URL'])\n@app.task(name='benchapp.work')\ndef work(): pass\n`
)
const e2e = await startControlPlaneE2E()
// The image's working directory, where `celery -A benchapp` finds the app; its broker is the rig's Redis.
for (const namespace of ['bench-off', 'bench-warn'])
  e2e.rig.controlPlane.pods.set({ namespace }, { workDir: apps })

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
async function deploy(mode: 'off' | 'warn', tag: string): Promise<number> {
  const started = await e2e.start(`bench-${mode}`, {
    image: `${REGISTRY}:${tag}`,
    celery_app: 'benchapp',
    task_safety: mode,
    smoke_checks: smokeChecks
  })
  const t0 = performance.now()
  const run = await started.done
  const ms = performance.now() - t0
  await started.post()
  if (run.outputs.status !== 'deployed')
    throw new Error(`${mode} ${tag}: ${run.outputs.status}\n${run.stdout}`)
  return ms
}

try {
  await deploy('off', 'b0')
  await deploy('warn', 'b0')
  const times = { off: [] as number[], warn: [] as number[] }
  for (let i = 1; i <= pairs; i++) {
    for (const mode of i % 2 ? (['off', 'warn'] as const) : (['warn', 'off'] as const)) {
      times[mode].push(await deploy(mode, `b${i}`))
    }
  }
  const off = median(times.off)
  const warn = median(times.warn)
  // Each pair ran back to back: its difference is less exposed to the machine's load drifting over the run.
  const differences = times.warn.map((t, i) => t - times.off[i])
  console.log(
    `task_safety off:  ${times.off.map(t => Math.round(t)).join(', ')} ms (median ${Math.round(off)} ms)`
  )
  console.log(
    `task_safety warn: ${times.warn.map(t => Math.round(t)).join(', ')} ms (median ${Math.round(warn)} ms)`
  )
  console.log(
    `added by the check: median ${Math.round(median(differences))} ms of ${pairs} paired differences (${differences.map(d => Math.round(d)).join(', ')}), smoke_checks ${smokeChecks}`
  )
} finally {
  await e2e.stop()
  await rm(apps, { recursive: true, force: true })
}
