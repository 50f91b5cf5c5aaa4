// The rig's pods, as `kubectl exec` and `kubectl logs` see them (../rig/control-plane/pod-runtime.ts): the exec'd
// command gets the container's environment as a kubelet builds it (from the pod as the API server stores it, its
// Secret and ConfigMap, the downward API, `$(VAR)` references), read at the container's first exec and kept; it
// runs in namespaces of its own beside a process with the container's command line; kubectl exits with its
// exit code; logs honour the kubelet's options. What the end-to-end tests rely on, shown directly.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startControlPlane, type ControlPlane } from '../rig/control-plane/index.js'

let cp: ControlPlane
const NS = 'runtime'
before(async () => {
  cp = await startControlPlane()
  const apply = async (object: object): Promise<void> => {
    const result = await cp.kubectl(['apply', '-f', '-'], JSON.stringify(object))
    assert.equal(result.code, 0, result.stderr)
  }
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'app-secrets', namespace: NS },
    stringData: { REDIS_URL: 'redis://:p%40ss@127.0.0.1:1/0', TOKEN: 'one' }
  })
  await apply({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'flags', namespace: NS },
    data: { FLAG_A: 'on', FLAG_B: 'off' }
  })
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'worker', namespace: NS, labels: { app: 'w' } },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'europe-west3-docker.pkg.dev/p/app/web:v1',
          command: ['celery'],
          args: ['-A', 'noesis2', 'worker', '-Q', '$(QUEUES)'],
          envFrom: [{ configMapRef: { name: 'flags' }, prefix: 'CM_' }],
          env: [
            { name: 'QUEUES', value: 'celery,rag_delete' },
            { name: 'DERIVED', value: 'queues=$(QUEUES) literal=$$(QUEUES) unknown=$(NOPE)' },
            { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'REDIS_URL' } } },
            { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'TOKEN' } } },
            {
              name: 'MISSING',
              valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'NONE', optional: true } }
            },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'APP_LABEL', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } }
          ]
        }
      ]
    }
  })
  const ready = await cp.kubectl(['wait', '--for=condition=Ready', 'pod/worker', '-n', NS, '--timeout=60s'])
  assert.equal(ready.code, 0, ready.stderr)
})
after(async () => cp?.stop())

const exec = (...command: string[]) => cp.kubectl(['exec', '-n', NS, 'worker', '-c', 'app', '--', ...command])

describe('the rig\u2019s pods', () => {
  test('an exec\u2019d command sees the container\u2019s environment as a kubelet builds it, kept from its first exec', async () => {
    const env = await exec('sh', '-c', 'env -0')
    assert.equal(env.code, 0, env.stderr)
    const vars = Object.fromEntries(
      env.stdout
        .split('\0')
        .filter(Boolean)
        .map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])
    )
    assert.equal(vars.DERIVED, 'queues=celery,rag_delete literal=$(QUEUES) unknown=$(NOPE)')
    assert.equal(vars.REDIS_URL, 'redis://:p%40ss@127.0.0.1:1/0')
    assert.equal(vars.CM_FLAG_A, 'on')
    assert.equal(vars.POD_NAME, 'worker')
    assert.equal(vars.APP_LABEL, 'w')
    assert.equal(vars.HOSTNAME, 'worker')
    assert.equal(vars.MISSING, undefined, 'a missing optional key leaves the variable out')
    // A Secret changed after the container started is not seen: the container keeps what it started with.
    const patched = await cp.kubectl([
      'patch',
      'secret',
      'app-secrets',
      '-n',
      NS,
      '--type=merge',
      '-p',
      '{"stringData":{"TOKEN":"two"}}'
    ])
    assert.equal(patched.code, 0, patched.stderr)
    assert.equal((await exec('sh', '-c', 'printf %s "$TOKEN"')).stdout, 'one')
  })

  test('it runs beside a process with the container\u2019s command line, in namespaces of its own, under the pod\u2019s name', async () => {
    const seen = await exec(
      'sh',
      '-c',
      'hostname; for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline; echo; done'
    )
    assert.equal(seen.code, 0, seen.stderr)
    const [hostname, ...commands] = seen.stdout.trim().split('\n')
    assert.ok(
      commands.some(c => c.trim() === 'celery -A noesis2 worker -Q celery,rag_delete'),
      commands.join('\n')
    )
    // Without namespaces (no root, no user namespaces) the command sees the machine as it is.
    if (cp.pods.isolated) {
      assert.equal(hostname, 'worker')
      // Only the exec's own processes and the main process's stand-in: not the machine's.
      assert.ok(commands.length < 10, commands.join('\n'))
      assert.ok(!commands.some(c => /kube-apiserver|etcd/.test(c)), commands.join('\n'))
    }
  })

  test('kubectl exits with the command\u2019s exit code, its output passed through', async () => {
    const failed = await exec('sh', '-c', 'echo out; echo err >&2; exit 7')
    assert.equal(failed.code, 7)
    assert.equal(failed.stdout, 'out\n')
    assert.match(failed.stderr, /^err\ncommand terminated with exit code 7\n$/)
    const missing = await exec('no-such-command')
    assert.notEqual(missing.code, 0)
  })

  test('logs: the kubelet\u2019s options, and what a test sets for the pod', async () => {
    cp.pods.set({ namespace: NS }, { logs: { app: { current: 'one\ntwo\nthree\n', previous: 'crashed\n' } } })
    const tail = await cp.kubectl(['logs', '-n', NS, 'worker', '-c', 'app', '--tail=2'])
    assert.equal(tail.stdout, 'two\nthree\n')
    const previous = await cp.kubectl(['logs', '-n', NS, 'worker', '-c', 'app', '--previous'])
    assert.equal(previous.stdout, 'crashed\n')
    const limited = await cp.kubectl(['logs', '-n', NS, 'worker', '-c', 'app', '--limit-bytes=5'])
    assert.equal(limited.stdout, 'one\nt')
    const stamped = await cp.kubectl(['logs', '-n', NS, 'worker', '-c', 'app', '--timestamps', '--tail=1'])
    assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT[\d:.]+Z three\n$/)
  })
})
