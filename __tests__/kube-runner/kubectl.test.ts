import { after, before, beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Kubectl, KubectlError, type KubectlOptions } from '../../src/kube/kubectl.js'
import { FakeKubectl } from './fake-kubectl.js'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { permanentCases, transientCases } from './kubectl-stderr-cases.js'

let fake: FakeKubectl
let delays: number[]
let logs: string[]

before(() => {
  fake = new FakeKubectl()
})
after(() => fake.remove())
beforeEach(() => {
  delays = []
  logs = []
})

function kubectl(extra: Partial<KubectlOptions> = {}): Kubectl {
  return new Kubectl({
    kubeconfig: fake.kubeconfig,
    bin: fake.bin,
    env: fake.env(),
    sleep: async ms => {
      delays.push(ms)
    },
    // Jitter pinned to its top so the delays are exactly the exponential schedule.
    random: () => 0.999999999,
    log: line => logs.push(line),
    ...extra
  })
}

async function rejection(promise: Promise<unknown>): Promise<KubectlError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof KubectlError, `expected a KubectlError, got ${String(error)}`)
    return error
  }
  assert.fail('expected the call to fail')
}

function isProcessAlive(pid: number): boolean {
  try {
    // A killed orphan may linger as a zombie until init reaps it: that counts as gone.
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

// Signals are delivered asynchronously: wait (bounded) for the process to disappear rather than sample once.
async function waitUntilGone(pid: number, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (isProcessAlive(pid)) {
    if (Date.now() > deadline) return false
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  return true
}

describe('arguments and environment', () => {
  test('passes an argument array verbatim with --kubeconfig first', async () => {
    fake.script([{ stdout: 'ok' }])
    const args = [
      'get',
      'pods',
      '-n',
      'noesis2',
      '-l',
      'app in (celery-worker, x)',
      "--field-selector=a='b c'"
    ]
    const result = await kubectl().run(args)
    assert.equal(result.stdout, 'ok')
    assert.equal(result.exitCode, 0)
    assert.equal(result.attempts, 1)
    const [call] = fake.invocations()
    assert.deepEqual(call.argv, ['--kubeconfig', fake.kubeconfig, '--request-timeout=60s', ...args])
  })

  test('shell metacharacters reach kubectl as data, not as shell syntax', async () => {
    fake.script([{}])
    const hostile = '$(touch /tmp/should-not-exist); `id` && echo | cat > x'
    await kubectl().run(['annotate', 'x', `note=${hostile}`])
    assert.deepEqual(fake.invocations()[0].argv.slice(3), ['annotate', 'x', `note=${hostile}`])
  })

  test('runs the child with the given environment (its own KUBECACHEDIR)', async () => {
    fake.script([{}])
    await kubectl().run(['version'])
    assert.equal(fake.invocations()[0].kubecachedir, fake.cacheDir)
  })

  test('writes stdin to kubectl', async () => {
    fake.script([{}])
    const manifest = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: noesis2\n'
    await kubectl().run(['apply', '-f', '-'], { stdin: manifest })
    assert.equal(fake.invocations()[0].stdin, manifest)
  })

  test('logs the command and attempt, without the kubeconfig path', async () => {
    fake.script([{}])
    await kubectl().run(['get', 'ns'])
    assert.deepEqual(logs, ['kubectl get ns (attempt 1/4)'])
  })
})

describe('json', () => {
  test('appends -o json and parses stdout', async () => {
    fake.script([{ stdout: '{"kind":"Deployment","metadata":{"name":"celery-worker"}}' }])
    const deployment = await kubectl().json<{ kind: string; metadata: { name: string } }>([
      'get',
      'deployment',
      'celery-worker'
    ])
    assert.equal(deployment.metadata.name, 'celery-worker')
    assert.deepEqual(fake.invocations()[0].argv.slice(3), [
      'get',
      'deployment',
      'celery-worker',
      '-o',
      'json'
    ])
  })

  test('output that is not JSON fails with the command in the message', async () => {
    fake.script([{ stdout: 'NAME   READY\ncelery-worker 1/1\n' }])
    const error = await rejection(kubectl().json(['get', 'deployment']))
    assert.match(error.message, /^kubectl get deployment -o json did not print JSON \(/)
    assert.match(error.message, /NAME {3}READY/)
    assert.equal(error.transient, false)
  })

  test('empty output is an error, not null', async () => {
    fake.script([{ stdout: '' }])
    const error = await rejection(kubectl().json(['get', 'deployment', 'x', '--ignore-not-found']))
    assert.match(error.message, /did not print JSON \(empty output\)/)
  })

  test('a failing call fails before parsing, with stderr', async () => {
    fake.script([{ exit: 1, stderr: 'Error from server (NotFound): deployments.apps "x" not found\n' }])
    const error = await rejection(kubectl().json(['get', 'deployment', 'x']))
    assert.match(
      error.message,
      /^kubectl get deployment x -o json failed \(exit 1\): Error from server \(NotFound\)/
    )
  })
})

describe('retries', () => {
  for (const c of transientCases) {
    test(`retries a transient failure: ${c.name}`, async () => {
      fake.script([{ exit: 1, stderr: c.stderr }, { stdout: 'done' }])
      const result = await kubectl().run(['get', 'pods'])
      assert.equal(result.stdout, 'done')
      assert.equal(result.attempts, 2)
      assert.equal(fake.invocations().length, 2)
      assert.deepEqual(delays, [500])
    })
  }

  for (const c of permanentCases) {
    test(`does not retry: ${c.name}`, async () => {
      fake.script([{ exit: 1, stderr: c.stderr }, { stdout: 'should not be reached' }])
      const error = await rejection(kubectl().run(['apply', '--server-side', '-f', 'm.yaml']))
      assert.equal(error.transient, false)
      assert.equal(error.attempts, 1)
      assert.equal(fake.invocations().length, 1)
      assert.deepEqual(delays, [])
    })
  }

  test('gives up after the attempt cap with exponential delays in between', async () => {
    fake.script([{ exit: 1, stderr: 'Unable to connect to the server: EOF\n' }])
    const error = await rejection(kubectl().run(['get', 'pods']))
    assert.equal(error.attempts, 4)
    assert.equal(error.transient, true)
    assert.equal(fake.invocations().length, 4)
    assert.deepEqual(delays, [500, 1000, 2000])
    assert.match(
      error.message,
      /failed \(exit 1\) \(gave up after 4 attempts\): Unable to connect to the server: EOF$/
    )
  })

  test('delays are capped at maxDelayMs', async () => {
    fake.script([{ exit: 1, stderr: 'etcdserver: leader changed\n' }])
    const runner = kubectl({ retry: { attempts: 6, baseDelayMs: 1000, maxDelayMs: 3000 } })
    await rejection(runner.run(['get', 'pods']))
    assert.deepEqual(delays, [1000, 2000, 3000, 3000, 3000])
  })

  test('jitter keeps each delay between half and all of the exponential step', async () => {
    fake.script([{ exit: 1, stderr: 'etcdserver: leader changed\n' }])
    const low = kubectl({ random: () => 0 })
    await rejection(low.run(['get', 'pods']))
    assert.deepEqual(delays, [250, 500, 1000])
  })

  test('the default sleeps for real when none is injected (bounded by a tiny policy)', async () => {
    fake.script([{ exit: 1, stderr: 'connection refused\n' }, { stdout: 'ok' }])
    const runner = new Kubectl({
      kubeconfig: fake.kubeconfig,
      bin: fake.bin,
      env: fake.env(),
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 }
    })
    assert.equal((await runner.run(['get', 'pods'])).attempts, 2)
  })

  test('a Retry-After hint lengthens the delay', async () => {
    fake.script([
      { exit: 1, stderr: 'Error from server (TooManyRequests): too many requests\nRetry-After: 5\n' },
      { stdout: 'ok' }
    ])
    await kubectl().run(['get', 'pods'])
    assert.deepEqual(delays, [5000])
  })

  test('retry: false runs once even on a transient failure', async () => {
    fake.script([{ exit: 1, stderr: 'Unable to connect to the server: EOF\n' }, { stdout: 'ok' }])
    const error = await rejection(kubectl().run(['exec', 'pod/x', '--', 'true'], { retry: false }))
    assert.equal(error.attempts, 1)
    assert.equal(error.transient, true)
    assert.equal(fake.invocations().length, 1)
    assert.doesNotMatch(error.message, /gave up/)
  })

  test('beforeCall runs before every attempt', async () => {
    fake.script([
      { exit: 1, stderr: 'connection reset by peer\n' },
      { exit: 1, stderr: 'connection reset by peer\n' },
      { stdout: 'ok' }
    ])
    let calls = 0
    const runner = kubectl({
      beforeCall: async () => {
        calls++
        // The fake reads this file, proving each refresh happened before that attempt started.
        writeFileSync(fake.markerFile, `refresh-${calls}`)
      }
    })
    await runner.run(['get', 'pods'])
    assert.equal(calls, 3)
    assert.deepEqual(
      fake.invocations().map(call => call.beforeCallMarker),
      ['refresh-1', 'refresh-2', 'refresh-3']
    )
  })

  test('a failing beforeCall stops the call before kubectl runs', async () => {
    fake.script([{}])
    const runner = kubectl({
      beforeCall: async () => {
        throw new Error('token refresh failed')
      }
    })
    await assert.rejects(runner.run(['get', 'pods']), /token refresh failed/)
    assert.equal(fake.invocations().length, 0)
  })

  test('logs each retry with the reason', async () => {
    fake.script([{ exit: 1, stderr: 'Error from server: etcdserver: request timed out\n' }, {}])
    await kubectl().run(['get', 'pods'])
    assert.deepEqual(logs, [
      'kubectl get pods (attempt 1/4)',
      'kubectl get pods: transient failure (exit 1), retrying in 500 ms: Error from server: etcdserver: request timed out',
      'kubectl get pods (attempt 2/4)'
    ])
  })
})

describe('exit codes and errors', () => {
  test('okExitCodes accepts `kubectl diff` exit 1 (differences) without retrying', async () => {
    fake.script([{ exit: 1, stdout: 'diff -u -N live/apps.v1.Deployment new/apps.v1.Deployment\n' }])
    const result = await kubectl().run(['diff', '-f', 'm.yaml'], { okExitCodes: [0, 1] })
    assert.equal(result.exitCode, 1)
    assert.match(result.stdout, /^diff -u/)
    assert.equal(fake.invocations().length, 1)
  })

  test('accept tells an answer from a failure with the same exit code (auth can-i)', async () => {
    fake.script([
      {
        exit: 1,
        stderr:
          'Error from server (ServiceUnavailable): the server is currently unable to handle the request\n'
      },
      { exit: 1, stdout: 'no\n' }
    ])
    const result = await kubectl().run(['auth', 'can-i', 'get', 'secrets'], {
      okExitCodes: [0, 1],
      accept: r => /^(yes|no)$/.test(r.stdout.trim())
    })
    assert.equal(result.stdout.trim(), 'no')
    assert.equal(result.attempts, 2, 'the 503 was retried, the "no" was not')
  })

  test('an exit code outside okExitCodes still fails', async () => {
    fake.script([{ exit: 2, stderr: 'error: failed to run "diff": executable file not found\n' }])
    const error = await rejection(kubectl().run(['diff', '-f', 'm.yaml'], { okExitCodes: [0, 1] }))
    assert.equal(error.exitCode, 2)
  })

  test('the error names the command, the exit code and the tail of stderr', async () => {
    const noise = Array.from({ length: 30 }, (_, i) => `Warning: noise line ${i}`).join('\n')
    fake.script([
      {
        exit: 1,
        stderr: `${noise}\nThe Deployment "celery-worker" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n`
      }
    ])
    const args = [
      'apply',
      '--server-side',
      '--field-manager=deploy-gke-workers',
      '-f',
      '/tmp/rendered dir/all.yaml'
    ]
    const error = await rejection(kubectl().run(args))
    assert.ok(
      error.message.startsWith(
        "kubectl apply --server-side --field-manager=deploy-gke-workers -f '/tmp/rendered dir/all.yaml' failed (exit 1): "
      ),
      error.message
    )
    assert.match(
      error.message,
      /is invalid: spec\.replicas: Invalid value: -1: must be greater than or equal to 0$/
    )
    assert.doesNotMatch(error.message, /noise line 0\b/, 'only the last lines of stderr')
    assert.match(error.message, /noise line 29/)
    assert.deepEqual(error.command, ['--kubeconfig', fake.kubeconfig, '--request-timeout=60s', ...args])
    assert.equal(error.exitCode, 1)
    assert.match(error.stderr, /noise line 0\b/, 'the full stderr stays on the error')
  })

  test('redact is applied to the message, stderr, arguments and logs', async () => {
    const secret = 's3cr3t-T0ken'
    fake.script([{ exit: 1, stderr: `error: connection refused while using token ${secret}\n` }])
    const runner = kubectl({
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      redact: text => text.split(secret).join('***')
    })
    const error = await rejection(runner.run(['get', 'pods', `--token=${secret}`]))
    for (const text of [error.message, error.stderr, ...logs]) {
      assert.doesNotMatch(text, /s3cr3t/)
    }
    assert.match(error.message, /--token=\*\*\* failed .*using token \*\*\*$/)
    assert.ok(
      logs.some(line => line.includes('retrying in 1 ms: error: connection refused while using token ***'))
    )
  })

  test('a missing binary fails clearly and is not retried', async () => {
    const runner = kubectl({ bin: `${fake.dir}/no-such-kubectl` })
    const error = await rejection(runner.run(['version']))
    assert.match(error.message, /^kubectl version could not start: spawn .*no-such-kubectl ENOENT/)
    assert.equal(error.attempts, 1)
    assert.deepEqual(delays, [])
  })
})

describe('timeout', () => {
  test('kills kubectl and what it started when the timeout passes, and does not retry', async () => {
    fake.script([{ hang: true }, { stdout: 'should not be reached' }])
    const started = Date.now()
    const error = await rejection(
      kubectl().run(['rollout', 'status', 'deployment/celery-worker'], { timeoutMs: 1000 })
    )
    const elapsed = Date.now() - started
    assert.equal(error.timedOut, true)
    assert.equal(error.transient, false)
    assert.match(
      error.message,
      /^kubectl rollout status deployment\/celery-worker timed out after 1000 ms and was killed/
    )
    assert.ok(elapsed < 10_000, `took ${elapsed} ms`)
    const [call] = fake.invocations()
    assert.equal(fake.invocations().length, 1)
    assert.ok(call.sleeperPid !== undefined)
    assert.equal(await waitUntilGone(call.pid), true, 'kubectl is gone')
    assert.equal(await waitUntilGone(call.sleeperPid), true, 'its child is gone too')
  })

  test('a call that finishes in time is unaffected by its timeout', async () => {
    fake.script([{ stdout: 'quick' }])
    const result = await kubectl().run(['get', 'ns'], { timeoutMs: 30_000 })
    assert.equal(result.stdout, 'quick')
  })
})

describe('with the real kubectl', () => {
  let dir: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'real-kubectl-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  async function closedPort(): Promise<number> {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    assert.ok(address !== null && typeof address === 'object')
    await new Promise<void>(resolve => server.close(() => resolve()))
    return address.port
  }

  test('an API server that refuses connections is retried as transient, then reported', async () => {
    const port = await closedPort()
    const kubeconfig = join(dir, 'kubeconfig.yaml')
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:' +
          port +
          '", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: not-a-real-token}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
        ''
      ].join('\n')
    )
    const runner = new Kubectl({
      kubeconfig,
      env: { ...process.env, KUBECACHEDIR: join(dir, 'cache') },
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      redact: text => text.split('not-a-real-token').join('***')
    })
    const error = await rejection(runner.json(['get', 'pods', '-n', 'noesis2'], { timeoutMs: 60_000 }))
    assert.equal(error.transient, true)
    assert.equal(error.attempts, 2)
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port} was refused`))
  })
})
