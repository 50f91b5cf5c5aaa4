// A REDIS_URL split into what KEDA's redis scaler takes: it has no URL form, only an address (host:port), a
// username, a password, a database index and TLS flags. The app keeps its URL; the Secret the action writes
// gets the parts as keys of their own (REDIS_ADDRESS, REDIS_PASSWORD, ...) for the TriggerAuthentication.

export interface RedisConnection {
  address: string
  username?: string
  password?: string
  database: number
  // rediss:// (Memorystore in-transit encryption)
  tls: boolean
  // The URL says not to verify the server certificate (ssl_cert_reqs=none), as the app then does too.
  skipVerify: boolean
  // PEM of the server's CA (the redis_server_ca input): Memorystore signs with a CA of the instance's own.
  serverCa?: string
}

// Secret keys the action derives from REDIS_URL for KEDA.
export const REDIS_KEYS = {
  address: 'REDIS_ADDRESS',
  username: 'REDIS_USERNAME',
  password: 'REDIS_PASSWORD',
  // From the redis_server_ca input (PEM): the server CA KEDA verifies a rediss:// server against.
  ca: 'REDIS_CA'
} as const

const NO_VERIFY = new Set(['none', 'cert_none', 'ssl.cert_none', 'false'])

// A problem (phrased to follow `REDIS_URL in secret_data `) or the parts. The value is secret: a problem never
// quotes it.
export function parseRedisUrl(value: string): RedisConnection | string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'is not a URL (expected redis://[:PASSWORD@]HOST:PORT/DB or rediss://...)'
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return 'must start with redis:// or rediss:// (KEDA reads queue lengths from a single Redis server)'
  }
  if (url.hostname === '') return 'has no host'
  const path = url.pathname.replace(/^\//, '')
  // As redis-py reads it: ?db= wins over the path.
  const databaseText = url.searchParams.get('db') ?? (path !== '' ? path : '0')
  if (!/^\d{1,5}$/.test(databaseText)) return 'names a database that is not a number (the path /0, or ?db=0)'
  const tls = url.protocol === 'rediss:'
  const port = url.port === '' ? 6379 : Number(url.port)
  const certReqs = (url.searchParams.get('ssl_cert_reqs') ?? '').toLowerCase()
  const decoded = (part: string): string | undefined => {
    try {
      return part === '' ? undefined : decodeURIComponent(part)
    } catch {
      return undefined
    }
  }
  const username = decoded(url.username)
  const password = decoded(url.password)
  if ((url.username !== '' && username === undefined) || (url.password !== '' && password === undefined)) {
    return 'has a user name or password with a "%" that starts no URL escape (write a literal "%" as %25)'
  }
  return {
    address: `${url.hostname}:${port}`,
    username,
    password,
    database: Number(databaseText),
    tls,
    skipVerify: tls && NO_VERIFY.has(certReqs)
  }
}

// The Secret keys the connection becomes.
export function redisSecretKeys(connection: RedisConnection): Map<string, string> {
  const keys = new Map<string, string>([[REDIS_KEYS.address, connection.address]])
  if (connection.username !== undefined) keys.set(REDIS_KEYS.username, connection.username)
  if (connection.password !== undefined) keys.set(REDIS_KEYS.password, connection.password)
  if (connection.serverCa !== undefined) keys.set(REDIS_KEYS.ca, connection.serverCa)
  return keys
}
