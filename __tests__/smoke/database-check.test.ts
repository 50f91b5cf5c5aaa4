// The database smoke check run for real against a local PostgreSQL, with psycopg 3 and with psycopg2.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { buildSmokeChecks, interpretSmokeOutput, type SmokeCheckSpec } from '../../src/deploy/smoke-checks.js'
import {
  SilentServer,
  TestPostgres,
  freePort,
  podEnv,
  pythonWithDrivers,
  runArgv,
  shadowModules,
  type SnippetRun
} from '../rig/services.js'

const SUPERUSER = { user: 'noesis2', password: 'p@ss:w/rd%' }
const MD5_USER = { user: 'legacy_md5', password: "md5-Pa55'word#1" }
const WRONG_PASSWORD = 'definitely-Wr0ng-pw'
const TIMEOUT_SECONDS = 2

// Every form a password might leak in: as set, URL-encoded, and recognisable fragments.
const SECRET_FRAGMENTS = [
  SUPERUSER.password,
  encodeURIComponent(SUPERUSER.password),
  'p@ss',
  'w/rd',
  MD5_USER.password,
  encodeURIComponent(MD5_USER.password),
  'Pa55',
  WRONG_PASSWORD
]

let python: string
let postgres: TestPostgres
let silent: SilentServer
let spec: SmokeCheckSpec

before(async () => {
  python = pythonWithDrivers()
  postgres = await TestPostgres.start(SUPERUSER, [MD5_USER])
  silent = await new SilentServer().start()
  const checks = buildSmokeChecks({
    celeryApp: 'noesis2',
    beat: false,
    database: true,
    redis: false,
    celeryPing: false,
    timeoutSeconds: TIMEOUT_SECONDS
  })
  const found = checks.find(check => check.name === 'database')
  assert.ok(found)
  spec = found
})
after(async () => {
  postgres?.stop()
  await silent?.stop()
})

async function check(
  env: Record<string, string>,
  extraPythonPath?: string
): Promise<{ run: SnippetRun; ok: boolean; detail: string; report: Record<string, unknown> | undefined }> {
  const run = await runArgv(spec.argv, {
    python,
    env: podEnv(extraPythonPath ? { ...env, PYTHONPATH: extraPythonPath } : env),
    killAfterMs: (spec.timeoutSeconds + 20) * 1000
  })
  const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
  const line = run.stdout.trim().split('\n').pop() ?? ''
  let report: Record<string, unknown> | undefined
  try {
    report = JSON.parse(line) as Record<string, unknown>
  } catch {
    report = undefined
  }
  for (const text of [run.stdout, run.stderr, verdict.detail]) {
    for (const fragment of SECRET_FRAGMENTS) {
      assert.ok(
        !text.includes(fragment),
        `output must not contain a password fragment: ${JSON.stringify(text)}`
      )
    }
  }
  return { run, ...verdict, report }
}

// psycopg 3 is what the snippet prefers; shadowing it makes the snippet fall back to psycopg2.
const drivers = [
  { name: 'psycopg3', hide: [] as string[] },
  { name: 'psycopg2', hide: ['psycopg'] }
]

for (const driver of drivers) {
  describe(`database check with ${driver.name}`, () => {
    let shadow: ReturnType<typeof shadowModules>
    before(() => {
      shadow = shadowModules(driver.hide)
    })
    after(() => shadow.remove())

    test('right password with URL-special characters (SCRAM) connects and runs SELECT 1', async () => {
      const result = await check(
        { DATABASE_URL: postgres.url(SUPERUSER.user, SUPERUSER.password) },
        shadow.dir
      )
      assert.equal(result.ok, true, result.detail)
      assert.equal(result.run.exitCode, 0)
      assert.equal(result.report?.driver, driver.name)
      assert.match(String(result.report?.server_version), /^\d+\.\d+$/)
      assert.equal(typeof result.report?.ms, 'number')
      assert.match(
        result.detail,
        new RegExp(`^SELECT 1 via ${driver.name} on PostgreSQL \\d+\\.\\d+ in \\d+ ms$`)
      )
    })

    test('right password for an MD5 role connects', async () => {
      const result = await check({ DATABASE_URL: postgres.url(MD5_USER.user, MD5_USER.password) }, shadow.dir)
      assert.equal(result.ok, true, result.detail)
    })

    test('wrong password fails with the server reason and no password in the output', async () => {
      const result = await check({ DATABASE_URL: postgres.url(SUPERUSER.user, WRONG_PASSWORD) }, shadow.dir)
      assert.equal(result.ok, false)
      assert.equal(result.run.exitCode, 1)
      assert.equal(result.report?.ok, false)
      assert.match(result.detail, /password authentication failed for user "noesis2"/)
    })

    test('unreachable host (closed port) fails at once', async () => {
      const port = await freePort()
      const url = `postgresql://noesis2:${encodeURIComponent(SUPERUSER.password)}@127.0.0.1:${port}/postgres`
      const result = await check({ DATABASE_URL: url }, shadow.dir)
      assert.equal(result.ok, false)
      assert.match(result.detail, /refused/i)
      assert.ok(result.run.durationMs < TIMEOUT_SECONDS * 1000 + 3000, `took ${result.run.durationMs} ms`)
    })

    test('a server that never answers fails within the timeout', async () => {
      const url = `postgresql://noesis2:${encodeURIComponent(SUPERUSER.password)}@127.0.0.1:${silent.port}/postgres`
      const result = await check({ DATABASE_URL: url }, shadow.dir)
      assert.equal(result.ok, false)
      assert.match(result.detail, /timeout|timed out/i)
      assert.ok(result.run.durationMs >= (TIMEOUT_SECONDS - 0.5) * 1000, `took ${result.run.durationMs} ms`)
      assert.ok(result.run.durationMs < TIMEOUT_SECONDS * 1000 + 5000, `took ${result.run.durationMs} ms`)
    })

    test('a malformed URL fails without echoing the password', async () => {
      const url = `postgresql://noesis2:${encodeURIComponent(SUPERUSER.password)}@127.0.0.1:notaport/postgres`
      const result = await check({ DATABASE_URL: url }, shadow.dir)
      assert.equal(result.ok, false)
      assert.match(result.detail, /port/i)
    })

    test('libpq echoing an unparsable URL back does not leak it', async () => {
      // Missing ':' after the scheme: libpq reads the whole URL as a key=value string and quotes it in the error.
      const url = postgres.url(SUPERUSER.user, SUPERUSER.password).replace('postgresql://', 'postgresql//')
      const result = await check({ DATABASE_URL: url }, shadow.dir)
      assert.equal(result.ok, false)
      assert.match(result.detail, /missing "=" after "\*\*\*" in connection info string/)
    })
  })
}

describe('database check without its inputs', () => {
  test('no DATABASE_URL fails clearly', async () => {
    const result = await check({})
    assert.equal(result.ok, false)
    assert.equal(result.detail, 'DATABASE_URL is not set in the container')
  })

  test('no driver installed fails clearly', async () => {
    const shadow = shadowModules(['psycopg', 'psycopg2'])
    try {
      const result = await check(
        { DATABASE_URL: postgres.url(SUPERUSER.user, SUPERUSER.password) },
        shadow.dir
      )
      assert.equal(result.ok, false)
      assert.equal(result.detail, 'neither psycopg (3) nor psycopg2 is installed in the image')
    } finally {
      shadow.remove()
    }
  })

  test('a SQLAlchemy-style scheme is accepted', async () => {
    const url = postgres
      .url(SUPERUSER.user, SUPERUSER.password)
      .replace('postgresql://', 'postgresql+psycopg://')
    const result = await check({ DATABASE_URL: url })
    assert.equal(result.ok, true, result.detail)
  })
})
