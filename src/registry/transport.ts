// The one way the registry code talks HTTP: HTTPS only, every request with a deadline, every body read with a
// byte limit that stops the read (a hostile or broken registry cannot make the runner buffer more than that),
// no redirects followed unless the caller asks, headers read by name only. Through the proxy HTTPS_PROXY names
// unless NO_PROXY exempts the host (proxy.ts, proxy-tunnel.ts); the CAs trusted are Node's, which include
// NODE_EXTRA_CA_CERTS, unless the caller gives its own.

import { request as httpsRequest, type RequestOptions } from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import { proxyFor, type ProxySettings } from './proxy.js'
import { ProxyTunnelAgent } from './proxy-tunnel.js'

export interface RegistryRequest {
  method: 'GET' | 'HEAD'
  url: string
  headers?: Record<string, string>
  // The body is cut off (and the request ended) past this many bytes.
  maxBodyBytes: number
  timeoutMs: number
  // Aborted when the run is cancelled: the request ends at once.
  signal?: AbortSignal
}

export interface RegistryResponse {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
  // The registry sent more than maxBodyBytes: body holds only the first maxBodyBytes.
  truncated: boolean
}

// What the resolver calls: the default is node's HTTPS client; tests hand in one that trusts their own CA.
export type RegistryTransport = (request: RegistryRequest) => Promise<RegistryResponse>

export class TransportError extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'network' | 'tls'
  ) {
    super(message)
    this.name = 'TransportError'
  }
}

const TLS_ERROR_CODES = new Set([
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER'
])

export interface HttpsTransportOptions {
  // CA certificates (PEM) to trust instead of Node's, for a registry with its own CA.
  ca?: string
  // The proxy of the environment (proxySettingsFromEnv); hosts its NO_PROXY names are asked directly.
  proxy?: ProxySettings
}

export interface HttpsTransport extends RegistryTransport {
  // The tunnels opened through the proxy so far (keep-alive reuses them).
  readonly tunnels: () => number
}

export function httpsTransport(options: HttpsTransportOptions = {}): HttpsTransport {
  // One agent for every proxied request of this transport: a check's requests share their tunnels.
  const tunnelAgent = options.proxy ? new ProxyTunnelAgent(options.proxy) : undefined
  const transport: RegistryTransport = request =>
    new Promise<RegistryResponse>((resolve, reject) => {
      const url = new URL(request.url)
      if (url.protocol !== 'https:') {
        reject(
          new TransportError(`refused to talk to ${url.protocol} (registries are reached over HTTPS)`, 'tls')
        )
        return
      }
      let settled = false
      const finish = (outcome: () => void): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        outcome()
      }
      const proxied = proxyFor(options.proxy, url.hostname, url.port || '443') !== undefined
      const req = httpsRequest(
        url,
        {
          method: request.method,
          headers: { 'User-Agent': 'deploy-gke-workers', ...request.headers },
          ...(options.ca ? { ca: options.ca } : {}),
          // The agent reads the CONNECT exchange's deadline from the request's options.
          ...(proxied && tunnelAgent ? { agent: tunnelAgent, connectTimeoutMs: request.timeoutMs } : {})
        } as RequestOptions,
        res => {
          const chunks: Buffer[] = []
          let size = 0
          let truncated = false
          res.on('data', (chunk: Buffer) => {
            if (truncated) return
            const room = request.maxBodyBytes - size
            if (chunk.length > room) {
              chunks.push(chunk.subarray(0, Math.max(0, room)))
              size += Math.max(0, room)
              truncated = true
              // Enough read: stop the transfer rather than drain a body of any size.
              finish(() =>
                resolve({
                  status: res.statusCode ?? 0,
                  headers: res.headers,
                  body: Buffer.concat(chunks),
                  truncated
                })
              )
              res.destroy()
              req.destroy()
              return
            }
            chunks.push(chunk)
            size += chunk.length
          })
          res.on('end', () =>
            finish(() =>
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                body: Buffer.concat(chunks),
                truncated
              })
            )
          )
          res.on('error', error => finish(() => reject(asTransportError(error))))
        }
      )
      // One deadline for the whole exchange: connect, headers and body (a registry that trickles bytes is cut
      // off too, which a socket idle timeout would not do).
      const timer = setTimeout(() => {
        finish(() => reject(new TransportError(`no answer within ${request.timeoutMs} ms`, 'timeout')))
        req.destroy()
      }, request.timeoutMs)
      req.on('error', error => finish(() => reject(asTransportError(error))))
      const abort = (): void => {
        finish(() => reject(new TransportError('cancelled', 'network')))
        req.destroy()
      }
      if (request.signal?.aborted) abort()
      else request.signal?.addEventListener('abort', abort, { once: true })
      req.once('close', () => request.signal?.removeEventListener('abort', abort))
      req.end()
    })
  return Object.assign(transport, { tunnels: () => tunnelAgent?.tunnels ?? 0 })
}

function asTransportError(error: Error): TransportError {
  const code = (error as NodeJS.ErrnoException).code ?? ''
  if (TLS_ERROR_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    return new TransportError(`TLS: ${error.message}`, 'tls')
  }
  return new TransportError(`${code ? `${code}: ` : ''}${error.message}`, 'network')
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()]
  return Array.isArray(value) ? value[0] : value
}
