// The whole local test rig for end-to-end runs of dist/: the real control plane of ../rig/control-plane, the
// services its pods' app reaches (PostgreSQL and Redis, ./app-services.ts), and the Google stand-ins (OIDC, STS,
// IAM Credentials, GKE) knowing the control plane as cluster "workers", with a credentials file exactly like
// google-github-actions/auth writes. Real kubectl and real google-auth-library talk to them over loopback.
//
// The runner's network is a proxy (HTTPS_PROXY, with the loopback stand-ins in NO_PROXY) that opens tunnels
// only to the hosts a test routes: the action's registry check never reaches a real registry from a test. With
// `registry`, the real registry rig is routed as europe-west3-docker.pkg.dev, the rig's images' registry, with
// its CA in NODE_EXTRA_CA_CERTS: the action asks it exactly as it asks Artifact Registry.

import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from '../rig/control-plane/index.js'
import { startGoogleStandIns, type GoogleStandIns, type GoogleStandInOptions } from '../rig/gcp/index.js'
import type { RequestRecord } from '../rig/shared/request-log.js'
import {
  startConnectProxy,
  type ConnectProxy,
  type ConnectProxyOptions
} from '../rig/registry/connect-proxy.js'
import { startRegistry, type RegistryRig, type RegistryRigOptions } from '../rig/registry/index.js'
import { startAppServices, type AppServices } from './app-services.js'

export const RIG_PROJECT = 'noesis2-prod'
export const RIG_LOCATION = 'europe-west3'
export const RIG_CLUSTER = 'workers'
// The registry of the rig's images (REGISTRY in e2e.ts): Artifact Registry in the cluster's region.
export const RIG_REGISTRY_HOST = `${RIG_LOCATION}-docker.pkg.dev`
// The Google service accounts the workflow may impersonate: the deployer (bound to docs/rbac.yaml's deployer
// role on the real control plane) and the pull-request planner (bound to the planner role).
export const DEPLOYER_SA = `deployer@${RIG_PROJECT}.iam.gserviceaccount.com`
export const PLANNER_SA = `planner@${RIG_PROJECT}.iam.gserviceaccount.com`
// A third account the workflow may impersonate, bound to nothing: a test grants it the roles it needs.
export const RESTRICTED_SA = `restricted@${RIG_PROJECT}.iam.gserviceaccount.com`

export type Identity = 'deployer' | 'planner' | 'restricted'
const ACCOUNTS: Record<Identity, string> = {
  deployer: DEPLOYER_SA,
  planner: PLANNER_SA,
  restricted: RESTRICTED_SA
}

export interface ControlPlaneRig {
  controlPlane: ControlPlane
  // PostgreSQL and Redis for the pods' app, and the inputs that point the rendered env at them.
  services: AppServices
  // The real registry, as RIG_REGISTRY_HOST (with the `registry` option).
  registry?: RegistryRig
  google: GoogleStandIns
  directory: string
  credentialsFile: string
  // What the auth step leaves in the job's environment, pointed at the stand-ins (as the deployer), with the
  // runner's network (networkEnv).
  env: Record<string, string>
  // The runner's network: HTTPS_PROXY and NO_PROXY (and NODE_EXTRA_CA_CERTS with a registry).
  networkEnv: Record<string, string>
  // The runner's proxy: every tunnel the action asked for.
  proxy: ConnectProxy
  // The same for another identity: what a workflow gets when the auth step impersonates that account.
  envFor(identity: Identity): Promise<Record<string, string>>
  // The inputs that select the rig's cluster.
  clusterInputs: Record<string, string>
  // kubectl as an administrator, for set-up and for reading the cluster state back in assertions.
  kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>
  kubectlJson<T>(...args: string[]): Promise<T>
  // `kubectl apply -f -` of plain objects.
  applyObjects(objects: object[]): Promise<void>
  // The requests of the clients under test (through the fault proxy; the rig's own reads are not in it).
  requestLog(): RequestRecord[]
  // PATH for the action's runs: the pinned kubectl first.
  path: string
  stop(): Promise<void>
}

export interface ControlPlaneRigOptions {
  controlPlane?: Omit<ControlPlaneOptions, 'authenticate' | 'deployers' | 'planners'>
  google?: Omit<GoogleStandInOptions, 'clusters'>
  // Start the real registry rig as RIG_REGISTRY_HOST, its tokens those of the Google stand-in.
  registry?: Omit<RegistryRigOptions, 'principalOfAccessToken' | 'serveAs'>
  proxy?: ConnectProxyOptions
}

type KubectlResult = { code: number; stdout: string; stderr: string }

function kubectlRunner(binary: string, kubeconfig: string, env: NodeJS.ProcessEnv) {
  return (args: string[], input?: string) =>
    new Promise<KubectlResult>(resolve => {
      const child = execFile(
        binary,
        ['--kubeconfig', kubeconfig, ...args],
        { env, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
          resolve({ code, stdout, stderr })
        }
      )
      child.stdin?.end(input ?? '')
    })
}

// The real control plane behind the Google stand-ins: the action's Google access tokens reach the apiserver's
// token webhook, which names the service account they stand for, as GKE does; RBAC then applies docs/rbac.yaml's
// roles to it. The app services start beside it.
export async function startControlPlaneRig(options: ControlPlaneRigOptions = {}): Promise<ControlPlaneRig> {
  const principal: { of: (token: string) => string | undefined } = { of: () => undefined }
  const started: Array<{ stop(): Promise<void> }> = []
  const stopStarted = async (): Promise<void> => {
    for (const s of started.reverse()) await s.stop().catch(() => undefined)
  }
  try {
    const [controlPlane, services] = await Promise.all([
      startControlPlane({
        ...options.controlPlane,
        authenticate: token => {
          const username = principal.of(token)
          return username ? { username } : undefined
        },
        deployers: [DEPLOYER_SA],
        planners: [PLANNER_SA]
      }).then(c => (started.push(c), c)),
      startAppServices().then(s => (started.push(s), s))
    ])
    const proxyUrl = new URL(controlPlane.url)
    const google = await startGoogleStandIns({
      projectId: RIG_PROJECT,
      otherServiceAccounts: [PLANNER_SA, RESTRICTED_SA],
      ...options.google,
      clusters: [
        {
          project: RIG_PROJECT,
          location: RIG_LOCATION,
          name: RIG_CLUSTER,
          endpoint: proxyUrl.host,
          caPem: controlPlane.ca.certPem,
          privateEndpoint: proxyUrl.host,
          dnsEndpoint: `localhost:${proxyUrl.port}`
        }
      ]
    })
    started.push(google)
    principal.of = token => google.principalOfAccessToken(token)
    const directory = await mkdtemp(path.join(os.tmpdir(), 'dgw-rig-'))
    started.push({ stop: () => rm(directory, { recursive: true, force: true }) })
    const adminKubeconfig = path.join(directory, 'admin-kubeconfig')
    await controlPlane.writeKubeconfig(adminKubeconfig, { direct: true })
    const adminEnv = { ...process.env, KUBECACHEDIR: path.join(directory, 'admin-cache'), HOME: directory }
    const runnerProxy = await startConnectProxy(options.proxy)
    started.push(runnerProxy)
    const registry = options.registry
      ? await startRegistry({
          ...options.registry,
          principalOfAccessToken: token => google.principalOfAccessToken(token),
          serveAs: { name: RIG_REGISTRY_HOST, proxy: runnerProxy }
        })
      : undefined
    if (registry) started.push(registry)

    const run = kubectlRunner(path.join(controlPlane.binDir, 'kubectl'), adminKubeconfig, adminEnv)
    const credentialsFile = await google.writeExternalAccountCredentials(directory, { impersonate: true })
    const networkEnv: Record<string, string> = {
      HTTPS_PROXY: runnerProxy.url,
      // The stand-ins are on loopback, which Go (kubectl) never proxies; google-auth-library needs telling.
      NO_PROXY: '127.0.0.1,localhost'
    }
    if (registry) {
      const caFile = path.join(directory, 'registry-ca.crt')
      await writeFile(caFile, registry.caPem)
      networkEnv.NODE_EXTRA_CA_CERTS = caFile
    }
    const envWith = (credentials: string): Record<string, string> => ({
      ...networkEnv,
      GOOGLE_APPLICATION_CREDENTIALS: credentials,
      CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE: credentials,
      GOOGLE_GHA_CREDS_PATH: credentials,
      CLOUDSDK_CORE_PROJECT: RIG_PROJECT,
      CLOUDSDK_PROJECT: RIG_PROJECT,
      GCLOUD_PROJECT: RIG_PROJECT,
      GCP_PROJECT: RIG_PROJECT,
      GOOGLE_CLOUD_PROJECT: RIG_PROJECT,
      ACTIONS_ID_TOKEN_REQUEST_URL: google.oidcUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: google.oidcRequestToken,
      CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: google.containerApiUrl
    })
    const kubectl = (...args: string[]) => run(args)
    return {
      controlPlane,
      services,
      ...(registry ? { registry } : {}),
      google,
      directory,
      credentialsFile,
      env: envWith(credentialsFile),
      networkEnv,
      proxy: runnerProxy,
      async envFor(identity) {
        if (identity === 'deployer') return envWith(credentialsFile)
        const file = await google.writeExternalAccountCredentials(directory, {
          serviceAccount: ACCOUNTS[identity]
        })
        return envWith(file)
      },
      clusterInputs: { cluster_name: RIG_CLUSTER, location: RIG_LOCATION },
      kubectl,
      async kubectlJson<T>(...args: string[]): Promise<T> {
        const result = await kubectl(...args, '-o', 'json')
        if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`)
        return JSON.parse(result.stdout) as T
      },
      async applyObjects(objects: object[]) {
        const result = await run(['apply', '-f', '-'], objects.map(o => JSON.stringify(o)).join('\n'))
        if (result.code !== 0) throw new Error(`kubectl apply failed: ${result.stderr}`)
      },
      requestLog: () => controlPlane.requestLog(),
      path: `${controlPlane.binDir}${path.delimiter}${process.env.PATH ?? '/usr/bin:/bin'}`,
      stop: stopStarted
    }
  } catch (error) {
    await stopStarted()
    throw error
  }
}
