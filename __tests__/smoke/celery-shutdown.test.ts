// The claims the task-safety findings make, run against real Celery workers (Debian's python3-celery 5.2, the
// prefork pool) on a real Redis broker, stopped the way a deploy stops them: SIGTERM to the main process (what
// the kubelet sends to PID 1, and what the template's preStop hook sends), then, when the grace period ends,
// SIGKILL to every process of the container (here: the worker's process group). A task holds until the test
// releases it (BLPOP on a key of its own), so every step waits on what Redis or the worker shows, never on time.
import { after, afterEach, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { MissingToolError, TestRedis, podEnv, pythonWithDrivers } from '../rig/services.js'

const APP = `
import os, redis
from celery import Celery
app = Celery('shutdownapp', broker=os.environ['CELERY_BROKER_URL'])
app.conf.update(
    task_acks_late=os.environ.get('ACKS_LATE') == '1',
    task_reject_on_worker_lost=os.environ.get('REJECT') == '1',
    worker_prefetch_multiplier=int(os.environ.get('PREFETCH', '1')),
    broker_transport_options={'visibility_timeout': float(os.environ.get('VISIBILITY', '3600'))},
)
store = redis.Redis.from_url(os.environ['CELERY_BROKER_URL'])

@app.task(name='shutdownapp.hold', bind=True)
def hold(self, key):
    store.rpush('started:' + key, self.request.hostname)
    store.blpop('release:' + key, 0)
    store.rpush('done:' + key, self.request.hostname)
`

let python: string
let dir: string
let redis: TestRedis
const workers = new Set<Worker>()

before(async () => {
  python = pythonWithDrivers()
  try {
    execFileSync(python, ['-c', 'import celery, redis'], { stdio: 'ignore' })
  } catch {
    throw new MissingToolError('python3-celery and python3-redis (for the Celery shutdown tests)')
  }
  dir = mkdtempSync(path.join(tmpdir(), 'celery-shutdown-'))
  // Debian's python3-celery ships no `celery` script; this is the one pip would install.
  writeFileSync(
    path.join(dir, 'celery'),
    `#!${python}\nimport sys\nfrom celery.__main__ import main\nsys.exit(main())\n`
  )
  chmodSync(path.join(dir, 'celery'), 0o755)
  writeFileSync(path.join(dir, 'shutdownapp.py'), APP)
  redis = await TestRedis.start([])
})
afterEach(async () => {
  for (const worker of workers) await worker.kill()
  workers.clear()
  await cli('FLUSHALL')
})
after(async () => {
  await redis?.stop()
  rmSync(dir, { recursive: true, force: true })
})

function cli(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('redis-cli', ['-p', String(redis.port), '--raw', ...args], (error, stdout) =>
      error ? reject(error) : resolve(stdout.trim())
    )
  )
}
const list = async (key: string): Promise<string[]> =>
  (await cli('LRANGE', key, '0', '-1')).split('\n').filter(Boolean)
const count = async (...args: string[]): Promise<number> => Number(await cli(...args))

// Polls what Redis (or a worker) shows until `ready` holds; fails with `what` after a bound no healthy run nears.
async function until(
  what: string,
  ready: () => Promise<boolean> | boolean,
  timeoutMs = 30_000
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

interface Worker {
  name: string
  child: ChildProcess
  output(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  kill(): Promise<void>
}

// A prefork worker with one pool process, in a process group of its own (a container's processes).
async function startWorker(env: Record<string, string>): Promise<Worker> {
  const name = `w${randomBytes(3).toString('hex')}@shutdown`
  const child = spawn(
    path.join(dir, 'celery'),
    [
      '-A',
      'shutdownapp',
      'worker',
      '-P',
      'prefork',
      '-c',
      '1',
      '-n',
      name,
      '-l',
      'info',
      '--without-mingle',
      '--without-gossip',
      '--without-heartbeat'
    ],
    {
      cwd: dir,
      detached: true,
      env: podEnv({ CELERY_BROKER_URL: `redis://127.0.0.1:${redis.port}/0`, ...env }),
      stdio: ['ignore', 'pipe', 'pipe']
    }
  )
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(resolve =>
    child.once('exit', (code, signal) => resolve({ code, signal }))
  )
  const worker: Worker = {
    name,
    child,
    output: () => output,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL')
        } catch {
          // gone
        }
        await exited
      }
    }
  }
  workers.add(worker)
  await until(`${name} ready`, () => output.includes(`${name} ready.`) || child.exitCode !== null)
  assert.equal(child.exitCode, null, output)
  return worker
}

async function send(key: string): Promise<void> {
  execFileSync(python, ['-c', `import shutdownapp; shutdownapp.hold.delay(${JSON.stringify(key)})`], {
    cwd: dir,
    env: podEnv({ CELERY_BROKER_URL: `redis://127.0.0.1:${redis.port}/0` })
  })
}

// What the kubelet does at the end of the grace period: SIGKILL to every process of the container.
async function killContainer(worker: Worker): Promise<void> {
  process.kill(-worker.child.pid!, 'SIGKILL')
  assert.equal((await worker.exited).signal, 'SIGKILL')
}

// Kombu's reserved-but-unacknowledged bookkeeping: a message there is delivered again only once visibility_timeout
// has passed since it was reserved (a starting worker restores those).
async function untilReservedLongerThan(seconds: number): Promise<void> {
  await until(`a reservation older than ${seconds} s`, async () => {
    const scores = (await cli('ZRANGE', 'unacked_index', '0', '-1', 'WITHSCORES')).split('\n').filter(Boolean)
    if (scores.length < 2) return false
    const [now] = (await cli('TIME')).split('\n')
    return Number(now) - Number(scores[1]) > seconds + 0.5
  })
}

describe('a real Celery worker stopped as a deploy stops it', () => {
  test('SIGTERM to the main process: the warm shutdown finishes the running task and the worker exits 0', async () => {
    const worker = await startWorker({})
    await send('a')
    await until('the task to start', async () => (await list('started:a')).length === 1)
    // The template's preStop hook, aimed at this worker alone: pkill -o signals the oldest match, the main process.
    execFileSync('pkill', ['-TERM', '-o', '-f', `[c]elery.*${worker.name}`])
    await until('the warm shutdown', () => worker.output().includes('Warm shutdown'))
    assert.equal(worker.child.exitCode, null, 'the worker waits for its task')
    await cli('LPUSH', 'release:a', 'go')
    assert.deepEqual(await worker.exited, { code: 0, signal: null })
    assert.deepEqual(await list('done:a'), [worker.name])
  })

  test('killed when the grace period ends: with acks_late the task is delivered again, to a second worker', async () => {
    // The timeout that counts is the restoring worker's: the first never restores anything during the test.
    const first = await startWorker({ ACKS_LATE: '1' })
    await send('b')
    await until('the task to start', async () => (await list('started:b')).length === 1)
    process.kill(first.child.pid!, 'SIGTERM')
    await until('the warm shutdown', () => first.output().includes('Warm shutdown'))
    await killContainer(first)
    // Not acknowledged: still reserved, in no queue, until visibility_timeout has passed.
    assert.equal(await count('HLEN', 'unacked'), 1)
    assert.equal(await count('LLEN', 'celery'), 0)
    await untilReservedLongerThan(2)
    const second = await startWorker({ ACKS_LATE: '1', VISIBILITY: '2' })
    await until('the task to start again', async () => (await list('started:b')).length === 2)
    await cli('LPUSH', 'release:b', 'go')
    await until('the task to finish', async () => (await list('done:b')).length === 1)
    assert.deepEqual(await list('started:b'), [first.name, second.name])
    assert.deepEqual(await list('done:b'), [second.name])
  })

  test('killed when the grace period ends: without acks_late the task is gone', async () => {
    const first = await startWorker({})
    await send('c')
    await until('the task to start', async () => (await list('started:c')).length === 1)
    process.kill(first.child.pid!, 'SIGTERM')
    await until('the warm shutdown', () => first.output().includes('Warm shutdown'))
    await killContainer(first)
    // Acknowledged when it started: nothing in the broker can bring it back.
    assert.equal(await count('HLEN', 'unacked'), 0)
    assert.equal(await count('LLEN', 'celery'), 0)
    // A second worker restores what is due when it starts, then takes tasks: it runs the next one, never this.
    const second = await startWorker({ VISIBILITY: '2' })
    await send('next')
    await cli('LPUSH', 'release:next', 'go')
    await until('the next task to finish', async () => (await list('done:next')).length === 1)
    assert.deepEqual(await list('done:next'), [second.name])
    assert.deepEqual(await list('started:c'), [first.name])
    assert.deepEqual(await list('done:c'), [])
  })

  describe("the old preStop hook, pkill -f without -o: SIGTERM reaches the pool's process too", () => {
    const cases: Array<{ name: string; env: Record<string, string>; queued: number }> = [
      { name: 'acks_late off: the task is lost', env: {}, queued: 0 },
      {
        name: 'acks_late without reject_on_worker_lost: recorded as failed, not delivered again',
        env: { ACKS_LATE: '1' },
        queued: 0
      },
      {
        name: 'acks_late with reject_on_worker_lost: back in the queue',
        env: { ACKS_LATE: '1', REJECT: '1' },
        queued: 1
      }
    ]
    for (const c of cases) {
      test(c.name, async () => {
        const worker = await startWorker(c.env)
        await send('d')
        await until('the task to start', async () => (await list('started:d')).length === 1)
        execFileSync('pkill', ['-TERM', '-f', `[c]elery.*${worker.name}`])
        // The task did not finish: its pool process died with it (nothing released it).
        assert.equal((await worker.exited).code, 0)
        assert.match(worker.output(), /WorkerLostError/)
        assert.deepEqual(await list('done:d'), [])
        assert.equal(await count('HLEN', 'unacked'), 0)
        assert.equal(await count('LLEN', 'celery'), c.queued)
      })
    }
  })

  describe('REMAP_SIGTERM=SIGQUIT on Celery 5.2: SIGTERM is a cold shutdown', () => {
    const cases: Array<{ name: string; env: Record<string, string>; queued: number }> = [
      { name: 'acks_late off: the running task is terminated and lost', env: {}, queued: 0 },
      {
        name: 'acks_late (without reject_on_worker_lost): terminated, and put back in the queue',
        env: { ACKS_LATE: '1' },
        queued: 1
      }
    ]
    for (const c of cases) {
      test(c.name, async () => {
        const worker = await startWorker({ REMAP_SIGTERM: 'SIGQUIT', ...c.env })
        await send('e')
        await until('the task to start', async () => (await list('started:e')).length === 1)
        process.kill(worker.child.pid!, 'SIGTERM')
        await worker.exited
        assert.match(worker.output(), /Cold shutdown/)
        assert.deepEqual(await list('done:e'), [])
        assert.equal(await count('HLEN', 'unacked'), 0)
        assert.equal(await count('LLEN', 'celery'), c.queued)
      })
    }
  })

  test('visibility_timeout shorter than a run: a second worker runs the task while the first still runs it', async () => {
    const first = await startWorker({ ACKS_LATE: '1' })
    await send('f')
    await until('the task to start', async () => (await list('started:f')).length === 1)
    await untilReservedLongerThan(1)
    const second = await startWorker({ ACKS_LATE: '1', VISIBILITY: '1' })
    await until('the task to start a second time', async () => (await list('started:f')).length === 2)
    assert.deepEqual(await list('started:f'), [first.name, second.name])
    assert.deepEqual(await list('done:f'), [], 'the first run has not ended')
    await cli('LPUSH', 'release:f', 'go', 'go')
    await until('both runs to finish', async () => (await list('done:f')).length === 2)
  })

  test('prefetched tasks wait out the warm shutdown, and after a kill come back only after visibility_timeout', async () => {
    const first = await startWorker({ PREFETCH: '4' })
    await send('g1')
    await until('the first task to start', async () => (await list('started:g1')).length === 1)
    await send('g2')
    // Reserved by the busy worker (prefetched), not waiting in the queue for another.
    await until('the second task to be reserved', async () => (await count('HLEN', 'unacked')) === 1)
    assert.equal(await count('LLEN', 'celery'), 0)
    process.kill(first.child.pid!, 'SIGTERM')
    await until('the warm shutdown', () => first.output().includes('Warm shutdown'))
    // While the old worker drains, the prefetched task neither runs nor goes back to the queue.
    assert.equal(await count('HLEN', 'unacked'), 1)
    assert.equal(await count('LLEN', 'celery'), 0)
    assert.deepEqual(await list('started:g2'), [])
    await killContainer(first)
    assert.equal(await count('HLEN', 'unacked'), 1, 'still reserved by the killed worker')
    assert.equal(await count('LLEN', 'celery'), 0)
    await untilReservedLongerThan(2)
    const second = await startWorker({ VISIBILITY: '2' })
    await until('the prefetched task to run elsewhere', async () => (await list('started:g2')).length === 1)
    assert.deepEqual(await list('started:g2'), [second.name])
    await cli('LPUSH', 'release:g2', 'go')
  })
})
