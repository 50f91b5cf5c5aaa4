// The batch that runs the Python checks of one pod in one exec, run for real (python3, PostgreSQL, Redis): each
// check's verdict is what it would be on its own, a hanging check is killed at its own deadline without taking
// the others with it, and no password reaches the output.
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import {
  batchExecArgs,
  buildSmokeChecks,
  interpretSmokeOutput,
  splitBatchOutput,
  type SmokeCheckSpec
} from '../../src/deploy/smoke-checks.js'
import { SilentServer, TestPostgres, TestRedis, podEnv, pythonWithDrivers, runArgv } from '../rig/services.js'

const SUPERUSER = { user: 'noesis2', password: 'b@tch:pw/9%' }
const REDIS_PASSWORD = 'r3dis/b@tch'
const TIMEOUT_SECONDS = 2
// This machine shows every process to the check (a pod shows only its own), and other tests run kubectl
// against Deployments named celery-worker: the stand-in carries a name only it has, and the check looks for it.
const APP = `noesis2batch${process.pid}`

let python: string
let postgres: TestPostgres
let redis: TestRedis
let silent: SilentServer
let worker: ChildProcess

before(async () => {
  python = pythonWithDrivers()
  postgres = await TestPostgres.start(SUPERUSER, [])
  redis = await TestRedis.start(['--requirepass', REDIS_PASSWORD])
  silent = await new SilentServer().start()
  // A process whose command line the worker-process check looks for.
  worker = spawn(python, ['-c', 'import time; time.sleep(120)', 'celery', '-A', APP, 'worker'], {
    stdio: 'ignore'
  })
})
after(async () => {
  worker?.kill()
  postgres?.stop()
  redis?.stop()
  await silent?.stop()
})

function workerChecks(): SmokeCheckSpec[] {
  return buildSmokeChecks({
    celeryApp: 'noesis2',
    beat: false,
    database: true,
    redis: true,
    celeryPing: false,
    timeoutSeconds: TIMEOUT_SECONDS
  }).map(spec =>
    spec.name === 'worker-process'
      ? { ...spec, argv: [...spec.argv.slice(0, -1), `celery -A ${APP} worker`] }
      : spec
  )
}

async function runBatch(specs: SmokeCheckSpec[], env: Record<string, string>) {
  const args = batchExecArgs(specs, 'pod', 'ns')
  const argv = args.slice(args.indexOf('--') + 1)
  const run = await runArgv(argv, { python, env: podEnv(env), killAfterMs: 60_000 })
  const runs = splitBatchOutput(specs, run.exitCode, run.stdout, run.stderr)
  const verdicts = specs.map((spec, i) =>
    runs[i].timedOut
      ? { name: spec.name, ok: false, detail: 'timed out' }
      : { name: spec.name, ...interpretSmokeOutput(spec, runs[i].exitCode, runs[i].stdout, runs[i].stderr) }
  )
  return { run, runs, verdicts }
}

describe('smoke checks batched in one exec', () => {
  test('process, database and Redis in one python3: each passes as it would alone', async () => {
    const { run, verdicts } = await runBatch(workerChecks(), {
      DATABASE_URL: postgres.url(SUPERUSER.user, SUPERUSER.password),
      REDIS_URL: `redis://:${encodeURIComponent(REDIS_PASSWORD)}@127.0.0.1:${redis.port}/0`
    })
    assert.equal(run.exitCode, 0, run.stderr)
    assert.deepEqual(
      verdicts.map(v => [v.name, v.ok]),
      [
        ['worker-process', true],
        ['database', true],
        ['redis', true]
      ],
      JSON.stringify(verdicts)
    )
    assert.match(verdicts[0].detail, new RegExp(`celery -A ${APP} worker`))
    // The batch itself is not taken for the worker: its command line carries the checks' marker.
    assert.doesNotMatch(verdicts[0].detail, /smoke check/)
    for (const text of [run.stdout, run.stderr, ...verdicts.map(v => v.detail)]) {
      for (const secret of [SUPERUSER.password, REDIS_PASSWORD, encodeURIComponent(REDIS_PASSWORD)]) {
        assert.ok(!text.includes(secret), `no password in ${JSON.stringify(text)}`)
      }
    }
  })

  test('a failing check fails alone; a check that outlives its deadline is killed and reported as timed out', async () => {
    const hang: SmokeCheckSpec = {
      name: 'celery-ping',
      target: 'worker',
      container: 'app',
      argv: ['python3', '-c', 'import time; time.sleep(60)'],
      timeoutSeconds: 1,
      describe: 'hangs'
    }
    const started = Date.now()
    const { run, runs, verdicts } = await runBatch([...workerChecks(), hang], {
      DATABASE_URL: postgres.url(SUPERUSER.user, 'wrong-password'),
      REDIS_URL: `redis://127.0.0.1:${silent.port}/0`
    })
    assert.equal(run.exitCode, 0, run.stderr)
    assert.deepEqual(
      verdicts.map(v => [v.name, v.ok]),
      [
        ['worker-process', true],
        ['database', false],
        ['redis', false],
        ['celery-ping', false]
      ]
    )
    assert.match(verdicts[1].detail, /password authentication failed|authentication/i)
    assert.match(verdicts[2].detail, /timed out/)
    assert.equal(runs[3].timedOut, true)
    assert.equal(runs[1].timedOut, false)
    // Killed at its deadline (1 s and the batch's grace), not left to sleep its 60 s.
    assert.ok(Date.now() - started < 30_000)
  })

  test("without a report (no python3 in the image), every check gets the exec's own answer", () => {
    const specs = workerChecks()
    const runs = splitBatchOutput(specs, 127, '', 'exec: "python3": executable file not found in $PATH')
    const verdicts = specs.map((spec, i) =>
      interpretSmokeOutput(spec, runs[i].exitCode, runs[i].stdout, runs[i].stderr)
    )
    assert.ok(
      verdicts.every(v => !v.ok && /python3 is not available/.test(v.detail)),
      JSON.stringify(verdicts)
    )
  })
})
