// The Redis smoke check run for real against local redis-server instances: with a password (default user and an
// ACL user), without one, over TLS, and against closed and silent ports.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildSmokeChecks, interpretSmokeOutput, type SmokeCheckSpec } from '../../src/deploy/smoke-checks.js'
import {
  MissingToolError,
  SilentServer,
  TestRedis,
  freePort,
  podEnv,
  pythonWithDrivers,
  runArgv
} from '../rig/services.js'

const DEFAULT_PASSWORD = 'p@ss:w/rd%'
const ACL_USER = 'celery'
const ACL_PASSWORD = 'acl/p@ss:word%25'
const WRONG_PASSWORD = 'Wr0ng-redis-pw'
const TIMEOUT_SECONDS = 1

const SECRET_FRAGMENTS = [
  DEFAULT_PASSWORD,
  encodeURIComponent(DEFAULT_PASSWORD),
  'p@ss',
  'w/rd',
  ACL_PASSWORD,
  encodeURIComponent(ACL_PASSWORD),
  'acl/',
  WRONG_PASSWORD
]

let python: string
let secured: TestRedis
let open: TestRedis
let tls: TestRedis
let silent: SilentServer
let certDir: string
let spec: SmokeCheckSpec

// A CA and a server certificate for 127.0.0.1, made with the openssl CLI (Node cannot issue certificates).
function makeCertificates(dir: string): void {
  const openssl = (args: string[]): void => {
    try {
      execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingToolError('openssl')
      throw error
    }
  }
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2'
    ].concat(['-subj', '/CN=smoke-test-ca'])
  )
  openssl([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1'
  ])
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n')
  openssl(
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'].concat([
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'san.ext'
    ])
  )
}

before(async () => {
  python = pythonWithDrivers()
  certDir = mkdtempSync(join(tmpdir(), 'smoke-redis-tls-'))
  makeCertificates(certDir)
  ;[secured, open, tls, silent] = await Promise.all([
    TestRedis.start([
      '--requirepass',
      DEFAULT_PASSWORD,
      '--user',
      ACL_USER,
      'on',
      `>${ACL_PASSWORD}`,
      '~*',
      '&*',
      '+@all'
    ]),
    TestRedis.start([]),
    freePort().then(port =>
      TestRedis.start([
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        join(certDir, 'server.pem'),
        '--tls-key-file',
        join(certDir, 'server.key'),
        '--tls-ca-cert-file',
        join(certDir, 'ca.pem'),
        '--tls-auth-clients',
        'no',
        '--requirepass',
        DEFAULT_PASSWORD
      ]).then(server => Object.assign(server, { tlsPort: port }))
    ),
    new SilentServer().start()
  ])
  const found = buildSmokeChecks({
    celeryApp: 'noesis2',
    beat: false,
    database: false,
    redis: true,
    celeryPing: false,
    timeoutSeconds: TIMEOUT_SECONDS
  }).find(check => check.name === 'redis')
  assert.ok(found)
  spec = found
})
after(async () => {
  await Promise.all([secured?.stop(), open?.stop(), tls?.stop(), silent?.stop()])
  if (certDir) rmSync(certDir, { recursive: true, force: true })
})

async function check(env: Record<string, string>) {
  const run = await runArgv(spec.argv, {
    python,
    env: podEnv(env),
    killAfterMs: (spec.timeoutSeconds + 20) * 1000
  })
  const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
  for (const text of [run.stdout, run.stderr, verdict.detail]) {
    for (const fragment of SECRET_FRAGMENTS) {
      assert.ok(
        !text.includes(fragment),
        `output must not contain a password fragment: ${JSON.stringify(text)}`
      )
    }
  }
  assert.equal(run.exitCode, verdict.ok ? 0 : 1, `exit code matches the verdict: ${run.stdout}${run.stderr}`)
  return { run, ...verdict }
}

const url = (port: number, userinfo: string, rest = '', scheme = 'redis'): string =>
  `${scheme}://${userinfo}${userinfo ? '@' : ''}127.0.0.1:${port}${rest}`
const enc = encodeURIComponent

describe('redis check against a server with a password', () => {
  test('right password with URL-special characters answers PONG', async () => {
    const result = await check({ REDIS_URL: url(secured.port, `:${enc(DEFAULT_PASSWORD)}`, '/0') })
    assert.equal(result.ok, true, result.detail)
    assert.match(
      result.detail,
      new RegExp(`^PONG from 127\\.0\\.0\\.1:${secured.port} \\(db 0\\) in \\d+ ms$`)
    )
  })

  test('an ACL user with its password answers PONG', async () => {
    const result = await check({ REDIS_URL: url(secured.port, `${ACL_USER}:${enc(ACL_PASSWORD)}`) })
    assert.equal(result.ok, true, result.detail)
  })

  test('a database number in the path is selected', async () => {
    const result = await check({ REDIS_URL: url(secured.port, `:${enc(DEFAULT_PASSWORD)}`, '/3') })
    assert.equal(result.ok, true, result.detail)
    assert.match(result.detail, /\(db 3\)/)
  })

  test('a database number out of range fails', async () => {
    const result = await check({ REDIS_URL: url(secured.port, `:${enc(DEFAULT_PASSWORD)}`, '/99') })
    assert.equal(result.ok, false)
    assert.match(result.detail, /^SELECT 99 rejected: ERR DB index is out of range/)
  })

  test('wrong password fails with WRONGPASS and no password in the output', async () => {
    const result = await check({ REDIS_URL: url(secured.port, `:${WRONG_PASSWORD}`) })
    assert.equal(result.ok, false)
    assert.match(result.detail, /^AUTH rejected: WRONGPASS/)
  })

  test('wrong password for the ACL user fails', async () => {
    const result = await check({ REDIS_URL: url(secured.port, `${ACL_USER}:${WRONG_PASSWORD}`) })
    assert.equal(result.ok, false)
    assert.match(result.detail, /^AUTH rejected: WRONGPASS/)
  })

  test('no password in the URL fails with NOAUTH explained', async () => {
    const result = await check({ REDIS_URL: url(secured.port, '') })
    assert.equal(result.ok, false)
    assert.equal(result.detail, 'the server requires a password and REDIS_URL has none (NOAUTH)')
  })
})

describe('redis check against a server without a password', () => {
  test('no password answers PONG', async () => {
    const result = await check({ REDIS_URL: url(open.port, '') })
    assert.equal(result.ok, true, result.detail)
  })

  test('a password the server does not expect fails with its reason', async () => {
    const result = await check({ REDIS_URL: url(open.port, `:${enc(DEFAULT_PASSWORD)}`) })
    assert.equal(result.ok, false)
    assert.match(result.detail, /^AUTH rejected: ERR AUTH <password> called without any password configured/)
  })
})

describe('redis check over TLS (rediss://)', () => {
  const tlsPort = (): number => (tls as TestRedis & { tlsPort: number }).tlsPort

  test('verifies the server against ssl_ca_certs and answers PONG', async () => {
    const query = `/0?ssl_cert_reqs=required&ssl_ca_certs=${enc(join(certDir, 'ca.pem'))}`
    const result = await check({ REDIS_URL: url(tlsPort(), `:${enc(DEFAULT_PASSWORD)}`, query, 'rediss') })
    assert.equal(result.ok, true, result.detail)
    assert.match(result.detail, /\(TLS, db 0\)/)
  })

  test('ssl_cert_reqs=none skips verification', async () => {
    const result = await check({
      REDIS_URL: url(tlsPort(), `:${enc(DEFAULT_PASSWORD)}`, '?ssl_cert_reqs=none', 'rediss')
    })
    assert.equal(result.ok, true, result.detail)
  })

  test('an unknown CA fails verification', async () => {
    const result = await check({ REDIS_URL: url(tlsPort(), `:${enc(DEFAULT_PASSWORD)}`, '', 'rediss') })
    assert.equal(result.ok, false)
    assert.match(result.detail, /certificate verify failed/i)
  })
})

describe('redis check against unreachable servers and bad input', () => {
  test('a closed port fails at once', async () => {
    const port = await freePort()
    const result = await check({ REDIS_URL: url(port, `:${enc(DEFAULT_PASSWORD)}`) })
    assert.equal(result.ok, false)
    assert.match(
      result.detail,
      new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: ConnectionRefusedError`)
    )
    assert.ok(result.run.durationMs < TIMEOUT_SECONDS * 1000 + 3000, `took ${result.run.durationMs} ms`)
  })

  test('a server that never answers fails within the timeout', async () => {
    const result = await check({ REDIS_URL: url(silent.port, `:${enc(DEFAULT_PASSWORD)}`) })
    assert.equal(result.ok, false)
    assert.match(
      result.detail,
      new RegExp(`^timed out after ${TIMEOUT_SECONDS}s waiting for 127\\.0\\.0\\.1:${silent.port}`)
    )
    assert.ok(result.run.durationMs >= TIMEOUT_SECONDS * 1000 - 200, `took ${result.run.durationMs} ms`)
    assert.ok(result.run.durationMs < TIMEOUT_SECONDS * 1000 + 3000, `took ${result.run.durationMs} ms`)
  })

  test('no REDIS_URL fails clearly', async () => {
    const result = await check({})
    assert.equal(result.detail, 'REDIS_URL is not set in the container')
  })

  test('a scheme other than redis/rediss fails clearly without echoing the URL', async () => {
    const result = await check({ REDIS_URL: `http://:${enc(DEFAULT_PASSWORD)}@127.0.0.1:1/` })
    assert.equal(result.detail, 'REDIS_URL must start with redis:// or rediss:// (got http://)')
  })

  test('a malformed port fails without echoing the URL', async () => {
    const result = await check({ REDIS_URL: `redis://:${enc(DEFAULT_PASSWORD)}@127.0.0.1:notaport/0` })
    assert.equal(result.ok, false)
    assert.match(result.detail, /^ValueError: Port could not be cast to integer value as/)
  })
})
