import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Harness } from './harness.js'
import { manifest, startHarness, waitFor } from './harness.js'

const NS = ['-n', 'noesis2']

interface Pod {
  metadata: { name: string }
  status: {
    phase: string
    containerStatuses?: Array<{
      name: string
      ready: boolean
      restartCount: number
      state: Record<string, { reason?: string; message?: string }>
      lastState: Record<string, { exitCode?: number }>
    }>
    initContainerStatuses?: Array<{ name: string; started: boolean; ready: boolean }>
  }
}

function deployment(
  name: string,
  image: string,
  extra: Record<string, unknown> = {}
): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'noesis2' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'app', image, ...extra }] }
      }
    }
  }
}

describe('pods: scenarios, logs, events and exec', () => {
  let h: Harness
  const pods = async (app: string): Promise<Pod[]> => {
    const r = await h.kubectl('get', 'pods', ...NS, '-l', `app=${app}`, '-o', 'json')
    assert.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout).items as Pod[]
  }
  const create = async (name: string, image: string, extra: Record<string, unknown> = {}): Promise<void> => {
    const r = await h.raw(
      'POST',
      '/apis/apps/v1/namespaces/noesis2/deployments',
      deployment(name, image, extra)
    )
    assert.equal(r.status, 201, r.text)
  }
  const statusOf = async (app: string): Promise<Pod['status'] | undefined> => (await pods(app))[0]?.status

  before(async () => {
    h = await startHarness()
    const r = await h.kubectl(
      'apply',
      '--server-side',
      '--field-manager=t',
      '-f',
      manifest('00-namespace.yaml')
    )
    assert.equal(r.code, 0, r.stderr)
    h.emu.control.setImageScenario('example.com/missing:v1', { kind: 'imagePullBackOff' })
    h.emu.control.setImageScenario('example.com/crash:v1', {
      kind: 'crashLoop',
      container: 'app',
      exitCode: 3,
      log: 'boom: database unreachable\n'
    })
    h.emu.control.setImageScenario('example.com/pending:v1', { kind: 'pending', forMs: 300 })
  })
  after(() => h.stop())

  test('native sidecar init container starts before the app and both become ready', async () => {
    let r = await h.kubectl('apply', '--server-side', '--field-manager=t', '-f', manifest('10-rest-v1.yaml'))
    assert.equal(r.code, 0, r.stderr)
    r = await h.kubectl('rollout', 'status', ...NS, 'deploy/celery-worker', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
    const [pod] = await pods('celery-worker')
    assert.equal(pod.status.phase, 'Running')
    assert.deepEqual(
      pod.status.initContainerStatuses?.map(c => [c.name, c.started, c.ready]),
      [['cloud-sql-proxy', true, true]]
    )
    assert.equal(pod.status.containerStatuses?.[0].ready, true)
    r = await h.kubectl('logs', ...NS, pod.metadata.name, '-c', 'cloud-sql-proxy')
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /ready for new connections/)
  })

  test('exec: programmed stdout, programmed exit code 7, unprogrammed command fails loudly', async () => {
    h.emu.control.programExec({ match: ['pgrep', '-f', 'celery.*worker'], stdout: '1\n' })
    h.emu.control.programExec({
      match: argv => argv[0] === 'sh' && argv.includes('exit 7'),
      stderr: 'nope\n',
      exitCode: 7
    })
    let r = await h.kubectl(
      'exec',
      ...NS,
      'deploy/celery-worker',
      '-c',
      'app',
      '--',
      'pgrep',
      '-f',
      'celery.*worker'
    )
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, '1\n')
    r = await h.kubectl('exec', ...NS, 'deploy/celery-worker', '-c', 'app', '--', 'sh', '-c', 'exit 7')
    assert.equal(r.code, 7)
    assert.match(r.stderr, /nope/)
    r = await h.kubectl('exec', ...NS, 'deploy/celery-worker', '-c', 'app', '--', 'rm', '-rf', '/')
    assert.equal(r.code, 127)
    assert.match(r.stderr, /emulator: no exec rule for \["rm","-rf","\/"\]/)
    r = await h.kubectl('exec', ...NS, 'no-such-pod', '--', 'true')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /pods "no-such-pod" not found/)
  })

  test('imagePullBackOff shows ErrImagePull then ImagePullBackOff and Failed/BackOff events', async () => {
    await create('pull-fail', 'example.com/missing:v1')
    const st = await waitFor('ImagePullBackOff', async () => {
      const s = await statusOf('pull-fail')
      return s?.containerStatuses?.[0].state.waiting?.reason === 'ImagePullBackOff' && s
    })
    assert.equal(st.phase, 'Pending')
    assert.match(
      String(st.containerStatuses?.[0].state.waiting?.message),
      /Back-off pulling image "example.com\/missing:v1"/
    )
    const [pod] = await pods('pull-fail')
    const ev = JSON.parse(
      (
        await h.kubectl(
          'get',
          'events',
          ...NS,
          '--field-selector',
          `involvedObject.name=${pod.metadata.name}`,
          '-o',
          'json'
        )
      ).stdout
    ).items as Array<{ reason: string; message: string; type: string }>
    assert.ok(
      ev.some(
        e =>
          e.reason === 'Failed' &&
          e.type === 'Warning' &&
          e.message.startsWith('Failed to pull image "example.com/missing:v1"')
      )
    )
    assert.ok(
      ev.some(e => e.reason === 'BackOff' && e.message === 'Back-off pulling image "example.com/missing:v1"')
    )
  })

  test('crashLoop: restartCount grows, lastState.terminated has the exit code, logs --previous works', async () => {
    await create('crasher', 'example.com/crash:v1')
    const st = await waitFor('two restarts', async () => {
      const s = await statusOf('crasher')
      return (s?.containerStatuses?.[0].restartCount ?? 0) >= 2 && s
    })
    assert.equal(st.containerStatuses?.[0].lastState.terminated?.exitCode, 3)
    const [pod] = await pods('crasher')
    const r = await h.kubectl('logs', ...NS, pod.metadata.name, '-c', 'app', '--previous')
    assert.equal(r.code, 0, r.stderr)
    assert.equal(r.stdout, 'boom: database unreachable\n')
    const healthy = (await pods('celery-worker'))[0]
    const none = await h.kubectl('logs', ...NS, healthy.metadata.name, '-c', 'app', '--previous')
    assert.equal(none.code, 1)
    assert.match(none.stderr, /previous terminated container "app" in pod ".*" not found/)
  })

  test('oomKilled records OOMKilled/137; exec into a container that never started fails', async () => {
    h.emu.control.setImageScenario('example.com/oom:v1', { kind: 'oomKilled', container: 'app' })
    await create('oom', 'example.com/oom:v1')
    const st = await waitFor('OOMKilled', async () => {
      const s = await statusOf('oom')
      const t = s?.containerStatuses?.[0].lastState.terminated as
        { exitCode?: number; reason?: string } | undefined
      return (
        t?.reason === 'OOMKilled' &&
        s?.containerStatuses?.[0].state.waiting?.reason === 'CrashLoopBackOff' &&
        t
      )
    })
    assert.equal(st.exitCode, 137)
    // a container that never started (image pull failing) cannot be exec'd into
    await create('no-image', 'example.com/missing:v1')
    await waitFor(
      'ErrImagePull',
      async () => (await statusOf('no-image'))?.containerStatuses?.[0].state.waiting?.reason
    )
    const [pod] = await pods('no-image')
    const r = await h.kubectl('exec', ...NS, pod.metadata.name, '-c', 'app', '--', 'true')
    assert.equal(r.code, 1)
    assert.match(r.stderr, /container not found \("app"\)/)
  })

  test('a missing secret key gives CreateContainerConfigError; adding the key lets the pod start', async () => {
    await create('needs-secret', 'example.com/app:v1', {
      env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'app-secrets', key: 'NOPE' } } }]
    })
    const st = await waitFor('CreateContainerConfigError', async () => {
      const s = await statusOf('needs-secret')
      return s?.containerStatuses?.[0].state.waiting?.reason === 'CreateContainerConfigError' && s
    })
    assert.equal(
      st.containerStatuses?.[0].state.waiting?.message,
      "couldn't find key NOPE in Secret noesis2/app-secrets"
    )
    const r = await h.raw(
      'PATCH',
      '/api/v1/namespaces/noesis2/secrets/app-secrets',
      { data: { NOPE: Buffer.from('v').toString('base64') } },
      { 'Content-Type': 'application/merge-patch+json' }
    )
    assert.equal(r.status, 200, r.text)
    const rs = await h.kubectl('rollout', 'status', ...NS, 'deploy/needs-secret', '--timeout=20s')
    assert.equal(rs.code, 0, rs.stderr)
  })

  test('pending pods report Unschedulable, FailedScheduling and TriggeredScaleUp, then run', async () => {
    await create('autopilot', 'example.com/pending:v1')
    await waitFor('FailedScheduling event', async () => {
      const ev = JSON.parse((await h.kubectl('get', 'events', ...NS, '-o', 'json')).stdout).items as Array<{
        reason: string
        message: string
      }>
      return (
        ev.some(e => e.reason === 'FailedScheduling' && e.message.startsWith('0/3 nodes are available')) &&
        ev.some(e => e.reason === 'TriggeredScaleUp')
      )
    })
    const r = await h.kubectl('rollout', 'status', ...NS, 'deploy/autopilot', '--timeout=20s')
    assert.equal(r.code, 0, r.stderr)
  })
})
