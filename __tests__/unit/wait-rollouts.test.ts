// The rollout watch loop, with a scripted kubectl and an injected clock: deterministic, no real waiting.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Kubectl } from '../../src/kube/kubectl.js'
import { REPLICA_FAILURE_GRACE_MS, RESYNC_MS, waitForRollouts } from '../../src/deploy/wait-rollouts.js'
import { watchStarts } from '../../src/kube/workload-watch.js'

interface Clock {
  now: () => number
  sleep: (ms: number) => Promise<void>
}

function clock(): Clock {
  let t = Date.UTC(2026, 10, 27, 12, 0, 0)
  return { now: () => t, sleep: async ms => void (t += ms) }
}

// Answers `kubectl get deployments,replicasets,pods[,events] -o json` with the next snapshot (the last repeats);
// a look with events is the same moment as the look before it, so it answers the same snapshot.
function scriptedKubectl(snapshots: Array<() => unknown[]>): Kubectl & { calls: number } {
  const fake = {
    calls: 0,
    async json<T>(args: string[]): Promise<T> {
      assert.match(
        args[1],
        /^deployments\.apps,replicasets\.apps,pods(,events|,horizontalpodautoscalers\.autoscaling)?$/
      )
      const withEvents = args[1].endsWith(',events')
      const index = Math.min(withEvents ? Math.max(0, fake.calls - 1) : fake.calls, snapshots.length - 1)
      const items = snapshots[index]().filter(
        item => withEvents || (item as { kind?: string }).kind !== 'Event'
      )
      if (!withEvents) fake.calls++
      return { items } as T
    }
  }
  return fake as unknown as Kubectl & { calls: number }
}

function deployment(name: string, status: Record<string, unknown>, generation = 2): Record<string, unknown> {
  return {
    kind: 'Deployment',
    metadata: {
      name,
      generation,
      uid: `uid-${name}`,
      annotations: { 'deployment.kubernetes.io/revision': '2' }
    },
    spec: { replicas: 1 },
    status: { observedGeneration: generation, ...status }
  }
}

const progressing = { replicas: 2, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 }
const complete = {
  replicas: 1,
  updatedReplicas: 1,
  readyReplicas: 1,
  availableReplicas: 1,
  conditions: [{ type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' }]
}
const replicaFailure = {
  ...progressing,
  conditions: [
    {
      type: 'ReplicaFailure',
      status: 'True',
      reason: 'FailedCreate',
      message: 'pods "celery-worker-x" is forbidden: exceeded quota: compute'
    }
  ]
}

describe('waitForRollouts', () => {
  test('watches two Deployments at once and ends when both are complete', async () => {
    const c = clock()
    const kubectl = scriptedKubectl([
      () => [deployment('w', progressing), deployment('b', progressing)],
      () => [deployment('w', complete), deployment('b', progressing)],
      () => [deployment('w', complete), deployment('b', complete)]
    ])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w', 'b'],
      timeoutMs: 60_000,
      pendingGraceSeconds: 60,
      pollMs: 1000,
      ...c
    })
    assert.deepEqual(
      results.map(r => [r.deployment, r.outcome, r.durationMs]),
      [
        ['w', 'complete', 1000],
        ['b', 'complete', 2000]
      ]
    )
    assert.equal(kubectl.calls, 3)
  })

  // KEDA (or a person) scales the worker to zero mid-rollout: for Kubernetes a Deployment at zero replicas has
  // rolled out, but no pod of its new template ever ran.
  const atZero = (name: string) => ({
    ...deployment(name, { conditions: complete.conditions }),
    spec: { replicas: 0 }
  })
  test('a rollout scaled from 1 to 0 before any new pod was ready is not verified, never complete', async () => {
    const c = clock()
    const kubectl = scriptedKubectl([() => [deployment('w', progressing)], () => [atZero('w')]])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 60_000,
      pendingGraceSeconds: 60,
      pollMs: 1000,
      ...c
    })
    assert.equal(results[0].outcome, 'not-verified')
    assert.equal(results[0].reason, 'ScaledToZero')
    assert.match(
      results[0].message,
      /scaled to 0 replicas during its rollout, before any pod of its new template was ready/
    )
  })

  test('at zero from its start, a rollout completes at zero (nothing was to be started)', async () => {
    const c = clock()
    const kubectl = scriptedKubectl([() => [atZero('w')]])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 60_000,
      pendingGraceSeconds: 60,
      pollMs: 1000,
      ...c
    })
    assert.equal(results[0].outcome, 'complete')
  })

  test('the caller\u2019s count at the start wins over the first look (a worker it started from zero)', async () => {
    const c = clock()
    const kubectl = scriptedKubectl([() => [atZero('w')]])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 60_000,
      pendingGraceSeconds: 60,
      pollMs: 1000,
      replicasAtStart: { w: 1 },
      ...c
    })
    assert.equal(results[0].outcome, 'not-verified')
  })

  test('a rollout that does not finish in time is a timeout, reported with its last state', async () => {
    const c = clock()
    const kubectl = scriptedKubectl([() => [deployment('w', progressing)]])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 5000,
      pendingGraceSeconds: 60,
      pollMs: 1000,
      ...c
    })
    assert.equal(results[0].outcome, 'timeout')
    assert.match(
      results[0].message,
      /^not rolled out within 5s: Waiting for deployment "w" rollout to finish/
    )
  })

  test('a ReplicaFailure that lasts past its grace fails the rollout with the reason', async () => {
    const c = clock()
    const kubectl = scriptedKubectl([() => [deployment('w', replicaFailure)]])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 600_000,
      pendingGraceSeconds: 60,
      pollMs: 5000,
      ...c
    })
    assert.equal(results[0].outcome, 'failed')
    assert.equal(results[0].reason, 'FailedCreate')
    assert.match(results[0].message, /exceeded quota/)
    assert.ok(results[0].durationMs >= REPLICA_FAILURE_GRACE_MS && results[0].durationMs < 600_000)
  })

  test('a ReplicaFailure that clears up within its grace does not fail the rollout', async () => {
    const c = clock()
    const kubectl = scriptedKubectl([
      () => [deployment('w', replicaFailure)],
      () => [deployment('w', replicaFailure)],
      () => [deployment('w', complete)]
    ])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 600_000,
      pendingGraceSeconds: 60,
      pollMs: 5000,
      ...c
    })
    assert.equal(results[0].outcome, 'complete')
  })

  test('ProgressDeadlineExceeded ends the watch before its timeout', async () => {
    const c = clock()
    const stalled = {
      ...progressing,
      conditions: [
        {
          type: 'Progressing',
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "w-1" has timed out progressing.'
        }
      ]
    }
    const kubectl = scriptedKubectl([() => [deployment('w', stalled)]])
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 600_000,
      pendingGraceSeconds: 60,
      pollMs: 1000,
      ...c
    })
    assert.equal(results[0].outcome, 'failed')
    assert.equal(results[0].reason, 'ProgressDeadlineExceeded')
    assert.equal(results[0].durationMs, 0)
  })
})

// A kubectl that streams: `get ... -o json` answers the first list, and each `get --raw <collection>?watch=true`
// is a stream this test feeds. The clock's sleep delivers the next tick's watch events, so the order of
// lists, changes and looks is fixed.
type Stream = 'deployments' | 'replicasets' | 'pods'
interface Tick {
  events?: Array<{ stream: Stream; type: string; object: unknown }>
  // Ends this stream (its kubectl exits), as a watch timeout or a 410 Gone does.
  end?: Stream
}
function streamingKubectl(
  list: () => unknown[],
  ticks: Tick[]
): Kubectl & {
  lists: string[]
  watches: string[]
  stopped: number
  advance: Clock['sleep']
  time: Clock['now']
} {
  const c = clock()
  const streams = new Map<Stream, { onObject: (o: unknown) => void; end: () => void }>()
  const fake = {
    lists: [] as string[],
    watches: [] as string[],
    stopped: 0,
    time: c.now,
    async advance(ms: number) {
      await c.sleep(ms)
      const tick = ticks.shift()
      for (const e of tick?.events ?? []) streams.get(e.stream)?.onObject({ type: e.type, object: e.object })
      if (tick?.end) streams.get(tick.end)?.end()
    },
    async json<T>(args: string[]): Promise<T> {
      fake.lists.push(args[1])
      return { items: list() } as T
    },
    watch(args: string[], onObject: (o: unknown) => void) {
      fake.watches.push(args.join(' '))
      const stream = (args[2].match(/\/(deployments|replicasets|pods)\?/)?.[1] ?? 'pods') as Stream
      let finish = (): void => {}
      const ended = new Promise<void>(resolve => (finish = resolve))
      streams.set(stream, { onObject, end: finish })
      return {
        stop: () => {
          fake.stopped++
          finish()
        },
        ended
      }
    }
  }
  return fake as unknown as ReturnType<typeof streamingKubectl>
}

function withVersion<T extends Record<string, unknown>>(object: T, resourceVersion: string): T {
  return { ...object, metadata: { ...(object.metadata as object), resourceVersion } }
}
function replicaSet(name: string, deploymentName: string, rv: string): Record<string, unknown> {
  return {
    kind: 'ReplicaSet',
    metadata: {
      name,
      uid: `uid-${name}`,
      resourceVersion: rv,
      annotations: { 'deployment.kubernetes.io/revision': '2' },
      ownerReferences: [{ uid: `uid-${deploymentName}`, controller: true }]
    }
  }
}
function pod(name: string, replicaSetName: string, rv: string, ready: boolean): Record<string, unknown> {
  return {
    kind: 'Pod',
    metadata: {
      name,
      resourceVersion: rv,
      ownerReferences: [{ uid: `uid-${replicaSetName}`, controller: true }]
    },
    status: {
      phase: ready ? 'Running' : 'Pending',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }]
    }
  }
}

// One Deployment `w`, followed with the streaming kubectl's own clock.
function watched(
  kubectl: ReturnType<typeof streamingKubectl>,
  options: Partial<Parameters<typeof waitForRollouts>[1]> = {}
) {
  return waitForRollouts(kubectl, {
    namespace: 'n',
    deployments: ['w'],
    timeoutMs: 60_000,
    pendingGraceSeconds: 60,
    now: kubectl.time,
    sleep: kubectl.advance,
    ...options
  })
}

describe('waitForRollouts with the watches', () => {
  const listed = () => [
    withVersion(deployment('w', progressing), '10'),
    replicaSet('w-2', 'w', '11'),
    pod('w-2-a', 'w-2', '12', false)
  ]

  test('one list, then one watch per kind from the newest resourceVersion of its kind and the Deployments; no list per look', async () => {
    const kubectl = streamingKubectl(listed, [
      {},
      { events: [{ stream: 'pods', type: 'MODIFIED', object: pod('w-2-a', 'w-2', '13', true) }] },
      {
        events: [
          { stream: 'deployments', type: 'MODIFIED', object: withVersion(deployment('w', complete), '14') }
        ]
      }
    ])
    const { results, snapshot } = await watched(kubectl)
    assert.deepEqual(kubectl.lists, [
      'deployments.apps,replicasets.apps,pods,horizontalpodautoscalers.autoscaling'
    ])
    assert.deepEqual(kubectl.watches, [
      'get --raw /apis/apps/v1/namespaces/n/deployments?watch=true&resourceVersion=10',
      'get --raw /apis/apps/v1/namespaces/n/replicasets?watch=true&resourceVersion=11',
      'get --raw /api/v1/namespaces/n/pods?watch=true&resourceVersion=12'
    ])
    assert.equal(results[0].outcome, 'complete')
    // The pods come from the pod watch: the ready one, for the smoke checks.
    assert.deepEqual(
      results[0].pods.map(p => [p.metadata.name, p.metadata.resourceVersion]),
      [['w-2-a', '13']]
    )
    assert.equal(snapshot.pods.length, 1)
    assert.equal(kubectl.stopped, 3)
  })

  test('a Deployment reported complete before its pod is ready in the pod watch is confirmed by one list', async () => {
    let ready = false
    const kubectl = streamingKubectl(
      () => [
        withVersion(deployment('w', ready ? complete : progressing), '10'),
        replicaSet('w-2', 'w', '11'),
        pod('w-2-a', 'w-2', '12', ready)
      ],
      [
        {
          events: [
            { stream: 'deployments', type: 'MODIFIED', object: withVersion(deployment('w', complete), '14') }
          ]
        }
      ]
    )
    const advance = kubectl.advance
    const { results } = await waitForRollouts(kubectl, {
      namespace: 'n',
      deployments: ['w'],
      timeoutMs: 60_000,
      pendingGraceSeconds: 60,
      now: kubectl.time,
      sleep: async ms => {
        await advance(ms)
        ready = true
      }
    })
    assert.equal(results[0].outcome, 'complete')
    assert.deepEqual(
      results[0].pods.map(p => p.metadata.name),
      ['w-2-a']
    )
    assert.equal(kubectl.lists.length, 2)
  })

  test('a deleted pod leaves the view; an older replayed change does not take an object back in time', async () => {
    const kubectl = streamingKubectl(
      () => [...listed(), pod('w-2-b', 'w-2', '9', true)],
      [
        {
          events: [
            { stream: 'pods', type: 'DELETED', object: pod('w-2-b', 'w-2', '13', true) },
            { stream: 'pods', type: 'MODIFIED', object: pod('w-2-a', 'w-2', '11', true) }
          ]
        },
        { events: [{ stream: 'pods', type: 'MODIFIED', object: pod('w-2-a', 'w-2', '15', true) }] },
        {
          events: [
            { stream: 'deployments', type: 'MODIFIED', object: withVersion(deployment('w', complete), '16') }
          ]
        }
      ]
    )
    const { results } = await watched(kubectl)
    assert.deepEqual(
      results[0].pods.map(p => [p.metadata.name, p.metadata.resourceVersion]),
      [['w-2-a', '15']]
    )
    assert.equal(kubectl.lists.length, 1)
  })

  test('when a watch ends, every look is a list again (a restarted watch could miss a deletion)', async () => {
    let calls = 0
    const kubectl = streamingKubectl(() => {
      calls++
      return [
        withVersion(deployment('w', calls >= 3 ? complete : progressing), '10'),
        replicaSet('w-2', 'w', '11'),
        pod('w-2-a', 'w-2', '12', calls >= 3)
      ]
    }, [{ end: 'pods' }])
    const { results } = await watched(kubectl)
    assert.equal(results[0].outcome, 'complete')
    assert.equal(kubectl.lists.length, 3)
    assert.equal(kubectl.stopped, 3)
  })

  test('a watch that stays open but goes quiet does not freeze the view: a list every 30 s', async () => {
    let calls = 0
    const kubectl = streamingKubectl(() => {
      calls++
      return [
        withVersion(deployment('w', calls >= 2 ? complete : progressing), '10'),
        replicaSet('w-2', 'w', '11'),
        pod('w-2-a', 'w-2', '12', calls >= 2)
      ]
    }, [])
    const { results } = await watched(kubectl, { timeoutMs: 300_000 })
    assert.equal(results[0].outcome, 'complete')
    assert.equal(kubectl.lists.length, 2)
    assert.ok(
      results[0].durationMs >= RESYNC_MS && results[0].durationMs < RESYNC_MS + 2000,
      String(results[0].durationMs)
    )
  })

  test('the pod watch refused (an older RBAC role): the Deployments watch goes on and lists come every 2 s', async () => {
    let calls = 0
    const lookedAt: number[] = []
    const kubectl = streamingKubectl(() => {
      calls++
      lookedAt.push(kubectl.time())
      return [
        withVersion(deployment('w', calls >= 4 ? complete : progressing), '10'),
        replicaSet('w-2', 'w', '11'),
        pod('w-2-a', 'w-2', '12', calls >= 4)
      ]
    }, [{ end: 'pods' }])
    const progress: string[] = []
    const { results } = await watched(kubectl, { onProgress: line => progress.push(line) })
    assert.equal(results[0].outcome, 'complete')
    assert.deepEqual(
      lookedAt.slice(1).map((t, i) => t - lookedAt[i]),
      [1000, 2000, 2000]
    )
    assert.ok(progress.some(line => /API watch of the rollout ended/.test(line)))
  })

  test('no watch when a resourceVersion is not a number: a list per look, as without a streaming kubectl', async () => {
    let calls = 0
    const kubectl = streamingKubectl(() => {
      calls++
      return [withVersion(deployment('w', calls >= 2 ? complete : progressing), 'abc')]
    }, [])
    const { results } = await watched(kubectl)
    assert.equal(results[0].outcome, 'complete')
    assert.deepEqual(kubectl.watches, [])
    assert.equal(kubectl.lists.length, 2)
  })
})

describe('where the watches start', () => {
  const meta = (resourceVersion: string) => ({ metadata: { name: 'x', resourceVersion } })
  test('each kind from its own newest and never before the Deployments: a Deployment changed while the pods were listed is replayed', () => {
    assert.deepEqual(
      watchStarts({
        deployments: [meta('5'), meta('7')],
        replicaSets: [meta('3')],
        pods: [meta('9')],
        events: []
      } as never),
      { deployments: 7, replicaSets: 7, pods: 9 }
    )
  })
  test('an empty kind starts at the Deployments; without Deployments or with a non-numeric version, no watch', () => {
    assert.deepEqual(
      watchStarts({ deployments: [meta('5')], replicaSets: [], pods: [], events: [] } as never),
      { deployments: 5, replicaSets: 5, pods: 5 }
    )
    assert.equal(
      watchStarts({ deployments: [], replicaSets: [], pods: [meta('4')], events: [] } as never),
      undefined
    )
    assert.equal(
      watchStarts({ deployments: [meta('5')], replicaSets: [], pods: [meta('a1')], events: [] } as never),
      undefined
    )
  })
})
