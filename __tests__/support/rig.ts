// The whole local test rig for end-to-end runs of dist/: the Kubernetes API emulator, the Google stand-ins
// (OIDC, STS, IAM Credentials, GKE) knowing the emulator as cluster "workers", and a credentials file exactly
// like google-github-actions/auth writes. Real kubectl and real google-auth-library talk to them over loopback.

import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startGoogleStandIns, type GoogleStandIns, type GoogleStandInOptions } from '../rig/gcp/index.js'
import { startKubeEmulator, type KubeEmulator, type KubeEmulatorOptions } from '../rig/kube/index.js'

export const RIG_PROJECT = 'noesis2-prod'
export const RIG_LOCATION = 'europe-west3'
export const RIG_CLUSTER = 'workers'

export interface Rig {
  kube: KubeEmulator
  google: GoogleStandIns
  directory: string
  credentialsFile: string
  // What the auth step leaves in the job's environment, pointed at the stand-ins.
  env: Record<string, string>
  // The inputs that select the rig's cluster.
  clusterInputs: Record<string, string>
  // kubectl as an administrator, for reading the cluster state back in assertions.
  kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>
  kubectlJson<T>(...args: string[]): Promise<T>
  // `kubectl apply -f -` of plain objects (JSON bodies: the emulator does not decode kubectl's protobuf writes).
  applyObjects(objects: object[]): Promise<void>
  stop(): Promise<void>
}

export interface RigOptions {
  kube?: KubeEmulatorOptions
  google?: Omit<GoogleStandInOptions, 'clusters'>
  impersonate?: boolean
}

export async function startRig(options: RigOptions = {}): Promise<Rig> {
  // The access tokens the IAM stand-in mints are what the action's kubeconfig carries; the stand-in starts
  // after the emulator because it must know the emulator's address.
  const tokenCheck: { isValid: (token: string) => boolean } = { isValid: () => false }
  const kube = await startKubeEmulator({
    tickMs: 20,
    ...options.kube,
    isTokenValid: token => tokenCheck.isValid(token)
  })
  const endpoint = new URL(kube.url).host
  const google = await startGoogleStandIns({
    projectId: RIG_PROJECT,
    ...options.google,
    clusters: [
      {
        project: RIG_PROJECT,
        location: RIG_LOCATION,
        name: RIG_CLUSTER,
        endpoint,
        caPem: kube.caPem,
        privateEndpoint: endpoint,
        dnsEndpoint: `localhost:${new URL(kube.url).port}`
      }
    ]
  })
  tokenCheck.isValid = token => google.isValidAccessToken(token)
  const directory = await mkdtemp(path.join(os.tmpdir(), 'dgw-rig-'))
  const credentialsFile = await google.writeExternalAccountCredentials(directory, {
    impersonate: options.impersonate ?? true
  })
  const adminKubeconfig = path.join(directory, 'admin-kubeconfig')
  await kube.writeKubeconfig(adminKubeconfig)
  const adminEnv = { ...process.env, KUBECACHEDIR: path.join(directory, 'admin-cache'), HOME: directory }

  const kubectlWithInput = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>(resolve => {
      const child = execFile(
        'kubectl',
        ['--kubeconfig', adminKubeconfig, ...args],
        { env: adminEnv, timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
          resolve({ code, stdout, stderr })
        }
      )
      child.stdin?.end(input ?? '')
    })
  const kubectl = (...args: string[]) => kubectlWithInput(args)
  const rig: Rig = {
    kube,
    google,
    directory,
    credentialsFile,
    env: {
      GOOGLE_APPLICATION_CREDENTIALS: credentialsFile,
      CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE: credentialsFile,
      GOOGLE_GHA_CREDS_PATH: credentialsFile,
      CLOUDSDK_CORE_PROJECT: RIG_PROJECT,
      CLOUDSDK_PROJECT: RIG_PROJECT,
      GCLOUD_PROJECT: RIG_PROJECT,
      GCP_PROJECT: RIG_PROJECT,
      GOOGLE_CLOUD_PROJECT: RIG_PROJECT,
      ACTIONS_ID_TOKEN_REQUEST_URL: google.oidcUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: google.oidcRequestToken,
      CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: google.containerApiUrl
    },
    clusterInputs: { cluster_name: RIG_CLUSTER, location: RIG_LOCATION },
    kubectl,
    async kubectlJson<T>(...args: string[]): Promise<T> {
      const result = await kubectl(...args, '-o', 'json')
      if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${result.stderr}`)
      return JSON.parse(result.stdout) as T
    },
    async applyObjects(objects: object[]) {
      const result = await kubectlWithInput(
        ['apply', '-f', '-'],
        objects.map(o => JSON.stringify(o)).join('\n')
      )
      if (result.code !== 0) throw new Error(`kubectl apply failed: ${result.stderr}`)
    },
    async stop() {
      await Promise.all([kube.stop(), google.stop()])
      await rm(directory, { recursive: true, force: true })
    }
  }
  return rig
}
