// A TLS proxy in front of the real kube-apiserver, for the faults a real API and network produce: seeded 429,
// 500 and 503 answers (Status bodies and Retry-After, as the apiserver writes them), connection resets and lost
// answers, decided by the seeded engine of ../shared/faults.ts, on exec upgrades too. It records each request
// (method, path with query, status), so tests can say "no write reached the namespace". Streams (watch, logs) and
// upgrades (exec) pass through untouched; when the apiserver dies, its clients' connections die with it.

import { request as httpsRequest, Agent, createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { connect as tlsConnect } from 'node:tls'
import type { AddressInfo, Socket } from 'node:net'
import { Faults, type FaultOptions } from '../shared/faults.js'
import type { RequestRecord } from '../shared/request-log.js'
import { faultStatus } from '../shared/status.js'

export interface FaultProxy {
  url: string
  faults: Faults
  requestLog(): RequestRecord[]
  // What a dying API server does to its clients: every connection (watches and exec streams included) closed
  // at once, without a proper end.
  closeClientConnections(): void
  stop(): Promise<void>
}

export async function startFaultProxy(options: {
  upstream: string
  caPem: string
  certPem: string
  keyPem: string
  faults?: FaultOptions
}): Promise<FaultProxy> {
  const upstream = new URL(options.upstream)
  const agent = new Agent({ keepAlive: true, ca: options.caPem })
  const faults = new Faults()
  if (options.faults) faults.set(options.faults)
  const log: RequestRecord[] = []

  // Every client connection, so that a dying upstream can take them all down as a real server's death does.
  const clientSockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    clientSockets.add(socket)
    socket.once('close', () => clientSockets.delete(socket))
  }

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    record: RequestRecord,
    dropReply = false,
    // The request's body, when it was read whole to decide on it.
    body?: Buffer
  ): void => {
    const headers = { ...req.headers, host: upstream.host }
    const outgoing = httpsRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers,
        agent
      },
      answer => {
        record.status = answer.statusCode ?? 0
        if (dropReply) {
          // The server did the work; its answer is lost on the way back.
          record.status = -2
          answer.resume()
          answer.once('end', () => req.socket.destroy())
          return
        }
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        // Watches send their headers before the first event; a client waits on them.
        res.flushHeaders()
        answer.pipe(res)
        res.on('close', () => answer.destroy())
        // The server died mid-answer (a watch, a long list): the client's connection dies with it, no clean end.
        answer.once('aborted', () => req.socket.destroy())
        answer.once('error', () => req.socket.destroy())
      }
    )
    outgoing.on('error', () => {
      // No server behind (refused, reset): the client sees its connection reset, as with a dead server, not an
      // answer from a proxy that a real cluster does not have.
      if (record.status === 0) record.status = -1
      req.socket.destroy()
    })
    if (body) outgoing.end(body)
    else req.pipe(outgoing)
  }

  const server: Server = createServer(
    { cert: options.certPem, key: options.keyPem },
    (req: IncomingMessage, res: ServerResponse) => {
      const method = req.method ?? 'GET'
      const path = req.url ?? '/'
      const record: RequestRecord = { method, path, status: 0 }
      log.push(record)
      const handle = (body?: Buffer): void => {
        const decision = faults.decide(method, path, body?.toString('utf8'))
        if (decision.kind === 'reset') {
          record.status = -1
          req.socket.destroy()
          return
        }
        if (decision.kind === 'drop-reply') {
          forward(req, res, record, true, body)
          return
        }
        if (decision.kind === 'status') {
          record.status = decision.code
          const answer = JSON.stringify(faultStatus(decision.code, decision.retryAfter))
          res.writeHead(decision.code, {
            'Content-Type': 'application/json',
            'Content-Length': Buffer.byteLength(answer),
            ...(decision.retryAfter !== undefined ? { 'Retry-After': String(decision.retryAfter) } : {})
          })
          res.end(answer)
          return
        }
        const latency = faults.latency(method, path)
        if (latency > 0) setTimeout(() => forward(req, res, record, false, body), latency)
        else forward(req, res, record, false, body)
      }
      if (!faults.needsBody() || method === 'GET') return handle()
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => handle(Buffer.concat(chunks)))
    }
  )

  server.on('secureConnection', (socket: Socket) => track(socket))

  // exec, attach and port-forward upgrade the connection: replay the request head upstream, then splice.
  // An upgraded connection is no longer the HTTP server's: kept here, so stop() can end it (server.close()
  // waits for every connection, and closeAllConnections() does not see these).
  const upgraded = new Set<Socket>()
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const method = req.method ?? 'GET'
    const path = req.url ?? '/'
    const record: RequestRecord = { method, path, status: 101 }
    log.push(record)
    // The same faults as any request: an exec refused before it starts, or slow to start.
    const decision = faults.decide(method, path)
    if (decision.kind === 'reset' || decision.kind === 'drop-reply') {
      record.status = -1
      socket.destroy()
      return
    }
    if (decision.kind === 'status') {
      record.status = decision.code
      const body = JSON.stringify(faultStatus(decision.code, decision.retryAfter))
      socket.end(
        `HTTP/1.1 ${decision.code} Fault\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
      )
      return
    }
    const splice = (): void => {
      const up = tlsConnect(
        { host: upstream.hostname, port: Number(upstream.port), ca: options.caPem },
        () => {
          const lines = [`${req.method} ${req.url} HTTP/1.1`]
          for (let i = 0; i < req.rawHeaders.length; i += 2) {
            const name = req.rawHeaders[i]
            lines.push(`${name}: ${name.toLowerCase() === 'host' ? upstream.host : req.rawHeaders[i + 1]}`)
          }
          up.write(lines.join('\r\n') + '\r\n\r\n')
          if (head.length > 0) up.write(head)
          socket.pipe(up).pipe(socket)
        }
      )
      const close = (): void => {
        socket.destroy()
        up.destroy()
        upgraded.delete(socket)
        upgraded.delete(up)
      }
      upgraded.add(socket)
      upgraded.add(up)
      up.on('error', close)
      socket.on('error', close)
      // Either side gone: so is the other (a half-closed splice would stay open for ever).
      up.on('close', close)
      socket.on('close', close)
    }
    const latency = faults.latency(method, path)
    if (latency > 0) setTimeout(splice, latency)
    else splice()
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `https://127.0.0.1:${port}`,
    faults,
    requestLog: () => log.map(r => ({ ...r })),
    closeClientConnections() {
      for (const socket of [...clientSockets, ...upgraded]) socket.destroy()
      agent.destroy()
    },
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
        for (const socket of upgraded) socket.destroy()
        agent.destroy()
      })
  }
}
