// `npm start`: runs the committed action (dist/index.js) on this machine the way a runner does, against the
// local emulators (Kubernetes API emulator, Google STS/IAM/GKE stand-ins): a first deploy of the README's
// example inputs, then the post step. Prints the log, the job summary and the outputs.
//
// `npm start -- --offline` runs the offline dry run instead (no credentials, no cluster).

import { EXAMPLE_INPUTS } from '../__tests__/support/example-inputs.js'
import { startRig } from '../__tests__/support/rig.js'
import { DIST_POST, createWorkspace, runAction, type ActionRun } from '../__tests__/support/run-action.js'
import { programSmokeExec } from '../__tests__/support/smoke-exec.js'

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
  const rig = await startRig()
  try {
    programSmokeExec(rig.kube)
    const run = await runAction({
      inputs: { ...EXAMPLE_INPUTS, ...rig.clusterInputs },
      env: rig.env,
      workspace
    })
    print('deploy against the local emulators', run)
    const post = await runAction({ inputs: {}, env: rig.env, entry: DIST_POST, workspace })
    print('post step', post)
    exitCode = run.exitCode || post.exitCode
  } finally {
    await rig.stop()
  }
}
const { readFile } = await import('node:fs/promises')
const summary = await readFile(`${workspace.directory}/summary.md`, 'utf8')
process.stdout.write(`\n--- job summary ---\n${summary}`)
process.stdout.write(`\nexit code ${exitCode}\n`)
await workspace.remove()
process.exitCode = exitCode
