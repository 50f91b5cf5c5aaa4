// Decide and Judge, the two pure phases of the deploy transaction, from tables: what a run changes and how it
// undoes it, and what its outcome says given what each phase recorded and where the cluster ended.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { AppliedObject } from '../../src/kube/apply.js'
import { identityKey, type LiveObjectMeta } from '../../src/kube/objects.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import {
  carryRestartStamps,
  decide,
  RESTARTED_AT_ANNOTATION,
  type DecideInput
} from '../../src/deploy/decide.js'
import { judge, type JudgeInput } from '../../src/deploy/judge.js'
import { UNDO_SECRET_NAME, type Journal } from '../../src/deploy/journal.js'
import type { ApplyRecord } from '../../src/deploy/apply-phase.js'
import type { VerifyRecord } from '../../src/deploy/verify.js'
import type { UndoRecord } from '../../src/deploy/undo.js'
import type { RolloutResult } from '../../src/deploy/wait-rollouts.js'
import type { GateRecord } from '../../src/deploy/gate.js'

const NS = 'noesis2'

function deployment(
  name: string,
  image: string,
  options: { revision?: string; stamp?: string } = {}
): KubeObject & LiveObjectMeta {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: NS,
      ...(options.revision ? { annotations: { 'deployment.kubernetes.io/revision': options.revision } } : {})
    },
    spec: {
      template: {
        metadata: {
          labels: { app: name },
          ...(options.stamp ? { annotations: { [RESTARTED_AT_ANNOTATION]: options.stamp } } : {})
        },
        spec: { containers: [{ name: 'app', image }] }
      }
    }
  } as KubeObject & LiveObjectMeta
}

function secret(values: Record<string, string>): KubeObject & LiveObjectMeta {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'app-secrets', namespace: NS },
    data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Buffer.from(v).toString('base64')]))
  } as KubeObject & LiveObjectMeta
}

function withEnvFrom(object: KubeObject & LiveObjectMeta): KubeObject & LiveObjectMeta {
  const copy = structuredClone(object)
  ;(
    copy.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }
  ).template.spec.containers[0].envFrom = [{ secretRef: { name: 'app-secrets' } }]
  return copy
}

function live(...objects: LiveObjectMeta[]): Map<string, LiveObjectMeta> {
  return new Map(
    objects.map(o => [
      identityKey({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace }),
      o
    ])
  )
}

function answer(
  object: LiveObjectMeta,
  action: AppliedObject['action'],
  podTemplateChanged = false
): AppliedObject {
  return {
    kind: object.kind,
    name: object.metadata.name,
    namespace: NS,
    action,
    podTemplateChanged,
    applied: object
  }
}

function input(overrides: Partial<DecideInput>): DecideInput {
  return {
    namespace: NS,
    secretName: 'app-secrets',
    objects: [],
    roles: { worker: 'celery-worker', beat: 'celery-beat' },
    before: new Map(),
    dryRun: [],
    forceRestart: false,
    restartStamp: '2026-12-04T10:00:00.000Z',
    autoscaling: 'cpu',
    ...overrides
  }
}

describe('Decide', () => {
  test('a new image: both Deployments roll, the undo goes back to their revisions, no restart stamp is set', () => {
    const before = live(
      deployment('celery-worker', 'r/app:v1', { revision: '3' }),
      deployment('celery-beat', 'r/app:v1', { revision: '2' })
    )
    const worker = deployment('celery-worker', 'r/app:v2')
    const beat = deployment('celery-beat', 'r/app:v2')
    const d = decide(
      input({
        objects: [worker, beat],
        before,
        dryRun: [answer(worker, 'configured', true), answer(beat, 'configured', true)]
      })
    )
    assert.deepEqual(
      d.rolls.map(r => [r.deployment, r.reason, r.restart]),
      [
        ['celery-worker', 'template', false],
        ['celery-beat', 'template', false]
      ]
    )
    assert.deepEqual(d.undo, {
      deployments: [
        { name: 'celery-worker', revision: '3' },
        { name: 'celery-beat', revision: '2' }
      ]
    })
    assert.equal(d.writeUndoSecret, false)
    assert.equal(d.guarded, true)
    assert.equal(JSON.stringify(d.objects).includes(RESTARTED_AT_ANNOTATION), false)
  })

  test('workflow_dispatch of an unchanged template: the restart is the run\u2019s stamp in the template, the same on every retry', () => {
    const before = live(deployment('celery-worker', 'r/app:v1', { revision: '3' }))
    const worker = deployment('celery-worker', 'r/app:v1')
    const d = decide(
      input({ objects: [worker], before, dryRun: [answer(worker, 'unchanged')], forceRestart: true })
    )
    assert.equal(d.rolls[0].restart, true)
    const template = (
      d.objects[0].spec as { template: { metadata: { annotations: Record<string, string> } } }
    ).template
    assert.equal(template.metadata.annotations[RESTARTED_AT_ANNOTATION], '2026-12-04T10:00:00.000Z')
    const intended = d.intendedTemplates.get('celery-worker') as {
      metadata: { annotations: Record<string, string> }
    }
    assert.equal(intended.metadata.annotations[RESTARTED_AT_ANNOTATION], '2026-12-04T10:00:00.000Z')
  })

  test('a live restart stamp is carried into the apply, so leaving it out never rolls the pods', () => {
    const before = live(
      deployment('celery-worker', 'r/app:v1', { revision: '5', stamp: '2026-11-01T00:00:00Z' })
    )
    const [carried] = carryRestartStamps([deployment('celery-worker', 'r/app:v1')], before)
    const template = (carried.spec as { template: { metadata: { annotations: Record<string, string> } } })
      .template
    assert.equal(template.metadata.annotations[RESTARTED_AT_ANNOTATION], '2026-11-01T00:00:00Z')
  })

  test('a changed Secret that the pods read: restarts, the previous values copied first, the Secret in the undo', () => {
    const worker = withEnvFrom(deployment('celery-worker', 'r/app:v1'))
    const before = live(
      withEnvFrom(deployment('celery-worker', 'r/app:v1', { revision: '3' })),
      secret({ SECRET_KEY: 'old' })
    )
    const next = secret({ SECRET_KEY: 'new' })
    const d = decide(
      input({
        objects: [next, worker],
        before,
        dryRun: [answer(next, 'configured'), answer(worker, 'unchanged')]
      })
    )
    assert.deepEqual(d.secretChange, {
      name: 'app-secrets',
      keys: ['SECRET_KEY'],
      podsRead: true,
      existed: true
    })
    assert.equal(d.rolls[0].restart, true)
    assert.equal(d.writeUndoSecret, true)
    assert.deepEqual(d.undo.secret, { name: 'app-secrets', backup: UNDO_SECRET_NAME })
  })

  test('nothing changes: nothing to guard, nothing rolls', () => {
    const worker = deployment('celery-worker', 'r/app:v1')
    const d = decide(
      input({
        objects: [worker],
        before: live(deployment('celery-worker', 'r/app:v1', { revision: '3' })),
        dryRun: [answer(worker, 'unchanged')]
      })
    )
    assert.equal(d.guarded, false)
    assert.deepEqual(d.rolls, [])
  })

  test('an interrupted run\u2019s journal: its release is verified, its undo target and Secret copy are kept', () => {
    const inherited: Journal = {
      v: 1,
      run: { identity: 'x#1', image: 'r/app:bad' },
      phase: 'applying',
      at: '2026-12-04T09:00:00Z',
      rollbackOnFailure: true,
      undo: {
        deployments: [{ name: 'celery-worker', revision: '3' }],
        secret: { name: 'app-secrets', backup: UNDO_SECRET_NAME }
      }
    }
    const before = live(
      deployment('celery-worker', 'r/app:bad', { revision: '4' }),
      secret({ SECRET_KEY: 'bad' })
    )
    const worker = deployment('celery-worker', 'r/app:bad')
    const next = secret({ SECRET_KEY: 'newer' })
    const d = decide(
      input({
        objects: [next, worker],
        before,
        dryRun: [answer(next, 'configured'), answer(worker, 'unchanged')],
        inherited
      })
    )
    assert.deepEqual(d.verify, ['celery-worker'])
    assert.deepEqual(d.undo.deployments, [{ name: 'celery-worker', revision: '3' }])
    assert.equal(d.writeUndoSecret, false, 'the copy holds the last verified values: not overwritten')
    assert.equal(d.guarded, true)
  })
})

function rollout(deployment: string, outcome: RolloutResult['outcome']): RolloutResult {
  return { deployment, outcome, message: outcome, durationMs: 1000, failures: [], pods: [] }
}

function judgeInput(overrides: Partial<JudgeInput>): JudgeInput {
  const before = live(
    deployment('celery-worker', 'r/app:v1', { revision: '3' }),
    secret({ SECRET_KEY: 'old' })
  )
  const worker = deployment('celery-worker', 'r/app:v2')
  const next = secret({ SECRET_KEY: 'new' })
  const decision = decide(
    input({
      objects: [next, worker],
      before,
      dryRun: [answer(next, 'configured'), answer(worker, 'configured', true)],
      roles: { worker: 'celery-worker' }
    })
  )
  const apply: ApplyRecord = {
    applied: [answer(next, 'configured'), answer(worker, 'configured', true)],
    retired: [],
    restarted: [],
    warnings: [],
    journalWritten: true
  }
  return {
    image: 'r/app:v2',
    namespace: NS,
    secretName: 'app-secrets',
    roles: { worker: 'celery-worker' },
    decision,
    before,
    intendedSecretData: next.data as Record<string, string>,
    apply,
    rollbackOnFailure: true,
    final: live(deployment('celery-worker', 'r/app:v2', { revision: '4' }), next),
    outages: [],
    notes: [],
    redact: t => t,
    ...overrides
  }
}

const passed: VerifyRecord = { rollouts: [rollout('celery-worker', 'complete')], beatProblems: [], smoke: [] }
const failedRollout: VerifyRecord = {
  rollouts: [rollout('celery-worker', 'failed')],
  beatProblems: [],
  smoke: []
}
const undone = (overrides: Partial<UndoRecord> = {}): UndoRecord => ({
  steps: [{ deployment: 'celery-worker', toRevision: '3', done: true, message: 'rolled back' }],
  secret: {
    name: 'app-secrets',
    state: 'restored',
    message: 'Secret app-secrets: its previous values were restored'
  },
  rollouts: [rollout('celery-worker', 'complete')],
  leftAlone: [],
  complete: true,
  nothingChanged: false,
  ...overrides
})
const restoredFinal = live(
  deployment('celery-worker', 'r/app:v1', { revision: '5' }),
  secret({ SECRET_KEY: 'old' })
)

describe('Judge', () => {
  const cases: Array<{
    name: string
    input: Partial<JudgeInput>
    status: string
    headline: RegExp
    left?: Array<[string, string]>
  }> = [
    { name: 'verified', input: { verify: passed }, status: 'deployed', headline: /^Deployed r\/app:v2$/ },
    {
      name: 'a failed rollout undone and watched back',
      input: { verify: failedRollout, undo: undone(), final: restoredFinal },
      status: 'rolled-back',
      headline: /Rollout of celery-worker failed/
    },
    {
      name: 'an undo that was sent but whose rollout back did not complete',
      input: {
        verify: failedRollout,
        undo: undone({ complete: false, rollouts: [rollout('celery-worker', 'timeout')] })
      },
      status: 'failed',
      headline: /Rollout of celery-worker failed/,
      left: [
        ['Deployment/celery-worker', 'this-run'],
        ['Secret/app-secrets', 'this-run']
      ]
    },
    {
      name: 'the apply failing half-way (the Secret written, the Deployment not) is not "nothing changed"',
      input: {
        apply: {
          applied: [],
          retired: [],
          restarted: [],
          warnings: [],
          journalWritten: true,

          error: new Error('500'),
          during: 'the apply'
        },
        error: 'kubectl apply failed (exit 1): Internal error',
        undo: undone({ steps: [], rollouts: [] }),
        final: restoredFinal
      },
      status: 'rolled-back',
      headline: /Deploy failed: kubectl apply failed/
    },
    {
      name: 'cancelled during the rollouts, the undo started',
      input: {
        stop: { kind: 'cancelled', reason: 'SIGINT', during: 'the rollouts' },
        undo: undone({ rollouts: [], complete: true })
      },
      status: 'cancelled',
      headline: /^Cancelled \(SIGINT\) during the rollouts; rollback started for celery-worker$/
    },
    {
      name: 'the lock lost: nothing undone, the state named',
      input: {
        stop: {
          kind: 'lock-lost',
          loss: {
            reason: 'the deploy lock in namespace noesis2 was taken over by https://x/runs/2',
            atMs: Date.UTC(2026, 11, 4, 10, 0, 5),
            holder: 'https://x/runs/2'
          },
          during: 'the rollouts'
        }
      },
      status: 'failed',
      headline:
        /lock was lost during the rollouts: .*taken over by https:\/\/x\/runs\/2; this run stopped writing at 2026-12-04T10:00:05Z and undid nothing/,
      left: [
        ['Deployment/celery-worker', 'this-run'],
        ['Secret/app-secrets', 'this-run']
      ]
    },
    {
      name: 'rollback_on_failure false: failed, and where things stand',
      input: { verify: failedRollout, rollbackOnFailure: false },
      status: 'failed',
      headline: /Rollout of celery-worker failed/,
      left: [
        ['Deployment/celery-worker', 'this-run'],
        ['Secret/app-secrets', 'this-run']
      ]
    },
    {
      name: 'the cluster unreadable at the end: unknown, never guessed',
      input: { verify: failedRollout, undo: undone({ complete: false }), final: undefined },
      status: 'failed',
      headline: /Rollout of celery-worker failed/,
      left: [
        ['Deployment/celery-worker', 'unknown'],
        ['Secret/app-secrets', 'unknown']
      ]
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const outcome = judge(judgeInput(c.input))
      assert.equal(outcome.status, c.status)
      assert.match(outcome.headline, c.headline)
      if (c.left)
        assert.deepEqual(
          outcome.left.map(l => [l.object, l.state]),
          c.left
        )
    })
  }

  test('"nothing to roll back" only when the cluster says nothing changed', () => {
    const none = judge(
      judgeInput({
        verify: failedRollout,
        undo: undone({ steps: [], secret: undefined, rollouts: [], nothingChanged: true })
      })
    )
    assert.ok(none.notes.some(n => /changed no Deployment and no Secret/.test(n)))
    const some = judge(judgeInput({ verify: failedRollout, undo: undone() }))
    assert.ok(!some.notes.some(n => /changed no Deployment and no Secret/.test(n)))
  })

  test('an interrupted run found in the lock is said first', () => {
    const inherited: Journal = {
      v: 1,
      run: { identity: 'x#1', runUrl: 'https://github.com/o/r/actions/runs/41', image: 'r/app:bad' },
      phase: 'applying',
      at: '2026-12-04T09:00:00Z',
      rollbackOnFailure: true,
      undo: { deployments: [{ name: 'celery-worker', revision: '3' }] }
    }
    const outcome = judge(judgeInput({ verify: passed, inherited }))
    assert.equal(outcome.status, 'deployed')
    assert.match(
      outcome.interrupted ?? '',
      /run https:\/\/github\.com\/o\/r\/actions\/runs\/41 deploying r\/app:bad was interrupted after its first write/
    )
  })
})

describe('Judge, with the pre-deploy gate', () => {
  const gate = (overrides: Partial<GateRecord>): GateRecord => ({
    job: 'pre-deploy-4242-1-abcdef',
    namespace: NS,
    image: 'r/app:v2',
    command: 'python manage.py migrate --check',
    timeoutSeconds: 600,
    result: 'passed',
    message: 'the command exited 0',
    startedMs: 0,
    durationMs: 1500,
    events: [],
    logs: [],
    ...overrides
  })
  // The apply stopped at the gate: the Secret written before it, no Deployment.
  const stoppedAt = (record: GateRecord): ApplyRecord => ({
    applied: [answer(secret({ SECRET_KEY: 'new' }), 'configured')],
    retired: [],
    restarted: [],
    warnings: [],
    journalWritten: true,

    gate: record
  })
  const secretBack = undone({ steps: [], rollouts: [] })
  const unchangedFinal = live(
    deployment('celery-worker', 'r/app:v1', { revision: '3' }),
    secret({ SECRET_KEY: 'old' })
  )
  const cases: Array<{
    name: string
    input: Partial<JudgeInput>
    status: string
    headline: RegExp
    notes?: RegExp[]
    absentNotes?: RegExp[]
  }> = [
    {
      name: 'a gate that passed and a verified release: deployed, the gate in the outcome',
      input: { apply: { ...judgeInput({}).apply, gate: gate({}) }, verify: passed },
      status: 'deployed',
      headline: /^Deployed r\/app:v2$/
    },
    {
      name: 'the command failed: failed (not rolled back: nothing was released), the Secret put back',
      input: {
        apply: stoppedAt(
          gate({ result: 'failed', reason: 'Error', message: 'the command exited with code 1 (Error)' })
        ),
        undo: secretBack,
        final: unchangedFinal
      },
      status: 'failed',
      headline:
        /^Pre-deploy gate failed: the pre-deploy command \(Job pre-deploy-4242-1-abcdef\): the command exited with code 1 \(Error\); no Deployment was changed$/,
      notes: [/^Secret app-secrets: its previous values were restored$/]
    },
    {
      name: 'rollback_on_failure false does not claim that nothing was put back',
      input: {
        apply: stoppedAt(gate({ result: 'failed', message: 'the command exited with code 3 (Error)' })),
        undo: secretBack,
        final: unchangedFinal,
        rollbackOnFailure: false
      },
      status: 'failed',
      headline: /^Pre-deploy gate failed/,
      absentNotes: [/rollback_on_failure is false/]
    },
    {
      name: 'the Job could not be created',
      input: {
        apply: stoppedAt(
          gate({ result: 'error', message: 'creating Job pre-deploy-4242-1-abcdef failed: forbidden' })
        ),
        undo: secretBack,
        final: unchangedFinal
      },
      status: 'failed',
      headline:
        /^The pre-deploy gate could not run: creating Job .* failed: forbidden; no Deployment was changed$/
    },
    {
      name: 'cancelled during the gate: cancelled, and the Job\u2019s deletion said',
      input: {
        apply: stoppedAt(
          gate({
            result: 'cancelled',
            message: 'cancelled (SIGINT)',
            deleted: { done: true, message: 'Job pre-deploy-4242-1-abcdef deleted (foreground)' }
          })
        ),
        stop: { kind: 'cancelled', reason: 'SIGINT', during: 'the pre-deploy gate' },
        undo: secretBack,
        final: unchangedFinal
      },
      status: 'cancelled',
      headline: /^Cancelled \(SIGINT\) during the pre-deploy gate$/,
      notes: [/^Job pre-deploy-4242-1-abcdef deleted \(foreground\)$/]
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const outcome = judge(judgeInput(c.input))
      assert.equal(outcome.status, c.status)
      assert.match(outcome.headline, c.headline)
      assert.equal(outcome.gate, c.input.apply?.gate)
      for (const note of c.notes ?? [])
        assert.ok(
          outcome.notes.some(n => note.test(n)),
          outcome.notes.join('\n')
        )
      for (const note of c.absentNotes ?? [])
        assert.ok(!outcome.notes.some(n => note.test(n)), outcome.notes.join('\n'))
    })
  }
})
