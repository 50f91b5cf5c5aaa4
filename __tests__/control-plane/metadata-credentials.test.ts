// A self-hosted runner on Google Cloud has no credentials file: Application Default Credentials come from the
// metadata server (the VM's, or the GKE node's, service account). The action must deploy with them, against the
// real control plane, where the token's service account is what RBAC sees.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { DEPLOYER_SA } from '../support/rig.js'

let e2e: E2E
before(async () => {
  e2e = await startControlPlaneE2E({ google: { metadataServiceAccount: DEPLOYER_SA } })
})
after(async () => e2e?.stop())

// What a runner VM on Google Cloud has: a metadata server, and none of the auth step's variables.
function selfHostedRunnerEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {}
  // The runner's network (its proxy) stays: it is not the auth step's.
  for (const name of Object.keys(e2e.rig.env)) if (!(name in e2e.rig.networkEnv)) env[name] = undefined
  env.CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER = e2e.rig.env.CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER
  env.GCE_METADATA_HOST = e2e.rig.google.metadataHost
  return env
}

describe('credentials from the metadata server', () => {
  test('no credentials file: the metadata server\u2019s service account deploys, its project from the metadata', async () => {
    const run = await e2e.run('cp-metadata', { image: `${REGISTRY}:md1` }, { env: selfHostedRunnerEnv() })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'deployed')
    assert.match(
      run.stdout,
      new RegExp(`the metadata server's service account ${DEPLOYER_SA.replace(/\./g, '\\.')}`)
    )
    assert.ok(
      e2e.rig.google
        .requests()
        .some(r => r.path === '/computeMetadata/v1/instance/service-accounts/default/token'),
      'the token came from the metadata server'
    )
  })

  test('without a metadata server and without a credentials file, a PR dry run is offline, a deploy names the fix', async () => {
    const env = { ...selfHostedRunnerEnv(), GCE_METADATA_HOST: undefined, METADATA_SERVER_DETECTION: 'none' }
    const plan = await e2e.run(
      'cp-no-creds',
      { image: `${REGISTRY}:md2` },
      { env, eventName: 'pull_request' }
    )
    assert.equal(plan.outputs.status, 'dry-run', plan.stdout)
    assert.match(plan.summary, /without Google credentials: rendered and validated offline/)
    const deploy = await e2e.run('cp-no-creds', { image: `${REGISTRY}:md2` }, { env })
    assert.equal(deploy.exitCode, 1)
    assert.match(deploy.stdout, /No Google Cloud credentials/)
  })
})
