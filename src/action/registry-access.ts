// How this run reaches the image's registry: through the proxy the runner's environment names (HTTPS_PROXY,
// NO_PROXY: self-hosted runners behind a proxy), trusting Node's CAs (NODE_EXTRA_CA_CERTS included), with the
// GKE session's Google access token for Artifact Registry and gcr.io and anonymously elsewhere, or everywhere
// when there is no session (cluster_name empty: the kubeconfig in place).

import type { RegistryAccess } from '../deploy/image-preflight.js'
import { proxySettingsFromEnv } from '../registry/proxy.js'
import { httpsTransport } from '../registry/transport.js'
import type { ClusterAccess } from './cluster-access.js'

export function registryAccessFor(
  env: Record<string, string | undefined>,
  access: Pick<ClusterAccess, 'googleAccessToken' | 'identity'>
): RegistryAccess {
  const proxy = proxySettingsFromEnv(env)
  return {
    transport: httpsTransport(proxy ? { proxy } : {}),
    ...(access.googleAccessToken ? { googleAccessToken: access.googleAccessToken } : {}),
    ...(access.identity ? { deployer: access.identity } : {})
  }
}
