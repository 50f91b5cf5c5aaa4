// The rollout watch loop, with a scripted kubectl and an injected clock: deterministic, no real waiting.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { Kubectl } from '../../src/kube/kubectl.js'
import { REPLICA_FAILURE_GRACE_MS, waitForRollouts } from '../../src/deploy/wait-rollouts.js'

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
      assert.match(args[1], /^deployments\.apps,replicasets\.apps,pods(,events)?$/)
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
