import { randomBytes } from 'node:crypto'
import { chmod, writeFile } from 'node:fs/promises'
import YAML from 'yaml'
import type { EmulatorControl } from './control.js'
import { makeControl, startControlServer } from './control.js'
import type { FaultOptions } from './faults.js'
import { Cluster } from './server.js'
import type { CertificateAuthority } from './tls.js'
import { makeServerCertificate } from './tls.js'

export type { EmulatorControl } from './control.js'
export type { ExecRule } from './exec.js'
export type { FaultOptions } from './faults.js'
export type { PodScenario } from './scenarios.js'
export type { AccessRule } from './authz.js'
export type { CertificateAuthority } from './tls.js'

export interface KubeEmulatorOptions {
  serverMinor?: number // 30–33, default 32
  token?: string
  isTokenValid?: (token: string) => boolean
  faults?: FaultOptions
  tickMs?: number
  // sign the server certificate with this CA (e.g. the one the GKE stand-in hands out); default: a fresh CA
  ca?: CertificateAuthority
}

export interface KubeEmulator {
  url: string
  caPem: string
  token: string
  controlUrl: string
  control: EmulatorControl
  writeKubeconfig(path: string, opts?: { namespace?: string }): Promise<void>
  stop(): Promise<void>
}

export async function startKubeEmulator(opts: KubeEmulatorOptions = {}): Promise<KubeEmulator> {
  const serverMinor = opts.serverMinor ?? 32
  if (serverMinor < 30 || serverMinor > 33) throw new Error(`serverMinor must be 30–33 (got ${serverMinor})`)
  const token = opts.token ?? randomBytes(24).toString('hex')
  const cert = await makeServerCertificate(opts.ca)
  const cluster = new Cluster({
    serverMinor,
    token,
    isTokenValid: opts.isTokenValid,
    tickMs: opts.tickMs ?? 25
  })
  if (opts.faults) cluster.faults.set(opts.faults)
  const url = await cluster.listen(cert)
  const control = makeControl(cluster)
  const controlServer = await startControlServer(control)
  return {
    url,
    caPem: cert.caPem,
    token,
    controlUrl: controlServer.url,
    control,
    async writeKubeconfig(path, o = {}) {
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'emulator',
            cluster: { server: url, 'certificate-authority-data': Buffer.from(cert.caPem).toString('base64') }
          }
        ],
        users: [{ name: 'emulator', user: { token } }],
        contexts: [
          {
            name: 'emulator',
            context: {
              cluster: 'emulator',
              user: 'emulator',
              ...(o.namespace ? { namespace: o.namespace } : {})
            }
          }
        ],
        'current-context': 'emulator'
      }
      await writeFile(path, YAML.stringify(config), { mode: 0o600 })
      await chmod(path, 0o600)
    },
    async stop() {
      await Promise.all([cluster.stop(), controlServer.close()])
    }
  }
}
