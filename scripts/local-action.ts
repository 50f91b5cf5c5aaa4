// `npm start`: runs the committed action (dist/index.js) on this machine the way a runner does, with the
// README's example inputs, and prints the job summary and the outputs.
//
// Today this is the offline dry run (no credentials, no cluster): render, validate, plan.

import { EXAMPLE_INPUTS } from '../__tests__/support/example-inputs.js'
import { runAction } from '../__tests__/support/run-action.js'

const run = await runAction({ inputs: { ...EXAMPLE_INPUTS, dry_run: 'true' } })
process.stdout.write('--- action log ---\n')
process.stdout.write(
  run.stdout
    .split('\n')
    .filter(line => !line.startsWith('::add-mask::'))
    .join('\n')
)
process.stdout.write(run.stderr)
process.stdout.write('\n--- job summary ---\n')
process.stdout.write(run.summary)
process.stdout.write('\n--- outputs ---\n')
for (const [name, value] of Object.entries(run.outputs)) process.stdout.write(`${name}=${value}\n`)
process.stdout.write(`\nexit code ${run.exitCode}\n`)
process.exitCode = run.exitCode
