// The process checks and `celery inspect ping` run for real: a stand-in process for the /proc scan, and a real
// Celery worker (Debian's python3-celery) on a local Redis broker for the ping, addressed as celery@$HOSTNAME.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { buildSmokeChecks, interpretSmokeOutput, type SmokeCheckSpec } from '../../src/deploy/smoke-checks.js'
import { MissingToolError, TestRedis, podEnv, pythonWithDrivers, runArgv } from '../rig/services.js'

let python: string

before(() => {
  python = pythonWithDrivers()
})

function specNamed(name: SmokeCheckSpec['name'], timeoutSeconds = 2): SmokeCheckSpec {
  const found = buildSmokeChecks({
    celeryApp: 'smokeapp',
    beat: true,
    database: false,
    redis: false,
    celeryPing: true,
    timeoutSeconds
  }).find(check => check.name === name)
  assert.ok(found)
  return found
}

// Waits (bounded) until `text` shows up in the child's output.
function waitForOutput(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  let output = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no "${text}" within ${timeoutMs} ms:\n${output}`)),
      timeoutMs
    )
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (output.includes(text)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', code => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code} before "${text}":\n${output}`))
    })
  })
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise(resolve => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

describe('process checks', () => {
  // A unique word keeps the test independent of whatever else runs on this machine.
  const word = `worker-${randomBytes(4).toString('hex')}`
  let standIn: ChildProcess | undefined

  after(() => stopChild(standIn))

  function withPattern(spec: SmokeCheckSpec, pattern: string): SmokeCheckSpec {
    return { ...spec, argv: [...spec.argv.slice(0, -1), pattern] }
  }

  test('the specs look for celery worker and beat command lines', () => {
    assert.equal(specNamed('worker-process').argv.at(-1), 'celery.*worker')
    assert.equal(specNamed('beat-process').argv.at(-1), 'celery.*beat')
  })

  test('no matching process fails, and the check does not find itself', async () => {
    // The pattern is on the check's own command line: finding nothing proves it skips itself.
    const spec = withPattern(specNamed('worker-process'), `celery.*${word}`)
    const run = await runArgv(spec.argv, { python, env: podEnv({}), killAfterMs: 20_000 })
    const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
    assert.equal(verdict.ok, false)
    assert.equal(run.exitCode, 1)
    assert.equal(verdict.detail, `no process matches celery.*${word}`)
  })

  test('a running process whose command line matches passes, with its pid', async () => {
    // Stand-in for `celery -A noesis2 worker`: python sleeping with those words as arguments, and a broker URL
    // with a password on its command line to show the detail hides it.
    standIn = spawn(
      python,
      [
        '-c',
        'import sys; sys.stdout.write("up\\n"); sys.stdout.flush(); import time; time.sleep(300)'
      ].concat(['celery', '-A', 'noesis2', word, '--broker=redis://:hunter2-secret@10.0.0.3:6379/0']),
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    await waitForOutput(standIn, 'up', 10_000)
    const spec = withPattern(specNamed('worker-process'), `celery.*${word}`)
    const run = await runArgv(spec.argv, { python, env: podEnv({}), killAfterMs: 20_000 })
    const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
    assert.equal(verdict.ok, true, verdict.detail)
    assert.match(
      verdict.detail,
      new RegExp(`^1 process \\(pid ${standIn.pid}\\): .*celery -A noesis2 ${word}`)
    )
    assert.ok(!run.stdout.includes('hunter2'), run.stdout)
    assert.ok(!verdict.detail.includes('hunter2'), verdict.detail)
    assert.match(verdict.detail, /redis:\/\/:\*\*\*@10\.0\.0\.3/)
  })
})

describe('celery inspect ping', () => {
  let redis: TestRedis
  let worker: ChildProcess | undefined
  let dir: string
  const hostname = `celery-worker-${randomBytes(3).toString('hex')}-x7k2p`

  before(async () => {
    try {
      execFileSync(python, ['-c', 'import celery, redis'], { stdio: 'ignore' })
    } catch {
      throw new MissingToolError('python3-celery and python3-redis (for the celery inspect ping test)')
    }
    dir = mkdtempSync(join(tmpdir(), 'smoke-celery-'))
    // Debian's python3-celery ships no `celery` script; this is the one pip would install.
    writeFileSync(
      join(dir, 'celery'),
      `#!${python}\nimport sys\nfrom celery.__main__ import main\nsys.exit(main())\n`
    )
    chmodSync(join(dir, 'celery'), 0o755)
    writeFileSync(
      join(dir, 'smokeapp.py'),
      "import os\nfrom celery import Celery\napp = Celery('smokeapp', broker=os.environ['CELERY_BROKER_URL'])\n"
    )
    redis = await TestRedis.start([])
    // Same node name a pod's worker gets by default: celery@<pod hostname>.
    worker = spawn(
      join(dir, 'celery'),
      ['-A', 'smokeapp', 'worker', '--pool=solo', '-l', 'info', '-n', `celery@${hostname}`],
      {
        cwd: dir,
        env: podEnv({
          PATH: `${dir}:${process.env.PATH}`,
          CELERY_BROKER_URL: `redis://127.0.0.1:${redis.port}/0`
        }),
        stdio: ['ignore', 'pipe', 'pipe']
      }
    )
    await waitForOutput(worker, `celery@${hostname} ready.`, 60_000)
  })

  after(async () => {
    await stopChild(worker)
    await redis?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  function pingEnv(podHostname: string): NodeJS.ProcessEnv {
    return podEnv({
      PATH: `${dir}:${process.env.PATH}`,
      HOSTNAME: podHostname,
      CELERY_BROKER_URL: `redis://127.0.0.1:${redis.port}/0`
    })
  }

  test('the pod whose worker runs gets pong from celery@$HOSTNAME', async () => {
    const spec = specNamed('celery-ping', 5)
    const run = await runArgv(spec.argv, { python, env: pingEnv(hostname), cwd: dir, killAfterMs: 60_000 })
    const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
    assert.equal(verdict.ok, true, `${verdict.detail}\n${run.stdout}\n${run.stderr}`)
    assert.equal(verdict.detail, `celery@${hostname} replied pong`)
  })

  test('a pod whose node does not answer fails within the timeout', async () => {
    const spec = specNamed('celery-ping', 1)
    const run = await runArgv(spec.argv, {
      python,
      env: pingEnv('some-other-pod'),
      cwd: dir,
      killAfterMs: 60_000
    })
    const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
    assert.equal(verdict.ok, false)
    assert.equal(run.exitCode, 69)
    assert.ok(run.durationMs < spec.timeoutSeconds * 1000, `took ${run.durationMs} ms`)
    assert.equal(verdict.detail, 'no worker node replied to celery inspect ping (exit 69)')
  })

  test('an app that cannot be imported fails with celery’s reason', async () => {
    const spec = buildSmokeChecks({
      celeryApp: 'no_such_app_module',
      beat: false,
      database: false,
      redis: false,
      celeryPing: true,
      timeoutSeconds: 1
    }).find(check => check.name === 'celery-ping')
    assert.ok(spec)
    const run = await runArgv(spec.argv, { python, env: pingEnv(hostname), cwd: dir, killAfterMs: 60_000 })
    const verdict = interpretSmokeOutput(spec, run.exitCode, run.stdout, run.stderr)
    assert.equal(verdict.ok, false)
    assert.match(verdict.detail, /^celery inspect ping failed \(exit \d+\): .*no_such_app_module/)
  })
})
