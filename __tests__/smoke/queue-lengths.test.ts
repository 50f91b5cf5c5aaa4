// The queue reading's Python run for real (Debian's python3-celery 5.2, a real Redis): the length of each queue
// with the lists kombu keeps per priority step, the unacked count, under the app's key prefix and separator;
// and, watched with Redis's MONITOR, nothing but counting commands: no write, no message read.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { lastJsonReport } from '../../src/deploy/smoke-checks.js'
import { QUEUE_LENGTHS_PY } from '../../src/deploy/smoke-scripts/queue-lengths.js'
import { MissingToolError, TestRedis, podEnv, pythonWithDrivers, runArgv } from '../rig/services.js'

let python: string
let redis: TestRedis
let dir: string

before(async () => {
  python = pythonWithDrivers()
  try {
    execFileSync(python, ['-c', 'import celery, redis'], { stdio: 'ignore' })
  } catch {
    throw new MissingToolError('python3-celery and python3-redis (for the queue reading)')
  }
  redis = await TestRedis.start([])
  dir = mkdtempSync(path.join(tmpdir(), 'queue-lengths-'))
  writeFileSync(
    path.join(dir, 'plainapp.py'),
    "import os\nfrom celery import Celery\napp = Celery('plainapp', broker=os.environ['CELERY_BROKER_URL'])\n"
  )
  writeFileSync(
    path.join(dir, 'prefixedapp.py'),
    "import os\nfrom celery import Celery\napp = Celery('prefixedapp', broker=os.environ['CELERY_BROKER_URL'])\napp.conf.broker_transport_options = {'global_keyprefix': 'noesis2:', 'sep': ':', 'priority_steps': [0, 5]}\n"
  )
})
after(async () => {
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

function cli(db: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('redis-cli', ['-p', String(redis.port), '-n', String(db), ...args], (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim())
    )
  )
}

// Runs the reading with Redis's MONITOR on: the report, and every command the reading sent.
async function read(
  db: number,
  app: string,
  queues: string
): Promise<{ report: Record<string, unknown>; commands: string[] }> {
  const monitor = spawn('redis-cli', ['-p', String(redis.port), 'monitor'], {
    stdio: ['ignore', 'pipe', 'ignore']
  })
  let seen = ''
  monitor.stdout.on('data', (chunk: Buffer) => (seen += chunk.toString()))
  await new Promise<void>(resolve => {
    const check = () => (seen.startsWith('OK') ? resolve() : setTimeout(check, 20))
    check()
  })
  const run = await runArgv(['python3', '-c', QUEUE_LENGTHS_PY, '10', app, queues], {
    python,
    cwd: dir,
    env: podEnv({ CELERY_BROKER_URL: `redis://127.0.0.1:${redis.port}/${db}` }),
    killAfterMs: 60_000
  })
  // The reading's last command (ZCARD) is the sign MONITOR has printed all of them.
  const deadline = Date.now() + 10_000
  while (!seen.includes('"ZCARD"') && Date.now() < deadline) await new Promise(r => setTimeout(r, 20))
  monitor.kill()
  const report = lastJsonReport(run.stdout)
  assert.ok(report, run.stdout + run.stderr)
  const commands = seen
    .split('\n')
    .filter(line => line.includes(`[${db} `))
    .map(line => /\] "([A-Z]+)"/.exec(line)?.[1] ?? '?')
  return { report, commands }
}

describe('the queue reading against a real Redis broker', () => {
  test("kombu's defaults: each queue with its priority lists (name, name\\x06\\x163, ...), and the unacked count", async () => {
    const db = 5
    await cli(db, 'LPUSH', 'celery', '{"body": "secret-task-argument"}', 'm2', 'm3')
    await cli(db, 'LPUSH', 'celery\x06\x169', 'urgent')
    await cli(db, 'LPUSH', 'rag_delete\x06\x163', 'r1', 'r2')
    await cli(db, 'HSET', 'unacked', 'tag-1', '{"body": "secret-reserved-argument"}', 'tag-2', 'x')
    await cli(db, 'ZADD', 'unacked_index', '1', 'tag-1', '2', 'tag-2')
    const { report, commands } = await read(db, 'plainapp', 'celery,rag_delete,empty')
    assert.deepEqual(report.queues, [
      { name: 'celery', waiting: 4, by_priority: { '0': 3, '9': 1 } },
      { name: 'rag_delete', waiting: 2, by_priority: { '3': 2 } },
      { name: 'empty', waiting: 0, by_priority: {} }
    ])
    assert.equal(report.unacked, 2)
    assert.equal(report.unacked_index, 2)
    assert.ok(!JSON.stringify(report).includes('secret-'), 'no message is read')
    // Counting only: PING and SELECT on connecting, then LLEN, HLEN, ZCARD.
    assert.deepEqual([...new Set(commands)].sort(), ['HLEN', 'LLEN', 'PING', 'SELECT', 'ZCARD'])
    assert.equal(await cli(db, 'LLEN', 'celery'), '3')
  })

  test("the app's global_keyprefix, sep and priority_steps", async () => {
    const db = 6
    await cli(db, 'LPUSH', 'noesis2:celery', 'a', 'b')
    await cli(db, 'LPUSH', 'noesis2:celery:5', 'c')
    await cli(db, 'HSET', 'noesis2:unacked', 'tag', 'x')
    const { report, commands } = await read(db, 'prefixedapp', 'celery')
    assert.deepEqual(report.queues, [{ name: 'celery', waiting: 3, by_priority: { '0': 2, '5': 1 } }])
    assert.equal(report.unacked, 1)
    assert.deepEqual([...new Set(commands)].sort(), ['HLEN', 'LLEN', 'PING', 'SELECT', 'ZCARD'])
  })

  test('a broker that does not answer: the reason, no password', async () => {
    const run = await runArgv(['python3', '-c', QUEUE_LENGTHS_PY, '5', 'plainapp', 'celery'], {
      python,
      cwd: dir,
      env: podEnv({ CELERY_BROKER_URL: 'redis://:hunter2-queue-pw@127.0.0.1:1/0' }),
      killAfterMs: 60_000
    })
    const report = lastJsonReport(run.stdout)
    assert.equal(report?.ok, false)
    assert.match(String(report?.error), /^the broker did not answer: /)
    assert.ok(!`${run.stdout}${run.stderr}`.includes('hunter2'))
  })

  test('a broker that is not Redis: said, not read', async () => {
    const run = await runArgv(['python3', '-c', QUEUE_LENGTHS_PY, '5', 'plainapp', 'celery'], {
      python,
      cwd: dir,
      env: podEnv({ CELERY_BROKER_URL: 'amqp://guest:guest@127.0.0.1:1//' }),
      killAfterMs: 60_000
    })
    const report = lastJsonReport(run.stdout)
    assert.equal(report?.ok, false)
    assert.equal(report?.error, 'queue lengths are read on a Redis broker only (this app uses amqp)')
  })
})
