// `npm start`: runs the committed action (dist/index.js) on this machine the way a runner does, against the tests'
// real control plane (kube-apiserver, controllers, kwok; built once from Go modules, then cached), its app services
// (PostgreSQL and Redis, installed by scripts/ci-services.sh when missing) and the Google STS/IAM/GKE stand-ins: a
// first deploy of the README's example inputs, pointed at those services (db_host instead of the Cloud SQL proxy,
// REDIS_URL at the local Redis), its smoke checks exec'd in the pods for real; then the post step. Prints the log,
// the job summary and the outputs.
//
// `npm start -- --offline` runs the offline dry run instead: no credentials, no cluster, no Go, no services.

import { spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { EXAMPLE_INPUTS } from '../__tests__/support/example-inputs.js'
import {
  DIST_POST,
  REPO_ROOT,
  createWorkspace,
  runAction,
  type ActionRun
} from '../__tests__/support/run-action.js'

function print(title: string, run: ActionRun): void {
  process.stdout.write(`--- ${title}: log ---\n`)
  process.stdout.write(
    run.stdout
      .split('\n')
      .filter(line => !line.startsWith('::add-mask::') && !line.startsWith('::debug::'))
      .join('\n')
  )
  process.stdout.write(run.stderr)
}

const offline = process.argv.includes('--offline')
const workspace = await createWorkspace()
let exitCode: number
if (offline) {
  const run = await runAction({ inputs: { ...EXAMPLE_INPUTS, dry_run: 'true' }, workspace })
  print('offline dry run', run)
  exitCode = run.exitCode
} else {
  // What the pods' checks reach: PostgreSQL, Redis and the Python drivers (a no-op once installed).
  const services = spawnSync('bash', [path.join(REPO_ROOT, 'scripts', 'ci-services.sh')], {
    stdio: 'inherit'
  })
  if (services.status !== 0) process.exit(services.status ?? 1)
  // Imported only here: the offline path needs none of it.
  const { controlPlaneBinDir } = await import('../__tests__/rig/control-plane/binaries.js')
  const { startControlPlaneRig } = await import('../__tests__/support/rig.js')
  await controlPlaneBinDir({ showBuild: true })
  const rig = await startControlPlaneRig()
  try {
    const env = { PATH: rig.path, ...rig.env }
    const run = await runAction({
      inputs: { ...EXAMPLE_INPUTS, ...rig.clusterInputs, ...rig.services.inputs },
      env,
      workspace
    })
    print('deploy to the local control plane', run)
    const post = await runAction({ inputs: {}, env, entry: DIST_POST, workspace })
    print('post step', post)
    exitCode = run.exitCode || post.exitCode
  } finally {
    await rig.stop()
  }
}
const summary = await readFile(`${workspace.directory}/summary.md`, 'utf8')
process.stdout.write(`\n--- job summary ---\n${summary}`)
process.stdout.write(`\nexit code ${exitCode}\n`)
await workspace.remove()
process.exitCode = exitCode
