// HTTPS through an HTTP proxy: `CONNECT host:443` to the proxy, then TLS with the registry itself inside the
// tunnel, so the proxy sees only the host name and encrypted bytes. An https.Agent, so that the requests of
// one check share their tunnels (keep-alive) as they would share direct connections. The TLS inside the tunnel
// verifies the registry as a direct connection does: against Node's trusted CAs, which include those of
// NODE_EXTRA_CA_CERTS (Node adds them to its default store at start-up), or against the `ca` the caller gives.

import { request as httpRequest, type ClientRequestArgs } from 'node:http'
import { Agent, request as httpsRequest, type AgentOptions } from 'node:https'
import { isIP, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect } from 'node:tls'
import type { ProxySettings } from './proxy.js'

// The CONNECT exchange gets this long when the request does not say (the transport's deadline ends it anyway).
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000

export class ProxyConnectError extends Error {
  constructor(
    message: string,
    // The proxy's status line code, when it answered.
    readonly status?: number
  ) {
    super(message)
    this.name = 'ProxyConnectError'
  }
}

export class ProxyTunnelAgent extends Agent {
  readonly #proxy: ProxySettings
  // Tunnels opened (one CONNECT each), for the tests and the figures.
  tunnels = 0

  constructor(proxy: ProxySettings, options: AgentOptions = {}) {
    super({ keepAlive: true, ...options })
    this.#proxy = proxy
  }

  override createConnection(
    options: ClientRequestArgs,
    callback?: (err: Error | null, stream: Duplex) => void
  ): Duplex | null | undefined {
    const done = callback ?? (() => undefined)
    const host = options.hostname ?? options.host ?? 'localhost'
    const port = Number(options.port ?? 443)
    const target = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`
    const ca = (options as { ca?: string | Buffer | Array<string | Buffer> }).ca
    const proxy = this.#proxy.url
    const connect = (proxy.protocol === 'https:' ? httpsRequest : httpRequest)({
      host: proxy.hostname,
      port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT',
      path: target,
      headers: {
        Host: target,
        ...(this.#proxy.authorization ? { 'Proxy-Authorization': this.#proxy.authorization } : {})
      },
      agent: false
    })
    let settled = false
    const fail = (error: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      connect.destroy()
      done(error, undefined as unknown as Duplex)
    }
    const timer = setTimeout(
      () => fail(new ProxyConnectError(`the proxy ${proxy.host} did not open a tunnel to ${target} in time`)),
      (options as { connectTimeoutMs?: number }).connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS
    )
    this.tunnels++
    connect.once('connect', (response, socket: Socket) => {
      if (settled) {
        socket.destroy()
        return
      }
      if (response.statusCode !== 200) {
        socket.destroy()
        fail(
          new ProxyConnectError(
            `the proxy ${proxy.host} refused a tunnel to ${target} (HTTP ${response.statusCode ?? '?'})`,
            response.statusCode
          )
        )
        return
      }
      settled = true
      clearTimeout(timer)
      const tls = tlsConnect({
        socket,
        // SNI names the registry, not the proxy; an address gets no SNI, as on a direct connection.
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...(ca ? { ca } : {}),
        ALPNProtocols: ['http/1.1']
      })
      done(null, tls)
    })
    connect.once('error', error => fail(new ProxyConnectError(`the proxy ${proxy.host}: ${error.message}`)))
    connect.end()
    return undefined
  }
}
