// Credentials the way google-github-actions/auth leaves them, exchanged by real google-auth-library at the STS
// and IAM Credentials stand-ins; the cluster found through the GKE stand-in; real kubectl reaching the real
// control plane with the kubeconfig the action wrote; the post step removing it. The stand-in's access tokens
// live two minutes here, inside the action's five-minute refresh margin from the start: every kubectl call of a
// run renews its token, as a long deploy's calls near the hour do.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parse } from 'yaml'
import { REGISTRY, startControlPlaneE2E, type E2E } from '../support/e2e.js'
import type { ControlPlaneRig } from '../support/rig.js'

const IMAGE = `${REGISTRY}:c1`
// The workload identity pool's principal for the workflow's OIDC token (the Google stand-in's project number and
// pool, the token's subject).
const DIRECT_PRINCIPAL =
  'principal://iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/github/subject/repo:noesis2/app:ref:refs/heads/main'
let e2e: E2E
let rig: ControlPlaneRig
before(async () => {
  e2e = await startControlPlaneE2E({ google: { accessTokenLifetimeSeconds: 120 } })
  rig = e2e.rig
})
after(async () => e2e?.stop())

function kubeconfigToken(text: string): string {
  const config = parse(text) as { users: Array<{ user: { token: string } }> }
  return config.users[0].user.token
}

describe('GKE credentials without gcloud', () => {
  test('workload identity federation with impersonation: token, cluster lookup, kubectl, post-step cleanup', async () => {
    const minted = rig.google.issuedAccessTokens()
    const started = await e2e.start('cred-wif', { image: IMAGE, dry_run: 'true' })
    const run = await started.done
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'dry-run')
    assert.match(run.summary, /dry run against the cluster/, 'kubectl reached the control plane')
    assert.ok(rig.google.issuedAccessTokens() > minted, 'tokens came from the STS and IAM stand-ins')

    const kubeconfig = run.outputs.kubeconfig
    assert.ok(kubeconfig.startsWith(started.workspace.runnerTemp), 'the kubeconfig lives under RUNNER_TEMP')
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
      !existsSync(path.join(started.workspace.directory, '.kube', 'config')),
      "the user's ~/.kube/config is never written"
    )

    const post = await started.post()
    assert.equal(post.exitCode, 0, post.stdout)
    assert.ok(!existsSync(kubeconfig), 'the post step removed the kubeconfig')
  })

  test('workload identity federation without impersonation (direct resource access)', async () => {
    // Without impersonation the cluster sees the pool's principal itself, bound to a role as GKE's documentation
    // says (kubectl create clusterrolebinding --user=principal://...): here the planner's, enough for a dry run.
    await rig.applyObjects([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'direct-principal-planner' },
        roleRef: {
          apiGroup: 'rbac.authorization.k8s.io',
          kind: 'ClusterRole',
          name: 'deploy-gke-workers-planner'
        },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: DIRECT_PRINCIPAL }]
      }
    ])
    const direct = await rig.google.writeExternalAccountCredentials(rig.directory, { impersonate: false })
    const run = await e2e.run(
      'cred-direct',
      { image: IMAGE, dry_run: 'true' },
      {
        env: {
          GOOGLE_APPLICATION_CREDENTIALS: direct,
          CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE: direct,
          GOOGLE_GHA_CREDS_PATH: direct
        }
      }
    )
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.match(run.summary, /dry run against the cluster/)
  })

  test('a deploy that fails still has its kubeconfig removed by the post step', async () => {
    const started = await e2e.start('cred-fail', { image: `${REGISTRY}:missing-image-not-found` })
    const run = await started.done
    assert.equal(run.exitCode, 1)
    assert.ok(existsSync(run.outputs.kubeconfig))
    assert.equal((await started.post()).exitCode, 0)
    assert.ok(!existsSync(run.outputs.kubeconfig))
  })

  test('no credentials: the error names the missing auth step and the fix', async () => {
    const withoutCredentials = Object.fromEntries(
      Object.keys(rig.env)
        .filter(name => name !== 'CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER' && !(name in rig.networkEnv))
        .map(name => [name, undefined])
    )
    const run = await e2e.run('cred-none', { image: IMAGE, dry_run: 'false' }, { env: withoutCredentials })
    assert.equal(run.exitCode, 1)
    assert.match(
      run.stdout,
      /::error title=cluster credentials%3A no Google credentials::cluster credentials: .*google-github-actions\/auth/
    )
    assert.equal(run.outputs.kubeconfig, undefined)
  })

  test('an unknown cluster is reported with project, location and name', async () => {
    const run = await e2e.run('cred-unknown', {
      image: IMAGE,
      cluster_name: 'nope',
      location: 'europe-west3',
      dry_run: 'true'
    })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /::error title=cluster credentials%3A cluster not found::.*nope.*not found/i)
    assert.match(run.stdout, /noesis2-prod/)
  })

  for (const endpoint of ['private', 'dns'] as const) {
    test(`cluster_endpoint: ${endpoint} writes that endpoint into the kubeconfig`, async () => {
      // The DNS endpoint is served with a publicly trusted certificate on GKE; here Go's SSL_CERT_FILE stands in.
      const caFile = path.join(rig.directory, `ca-${endpoint}.pem`)
      await writeFile(caFile, rig.controlPlane.ca.certPem)
      const started = await e2e.start(
        `cred-${endpoint}`,
        { image: IMAGE, dry_run: 'true', cluster_endpoint: endpoint },
        { env: { SSL_CERT_FILE: caFile } }
      )
      const run = await started.done
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
      assert.equal((await started.post()).exitCode, 0)
    })
  }

  test('a token that expires during the run is renewed before kubectl calls, and the deploy succeeds', async () => {
    const minted = rig.google.issuedAccessTokens()
    const run = await e2e.run('cred-refresh', { image: IMAGE })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'deployed')
    assert.match(run.stdout, /Refreshed the GKE access token/)
    assert.ok(rig.google.issuedAccessTokens() - minted >= 6, 'tokens were minted again during the run')
  })
})
