// Pure parts of the smoke checks: which checks are built, their exec arguments, and how output is read.
import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  buildSmokeChecks,
  interpretSmokeOutput,
  MAX_DETAIL_CHARS,
  redactUrlCredentials,
  smokeExecArgs,
  smokeExecTimeoutMs,
  type SmokeCheckName,
  type SmokeCheckSpec
} from '../../src/deploy/smoke-checks.js'
import { SMOKE_MARKER } from '../../src/deploy/smoke-scripts/prelude.js'

const all = { celeryApp: 'noesis2', beat: true, database: true, redis: true, celeryPing: true }

describe('buildSmokeChecks', () => {
  const cases: { name: string; options: Parameters<typeof buildSmokeChecks>[0]; want: SmokeCheckName[] }[] = [
    {
      name: 'everything',
      options: all,
      want: ['worker-process', 'beat-process', 'database', 'redis', 'celery-ping']
    },
    {
      name: 'no beat, no celery ping',
      options: { ...all, beat: false, celeryPing: false },
      want: ['worker-process', 'database', 'redis']
    },
    {
      name: 'only the worker process',
      options: { celeryApp: 'x', beat: false, database: false, redis: false, celeryPing: false },
      want: ['worker-process']
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(
        buildSmokeChecks(c.options).map(check => check.name),
        c.want
      )
    })
  }

  test('targets: beat-process runs in the beat pod, everything else in a worker pod', () => {
    const targets = Object.fromEntries(buildSmokeChecks(all).map(check => [check.name, check.target]))
    assert.deepEqual(targets, {
      'worker-process': 'worker',
      'beat-process': 'beat',
      database: 'worker',
      redis: 'worker',
      'celery-ping': 'worker'
    })
  })

  test('python checks run python3 -c <snippet> <timeout> without a shell, in container app', () => {
    for (const check of buildSmokeChecks({ ...all, timeoutSeconds: 7 }).filter(
      c => c.name !== 'celery-ping'
    )) {
      assert.equal(check.container, 'app')
      assert.deepEqual(check.argv.slice(0, 2), ['python3', '-c'])
      assert.ok(check.argv[2].startsWith(`# ${SMOKE_MARKER}\n`), 'the snippet carries the marker')
      assert.equal(check.argv[3], '7')
      assert.equal(check.timeoutSeconds, 7)
      assert.ok(check.describe.length > 0)
    }
  })

  test('celery-ping passes the app and timeout as positional parameters, not inside the script', () => {
    const hostile = 'noesis2"; rm -rf / #'
    const ping = buildSmokeChecks({ ...all, celeryApp: hostile, timeoutSeconds: 4 }).find(
      c => c.name === 'celery-ping'
    )
    assert.ok(ping)
    assert.deepEqual(ping.argv.slice(0, 2), ['sh', '-c'])
    assert.ok(!ping.argv[2].includes(hostile))
    assert.match(
      ping.argv[2],
      /^exec celery -A "\$1" inspect ping --json -d "celery@\$\{HOSTNAME:-\$\(hostname\)\}"/
    )
    assert.deepEqual(ping.argv.slice(3), ['celery-ping', hostile, '4'])
    assert.equal(ping.timeoutSeconds, 34, 'the reply timeout plus time to import the app')
  })

  test('the default timeout is 10 seconds', () => {
    assert.equal(buildSmokeChecks(all)[0].timeoutSeconds, 10)
  })

  for (const bad of [0, -1, Number.NaN]) {
    test(`rejects timeout ${bad}`, () => {
      assert.throws(() => buildSmokeChecks({ ...all, timeoutSeconds: bad }), /positive number of seconds/)
    })
  }

  test('snippets stay small enough for an exec URL', () => {
    for (const check of buildSmokeChecks(all)) {
      assert.ok(check.argv.join(' ').length < 6000, `${check.name} is ${check.argv.join(' ').length} chars`)
    }
  })
})

describe('smokeExecArgs and smokeExecTimeoutMs', () => {
  test('exec in the named pod and container, the argv after --', () => {
    const spec = buildSmokeChecks(all)[0]
    assert.deepEqual(smokeExecArgs(spec, 'celery-worker-6d8f9-abcde', 'noesis2'), [
      'exec',
      '-n',
      'noesis2',
      'celery-worker-6d8f9-abcde',
      '-c',
      'app',
      '--',
      ...spec.argv
    ])
  })

  test('kubectl gets the check budget plus room for itself', () => {
    const spec = buildSmokeChecks({ ...all, timeoutSeconds: 5 })[0]
    assert.equal(smokeExecTimeoutMs(spec), 20_000)
  })
})

function specFor(name: SmokeCheckName): SmokeCheckSpec {
  const found = buildSmokeChecks(all).find(check => check.name === name)
  assert.ok(found)
  return found
}

describe('interpretSmokeOutput', () => {
  const cases: {
    name: string
    check: SmokeCheckName
    exitCode: number
    stdout: string
    stderr?: string
    ok: boolean
    detail: string | RegExp
  }[] = [
    {
      name: 'database success',
      check: 'database',
      exitCode: 0,
      stdout: '{"ok": true, "driver": "psycopg3", "server_version": "16.4", "ms": 31}\n',
      ok: true,
      detail: 'SELECT 1 via psycopg3 on PostgreSQL 16.4 in 31 ms'
    },
    {
      name: 'database failure',
      check: 'database',
      exitCode: 1,
      stdout:
        '{"ok": false, "driver": "psycopg2", "error": "OperationalError: timeout expired", "ms": 5003}\n',
      ok: false,
      detail: 'OperationalError: timeout expired'
    },
    {
      name: 'noise before the JSON line is ignored',
      check: 'redis',
      exitCode: 0,
      stdout:
        'some warning\n{"ok": true, "server": "10.0.0.3:6379", "tls": true, "db": 1, "reply": "PONG", "ms": 4}\n',
      ok: true,
      detail: 'PONG from 10.0.0.3:6379 (TLS, db 1) in 4 ms'
    },
    {
      name: 'success reported but a non-zero exit',
      check: 'redis',
      exitCode: 137,
      stdout: '{"ok": true, "server": "x:1", "db": 0, "ms": 4}\n',
      ok: false,
      detail: 'reported success but exited 137'
    },
    {
      name: 'process success',
      check: 'worker-process',
      exitCode: 0,
      stdout:
        '{"ok": true, "pattern": "celery.*worker", "count": 3, "pids": [1, 7, 8], "command": "celery -A noesis2 worker", "ms": 2}\n',
      ok: true,
      detail: '3 processes (pid 1, 7, 8): celery -A noesis2 worker'
    },
    {
      name: 'python3 missing in the image',
      check: 'database',
      exitCode: 1,
      stdout: '',
      stderr:
        'error: Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "x": OCI runtime exec failed: exec failed: unable to start container process: exec: "python3": executable file not found in $PATH: unknown\n',
      ok: false,
      detail: /^python3 is not available in container "app" \(exit 1\): error: Internal error occurred/
    },
    {
      name: 'no output at all',
      check: 'redis',
      exitCode: 137,
      stdout: '',
      ok: false,
      detail: 'no result from the check (exit 137)'
    },
    {
      name: 'a traceback with a URL keeps the user and hides the password',
      check: 'database',
      exitCode: 1,
      stdout: '',
      stderr: 'Traceback...\nValueError: bad url postgresql://app:s3cret@127.0.0.1:5432/db\n',
      ok: false,
      detail: 'no result from the check (exit 1): ValueError: bad url postgresql://app:***@127.0.0.1:5432/db'
    },
    {
      name: 'celery ping JSON',
      check: 'celery-ping',
      exitCode: 0,
      stdout: '{"celery@celery-worker-6d8f9-abcde": {"ok": "pong"}}\n',
      ok: true,
      detail: 'celery@celery-worker-6d8f9-abcde replied pong'
    },
    {
      name: 'celery ping text (no --json support)',
      check: 'celery-ping',
      exitCode: 0,
      stdout: '->  celery@celery-worker-6d8f9-abcde: OK\n        pong\n\n1 node online.\n',
      ok: true,
      detail: 'celery@celery-worker-6d8f9-abcde replied pong'
    },
    {
      name: 'celery ping: no reply',
      check: 'celery-ping',
      exitCode: 69,
      stdout: '',
      stderr: 'Error: No nodes replied within time constraint\n',
      ok: false,
      detail: 'no worker node replied to celery inspect ping (exit 69)'
    },
    {
      name: 'celery ping: exit 0 but an error reply',
      check: 'celery-ping',
      exitCode: 0,
      stdout: '{"celery@x": {"error": "boom"}}\n',
      ok: false,
      detail: 'celery inspect ping failed (exit 0): {"celery@x": {"error": "boom"}}'
    },
    {
      name: 'celery missing',
      check: 'celery-ping',
      exitCode: 127,
      stdout: '',
      stderr: 'sh: 1: exec: celery: not found\n',
      ok: false,
      detail: 'celery is not available in the container (exit 127)'
    },
    {
      name: 'celery broker URL in an error is redacted',
      check: 'celery-ping',
      exitCode: 1,
      stdout: '',
      stderr: 'kombu.exceptions.OperationalError: Error connecting to redis://:hunter2@10.0.0.3:6379/0\n',
      ok: false,
      detail:
        'celery inspect ping failed (exit 1): kombu.exceptions.OperationalError: Error connecting to redis://:***@10.0.0.3:6379/0'
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const verdict = interpretSmokeOutput(specFor(c.check), c.exitCode, c.stdout, c.stderr ?? '')
      assert.equal(verdict.ok, c.ok)
      if (typeof c.detail === 'string') assert.equal(verdict.detail, c.detail)
      else assert.match(verdict.detail, c.detail)
    })
  }

  // Never cut here (a cut before redaction can leave part of a secret that redaction no longer knows): whole,
  // for whoever shows it to redact and then shorten; a line too long to show is left out whole.
  const detailCases: Array<{ name: string; error: string; detail: string | RegExp }> = [
    { name: 'a long detail is kept whole', error: 'x'.repeat(1500), detail: 'x'.repeat(1500) },
    {
      name: 'a detail over the limit is left out whole, never cut',
      error: 'x'.repeat(MAX_DETAIL_CHARS + 1),
      detail: new RegExp(`^\\(a line of ${MAX_DETAIL_CHARS + 1} characters, too long to show`)
    }
  ]
  for (const c of detailCases) {
    test(c.name, () => {
      const verdict = interpretSmokeOutput(specFor('redis'), 1, `{"ok": false, "error": "${c.error}"}`, '')
      if (typeof c.detail === 'string') assert.equal(verdict.detail, c.detail)
      else assert.match(verdict.detail, c.detail)
    })
  }
})

describe('redactUrlCredentials', () => {
  const cases: [string, string][] = [
    ['postgresql://app:pw@127.0.0.1:5432/db', 'postgresql://app:***@127.0.0.1:5432/db'],
    ['redis://:pw@10.0.0.3:6379/0', 'redis://:***@10.0.0.3:6379/0'],
    ['rediss://token@host', 'rediss://***@host'],
    ['amqp://u:p%40ss@h/ and redis://:x@h2', 'amqp://u:***@h/ and redis://:***@h2'],
    ['https://example.com/path?a=b', 'https://example.com/path?a=b'],
    ['no url here', 'no url here']
  ]
  for (const [input, want] of cases) {
    test(input, () => assert.equal(redactUrlCredentials(input), want))
  }
})
