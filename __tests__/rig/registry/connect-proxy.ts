// The HTTP proxy of a self-hosted runner, for the tests: it opens CONNECT tunnels (what HTTPS clients ask a
// proxy for) and routes a host it knows to an address on 127.0.0.1, so a client that asks for
// europe-west3-docker.pkg.dev:443 reaches the registry rig, whose certificate names that host. A loopback
// target (a stand-in a client sends through the proxy, as google-auth-library does for a URL it rewrote) is
// reached as asked, as a real proxy reaches the hosts it can. Any other host gets 502 Bad Gateway, as from a
// proxy that cannot reach it: nothing from a test run ever leaves the machine (the action's registry check then
// warns that the registry is unreachable, and the run goes on).
// It sees only the tunnels' targets, never what passes through them (TLS end to end).

import { createServer, type IncomingMessage } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'

export interface ConnectRecord {
  // host:port as the client asked for it
  target: string
  // where it went, or undefined when refused
  routedTo?: string
  status: number
  proxyAuthorization?: string
}

export interface ConnectProxyOptions {
  // Added to every chunk relayed, each way (order kept): a registry far away.
  latencyMs?: number
  // The Proxy-Authorization value the proxy requires (407 without it).
  requireAuthorization?: string
}

export interface ConnectProxy {
  // http://127.0.0.1:PORT, for HTTPS_PROXY
  url: string
  route(target: string, to: string): void
  unroute(target: string): void
  // Changes the latency of the tunnels opened from now on.
  setLatency(ms: number): void
  connects(): ConnectRecord[]
  stop(): Promise<void>
}

// Relays one direction, each chunk delivered latencyMs after it arrived (order kept: a delay, not a bandwidth
// limit); a write after the other side is gone is dropped.
function relay(from: Socket, to: Socket, latencyMs: number): void {
  if (latencyMs <= 0) {
    from.pipe(to)
    return
  }
  let queue = Promise.resolve()
  from.on('data', (chunk: Buffer) => {
    const due = Date.now() + latencyMs
    queue = queue
      .then(() => new Promise<void>(resolve => setTimeout(resolve, Math.max(0, due - Date.now()))))
      .then(() => {
        if (!to.destroyed) to.write(chunk)
      })
  })
  from.on('end', () => void queue.then(() => to.end()))
}

export async function startConnectProxy(options: ConnectProxyOptions = {}): Promise<ConnectProxy> {
  const routes = new Map<string, string>()
  let latencyMs = options.latencyMs ?? 0
  const records: ConnectRecord[] = []
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  const server = createServer((_req, res) => {
    res.writeHead(405, { 'content-type': 'text/plain' })
    res.end('this proxy only opens CONNECT tunnels\n')
  })
  server.on('connection', track)
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = (req.url ?? '').toLowerCase()
    const proxyAuthorization = req.headers['proxy-authorization']
    const answer = (status: number, text: string): void => {
      records.push({ target, status, ...(proxyAuthorization ? { proxyAuthorization } : {}) })
      client.end(`HTTP/1.1 ${status} ${text}\r\n\r\n`)
    }
    if (options.requireAuthorization && proxyAuthorization !== options.requireAuthorization) {
      answer(407, 'Proxy Authentication Required')
      return
    }
    const to =
      routes.get(target) ??
      (target.startsWith('127.0.0.1:') || target.startsWith('localhost:') ? target : undefined)
    if (!to) {
      answer(502, 'Bad Gateway')
      return
    }
    const colon = to.lastIndexOf(':')
    const upstream = connect(Number(to.slice(colon + 1)), to.slice(0, colon))
    track(upstream)
    upstream.once('connect', () => {
      records.push({
        target,
        routedTo: to,
        status: 200,
        ...(proxyAuthorization ? { proxyAuthorization } : {})
      })
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      relay(upstream, client, latencyMs)
      relay(client, upstream, latencyMs)
    })
    upstream.once('error', () => {
      if (!client.destroyed) answer(502, 'Bad Gateway')
    })
    client.once('error', () => upstream.destroy())
    upstream.once('close', () => client.destroy())
    client.once('close', () => upstream.destroy())
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    route: (target, to) => routes.set(target.toLowerCase(), to),
    unroute: target => void routes.delete(target.toLowerCase()),
    setLatency: ms => {
      latencyMs = ms
    },
    connects: () => records.map(r => ({ ...r })),
    stop: () =>
      new Promise<void>(resolve => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
