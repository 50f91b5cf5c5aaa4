// End-to-end: credentials the way google-github-actions/auth leaves them, exchanged by real
// google-auth-library at the STS and IAM Credentials stand-ins; the cluster found through the GKE stand-in;
// real kubectl reaching the emulator with the kubeconfig the action wrote; the post step removing it.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parse } from 'yaml'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import { startRig, type Rig } from '../support/rig.js'
import { createWorkspace, runAction, DIST_POST, type ActionWorkspace } from '../support/run-action.js'
import { programSmokeExec } from '../support/smoke-exec.js'

const IMAGE = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:c1'
let rig: Rig
const workspaces: ActionWorkspace[] = []
before(async () => {
  rig = await startRig()
  programSmokeExec(rig.kube)
})
after(async () => {
  await Promise.all(workspaces.map(w => w.remove()))
  await rig?.stop()
})

async function workspace(): Promise<ActionWorkspace> {
  const w = await createWorkspace()
  workspaces.push(w)
  return w
}

function kubeconfigToken(text: string): string {
  const config = parse(text) as { users: Array<{ user: { token: string } }> }
  return config.users[0].user.token
}

describe('GKE credentials without gcloud', () => {
  test('workload identity federation with impersonation: token, cluster lookup, kubectl, post-step cleanup', async () => {
    const w = await workspace()
    const minted = rig.google.issuedAccessTokens()
    const run = await runAction({
      inputs: {
        ...EXAMPLE_INPUTS,
        ...rig.clusterInputs,
        image: IMAGE,
        namespace: 'cred-wif',
        dry_run: 'true'
      },
      env: rig.env,
      workspace: w
    })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'dry-run')
    assert.match(run.summary, /dry run against the cluster/, 'kubectl reached the emulator')
    assert.ok(rig.google.issuedAccessTokens() > minted, 'tokens came from the STS and IAM stand-ins')

    const kubeconfig = run.outputs.kubeconfig
    assert.ok(kubeconfig.startsWith(w.runnerTemp), 'the kubeconfig lives under RUNNER_TEMP')
    assert.equal(run.state.kubeconfig, kubeconfig, 'its path is saved for the post step')
    assert.equal((await stat(kubeconfig)).mode & 0o777, 0o600)
    const token = kubeconfigToken(await readFile(kubeconfig, 'utf8'))
    assert.ok(rig.google.isValidAccessToken(token))
    assert.match(run.stdout, new RegExp(`^::add-mask::${token}$`, 'm'), 'the token is masked')
    const log = run.stdout
      .split('\n')
      .filter(line => !line.startsWith('::add-mask::'))
      .join('\n')
    assert.ok(
      !log.includes(token) && !run.summary.includes(token) && !JSON.stringify(run.outputs).includes(token)
    )
    assert.ok(
      !existsSync(path.join(w.directory, '.kube', 'config')),
      "the user's ~/.kube/config is never written"
    )

    const post = await runAction({ inputs: {}, env: rig.env, entry: DIST_POST, workspace: w })
    assert.equal(post.exitCode, 0, post.stdout)
    assert.ok(!existsSync(kubeconfig), 'the post step removed the kubeconfig')
  })

  test('workload identity federation without impersonation (direct resource access)', async () => {
    const direct = await rig.google.writeExternalAccountCredentials(rig.directory, { impersonate: false })
    const run = await runAction({
      inputs: {
        ...EXAMPLE_INPUTS,
        ...rig.clusterInputs,
        image: IMAGE,
        namespace: 'cred-direct',
        dry_run: 'true'
      },
      env: {
        ...rig.env,
        GOOGLE_APPLICATION_CREDENTIALS: direct,
        CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE: direct,
        GOOGLE_GHA_CREDS_PATH: direct
      },
      workspace: await workspace()
    })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.match(run.summary, /dry run against the cluster/)
  })

  test('a deploy that fails still has its kubeconfig removed by the post step', async () => {
    const w = await workspace()
    const bad = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web:missing'
    rig.kube.control.setImageScenario(bad, { kind: 'imagePullBackOff' })
    const run = await runAction({
      inputs: { ...EXAMPLE_INPUTS, ...rig.clusterInputs, image: bad, namespace: 'cred-fail' },
      env: rig.env,
      workspace: w
    })
    assert.equal(run.exitCode, 1)
    assert.ok(existsSync(run.outputs.kubeconfig))
    await runAction({ inputs: {}, env: rig.env, entry: DIST_POST, workspace: w })
    assert.ok(!existsSync(run.outputs.kubeconfig))
  })

  test('no credentials: the error names the missing auth step and the fix', async () => {
    const run = await runAction({
      inputs: { ...EXAMPLE_INPUTS, ...rig.clusterInputs, image: IMAGE, dry_run: 'false' },
      env: { CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: rig.google.containerApiUrl },
      workspace: await workspace()
    })
    assert.equal(run.exitCode, 1)
    assert.match(
      run.stdout,
      /::error title=cluster credentials%3A no Google credentials::cluster credentials: .*google-github-actions\/auth/
    )
    assert.equal(run.outputs.kubeconfig, undefined)
  })

  test('an unknown cluster is reported with project, location and name', async () => {
    const run = await runAction({
      inputs: {
        ...EXAMPLE_INPUTS,
        cluster_name: 'nope',
        location: 'europe-west3',
        image: IMAGE,
        dry_run: 'true'
      },
      env: rig.env,
      workspace: await workspace()
    })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /::error title=cluster credentials%3A cluster not found::.*nope.*not found/i)
    assert.match(run.stdout, /noesis2-prod/)
  })

  for (const endpoint of ['private', 'dns'] as const) {
    test(`cluster_endpoint: ${endpoint} writes that endpoint into the kubeconfig`, async () => {
      const w = await workspace()
      // The DNS endpoint is served with a publicly trusted certificate on GKE; here Go's SSL_CERT_FILE stands in.
      const caFile = path.join(w.directory, 'ca.pem')
      await writeFile(caFile, rig.kube.caPem)
      const run = await runAction({
        inputs: {
          ...EXAMPLE_INPUTS,
          ...rig.clusterInputs,
          image: IMAGE,
          namespace: `cred-${endpoint}`,
          dry_run: 'true',
          cluster_endpoint: endpoint
        },
        env: { ...rig.env, SSL_CERT_FILE: caFile },
        workspace: w
      })
      assert.equal(run.exitCode, 0, run.stdout + run.stderr)
      const config = parse(await readFile(run.outputs.kubeconfig, 'utf8')) as {
        clusters: Array<{ cluster: { server: string; 'certificate-authority-data'?: string } }>
      }
      const cluster = config.clusters[0].cluster
      if (endpoint === 'dns') {
        assert.match(cluster.server, /^https:\/\/localhost:\d+$/)
        assert.equal(cluster['certificate-authority-data'], undefined)
      } else {
        assert.match(cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/)
        assert.ok(cluster['certificate-authority-data'])
      }
      await runAction({ inputs: {}, env: rig.env, entry: DIST_POST, workspace: w })
    })
  }
})

describe('a token that expires during the run', () => {
  let shortRig: Rig
  before(async () => {
    // Every token is already inside the refresh margin when minted, so every kubectl call renews it.
    shortRig = await startRig({ google: { accessTokenLifetimeSeconds: 120 } })
    programSmokeExec(shortRig.kube)
  })
  after(async () => shortRig?.stop())

  test('is renewed before kubectl calls, and the deploy succeeds', async () => {
    const w = await workspace()
    const minted = shortRig.google.issuedAccessTokens()
    const run = await runAction({
      inputs: { ...EXAMPLE_INPUTS, ...shortRig.clusterInputs, image: IMAGE, namespace: 'cred-refresh' },
      env: shortRig.env,
      workspace: w
    })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'deployed')
    assert.match(run.stdout, /Refreshed the GKE access token/)
    assert.ok(shortRig.google.issuedAccessTokens() - minted >= 6, 'tokens were minted again during the run')
    await runAction({ inputs: {}, env: shortRig.env, entry: DIST_POST, workspace: w })
  })
})
