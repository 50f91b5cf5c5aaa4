// The way to the cluster: the GKE cluster looked up with Google credentials (a private kubeconfig under
// RUNNER_TEMP, its token renewed before calls), or the kubeconfig already in place when cluster_name is empty.

import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import type { DeployConfig } from '../inputs.js'
import { Kubectl } from '../kube/kubectl.js'
import type { Redact } from '../redact.js'
import { coordinatesOf, type GkeCoordinates } from '../report/links.js'
import type { Runner, RunnerContext } from './runner.js'

export interface ClusterAccess {
  kubectl: Kubectl
  // The kubeconfig its calls use (the post step releases a deploy lock left behind with it).
  kubeconfig: string
  describe: string
  // Where the cluster is in Google Cloud (for links to its logs and workloads), and who the deploy acts as.
  gke?: GkeCoordinates
  identity?: string
  // The session's Google access token, for the registry check (Artifact Registry, gcr.io); none with the
  // kubeconfig in place (cluster_name empty): the registry is then asked anonymously.
  googleAccessToken?: () => Promise<string>
}

export async function hasClusterAccess(config: DeployConfig, context: RunnerContext): Promise<boolean> {
  // Google's client library is most of the bundle: loaded only when the run gets that far (an input error or
  // an offline plan never pays for it).
  if (config.clusterName) return (await import('../gke/credentials.js')).hasCredentials(context.env)
  const files = (context.env.KUBECONFIG ?? path.join(context.home, '.kube', 'config')).split(path.delimiter)
  return files.some(file => file !== '' && existsSync(file))
}

export async function openClusterAccess(
  runner: Runner,
  context: RunnerContext,
  config: DeployConfig,
  workDirectory: string,
  redact: Redact
): Promise<ClusterAccess> {
  // Discovery cache of our own: nothing under the user's ~/.kube is read or written.
  const env = { ...context.env, KUBECACHEDIR: path.join(workDirectory, 'kube-cache') }
  await mkdir(env.KUBECACHEDIR, { recursive: true })
  const kubectlOptions = { env, redact, log: (line: string) => runner.debug(line) }

  if (!config.clusterName) {
    const kubeconfig = existingKubeconfig(context)
    return {
      kubectl: new Kubectl({ ...kubectlOptions, kubeconfig }),
      kubeconfig,
      describe: `cluster_name is empty: using the kubeconfig in place (${kubeconfig}) and its current context`
    }
  }
  const { GkeKubeconfigSession } = await import('../gke/session.js')
  const session = await new GkeKubeconfigSession({
    env: context.env,
    projectId: config.projectId,
    location: config.location!,
    clusterName: config.clusterName,
    endpoint: config.clusterEndpoint,
    namespace: config.namespace,
    dir: workDirectory,
    log: line => runner.info(line),
    onToken: token => runner.setSecret(token)
  }).open()
  // Saved before anything else can fail, so the post step removes the kubeconfig whatever happens next.
  runner.saveState('kubeconfig', session.path)
  runner.setOutput('kubeconfig', session.path)
  return {
    kubectl: new Kubectl({
      ...kubectlOptions,
      kubeconfig: session.path,
      beforeCall: () => session.ensureFresh()
    }),
    kubeconfig: session.path,
    gke: coordinatesOf(session.cluster.resourceName),
    ...(session.identity ? { identity: session.identity } : {}),
    googleAccessToken: () => session.accessToken(),
    describe: `GKE cluster ${session.cluster.resourceName ?? config.clusterName} (${config.clusterEndpoint} endpoint ${session.server})`
  }
}

function existingKubeconfig(context: RunnerContext): string {
  const fromEnv = context.env.KUBECONFIG
  if (fromEnv) {
    const files = fromEnv.split(path.delimiter).filter(Boolean)
    if (files.length > 1) {
      throw new Error(
        `KUBECONFIG lists ${files.length} files; with cluster_name empty, point it at one kubeconfig file`
      )
    }
    return files[0]
  }
  const fallback = path.join(context.home, '.kube', 'config')
  if (!existsSync(fallback)) {
    throw new Error(
      'cluster_name is empty and there is no kubeconfig in place (KUBECONFIG is unset and ~/.kube/config does not exist): give cluster_name and location'
    )
  }
  return fallback
}
