// "Credentials without gcloud" holds on every credentials path, against the real control plane, through dist/:
// a `gcloud` first on PATH records every call, and no run makes one. google-auth-library's own discovery would
// run `gcloud config config-helper --format json` to find a project (twice on the metadata-server path), and a
// real gcloud writes under ~/.config/gcloud.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import { DEPLOYER_SA, RIG_PROJECT } from '../support/rig.js'

let e2e: E2E
let bin: string
let record: string
before(async () => {
  e2e = await startControlPlaneE2E({ google: { metadataServiceAccount: DEPLOYER_SA } })
  bin = await mkdtemp(path.join(os.tmpdir(), 'dgw-gcloud-'))
  record = path.join(bin, 'calls.txt')
  await writeFile(path.join(bin, 'gcloud'), `#!/bin/sh\necho "$*" >> '${record}'\nexit 1\n`)
  await chmod(path.join(bin, 'gcloud'), 0o755)
})
after(async () => {
  await e2e?.stop()
  await rm(bin, { recursive: true, force: true })
})

// The job's environment for one credentials path: none of the auth step's variables but `credentials`, and no
// project variable (so a library looking for the project has to look further), the recording gcloud first.
function envWith(credentials: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {}
  // The runner's network (its proxy) stays: it is not the auth step's.
  for (const name of Object.keys(e2e.rig.env)) if (!(name in e2e.rig.networkEnv)) env[name] = undefined
  return {
    ...env,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: e2e.rig.env.CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER,
    ACTIONS_ID_TOKEN_REQUEST_URL: e2e.rig.env.ACTIONS_ID_TOKEN_REQUEST_URL,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: e2e.rig.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN,
    PATH: `${bin}${path.delimiter}${e2e.rig.path}`,
    ...credentials
  }
}

async function gcloudCalls(): Promise<string> {
  return existsSync(record) ? readFile(record, 'utf8') : ''
}

describe('no gcloud on any credentials path', () => {
  const paths: Array<{
    name: string
    ns: string
    env: () => Promise<Record<string, string>>
    project?: string
  }> = [
    {
      name: 'workload identity federation, impersonating the deployer',
      ns: 'cp-gcloud-wif',
      env: async () => ({ GOOGLE_APPLICATION_CREDENTIALS: e2e.rig.credentialsFile }),
      project: RIG_PROJECT
    },
    {
      name: 'a service account key (credentials_json)',
      ns: 'cp-gcloud-key',
      env: async () => ({
        GOOGLE_GHA_CREDS_PATH: await e2e.rig.google.writeServiceAccountKey(e2e.rig.directory)
      })
    },
    {
      name: 'the metadata server (no credentials file, no project anywhere but the metadata)',
      ns: 'cp-gcloud-metadata',
      env: async () => ({ GCE_METADATA_HOST: e2e.rig.google.metadataHost })
    }
  ]
  for (const p of paths) {
    test(p.name, async () => {
      const before = await gcloudCalls()
      const run = await e2e.run(
        p.ns,
        { image: `${REGISTRY}:g1`, ...(p.project ? { project_id: p.project } : {}) },
        { env: envWith(await p.env()) }
      )
      assert.equal(run.outputs.status, 'deployed', run.stdout + run.stderr)
      assert.equal(await gcloudCalls(), before, 'gcloud was run')
    })
  }

  test('direct workload identity federation (no service account): its credentials step runs no gcloud', async () => {
    const before = await gcloudCalls()
    const file = await e2e.rig.google.writeExternalAccountCredentials(e2e.rig.directory, {
      impersonate: false
    })
    const run = await e2e.run(
      'cp-gcloud-direct',
      { image: `${REGISTRY}:g1`, project_id: RIG_PROJECT },
      { env: envWith({ GOOGLE_APPLICATION_CREDENTIALS: file }), eventName: 'pull_request' }
    )
    assert.match(
      run.stdout,
      /Google credentials: workload identity federation \(direct, no service account\)/
    )
    assert.equal(await gcloudCalls(), before, 'gcloud was run')
  })
})
