// The registry behind an HTTP proxy, as a self-hosted runner often is: HTTPS_PROXY (or https_proxy) names the
// proxy, NO_PROXY (or no_proxy) the hosts reached directly, with the rules of Go's net/http (what kubectl on the
// same runner follows, so the two agree about every host):
// - localhost and loopback addresses are never proxied;
// - NO_PROXY `*` turns the proxy off; otherwise a comma-separated list of `host`, `.domain` (its subdomains),
//   `domain` (it and its subdomains), `*.domain`, an IP address or a CIDR range, each with an optional `:port`.
// HTTP_PROXY is not read: registries are reached over HTTPS only. A proxy URL without a scheme is http://; its
// user and password (if any) go to the proxy as Proxy-Authorization and nowhere else.
// Read by string operations and node:net's address parsing; no pattern runs over the variables.

import { BlockList, isIP } from 'node:net'

export interface ProxySettings {
  // http://HOST:PORT or https://HOST:PORT, without the credentials.
  url: URL
  // `Basic ...` for a proxy URL with user:password.
  authorization?: string
  // Everything NO_PROXY names.
  bypass: ProxyBypass
}

interface DomainRule {
  // `.example.com`: a host that ends with it matches; with matchesItself, example.com too.
  suffix: string
  matchesItself: boolean
  port?: string
}

export interface ProxyBypass {
  everything: boolean
  domains: DomainRule[]
  addresses: Array<{ address: string; port?: string }>
  ranges: BlockList
}

type Env = Record<string, string | undefined>

function firstSet(env: Env, names: string[]): string | undefined {
  for (const name of names) {
    const value = env[name]?.trim()
    if (value) return value
  }
  return undefined
}

// `host:port`, `[v6]:port`, `v6` (bare, several colons), `host`.
function splitHostPort(entry: string): { host: string; port?: string } {
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close === -1) return { host: entry }
    const rest = entry.slice(close + 1)
    return { host: entry.slice(1, close), ...(rest.startsWith(':') ? { port: rest.slice(1) } : {}) }
  }
  const colon = entry.lastIndexOf(':')
  if (colon === -1 || entry.indexOf(':') !== colon) return { host: entry }
  return { host: entry.slice(0, colon), port: entry.slice(colon + 1) }
}

export function parseNoProxy(value: string | undefined): ProxyBypass {
  const bypass: ProxyBypass = { everything: false, domains: [], addresses: [], ranges: new BlockList() }
  for (const raw of (value ?? '').split(',')) {
    const entry = raw.trim().toLowerCase()
    if (entry === '') continue
    if (entry === '*') {
      bypass.everything = true
      continue
    }
    const slash = entry.indexOf('/')
    if (slash !== -1) {
      const network = entry.slice(0, slash)
      const prefix = Number(entry.slice(slash + 1))
      const family = isIP(network)
      if (family !== 0 && Number.isInteger(prefix) && prefix >= 0 && prefix <= (family === 4 ? 32 : 128)) {
        bypass.ranges.addSubnet(network, prefix, family === 4 ? 'ipv4' : 'ipv6')
      }
      continue
    }
    const { host, port } = splitHostPort(entry)
    if (host === '') continue
    if (isIP(host) !== 0) {
      bypass.addresses.push({ address: host, ...(port ? { port } : {}) })
      continue
    }
    const bare = host.startsWith('*.') ? host.slice(1) : host
    bypass.domains.push({
      suffix: bare.startsWith('.') ? bare : `.${bare}`,
      matchesItself: !bare.startsWith('.'),
      ...(port ? { port } : {})
    })
  }
  return bypass
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true
  const family = isIP(host)
  if (family === 4) return host.startsWith('127.')
  if (family === 6) return host === '::1' || host.startsWith('::ffff:127.')
  return false
}

export function bypasses(bypass: ProxyBypass, hostname: string, port: string): boolean {
  const host = (hostname.startsWith('[') ? hostname.slice(1, -1) : hostname).toLowerCase()
  if (bypass.everything || isLoopback(host)) return true
  const family = isIP(host)
  if (family !== 0) {
    if (bypass.ranges.check(host, family === 4 ? 'ipv4' : 'ipv6')) return true
    return bypass.addresses.some(a => a.address === host && (a.port === undefined || a.port === port))
  }
  return bypass.domains.some(
    rule =>
      (rule.port === undefined || rule.port === port) &&
      (host.endsWith(rule.suffix) || (rule.matchesItself && host === rule.suffix.slice(1)))
  )
}

// The proxy the environment names, or undefined when there is none (or it is not a URL: then the registry is
// asked directly, and the check says so if that fails).
export function proxySettingsFromEnv(env: Env): ProxySettings | undefined {
  const value = firstSet(env, ['HTTPS_PROXY', 'https_proxy'])
  if (!value) return undefined
  let url: URL
  try {
    url = new URL(value.includes('://') ? value : `http://${value}`)
  } catch {
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  const authorization =
    url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : undefined
  url.username = ''
  url.password = ''
  return {
    url,
    ...(authorization ? { authorization } : {}),
    bypass: parseNoProxy(firstSet(env, ['NO_PROXY', 'no_proxy']))
  }
}

// The proxy for a request to https://HOST:PORT, or undefined for a direct connection.
export function proxyFor(
  settings: ProxySettings | undefined,
  hostname: string,
  port: string
): ProxySettings | undefined {
  if (!settings) return undefined
  return bypasses(settings.bypass, hostname, port) ? undefined : settings
}
