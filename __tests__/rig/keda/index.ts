// The real KEDA beside the real control plane: KEDA's own CRDs, its operator (ScaledObject controller, scale
// loops, the redis scaler, the gRPC metrics service) and its metrics adapter (external.metrics.k8s.io), both
// built from KEDA's Go module (./binaries.ts), running as processes on loopback with the control plane's admin
// credentials, as KEDA's Helm chart runs them in namespace `keda`.
//
// What a cluster gives KEDA and a test rig must provide by hand:
// - Certificates. KEDA's chart lets the operator generate and rotate them (--enable-cert-rotation, a Secret
//   kedaorg-certs, patched into the APIService). Here rotation is off and one certificate of a CA of the rig's
//   own is written to a directory both processes read (--cert-dir: ca.crt, tls.crt, tls.key): the operator
//   serves its gRPC metrics service with it and checks the adapter's client certificate against ca.crt (mutual
//   TLS); the adapter presents it to the operator and serves external.metrics.k8s.io with it.
// - The aggregator's route to the adapter. An APIService v1beta1.external.metrics.k8s.io names a Service; the
//   apiserver (without --enable-aggregator-routing) resolves an ExternalName Service to its external name and
//   the APIService's port, so `keda-metrics-apiserver` in `keda` is an ExternalName `localhost` and the
//   APIService's port is the adapter's. The apiserver checks the adapter's certificate against the APIService's
//   caBundle for the name keda-metrics-apiserver.keda.svc (in the certificate), and proves itself to the
//   adapter with its front-proxy client certificate (../control-plane).
// - The namespace KEDA lives in: KEDA_CLUSTER_OBJECT_NAMESPACE and POD_NAMESPACE, which in a pod come from the
//   service account's mount and the downward API.
// - No extra CAs for scalers: --ca-dir points at an empty directory, so a Redis whose CA is not given in the
//   TriggerAuthentication is not trusted by accident (KEDA adds the certificates of --ca-dir to every scaler's
//   pool; its default /custom/ca does not exist here anyway).
// KEDA's admission webhooks (cmd/webhooks) do not run here.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import type { ControlPlane } from '../control-plane/index.js'
import { startProcess, waitUntil, type Started } from '../control-plane/processes.js'
import { makeCertificate, makeCertificateAuthority } from '../shared/tls.js'
import { kedaBuild } from './binaries.js'

export const KEDA_NAMESPACE = 'keda'
export const METRICS_API_SERVICE = 'v1beta1.external.metrics.k8s.io'
const ADAPTER_SERVICE = 'keda-metrics-apiserver'
const OPERATOR_SERVICE = 'keda-operator'

export interface KedaRig {
  version: string
  // The operator's and the adapter's logs, for a failing test's message.
  logs(lines?: number): string
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

async function must(controlPlane: ControlPlane, args: string[], input?: string): Promise<string> {
  const result = await controlPlane.kubectl(args, input)
  if (result.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`)
  return result.stdout
}

// KEDA's CRDs from the module the binaries come from, established before the operator starts (its
// controllers watch every kind, and a kind not served would stop the operator at start).
export async function installKedaCrdsFromModule(controlPlane: ControlPlane): Promise<string[]> {
  const build = await kedaBuild()
  const names: string[] = []
  for (const file of build.crdFiles) {
    // Server-side: the CRDs are too large for client-side apply's last-applied annotation.
    const applied = await must(controlPlane, ['apply', '--server-side', '-f', file, '-o', 'name'])
    names.push(...applied.trim().split('\n').filter(Boolean))
  }
  await must(controlPlane, ['wait', '--for=condition=Established', ...names, '--timeout=60s'])
  return names
}

export async function startKeda(controlPlane: ControlPlane): Promise<KedaRig> {
  const build = await kedaBuild()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'keda-'))
  const file = (name: string): string => path.join(dir, name)
  const processes: Started[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(processes.map(p => p.stop()))
    await controlPlane.kubectl([
      'delete',
      'apiservice',
      METRICS_API_SERVICE,
      '--ignore-not-found',
      '--wait=false'
    ])
    await rm(dir, { recursive: true, force: true })
  }
  const logs = (lines = 40): string => processes.map(p => `--- ${p.name}\n${p.tail(lines)}`).join('\n')
  try {
    await installKedaCrdsFromModule(controlPlane)
    const ca = await makeCertificateAuthority('keda-rig-ca')
    const serviceNames = [OPERATOR_SERVICE, ADAPTER_SERVICE].flatMap(service => [
      `DNS:${service}.${KEDA_NAMESPACE}.svc`,
      `DNS:${service}.${KEDA_NAMESPACE}.svc.cluster.local`
    ])
    const leaf = await makeCertificate(ca, {
      commonName: 'keda',
      subjectAltNames: ['IP:127.0.0.1', 'DNS:localhost', ...serviceNames],
      usage: 'server+client'
    })
    await mkdir(file('certs'))
    await mkdir(file('no-extra-cas'))
    await Promise.all([
      writeFile(file('certs/ca.crt'), ca.certPem),
      writeFile(file('certs/tls.crt'), leaf.certPem),
      writeFile(file('certs/tls.key'), leaf.keyPem, { mode: 0o600 }),
      controlPlane.writeKubeconfig(file('admin.kubeconfig'), { direct: true })
    ])
    await must(
      controlPlane,
      ['apply', '-f', '-'],
      JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: KEDA_NAMESPACE } })
    )

    const [grpcPort, probePort, adapterPort, adapterMetricsPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort()
    ])
    const env = {
      ...process.env,
      KUBECONFIG: file('admin.kubeconfig'),
      KEDA_CLUSTER_OBJECT_NAMESPACE: KEDA_NAMESPACE,
      POD_NAMESPACE: KEDA_NAMESPACE,
      WATCH_NAMESPACE: ''
    }
    const operator = startProcess(
      'keda-operator',
      path.join(build.binDir, 'keda-operator'),
      [
        '--leader-elect=false',
        `--health-probe-bind-address=127.0.0.1:${probePort}`,
        // Prometheus metrics off: nothing scrapes them, and a fixed port would collide between test files.
        '--enable-prometheus-metrics=false',
        `--metrics-service-bind-address=127.0.0.1:${grpcPort}`,
        '--enable-cert-rotation=false',
        `--cert-dir=${file('certs')}`,
        `--ca-dir=${file('no-extra-cas')}`,
        '--zap-encoder=console',
        '--zap-log-level=info'
      ],
      file('keda-operator.log'),
      { env }
    )
    processes.push(operator)
    await waitUntil(
      'the KEDA operator',
      async () => (await fetch(`http://127.0.0.1:${probePort}/readyz`)).ok,
      { timeoutMs: 60_000, process: operator }
    )

    const adapter = startProcess(
      'keda-adapter',
      path.join(build.binDir, 'keda-adapter'),
      [
        `--secure-port=${adapterPort}`,
        '--bind-address=127.0.0.1',
        `--cert-dir=${file('certs')}`,
        `--tls-cert-file=${file('certs/tls.crt')}`,
        `--tls-private-key-file=${file('certs/tls.key')}`,
        `--lister-kubeconfig=${file('admin.kubeconfig')}`,
        `--authentication-kubeconfig=${file('admin.kubeconfig')}`,
        `--authorization-kubeconfig=${file('admin.kubeconfig')}`,
        `--metrics-service-address=127.0.0.1:${grpcPort}`,
        `--port=${adapterMetricsPort}`,
        '--zap-encoder=console',
        '--zap-log-level=info'
      ],
      file('keda-adapter.log'),
      { env }
    )
    processes.push(adapter)

    // How the aggregator reaches the adapter (see the header).
    await must(
      controlPlane,
      ['apply', '-f', '-'],
      [
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: ADAPTER_SERVICE, namespace: KEDA_NAMESPACE },
          spec: { type: 'ExternalName', externalName: 'localhost' }
        },
        {
          apiVersion: 'apiregistration.k8s.io/v1',
          kind: 'APIService',
          metadata: { name: METRICS_API_SERVICE },
          spec: {
            group: 'external.metrics.k8s.io',
            version: 'v1beta1',
            groupPriorityMinimum: 100,
            versionPriority: 100,
            service: { name: ADAPTER_SERVICE, namespace: KEDA_NAMESPACE, port: adapterPort },
            caBundle: Buffer.from(ca.certPem).toString('base64')
          }
        }
      ]
        .map(o => JSON.stringify(o))
        .join('\n')
    )
    await waitUntil(
      'the KEDA metrics adapter behind the aggregator',
      async () => {
        const result = await controlPlane.kubectl([
          'get',
          'apiservice',
          METRICS_API_SERVICE,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Available")].status}'
        ])
        return result.code === 0 && result.stdout.trim() === 'True'
      },
      { timeoutMs: 90_000, process: adapter }
    )
    return { version: build.version, logs, stop }
  } catch (error) {
    const tails = logs()
    await stop()
    throw new Error(`KEDA did not start: ${(error as Error).message}\n${tails}`, { cause: error })
  }
}
