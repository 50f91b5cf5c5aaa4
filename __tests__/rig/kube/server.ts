import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { WebSocketServer } from 'ws'
import type { ApiContext } from './api.js'
import { parseResourcePath, ResourceApi } from './api.js'
import { Authorizer, verbOf } from './authz.js'
import { DeploymentController } from './controllers/deployment.js'
import { EventRecorder } from './controllers/events.js'
import { GarbageCollector } from './controllers/gc.js'
import { Kubelet } from './controllers/kubelet.js'
import { ReplicaSetController } from './controllers/replicaset.js'
import { ControllerWriter, rtOf } from './controllers/writer.js'
import {
  aggregatedContentType,
  aggregatedDiscovery,
  legacyApiVersions,
  legacyGroup,
  legacyGroupList,
  resourceList,
  wantsAggregated
} from './discovery.js'
import { acceptExec, createExecSocketServer, ExecBook } from './exec.js'
import { Faults } from './faults.js'
import { openapiDocument, openapiIndex } from './openapi.js'
import { ScenarioBook } from './scenarios.js'
import type { StatusBody } from './status.js'
import {
  ApiError,
  faultStatus,
  forbidden,
  internalError,
  notFound,
  pathNotFound,
  unauthorized
} from './status.js'
import { Store } from './store.js'
import type { ServerCertificate } from './tls.js'

export interface RequestRecord {
  method: string
  path: string
  status: number
}

export interface ClusterOptions {
  serverMinor: number
  token: string
  isTokenValid?: (token: string) => boolean
  tickMs: number
}

// The emulated cluster: API server, controllers on a timer, exec, fault injection and the request log.
export class Cluster {
  readonly store = new Store()
  readonly authz = new Authorizer()
  readonly scenarios = new ScenarioBook()
  readonly execs = new ExecBook()
  readonly faults = new Faults()
  readonly requests: RequestRecord[] = []
  private readonly writer = new ControllerWriter(this.store)
  private readonly events = new EventRecorder(this.store, this.writer)
  private readonly deployments = new DeploymentController(this.store, this.writer, this.events)
  private readonly replicaSets = new ReplicaSetController(this.store, this.writer, this.events)
  private readonly gc = new GarbageCollector(this.store)
  readonly kubelet: Kubelet
  private readonly api: ResourceApi
  private readonly watches = new Set<ServerResponse>()
  private readonly wss: WebSocketServer = createExecSocketServer()
  private timer: NodeJS.Timeout | undefined
  private syncing = false
  private server: Server | undefined

  constructor(private opts: ClusterOptions) {
    this.kubelet = new Kubelet(this.store, this.writer, this.events, this.scenarios, { tickMs: opts.tickMs })
    const ctx: ApiContext = {
      store: this.store,
      authz: this.authz,
      wake: () => setImmediate(() => this.sync()),
      readLog: (_ns, pod, q) => this.kubelet.readLog(pod, q),
      watches: this.watches
    }
    this.api = new ResourceApi(ctx)
  }

  sync(): void {
    if (this.syncing) return
    this.syncing = true
    try {
      this.gc.sync()
      this.deployments.sync()
      this.replicaSets.sync()
      this.kubelet.sync()
    } finally {
      this.syncing = false
    }
  }

  async listen(cert: ServerCertificate): Promise<string> {
    const server = createServer(
      { cert: cert.certPem, key: cert.keyPem },
      (req, res) => void this.onRequest(req, res)
    )
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head)
    )
    this.server = server
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    this.timer = setInterval(() => this.sync(), this.opts.tickMs)
    return `https://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    for (const w of this.watches) w.end()
    for (const c of this.wss.clients) c.terminate()
    this.wss.close()
    const server = this.server
    if (!server) return
    await new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  reset(): void {
    this.store.clear()
    this.authz.reset()
    this.scenarios.reset()
    this.execs.reset()
    this.faults.set(undefined)
    this.requests.length = 0
    this.kubelet.reset()
  }

  private authorized(req: IncomingMessage): boolean {
    const h = req.headers.authorization ?? ''
    const m = /^Bearer\s+(.+)$/i.exec(h)
    if (!m) return false
    return m[1] === this.opts.token || (this.opts.isTokenValid?.(m[1]) ?? false)
  }

  private sendStatus(res: ServerResponse, body: StatusBody, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body)
    res.writeHead(body.code, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(text),
      ...headers
    })
    res.end(text)
  }

  // The injected fault for a request or an exec upgrade, after its latency: none (undefined), a reset (the
  // connection is destroyed here), or an error answer for the caller to send.
  private async injectedFault(
    method: string,
    path: string,
    socket: Duplex,
    record: RequestRecord
  ): Promise<'reset' | { body: StatusBody; headers: Record<string, string> } | undefined> {
    const latency = this.faults.latency(method, path)
    if (latency) await new Promise(r => setTimeout(r, latency))
    const fault = this.faults.decide(method, path)
    if (fault.kind === 'reset') {
      record.status = -1
      socket.destroy()
      return 'reset'
    }
    // The emulator has no reply to lose: drop-reply is the fault proxy's, in front of a real server.
    if (fault.kind === 'none' || fault.kind === 'drop-reply') return undefined
    return {
      body: faultStatus(fault.code, fault.retryAfter),
      headers: fault.retryAfter !== undefined ? { 'Retry-After': String(fault.retryAfter) } : {}
    }
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    const record: RequestRecord = { method, path, status: 0 }
    this.requests.push(record)
    const origWriteHead = res.writeHead.bind(res)
    res.writeHead = ((code: number, ...rest: unknown[]) => {
      record.status = code
      return (origWriteHead as (c: number, ...r: unknown[]) => ServerResponse)(code, ...rest)
    }) as typeof res.writeHead
    try {
      if (!this.authorized(req)) return this.sendStatus(res, unauthorized().body)
      const fault = await this.injectedFault(method, path, req.socket, record)
      if (fault === 'reset') return
      if (fault) return this.sendStatus(res, fault.body, fault.headers)
      const body = await readBody(req)
      await this.route(req, res, body)
    } catch (e) {
      if (res.headersSent) {
        res.end()
        return
      }
      if (e instanceof ApiError) return this.sendStatus(res, e.body)
      this.sendStatus(res, internalError((e as Error).message).body)
    }
  }

  private json(res: ServerResponse, code: number, body: unknown, contentType = 'application/json'): void {
    const text = JSON.stringify(body)
    res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  }

  private async route(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1')
    const p = url.pathname.replace(/\/+$/, '') || '/'
    const accept = req.headers.accept
    if (p === '/version')
      return this.json(res, 200, {
        major: '1',
        minor: String(this.opts.serverMinor),
        emulationMajor: '1',
        emulationMinor: String(this.opts.serverMinor),
        gitVersion: `v1.${this.opts.serverMinor}.4-emulator`,
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.24.0',
        compiler: 'gc',
        platform: 'linux/amd64'
      })
    if (p === '/healthz' || p === '/readyz' || p === '/livez') {
      res.writeHead(200, { 'Content-Type': 'text/plain' })
      res.end('ok')
      return
    }
    if (p === '/api' || p === '/apis') {
      const agg = wantsAggregated(accept)
      if (agg) return this.json(res, 200, aggregatedDiscovery(p === '/api', agg), aggregatedContentType(agg))
      const host = String(req.headers.host ?? '127.0.0.1')
      return this.json(res, 200, p === '/api' ? legacyApiVersions(host) : legacyGroupList())
    }
    if (p === '/openapi/v3') return this.json(res, 200, openapiIndex(), 'text/plain; charset=utf-8')
    if (p.startsWith('/openapi/v3/')) {
      const rest = p.slice('/openapi/v3/'.length).split('/')
      const doc =
        rest[0] === 'api'
          ? openapiDocument('', rest[1])
          : rest[0] === 'apis'
            ? openapiDocument(rest[1], rest[2])
            : undefined
      if (!doc) throw pathNotFound()
      return this.json(res, 200, doc)
    }
    const segs = p.split('/').filter(Boolean)
    if (segs[0] === 'api' && segs.length === 2) {
      const list = resourceList('', segs[1])
      if (list) return this.json(res, 200, list)
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = legacyGroup(segs[1])
      if (g) return this.json(res, 200, g)
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const list = resourceList(segs[1], segs[2])
      if (list) return this.json(res, 200, list)
    }
    const parsed = parseResourcePath(p)
    if (!parsed) throw pathNotFound()
    this.checkAccess(req, parsed.rt, parsed.namespace, parsed.name, url.searchParams.get('watch') === 'true')
    await this.api.handle(req, res, url, parsed, body)
  }

  private checkAccess(
    req: IncomingMessage,
    rt: Parameters<typeof forbidden>[0],
    namespace: string | undefined,
    name: string | undefined,
    watch: boolean
  ): void {
    if (rt.virtual) return
    const verb = verbOf(req.method ?? 'GET', !!name, watch)
    const user = req.headers['impersonate-user'] ? String(req.headers['impersonate-user']) : undefined
    if (!this.authz.allowed({ verb, resource: rt.resource, namespace, group: rt.group, user }))
      throw forbidden(rt, verb, name ?? '', namespace)
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const record: RequestRecord = { method: req.method ?? 'GET', path: req.url ?? '/', status: 0 }
    this.requests.push(record)
    const fail = (body: StatusBody, headers: Record<string, string> = {}): void => {
      record.status = body.code
      const text = JSON.stringify(body)
      const extra = Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('')
      socket.end(
        `HTTP/1.1 ${body.code} ${body.reason ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n${extra}Connection: close\r\n\r\n${text}`
      )
    }
    if (!this.authorized(req)) return fail(unauthorized().body)
    // Faults reach an exec's upgrade as they reach any request.
    void this.injectedFault(record.method, record.path, socket, record).then(fault => {
      if (fault === 'reset') return
      if (fault) fail(fault.body, fault.headers)
      else this.upgrade(req, socket, head, fail, record)
    })
  }

  private upgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    fail: (body: StatusBody) => void,
    record: RequestRecord
  ): void {
    try {
      const url = new URL(req.url ?? '/', 'https://127.0.0.1')
      const parsed = parseResourcePath(url.pathname)
      if (!parsed || parsed.rt.resource !== 'pods' || parsed.subresource !== 'exec' || !parsed.name)
        return fail(pathNotFound().body)
      const pod = this.store.get(parsed.rt, parsed.namespace ?? '', parsed.name)
      if (!pod) return fail(notFound(parsed.rt, parsed.name).body)
      const q = url.searchParams
      const containers = ((pod.spec as { containers?: Array<{ name: string }> }).containers ?? []).map(
        c => c.name
      )
      const container = q.get('container') ?? containers[0]
      const phase = (pod.status as { phase?: string } | undefined)?.phase
      if (phase === 'Succeeded' || phase === 'Failed')
        return fail({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `cannot exec into a container in a completed pod; current phase is ${phase}`,
          reason: 'BadRequest',
          code: 400
        })
      if (!this.kubelet.containerRunning(pod, container))
        return fail({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `unable to upgrade connection: container not found ("${container}")`,
          reason: 'BadRequest',
          code: 400
        })
      // checked last: kubectl retries over SPDY after a failed websocket upgrade and must see the real error
      if (String(req.headers.upgrade ?? '').toLowerCase() !== 'websocket')
        return fail({
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'emulator: only websocket exec (v5.channel.k8s.io) is supported',
          reason: 'BadRequest',
          code: 400
        })
      const result = this.execs.run(parsed.name, container, q.getAll('command'))
      record.status = 101
      acceptExec(this.wss, req, socket, head, result)
    } catch (e) {
      fail(e instanceof ApiError ? e.body : internalError((e as Error).message).body)
    }
  }

  getObject(apiPath: string): unknown {
    const parsed = parseResourcePath(apiPath)
    if (!parsed || !parsed.name) return undefined
    return this.store.get(parsed.rt, parsed.namespace ?? '', parsed.name)
  }

  deleteAllOf(resource: string, group = ''): void {
    const rt = rtOf(resource, group)
    for (const o of this.store.list(rt)) {
      const m = o.metadata as { namespace?: string; name: string }
      this.store.remove(rt, m.namespace ?? '', m.name)
    }
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}
