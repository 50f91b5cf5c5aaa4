import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { AccessRule } from './authz.js'
import type { ExecRule } from './exec.js'
import type { FaultOptions } from './faults.js'
import type { PodScenario } from './scenarios.js'
import type { Cluster, RequestRecord } from './server.js'

export interface EmulatorControl {
  setImageScenario(image: string, s: PodScenario): void
  setDefaultScenario(s: PodScenario): void
  programExec(rule: ExecRule): void
  setFaults(f: FaultOptions | undefined): void
  requestLog(): RequestRecord[]
  getObject(apiPath: string): unknown | undefined
  denyAccess(rule: AccessRule): void
  // forget watch history so that older resourceVersions answer 410 Expired
  compactHistory(): void
  reset(): void
}

export function makeControl(cluster: Cluster): EmulatorControl {
  return {
    setImageScenario: (image, s) => cluster.scenarios.setImage(image, s),
    setDefaultScenario: s => cluster.scenarios.setDefault(s),
    programExec: rule => cluster.execs.program(rule),
    setFaults: f => cluster.faults.set(f),
    requestLog: () => cluster.requests.map(r => ({ ...r })),
    getObject: apiPath => cluster.getObject(apiPath),
    denyAccess: rule => cluster.authz.deny(rule),
    compactHistory: () => cluster.store.compact(),
    reset: () => cluster.reset()
  }
}

// Plain-HTTP JSON mirror of EmulatorControl for the standalone runner. Never subject to faults.
export async function startControlServer(
  control: EmulatorControl
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const reply = (code: number, body: unknown): void => {
        res.writeHead(code, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify(body))
      }
      try {
        const body = chunks.length
          ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>)
          : {}
        const url = new URL(req.url ?? '/', 'http://127.0.0.1')
        const route = `${req.method} ${url.pathname}`
        switch (route) {
          case 'POST /scenario':
            if (body.image) control.setImageScenario(String(body.image), body.scenario as PodScenario)
            else control.setDefaultScenario(body.scenario as PodScenario)
            return reply(200, { ok: true })
          case 'POST /exec': {
            const rule = body as unknown as ExecRule
            if (!Array.isArray(rule.match))
              return reply(400, { error: 'match must be an array of argv strings' })
            control.programExec(rule)
            return reply(200, { ok: true })
          }
          case 'POST /faults':
            control.setFaults(Object.keys(body).length ? (body as unknown as FaultOptions) : undefined)
            return reply(200, { ok: true })
          case 'POST /deny':
            control.denyAccess(body as unknown as AccessRule)
            return reply(200, { ok: true })
          case 'GET /requests':
            return reply(200, control.requestLog())
          case 'GET /object': {
            const obj = control.getObject(url.searchParams.get('path') ?? '')
            return obj === undefined ? reply(404, { error: 'not found' }) : reply(200, obj)
          }
          case 'POST /compact':
            control.compactHistory()
            return reply(200, { ok: true })
          case 'POST /reset':
            control.reset()
            return reply(200, { ok: true })
          default:
            return reply(404, { error: `unknown control route ${route}` })
        }
      } catch (e) {
        reply(400, { error: (e as Error).message })
      }
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
