// `npm run docs:samples`: the job summaries the README shows, as the action really writes them, on the tests'
// real control plane: a deploy (its smoke checks run in the pods against the rig's PostgreSQL and Redis), a failed
// deploy (an app that crashes at start, rolled back) and a pull-request plan; and the switch to KEDA (its plan,
// then the deploy) with the real KEDA (operator and metrics adapter) reading a real Redis. The inputs are the
// README's example pointed at the rig's services (db_host and REDIS_URL; no Cloud SQL proxy, which the rig's
// pods could not reach). The images are in the real registry, reached as europe-west3-docker.pkg.dev (built for
// amd64 and arm64, as a release is), so the summaries show the digest resolved and pinned as a user's would.
// Writes docs/samples/*.md; nothing in them is edited by hand.

import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { EXAMPLE_INPUTS } from '../__tests__/support/example-inputs.js'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../__tests__/support/e2e.js'
import { startKedaE2E } from '../__tests__/support/keda-operator.js'
import { REPO_ROOT } from '../__tests__/support/run-action.js'
import { SCENARIO_MARKERS } from '../__tests__/rig/scenario-images.js'

// The images of the samples, pushed as a release is (one index, an image per platform the nodes may have).
async function pushImages(e2e: E2E, tags: string[]): Promise<void> {
  for (const tag of tags) {
    await e2e.rig.registry!.pushIndex(`${REGISTRY}:${tag}`, [
      { platform: 'linux/amd64', content: `noesis2-web ${tag} amd64` },
      { platform: 'linux/arm64', content: `noesis2-web ${tag} arm64` }
    ])
  }
}

const e2e = await startControlPlaneE2E({ registry: {} })
const out = path.join(REPO_ROOT, 'docs', 'samples')
await mkdir(out, { recursive: true })
try {
  await pushImages(e2e, ['3f2a9c1', '4b7e0d2', 'pr-128'])
  // A release whose app crashes at start, and what it logs before it exits: a setting the new code reads that
  // the Secret lacks.
  e2e.rig.controlPlane.scenarios.set(`${REGISTRY}:4b7e0d2`, SCENARIO_MARKERS.crashLoop)
  e2e.rig.controlPlane.pods.set(
    { image: `${REGISTRY}:4b7e0d2` },
    {
      logs: {
        app: {
          previous:
            'Traceback (most recent call last):\n  File "/app/noesis2/settings/production.py", line 41, in <module>\n    OPENAI_API_KEY = os.environ["OPENAI_API_KEY"]\nKeyError: \'OPENAI_API_KEY\'\n'
        }
      }
    }
  )
  const inputs = { ...EXAMPLE_INPUTS, ...e2e.rig.services.inputs, image: `${REGISTRY}:3f2a9c1` }
  const deployed = await e2e.run('noesis2', inputs)
  if (deployed.outputs.status !== 'deployed') throw new Error(deployed.stdout)
  await writeFile(path.join(out, 'deploy.md'), deployed.summary)

  const failed = await e2e.run('noesis2', { ...inputs, image: `${REGISTRY}:4b7e0d2` })
  if (failed.outputs.status !== 'rolled-back') throw new Error(failed.stdout)
  await writeFile(path.join(out, 'failed-deploy.md'), failed.summary)

  const plan = await e2e.run(
    'noesis2',
    { ...inputs, image: `${REGISTRY}:pr-128`, pr_comment: 'false' },
    { eventName: 'pull_request', eventPayload: { number: 128, pull_request: { number: 128 } } }
  )
  if (plan.outputs.status !== 'dry-run') throw new Error(plan.stdout)
  await writeFile(path.join(out, 'pull-request-plan.md'), plan.summary)
} finally {
  await e2e.stop()
}

const withKeda = await startKedaE2E({ registry: {} })
const real = withKeda.e2e
try {
  await pushImages(real, ['3f2a9c1'])
  const inputs = {
    ...EXAMPLE_INPUTS,
    ...real.rig.services.inputs,
    image: `${REGISTRY}:3f2a9c1`,
    secret_data: EXAMPLE_INPUTS.secret_data.replace(/REDIS_URL=.*/, `REDIS_URL=${withKeda.redis.url()}`)
  }
  const keda = { ...inputs, autoscaling: 'keda', worker_min_replicas: '0', worker_max_replicas: '10' }
  const cpu = await real.run('noesis2', inputs)
  if (cpu.outputs.status !== 'deployed') throw new Error(cpu.stdout)
  const plan = await real.run(
    'noesis2',
    { ...keda, pr_comment: 'false' },
    { eventName: 'pull_request', eventPayload: { number: 131, pull_request: { number: 131 } } }
  )
  if (plan.outputs.status !== 'dry-run') throw new Error(plan.stdout)
  await writeFile(path.join(out, 'keda-switch-plan.md'), plan.summary)
  const deployed = await real.run('noesis2', keda)
  if (deployed.outputs.status !== 'deployed') throw new Error(deployed.stdout)
  await writeFile(path.join(out, 'keda-deploy.md'), deployed.summary)
} finally {
  await withKeda.stop()
}
process.stdout.write(
  `wrote ${out}/{deploy,failed-deploy,pull-request-plan,keda-switch-plan,keda-deploy}.md\n`
)
