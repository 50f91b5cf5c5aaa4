// Programs the emulator's exec so the action's smoke checks get the answers a healthy (or broken) app image
// would give. Matched on the exact snippet the action sends, so a changed snippet fails loudly here.

import { inflateSync } from 'node:zlib'
import { BATCH_KEY, BATCH_PY } from '../../src/deploy/smoke-scripts/batch.js'
import { DATABASE_CHECK_PY } from '../../src/deploy/smoke-scripts/database.js'
import { PROCESS_CHECK_PY } from '../../src/deploy/smoke-scripts/process.js'
import { REDIS_CHECK_PY } from '../../src/deploy/smoke-scripts/redis.js'
import type { KubeEmulator } from '../rig/kube/index.js'

export interface SmokeAnswers {
  database?: { ok: boolean; error?: string }
  redis?: { ok: boolean; error?: string }
}

export function programSmokeExec(kube: KubeEmulator, answers: SmokeAnswers = {}, pod?: RegExp): void {
  const database = answers.database ?? { ok: true }
  const redis = answers.redis ?? { ok: true }
  // The batch script, as python3 in a container runs it: each check of the list as its own process (answered
  // by the rules below, or by any a test programs later), one report line.
  kube.control.programExec({
    pod,
    container: 'app',
    match: argv => argv[0] === 'python3' && argv[2] === BATCH_PY,
    run: (argv, inner) => {
      const checks = JSON.parse(inflateSync(Buffer.from(argv[3], 'base64')).toString('utf8')) as Array<{
        name: string
        argv: string[]
      }>
      const answers = checks.map(check => ({ check, answer: inner(check.argv) }))
      return {
        stdout: `${JSON.stringify({
          [BATCH_KEY]: answers.map(({ check, answer }) => ({
            name: check.name,
            exit: answer.exitCode,
            stdout: answer.stdout,
            stderr: answer.stderr,
            timed_out: false
          }))
        })}\n`,
        delayMs: Math.max(0, ...answers.map(a => a.answer.delayMs))
      }
    }
  })
  kube.control.programExec({
    pod,
    container: 'app',
    match: argv => argv[0] === 'python3' && argv[2] === PROCESS_CHECK_PY && argv.at(-1) === 'celery.*worker',
    stdout:
      '{"ok":true,"count":1,"pids":[7],"command":"celery -A noesis2 worker -l info -Q celery,rag_delete"}\n'
  })
  kube.control.programExec({
    pod,
    container: 'app',
    match: argv => argv[0] === 'python3' && argv[2] === PROCESS_CHECK_PY && argv.at(-1) === 'celery.*beat',
    stdout: '{"ok":true,"count":1,"pids":[7],"command":"celery -A noesis2 beat -l info"}\n'
  })
  kube.control.programExec({
    pod,
    container: 'app',
    match: argv => argv[0] === 'python3' && argv[2] === DATABASE_CHECK_PY,
    stdout: database.ok
      ? '{"ok":true,"driver":"psycopg3","server_version":"15.8","ms":14}\n'
      : `${JSON.stringify({ ok: false, error: database.error ?? 'OperationalError: connection refused' })}\n`,
    exitCode: database.ok ? 0 : 1
  })
  kube.control.programExec({
    pod,
    container: 'app',
    match: argv => argv[0] === 'python3' && argv[2] === REDIS_CHECK_PY,
    stdout: redis.ok
      ? '{"ok":true,"server":"10.0.0.5:6379","db":0,"tls":false,"ms":3}\n'
      : `${JSON.stringify({ ok: false, error: redis.error ?? 'WRONGPASS invalid username-password pair' })}\n`,
    exitCode: redis.ok ? 0 : 1
  })
}
