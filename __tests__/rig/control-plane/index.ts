// A real Kubernetes control plane for the tests, on 127.0.0.1 only: etcd, kube-apiserver (own CA and serving
// certificate, a service-account key, token authentication, RBAC), kube-controller-manager (deployment,
// replicaset, garbage-collector, namespace, horizontal-pod-autoscaler, serviceaccount, job and
// ttl-after-finished controllers), kube-scheduler, and kwok as the kubelet of one node, with the stages of
// ./kubelet-stages.ts. What kwok leaves out of a kubelet, the processes of the pods (exec'd commands with the
// container's environment, container logs), is ./pod-runtime.ts, in front of kwok's kubelet server. A fault proxy
// sits in front of the apiserver for the clients under test. The apiserver's aggregator has a front-proxy
// client certificate, so an extension API server (KEDA's metrics adapter, ../keda) can be registered with an
// APIService. Everything it starts, it stops; its files live in one temporary directory that goes with it.

import { execFile } from 'node:child_process'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import YAML from 'yaml'
import type { FaultOptions } from '../shared/faults.js'
import type { RequestRecord } from '../shared/request-log.js'
import {
  LOOPBACK_NAMES,
  makeCertificate,
  makeCertificateAuthority,
  type CertificateAuthority
} from '../shared/tls.js'
import { controlPlaneBinDir } from './binaries.js'
import { startFaultProxy, type FaultProxy } from './fault-proxy.js'
import { pythonWithDrivers } from '../services.js'
import { CONTAINER_LOGS, FAST_TIMING, kubeletStages, type KubeletTiming } from './kubelet-stages.js'
import { startPodRuntime, type PodRuntime } from './pod-runtime.js'
import { POOL_LABEL, startPodScenarios, type PodScenarios } from './pod-scenarios.js'
import { startProcess, waitUntil, type Started } from './processes.js'

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
export const RBAC_MANIFEST = path.join(REPO_ROOT, 'docs', 'rbac.yaml')
export const NODE_NAME = 'gk3-workers-pool-1-node-a'
const FRONT_PROXY_CLIENT = 'front-proxy-client'

export interface TokenUser {
  username: string
  groups?: string[]
}

export interface ControlPlaneOptions {
  timing?: KubeletTiming
  // Bearer tokens the apiserver does not know itself (the Google access tokens in the action's kubeconfig)
  // go to this webhook, as GKE sends Google tokens to its own authenticator.
  authenticate?: (token: string) => TokenUser | undefined
  // RBAC users bound to docs/rbac.yaml's roles (the Google service accounts' emails, as on GKE).
  deployers?: string[]
  planners?: string[]
  faults?: FaultOptions
}

// kwok's exec for every pod: run locally, as the pod runtime rewrote it (./pod-runtime.ts).
const LOCAL_EXEC = {
  apiVersion: 'kwok.x-k8s.io/v1alpha1',
  kind: 'ClusterExec',
  metadata: { name: 'local' },
  spec: { execs: [{ local: {} }] }
}

export interface ControlPlane {
  // Through the fault proxy: what the action under test talks to.
  url: string
  // The apiserver itself: what the tests' own reads and set-up use, never faulted, never logged.
  directUrl: string
  ca: CertificateAuthority
  adminToken: string
  binDir: string
  // Static tokens of RBAC users bound like deployers and planners, for kubectl by hand.
  tokens: { deployer: string; planner: string }
  faults: FaultProxy['faults']
  requestLog(): RequestRecord[]
  // What runs in the pods: stand-ins per namespace, image or pod, and the execs that reached the node.
  pods: Pick<PodRuntime, 'set' | 'execs' | 'isolated'>
  // Which way the pods of an image go, without a marker in its name.
  scenarios: Pick<PodScenarios, 'set'>
  // kube-apiserver killed (SIGKILL: its clients' connections, watches included, close at once), kept down for
  // `downMs`, then started again with the same flags and storage; resolves once it answers /readyz again. Its
  // caches (RBAC among them) start empty, as after a real restart.
  restartApiServer(downMs: number): Promise<{ downForMs: number }>
  writeKubeconfig(
    file: string,
    options?: { token?: string; namespace?: string; direct?: boolean }
  ): Promise<void>
  kubectl(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }>
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

function httpsGet(url: string, token: string, caPem: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { headers: { Authorization: `Bearer ${token}` }, ca: caPem, timeout: 5000 },
      res => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') })
        )
      }
    )
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

function kubeconfigText(server: string, caPem: string, token: string, namespace?: string): string {
  return YAML.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'control-plane',
        cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') }
      }
    ],
    users: [{ name: 'user', user: { token } }],
    contexts: [
      {
        name: 'control-plane',
        context: { cluster: 'control-plane', user: 'user', ...(namespace ? { namespace } : {}) }
      }
    ],
    'current-context': 'control-plane'
  })
}

// The token webhook: answers the apiserver's TokenReviews with the user the callback names.
async function startTokenWebhook(authenticate: ControlPlaneOptions['authenticate']) {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      let token = ''
      try {
        token =
          (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: { token?: string } }).spec?.token ??
          ''
      } catch {
        // an unreadable review is simply not authenticated
      }
      const user = token ? authenticate?.(token) : undefined
      const review = {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        status: user
          ? { authenticated: true, user: { username: user.username, groups: user.groups ?? [] } }
          : { authenticated: false }
      }
      res.writeHead(200, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(review))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/authenticate`,
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binDir = await controlPlaneBinDir()
  const bin = (name: string): string => path.join(binDir, name)
  const dir = await mkdtemp(path.join(os.tmpdir(), 'control-plane-'))
  const file = (name: string): string => path.join(dir, name)
  const processes: Started[] = []
  const stops: Array<() => Promise<void>> = []
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined)
    // Test data only, in a directory removed next: nothing to shut down cleanly, and a graceful stop of the
    // apiserver takes seconds.
    await Promise.all(processes.reverse().map(p => p.stop('SIGKILL')))
    await rm(dir, { recursive: true, force: true })
  }

  try {
    const ca = await makeCertificateAuthority('control-plane-ca')
    // The aggregator's own CA and client certificate (the front proxy): an extension API server trusts the
    // requests the apiserver forwards to it by this certificate, and the user it names in X-Remote-User.
    const frontProxyCa = await makeCertificateAuthority('front-proxy-ca')
    const [serving, kubeletServing, frontProxyClient] = await Promise.all([
      makeCertificate(ca, {
        commonName: 'kube-apiserver',
        subjectAltNames: [...LOOPBACK_NAMES, 'DNS:kubernetes', 'DNS:kubernetes.default.svc'],
        usage: 'server'
      }),
      makeCertificate(ca, { commonName: NODE_NAME, subjectAltNames: LOOPBACK_NAMES, usage: 'server' }),
      makeCertificate(frontProxyCa, { commonName: FRONT_PROXY_CLIENT, usage: 'client' })
    ])
    const serviceAccountKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const adminToken = randomBytes(24).toString('hex')
    const tokens = { deployer: randomBytes(24).toString('hex'), planner: randomBytes(24).toString('hex') }
    await Promise.all([
      writeFile(file('ca.crt'), ca.certPem),
      writeFile(file('serving.crt'), serving.certPem),
      writeFile(file('serving.key'), serving.keyPem, { mode: 0o600 }),
      writeFile(file('kubelet.crt'), kubeletServing.certPem),
      writeFile(file('kubelet.key'), kubeletServing.keyPem, { mode: 0o600 }),
      writeFile(file('front-proxy-ca.crt'), frontProxyCa.certPem),
      writeFile(file('front-proxy-client.crt'), frontProxyClient.certPem),
      writeFile(file('front-proxy-client.key'), frontProxyClient.keyPem, { mode: 0o600 }),
      writeFile(file('sa.key'), serviceAccountKey.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
        mode: 0o600
      }),
      writeFile(file('sa.pub'), serviceAccountKey.publicKey.export({ type: 'spki', format: 'pem' })),
      writeFile(
        file('tokens.csv'),
        [
          `${adminToken},rig-admin,rig-admin,"system:masters"`,
          `${tokens.deployer},rig-deployer,rig-deployer`,
          `${tokens.planner},rig-planner,rig-planner`
        ].join('\n') + '\n',
        { mode: 0o600 }
      ),
      writeFile(
        file('kubelet.yaml'),
        `${kubeletStages({ ...FAST_TIMING, ...options.timing })}---\n${YAML.stringify(LOCAL_EXEC)}`
      )
    ])

    const webhook = await startTokenWebhook(options.authenticate)
    stops.push(webhook.stop)
    await writeFile(
      file('webhook.kubeconfig'),
      YAML.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'webhook', cluster: { server: webhook.url } }],
        users: [{ name: 'apiserver', user: {} }],
        contexts: [{ name: 'webhook', context: { cluster: 'webhook', user: 'apiserver' } }],
        'current-context': 'webhook'
      })
    )

    const [etcdClient, etcdPeer, apiPort, kubeletPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort()
    ])
    const etcd = startProcess(
      'etcd',
      bin('etcd'),
      [
        '--name=rig',
        `--data-dir=${file('etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=rig=http://127.0.0.1:${etcdPeer}`,
        // Test data: a crash loses nothing worth keeping, and fsync would dominate every write.
        '--unsafe-no-fsync',
        '--log-level=warn'
      ],
      file('etcd.log')
    )
    processes.push(etcd)
    await waitUntil(
      'etcd',
      async () => {
        const res = await fetch(`http://127.0.0.1:${etcdClient}/health`)
        return res.ok && ((await res.json()) as { health?: string }).health === 'true'
      },
      { timeoutMs: 30_000, process: etcd }
    )

    const directUrl = `https://127.0.0.1:${apiPort}`
    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${file('serving.crt')}`,
      `--tls-private-key-file=${file('serving.key')}`,
      `--cert-dir=${file('certs')}`,
      `--token-auth-file=${file('tokens.csv')}`,
      `--authentication-token-webhook-config-file=${file('webhook.kubeconfig')}`,
      '--authentication-token-webhook-version=v1',
      '--authentication-token-webhook-cache-ttl=10s',
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${file('sa.pub')}`,
      `--service-account-signing-key-file=${file('sa.key')}`,
      '--service-cluster-ip-range=10.96.0.0/24',
      // The node lifecycle controller would lift the not-ready taint this adds to a new node; the rig runs
      // no node lifecycle, and its one node is ready from the start.
      '--disable-admission-plugins=TaintNodesByCondition',
      '--allow-privileged=true',
      '--kubelet-preferred-address-types=InternalIP',
      `--kubelet-certificate-authority=${file('ca.crt')}`,
      // The aggregation layer: forwarded requests carry the front-proxy client certificate and the user in
      // X-Remote-* headers (the apiserver publishes the CA and header names in kube-system's
      // extension-apiserver-authentication ConfigMap, where an extension server reads them). Without
      // aggregator routing (the default, explicit here) an APIService's Service is resolved by its type: an
      // ExternalName Service names the host to dial, which is how a server on loopback is reached.
      `--requestheader-client-ca-file=${file('front-proxy-ca.crt')}`,
      `--requestheader-allowed-names=${FRONT_PROXY_CLIENT}`,
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      `--proxy-client-cert-file=${file('front-proxy-client.crt')}`,
      `--proxy-client-key-file=${file('front-proxy-client.key')}`,
      '--enable-aggregator-routing=false',
      '--profiling=false'
    ]
    let apiserver = startProcess(
      'kube-apiserver',
      bin('kube-apiserver'),
      apiserverArgs,
      file('kube-apiserver.log')
    )
    processes.push(apiserver)
    const apiserverReady = (process: Started) =>
      waitUntil(
        'kube-apiserver',
        async () => {
          const res = await httpsGet(`${directUrl}/readyz`, adminToken, ca.certPem)
          return res.status === 200 && res.body.trim() === 'ok'
        },
        { timeoutMs: 60_000, process }
      )
    await apiserverReady(apiserver)

    const adminKubeconfig = file('admin.kubeconfig')
    await writeFile(adminKubeconfig, kubeconfigText(directUrl, ca.certPem, adminToken), { mode: 0o600 })
    const adminEnv = { ...process.env, KUBECACHEDIR: file('kube-cache'), HOME: dir }
    const kubectl = (args: string[], input?: string) =>
      new Promise<{ code: number; stdout: string; stderr: string }>(resolve => {
        const child = execFile(
          bin('kubectl'),
          ['--kubeconfig', adminKubeconfig, ...args],
          { env: adminEnv, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) => {
            const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
            resolve({ code, stdout, stderr })
          }
        )
        child.stdin?.end(input ?? '')
      })
    const mustKubectl = async (args: string[], input?: string): Promise<string> => {
      const result = await kubectl(args, input)
      if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`)
      return result.stdout
    }

    // A node of kwok's, Ready once kwok's node stage has run: the rig's one, and those added for scale-up pods.
    const addNode = async (name: string, pool: string, extraLabels: Record<string, string> = {}) => {
      await mustKubectl(
        ['apply', '-f', '-'],
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Node',
          metadata: {
            name,
            annotations: { 'kwok.x-k8s.io/node': 'fake' },
            labels: {
              'kubernetes.io/hostname': name,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
              'cloud.google.com/gke-nodepool': pool,
              'topology.kubernetes.io/zone': 'europe-west3-a',
              ...extraLabels
            }
          },
          spec: {}
        })
      )
    }

    // The documented roles, bound to the rig's users: what the action can do here is what the README says.
    const bindings = [
      ...['rig-deployer', ...(options.deployers ?? [])].map(user => ({
        user,
        role: 'deploy-gke-workers-deployer'
      })),
      ...['rig-planner', ...(options.planners ?? [])].map(user => ({
        user,
        role: 'deploy-gke-workers-planner'
      }))
    ].map((b, i) => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: `${b.role}-${i}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: b.role },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: b.user }]
    }))
    await mustKubectl(['apply', '-f', RBAC_MANIFEST])
    await mustKubectl(['apply', '-f', '-'], bindings.map(b => JSON.stringify(b)).join('\n'))

    // Every pod is created through the scenarios webhook, from the first (no controller runs yet).
    const timing = { ...FAST_TIMING, ...options.timing }
    const scenarios = await startPodScenarios({
      ca,
      apiUrl: directUrl,
      adminToken,
      scaleUpMs: timing.scaleUpMs!,
      addNode: pool => addNode(`gk3-workers-${pool}`, pool, { [POOL_LABEL]: pool })
    })
    stops.push(scenarios.stop)
    await mustKubectl(['apply', '-f', '-'], JSON.stringify(scenarios.configuration))

    const controllerManager = startProcess(
      'kube-controller-manager',
      bin('kube-controller-manager'),
      [
        `--kubeconfig=${adminKubeconfig}`,
        '--controllers=deployment-controller,replicaset-controller,garbage-collector-controller,namespace-controller,horizontal-pod-autoscaler-controller,serviceaccount-controller,job-controller,ttl-after-finished-controller',
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        // The HPA controller's sync period; its metrics are missing here (no metrics server), as on a cluster
        // whose metrics pipeline is down: it keeps replicas within bounds and reports the missing metric.
        '--horizontal-pod-autoscaler-sync-period=5s',
        '--concurrent-deployment-syncs=10',
        '--concurrent-replicaset-syncs=10'
      ],
      file('kube-controller-manager.log')
    )
    const scheduler = startProcess(
      'kube-scheduler',
      bin('kube-scheduler'),
      [
        `--kubeconfig=${adminKubeconfig}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0'
      ],
      file('kube-scheduler.log')
    )
    // The node's kubelet, as the apiserver reaches it, is the pod runtime; kwok's own server is behind it.
    const pods = await startPodRuntime({
      kwokPort: kubeletPort,
      caPem: ca.certPem,
      certPem: kubeletServing.certPem,
      keyPem: kubeletServing.keyPem,
      apiUrl: directUrl,
      adminToken,
      directory: file('pods'),
      python: pythonWithDrivers(),
      defaultLogs: CONTAINER_LOGS
    })
    stops.push(pods.stop)
    const kwok = startProcess(
      'kwok',
      bin('kwok'),
      [
        `--kubeconfig=${adminKubeconfig}`,
        `--config=${file('kubelet.yaml')}`,
        '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
        '--node-ip=127.0.0.1',
        `--node-port=${pods.port}`,
        `--server-address=127.0.0.1:${kubeletPort}`,
        `--tls-cert-file=${file('kubelet.crt')}`,
        `--tls-private-key-file=${file('kubelet.key')}`,
        '--cidr=10.52.0.0/16'
      ],
      file('kwok.log')
    )
    processes.push(controllerManager, scheduler, kwok)

    await addNode(NODE_NAME, 'pool-1')
    await waitUntil(
      'the kwok node',
      async () => {
        const res = await httpsGet(`${directUrl}/api/v1/nodes/${NODE_NAME}`, adminToken, ca.certPem)
        const node = JSON.parse(res.body) as {
          status?: { conditions?: Array<{ type: string; status: string }> }
        }
        return node.status?.conditions?.some(c => c.type === 'Ready' && c.status === 'True') ?? false
      },
      { timeoutMs: 30_000, process: kwok }
    )

    const proxy = await startFaultProxy({
      upstream: directUrl,
      caPem: ca.certPem,
      certPem: serving.certPem,
      keyPem: serving.keyPem,
      faults: options.faults
    })
    stops.push(proxy.stop)

    return {
      url: proxy.url,
      directUrl,
      ca,
      adminToken,
      binDir,
      tokens,
      faults: proxy.faults,
      requestLog: proxy.requestLog,
      pods: { set: pods.set, execs: pods.execs, isolated: pods.isolated },
      scenarios: { set: scenarios.set },
      async restartApiServer(downMs) {
        const killedAt = Date.now()
        apiserver.child.kill('SIGKILL')
        await new Promise<void>(resolve =>
          apiserver.child.exitCode !== null || apiserver.child.signalCode !== null
            ? resolve()
            : apiserver.child.once('exit', () => resolve())
        )
        proxy.closeClientConnections()
        // The outage lasts as long as the test asks: the length of a restart is the scenario, not a guess.
        await new Promise(resolve => setTimeout(resolve, downMs))
        const restarted = startProcess(
          'kube-apiserver',
          bin('kube-apiserver'),
          apiserverArgs,
          file('kube-apiserver.log')
        )
        processes.splice(processes.indexOf(apiserver), 1, restarted)
        apiserver = restarted
        await apiserverReady(restarted)
        return { downForMs: Date.now() - killedAt }
      },
      async writeKubeconfig(target, o = {}) {
        await writeFile(
          target,
          kubeconfigText(o.direct ? directUrl : proxy.url, ca.certPem, o.token ?? adminToken, o.namespace),
          { mode: 0o600 }
        )
      },
      kubectl,
      stop: stopAll
    }
  } catch (error) {
    const logs = await Promise.all(
      processes.map(
        async p =>
          `--- ${p.name}\n${(await readFile(p.logFile, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n')}`
      )
    )
    await stopAll()
    throw new Error(`the control plane did not start: ${(error as Error).message}\n${logs.join('\n')}`, {
      cause: error
    })
  }
}
