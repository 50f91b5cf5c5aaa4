import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { assessDeployment, findNewReplicaSet, podsOfReplicaSet } from '../../src/deploy/rollout-state.js'
import type { RolloutState } from '../../src/deploy/rollout-state.js'
import type { Deployment, ReplicaSet } from '../../src/k8s/types.js'
import { workerPod } from './fixtures/pods.js'

interface GoldenRollout {
  step: string
  exitCode: number
  stdoutLines: string[]
  stderr: string
  deployments: Deployment[]
}
const golden = JSON.parse(
  readFileSync(new URL('./fixtures/golden-rollouts.json', import.meta.url), 'utf8')
) as {
  rollouts: Record<string, GoldenRollout>
  replicaSets: Record<string, { items: ReplicaSet[] }>
  workerAfterImageV2: Deployment
  workerAfterUndo: Deployment
  workerJustApplied: Deployment
}

describe('assessDeployment agrees with kubectl rollout status on the golden record', () => {
  // kubectl evaluates the LISTed object, then every watch event; it prints one line per evaluation and
  // stops at the first final one. The fixture keeps them in that order.
  for (const [key, rollout] of Object.entries(golden.rollouts)) {
    test(`${key}: ${rollout.step}`, () => {
      const states = rollout.deployments.map(assessDeployment)
      const finalAt = states.findIndex(s => s.phase !== 'progressing')
      assert.equal(finalAt, states.length - 1, 'only the last event is final')
      assert.deepEqual(
        states.filter(s => s.phase === 'progressing').map(s => s.message),
        rollout.stdoutLines.filter(l => l.startsWith('Waiting'))
      )
      const last = states[states.length - 1]
      if (rollout.exitCode === 0) {
        assert.equal(last.phase, 'complete')
        assert.equal(last.message, rollout.stdoutLines[rollout.stdoutLines.length - 1])
      } else {
        assert.equal(last.phase, 'failed')
        assert.equal(last.reason, 'ProgressDeadlineExceeded')
        assert.ok(rollout.stderr.startsWith('error: '))
        assert.ok(last.message.startsWith(rollout.stderr.slice('error: '.length)), last.message)
      }
    })
  }

  test('3b counts follow the status table (v1 to v2, 2 replicas, 25%/25%)', () => {
    const states = golden.rollouts['3b'].deployments.map(assessDeployment)
    assert.deepEqual(
      states.map(s => [s.updated, s.ready, s.available, s.desired, s.revision, s.phase]),
      [
        [1, 2, 2, 2, '2', 'progressing'], // the LIST
        [1, 3, 3, 2, '2', 'progressing'],
        [1, 2, 2, 2, '2', 'progressing'],
        [2, 2, 2, 2, '2', 'progressing'], // 1 old replica pending termination
        [2, 3, 3, 2, '2', 'progressing'],
        [2, 2, 2, 2, '2', 'complete'] // terminatingReplicas 2 does not block
      ]
    )
  })

  test('7b fails with the controller message, as a ProgressDeadlineExceeded', () => {
    const states = golden.rollouts['7b'].deployments.map(assessDeployment)
    assert.deepEqual(states[1], {
      phase: 'failed',
      reason: 'ProgressDeadlineExceeded',
      message:
        'deployment "never-ready-app" exceeded its progress deadline (ReplicaSet "never-ready-app-7564c5559" has timed out progressing.)',
      updated: 1,
      ready: 0,
      available: 0,
      desired: 1,
      revision: '1'
    } satisfies RolloutState)
  })

  test('8e Recreate restart: status without counts right after the restart', () => {
    const [first] = golden.rollouts['8e'].deployments
    assert.equal(first.status?.replicas, undefined)
    assert.deepEqual(assessDeployment(first), {
      phase: 'progressing',
      message:
        'Waiting for deployment "celery-beat" rollout to finish: 0 out of 1 new replicas have been updated...',
      updated: 0,
      ready: 0,
      available: 0,
      desired: 1,
      revision: '1'
    } satisfies RolloutState)
  })
})

function deployment(over: {
  generation?: number
  replicas?: number
  status?: Deployment['status']
}): Deployment {
  return {
    metadata: {
      name: 'celery-worker',
      namespace: 'noesis2',
      uid: '82cbd193-675d-40a8-80f8-2b0eabb58db3',
      generation: over.generation ?? 2,
      annotations: { 'deployment.kubernetes.io/revision': '2' }
    },
    spec: { ...(over.replicas !== undefined ? { replicas: over.replicas } : {}) },
    ...(over.status ? { status: over.status } : {})
  }
}

const deadlineExceeded = {
  type: 'Progressing',
  status: 'False' as const,
  reason: 'ProgressDeadlineExceeded',
  message: 'ReplicaSet "celery-worker-745c994d88" has timed out progressing.'
}

describe('assessDeployment edge cases', () => {
  const cases: Array<{
    name: string
    deploy: Deployment
    phase: string
    message: string
    extra?: Partial<RolloutState>
  }> = [
    {
      name: 'just created: status {} and generation 1',
      deploy: deployment({ generation: 1, replicas: 2, status: {} }),
      phase: 'progressing',
      message: 'Waiting for deployment "celery-worker" spec update to be observed...'
    },
    {
      name: 'no status at all',
      deploy: deployment({ generation: 1, replicas: 2 }),
      phase: 'progressing',
      message: 'Waiting for deployment "celery-worker" spec update to be observed...'
    },
    {
      name: 'stale deadline condition from the previous generation does not fail the new rollout',
      deploy: deployment({
        generation: 3,
        replicas: 2,
        status: { observedGeneration: 2, replicas: 2, updatedReplicas: 1, conditions: [deadlineExceeded] }
      }),
      phase: 'progressing',
      message: 'Waiting for deployment "celery-worker" spec update to be observed...'
    },
    {
      name: 'scaled to zero: complete with every count omitted',
      deploy: deployment({ replicas: 0, status: { observedGeneration: 2 } }),
      phase: 'complete',
      message: 'deployment "celery-worker" successfully rolled out',
      extra: { desired: 0, updated: 0, ready: 0, available: 0 }
    },
    {
      name: 'spec.replicas missing counts as 1 (the API default)',
      deploy: deployment({ status: { observedGeneration: 2 } }),
      phase: 'progressing',
      message:
        'Waiting for deployment "celery-worker" rollout to finish: 0 out of 1 new replicas have been updated...',
      extra: { desired: 1 }
    },
    {
      name: 'updated but not yet available',
      deploy: deployment({
        replicas: 2,
        status: {
          observedGeneration: 2,
          replicas: 2,
          updatedReplicas: 2,
          readyReplicas: 1,
          availableReplicas: 1
        }
      }),
      phase: 'progressing',
      message:
        'Waiting for deployment "celery-worker" rollout to finish: 1 of 2 updated replicas are available...'
    },
    {
      name: 'ReplicaFailure (Autopilot policy rejected the pods) is surfaced while progressing',
      deploy: deployment({
        replicas: 1,
        status: {
          observedGeneration: 2,
          unavailableReplicas: 1,
          conditions: [
            {
              type: 'ReplicaFailure',
              status: 'True',
              reason: 'FailedCreate',
              message:
                'pods "celery-worker-6599b86997-" is forbidden: exceeded quota: gke-resource-quotas, requested: pods=1, used: pods=1500, limited: pods=1500'
            }
          ]
        }
      }),
      phase: 'progressing',
      message:
        'Waiting for deployment "celery-worker" rollout to finish: 0 out of 1 new replicas have been updated...',
      extra: {
        replicaFailure: {
          reason: 'FailedCreate',
          message:
            'pods "celery-worker-6599b86997-" is forbidden: exceeded quota: gke-resource-quotas, requested: pods=1, used: pods=1500, limited: pods=1500'
        }
      }
    },
    {
      name: 'deadline exceeded for the observed generation fails even with partial counts',
      deploy: deployment({
        replicas: 2,
        status: {
          observedGeneration: 2,
          replicas: 3,
          updatedReplicas: 1,
          availableReplicas: 2,
          conditions: [deadlineExceeded]
        }
      }),
      phase: 'failed',
      message:
        'deployment "celery-worker" exceeded its progress deadline (ReplicaSet "celery-worker-745c994d88" has timed out progressing.)',
      extra: { reason: 'ProgressDeadlineExceeded' }
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const state = assessDeployment(c.deploy)
      assert.equal(state.phase, c.phase)
      assert.equal(state.message, c.message)
      for (const [key, value] of Object.entries(c.extra ?? {})) {
        assert.deepEqual(state[key as keyof RolloutState], value, key)
      }
    })
  }
})

describe('findNewReplicaSet', () => {
  const rsNames = (rs: ReplicaSet | undefined) => rs?.metadata.name
  const cases: Array<{
    name: string
    deploy: Deployment
    replicaSets: ReplicaSet[]
    expected: string | undefined
  }> = [
    {
      name: 'after the v2 rollout: revision 2 among revisions 1 and 2 and another Deployment',
      deploy: golden.workerAfterImageV2,
      replicaSets: golden.replicaSets.afterImageV2.items,
      expected: 'celery-worker-6599b86997'
    },
    {
      name: 'after undo: the old ReplicaSet reused as revision 3',
      deploy: golden.workerAfterUndo,
      replicaSets: golden.replicaSets.afterUndo.items,
      expected: 'celery-worker-745c994d88'
    },
    {
      name: 'right after the apply the controller has not caught up: the revision still names the old template',
      deploy: golden.workerJustApplied,
      replicaSets: golden.replicaSets.afterImageV2.items,
      expected: undefined
    },
    {
      name: 'no revision annotation yet (fresh create)',
      deploy: {
        ...golden.workerAfterImageV2,
        metadata: { ...golden.workerAfterImageV2.metadata, annotations: {} }
      },
      replicaSets: golden.replicaSets.afterImageV2.items,
      expected: undefined
    },
    {
      name: 'a ReplicaSet with the right revision but another owner is not ours',
      deploy: golden.workerAfterImageV2,
      replicaSets: golden.replicaSets.afterImageV2.items
        .filter(rs => rs.metadata.name.startsWith('celery-beat'))
        .map(rs => ({
          ...rs,
          metadata: { ...rs.metadata, annotations: { 'deployment.kubernetes.io/revision': '2' } }
        })),
      expected: undefined
    },
    {
      name: 'the new ReplicaSet not listed yet',
      deploy: golden.workerAfterImageV2,
      replicaSets: golden.replicaSets.afterImageV2.items.filter(
        rs => rs.metadata.name !== 'celery-worker-6599b86997'
      ),
      expected: undefined
    }
  ]
  for (const c of cases) {
    test(c.name, () => assert.equal(rsNames(findNewReplicaSet(c.deploy, c.replicaSets)), c.expected))
  }
})

describe('podsOfReplicaSet', () => {
  test('matches pods by controller owner uid, not by labels', () => {
    const rs = golden.replicaSets.afterUndo.items.find(r => r.metadata.name === 'celery-worker-6599b86997')!
    const ours = workerPod({ name: 'celery-worker-6599b86997-aaaaa', ownerUid: rs.metadata.uid })
    const otherRevision = workerPod({ name: 'celery-worker-745c994d88-bbbbb', ownerUid: 'some-other-rs-uid' })
    const orphan = workerPod({ name: 'celery-worker-6599b86997-ccccc' })
    orphan.metadata.ownerReferences = []
    assert.deepEqual(
      podsOfReplicaSet(rs, [ours, otherRevision, orphan]).map(p => p.metadata.name),
      ['celery-worker-6599b86997-aaaaa']
    )
  })
})
