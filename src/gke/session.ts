import {
  DEFAULT_REFRESH_MARGIN_SECONDS,
  getAccessTokenSource,
  resolveProjectId,
  type AccessTokenSource,
  type Env,
  type Log
} from './credentials.js'
import {
  containerApiBaseUrl,
  getCluster,
  selectEndpoint,
  type EndpointKind,
  type GkeCluster
} from './cluster.js'
import { removeKubeconfig, rewriteToken, writeKubeconfig } from './kubeconfig.js'

// Credentials -> cluster lookup -> private kubeconfig, kept fresh: a deploy with slow rollouts can outlive
// the one-hour access token, so the kubectl runner calls ensureFresh() before each kubectl call.

export interface GkeSessionOptions {
  env: Env
  /** The `project_id` input; empty: from the auth step's variables or the credentials. */
  projectId?: string
  location: string
  clusterName: string
  endpoint?: EndpointKind
  namespace?: string
  /** Where the kubeconfig goes: RUNNER_TEMP. */
  dir: string
  refreshMarginSeconds?: number
  log?: Log
  /** Called with every new token before it is written anywhere: the caller masks it (core.setSecret). */
  onToken?: (token: string) => void
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number
  /** Instead of reading credentials from env (tests, or a caller that already has a source). */
  tokenSource?: AccessTokenSource
}

export interface OpenGkeSession {
  path: string
  server: string
  projectId: string
  cluster: GkeCluster
  /** The service account the credentials act as, when they say (a report's RBAC remedy names it). */
  identity?: string
  /** Rewrites the kubeconfig's token when it is within the refresh margin of expiry. */
  ensureFresh(): Promise<void>
  /** The same access token, fresh (the registry check takes it for Artifact Registry and gcr.io). */
  accessToken(): Promise<string>
  /** Removes the kubeconfig (idempotent). */
  close(): Promise<void>
}

export class GkeKubeconfigSession {
  readonly #opts: GkeSessionOptions
  readonly #marginMs: number
  readonly #now: () => number

  constructor(opts: GkeSessionOptions) {
    this.#opts = opts
    this.#marginMs = (opts.refreshMarginSeconds ?? DEFAULT_REFRESH_MARGIN_SECONDS) * 1000
    this.#now = opts.now ?? Date.now
  }

  async open(): Promise<OpenGkeSession> {
    const { env, log = () => {}, onToken = () => {} } = this.#opts
    const source =
      this.#opts.tokenSource ??
      (await getAccessTokenSource({
        env,
        projectId: this.#opts.projectId,
        refreshMarginSeconds: this.#marginMs / 1000,
        log
      }))
    const projectId = await resolveProjectId(this.#opts.projectId, env)
    let current = await source.getToken()
    onToken(current.token)

    const cluster = await getCluster({
      projectId,
      location: this.#opts.location,
      clusterName: this.#opts.clusterName,
      token: current.token,
      apiBaseUrl: containerApiBaseUrl(env),
      serviceAccountEmail: source.serviceAccountEmail,
      log
    })
    const kind = this.#opts.endpoint ?? 'public'
    const { server, caPem } = selectEndpoint(cluster, kind)
    if (cluster.status !== 'RUNNING') log(`GKE cluster ${cluster.resourceName} is ${cluster.status}`)
    log(`GKE cluster ${cluster.resourceName}: ${kind} endpoint ${server}`)

    const path = await writeKubeconfig({
      dir: this.#opts.dir,
      server,
      caPem,
      token: current.token,
      namespace: this.#opts.namespace,
      name: `gke_${cluster.project}_${cluster.location}_${cluster.name}`
    })
    log(`Wrote kubeconfig ${path}`)

    let pending: Promise<void> | undefined
    const refresh = async () => {
      const next = await source.getToken()
      if (next.token !== current.token) {
        onToken(next.token)
        await rewriteToken(path, next.token)
        log(`Refreshed the GKE access token (valid until ${next.expiresAt.toISOString()})`)
      }
      current = next
    }
    const ensureFresh = async (): Promise<void> => {
      if (this.#now() < current.expiresAt.getTime() - this.#marginMs) return
      // Concurrent kubectl calls share one refresh rather than racing renames.
      pending ??= refresh().finally(() => (pending = undefined))
      await pending
    }
    return {
      path,
      server,
      projectId,
      cluster,
      ...(source.serviceAccountEmail ? { identity: source.serviceAccountEmail } : {}),
      ensureFresh,
      accessToken: async () => {
        await ensureFresh()
        return current.token
      },
      close: () => removeKubeconfig(path)
    }
  }
}
