// The pure decisions around a rollout under KEDA: whether and at what count the worker is held, whose pause a
// pause is, when KEDA has answered, what its conditions say and how the run reports them. Tables of cases; the
// real operator's side of it is in __tests__/control-plane/keda-operator.test.ts.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  decideHold,
  kedaInputsChanged,
  holdAcknowledged,
  HOLD_ANNOTATION,
  holdNote,
  PAUSED_REPLICAS_ANNOTATION,
  pausedByOperator,
  withHold,
  type HoldInput
} from '../../src/deploy/keda-hold.js'
import {
  classifyKedaMessage,
  judgeScaledObject,
  kedaFailureHeadline,
  kedaSettled,
  type KedaVerdict
} from '../../src/deploy/keda-verdict.js'
import { kedaConditions, queueLengthsFromMetrics } from '../../src/deploy/autoscaler-status.js'
import { explainKeda } from '../../src/report/explain-keda.js'
import { behaviourChanges } from '../../src/plan/behaviour-changes.js'
import { identityKey, type LiveObjectMeta } from '../../src/kube/objects.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import type { RolloutFacts } from '../../src/report/explain-rollout.js'
import { renderDeploySummary } from '../../src/report/deploy-summary.js'
import type { DeployOutcome } from '../../src/deploy/deploy.js'

const NS = 'noesis2'
const scaledObject: KubeObject = {
  apiVersion: 'keda.sh/v1alpha1',
  kind: 'ScaledObject',
  metadata: { name: 'celery-worker', namespace: NS },
  spec: {
    scaleTargetRef: { name: 'celery-worker' },
    minReplicaCount: 0,
    maxReplicaCount: 10,
    pollingInterval: 30,
    cooldownPeriod: 300,
    triggers: [
      { type: 'redis', metadata: { listName: 'celery', listLength: '5', activationListLength: '0' } },
      { type: 'redis', metadata: { listName: 'rag_delete', listLength: '5', activationListLength: '0' } }
    ]
  }
}

function live(annotations: Record<string, string> = {}, status?: unknown): LiveObjectMeta {
  return {
    kind: 'ScaledObject',
    metadata: { name: 'celery-worker', namespace: NS, annotations },
    ...(status ? { status } : {})
  }
}
function worker(replicas: number | undefined): LiveObjectMeta {
  return { kind: 'Deployment', metadata: { name: 'celery-worker', namespace: NS }, spec: { replicas } }
}
function input(over: Partial<HoldInput> & { liveScaledObject?: LiveObjectMeta } = {}): HoldInput {
  const before = new Map<string, LiveObjectMeta>()
  if (over.liveScaledObject) {
    before.set(
      identityKey({ kind: 'ScaledObject', name: 'celery-worker', namespace: NS }),
      over.liveScaledObject
    )
  }
  return {
    autoscaling: 'keda',
    worker: 'celery-worker',
    scaledObjects: [scaledObject],
    before,
    liveWorker: worker(1),
    workerRolls: true,
    kedaChanged: false,
    ...over
  }
}

describe('the hold on a worker under KEDA while it rolls', () => {
  const cases: Array<{ name: string; input: HoldInput; expect: unknown }> = [
    {
      name: 'a first deploy: held at 1 from the ScaledObject\u2019s first version (nothing to pause first)',
      input: input({ liveWorker: undefined }),
      expect: {
        hold: true,
        worker: 'celery-worker',
        verifies: true,
        replicas: 1,
        fromZero: false,
        pauseFirst: []
      }
    },
    {
      name: 'a redeploy at 3: held at 3, the live ScaledObject paused before the worker changes',
      input: input({ liveWorker: worker(3), liveScaledObject: live() }),
      expect: {
        hold: true,
        worker: 'celery-worker',
        verifies: true,
        replicas: 3,
        fromZero: false,
        pauseFirst: ['celery-worker']
      }
    },
    {
      name: 'a worker at zero: held at 1, started from zero',
      input: input({ liveWorker: worker(0), liveScaledObject: live() }),
      expect: {
        hold: true,
        worker: 'celery-worker',
        verifies: true,
        replicas: 1,
        fromZero: true,
        pauseFirst: ['celery-worker']
      }
    },
    {
      name: 'a switch from the CPU HPA at 2: held at 2',
      input: input({ liveWorker: worker(2) }),
      expect: {
        hold: true,
        worker: 'celery-worker',
        verifies: true,
        replicas: 2,
        fromZero: false,
        pauseFirst: []
      }
    },
    {
      name: 'a hold a dead run left (its own mark): taken over',
      input: input({
        liveWorker: worker(2),
        liveScaledObject: live({ [PAUSED_REPLICAS_ANNOTATION]: '2', [HOLD_ANNOTATION]: '2' })
      }),
      expect: {
        hold: true,
        worker: 'celery-worker',
        verifies: true,
        replicas: 2,
        fromZero: false,
        pauseFirst: ['celery-worker']
      }
    },
    {
      name: 'an unchanged worker: no hold (verified when its image was deployed)',
      input: input({ workerRolls: false }),
      expect: { hold: false, why: 'no-roll' }
    },
    {
      name: 'an unchanged worker, KEDA\u2019s configuration changed (a CA added): paused at its count, zero too, to make KEDA check again',
      input: input({
        workerRolls: false,
        kedaChanged: true,
        liveWorker: worker(0),
        liveScaledObject: live({}, { conditions: [{ type: 'Ready', status: 'False' }] })
      }),
      expect: {
        hold: true,
        worker: 'celery-worker',
        verifies: false,
        replicas: 0,
        fromZero: false,
        pauseFirst: ['celery-worker']
      }
    },
    {
      name: 'KEDA\u2019s configuration changed on a ScaledObject KEDA has not looked at yet: no pause (KEDA checks it anyway)',
      input: input({ workerRolls: false, kedaChanged: true, liveScaledObject: live() }),
      expect: { hold: false, why: 'no-roll' }
    },
    {
      name: 'autoscaling cpu: no hold',
      input: input({ autoscaling: 'cpu', scaledObjects: [] }),
      expect: { hold: false, why: 'not-keda' }
    },
    {
      name: 'an operator\u2019s paused-replicas: left alone',
      input: input({ liveScaledObject: live({ [PAUSED_REPLICAS_ANNOTATION]: '0' }) }),
      expect: { hold: false, why: 'paused-by-operator', pausedBy: ['celery-worker'] }
    },
    {
      name: 'an operator\u2019s paused: "true": left alone',
      input: input({ liveScaledObject: live({ 'autoscaling.keda.sh/paused': 'true' }) }),
      expect: { hold: false, why: 'paused-by-operator', pausedBy: ['celery-worker'] }
    },
    {
      name: 'paused: "false" is no pause',
      input: input({ liveScaledObject: live({ 'autoscaling.keda.sh/paused': 'false' }) }),
      expect: {
        hold: true,
        worker: 'celery-worker',
        verifies: true,
        replicas: 1,
        fromZero: false,
        pauseFirst: ['celery-worker']
      }
    }
  ]
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(decideHold(c.input), c.expect))
  }

  test('the hold rides on the ScaledObjects only, with its mark; nothing without a hold', () => {
    const deployment: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'celery-worker' }
    }
    const decision = decideHold(input({ liveWorker: worker(3) }))
    const [d, so] = withHold([deployment, scaledObject], decision)
    assert.equal(d, deployment)
    assert.deepEqual(so.metadata.annotations, { [PAUSED_REPLICAS_ANNOTATION]: '3', [HOLD_ANNOTATION]: '3' })
    assert.equal(scaledObject.metadata.annotations, undefined, 'the rendered object is not changed')
    const none = [deployment, scaledObject]
    assert.equal(withHold(none, decideHold(input({ workerRolls: false }))), none)
  })

  test('KEDA has taken the hold when it reports the count and Paused True', () => {
    const paused = { conditions: [{ type: 'Paused', status: 'True' }], pausedReplicaCount: 2 }
    assert.equal(holdAcknowledged(live({}, paused) as never, 2), true)
    assert.equal(holdAcknowledged(live({}, { ...paused, pausedReplicaCount: 1 }) as never, 2), false)
    assert.equal(
      holdAcknowledged(
        live({}, { pausedReplicaCount: 2, conditions: [{ type: 'Paused', status: 'False' }] }) as never,
        2
      ),
      false
    )
    assert.equal(holdAcknowledged(undefined, 2), false)
  })

  test('what KEDA reads changed: its objects as the dry run answered, or a Secret key a TriggerAuthentication names', () => {
    const auth: KubeObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'TriggerAuthentication',
      metadata: { name: 'celery-worker-redis', namespace: NS },
      spec: { secretTargetRef: [{ parameter: 'ca', name: 'app-secrets', key: 'REDIS_CA' }] }
    }
    const secret = (data: Record<string, string>): LiveObjectMeta => ({
      kind: 'Secret',
      metadata: { name: 'app-secrets', namespace: NS },
      data
    })
    const applied = (
      kind: string,
      action: 'created' | 'configured' | 'unchanged',
      object: LiveObjectMeta
    ) => ({
      kind,
      name: object.metadata.name,
      namespace: NS,
      action,
      podTemplateChanged: false,
      applied: object
    })
    const before = new Map([
      [identityKey({ kind: 'Secret', name: 'app-secrets', namespace: NS }), secret({ A: 'YQ==' })]
    ])
    const unchangedKeda = [
      applied('ScaledObject', 'unchanged', live()),
      applied('TriggerAuthentication', 'unchanged', auth as unknown as LiveObjectMeta)
    ]
    assert.equal(
      kedaInputsChanged([...unchangedKeda, applied('Secret', 'configured', secret({ A: 'Yg==' }))], before, [
        auth
      ]),
      false,
      'a key KEDA does not read'
    )
    assert.equal(
      kedaInputsChanged(
        [...unchangedKeda, applied('Secret', 'configured', secret({ A: 'YQ==', REDIS_CA: 'eA==' }))],
        before,
        [auth]
      ),
      true
    )
    assert.equal(
      kedaInputsChanged(
        [applied('TriggerAuthentication', 'configured', auth as unknown as LiveObjectMeta)],
        before,
        [auth]
      ),
      true
    )
    assert.equal(kedaInputsChanged(unchangedKeda, before, [auth]), false)
  })

  test('whose pause it is', () => {
    assert.equal(pausedByOperator(undefined), false)
    assert.equal(pausedByOperator(live({ [PAUSED_REPLICAS_ANNOTATION]: '1' })), true)
    assert.equal(pausedByOperator(live({ [PAUSED_REPLICAS_ANNOTATION]: '1', [HOLD_ANNOTATION]: '1' })), false)
    assert.equal(pausedByOperator(live({ 'autoscaling.keda.sh/paused': 'TRUE' })), true)
  })

  test('the note says the count held, and when KEDA did not confirm it', () => {
    const decision = decideHold(input({ liveWorker: worker(3), liveScaledObject: live() }))
    assert.equal(
      holdNote(decision, { unconfirmed: [] }),
      "celery-worker held at 3 replicas (KEDA's autoscaling.keda.sh/paused-replicas) while this image was verified, then handed back to KEDA"
    )
    assert.match(
      holdNote(decision, { unconfirmed: ['celery-worker'] })!,
      /KEDA did not confirm the pause of celery-worker within 30s/
    )
    assert.match(
      holdNote(decideHold(input({ liveWorker: worker(0) })), undefined)!,
      /^celery-worker was scaled to zero: held at 1 replica/
    )
  })
})

const WRONGPASS =
  'failed to ensure HPA is correctly created for ScaledObject: connection to redis failed: WRONGPASS invalid username-password pair or user is disabled.'
const X509 =
  'failed to ensure HPA is correctly created for ScaledObject: connection to redis failed: tls: failed to verify certificate: x509: certificate signed by unknown authority'

function status(conditions: Array<Record<string, string>>, annotations: Record<string, string> = {}) {
  return {
    metadata: { name: 'celery-worker', annotations },
    spec: { triggers: [{ type: 'redis', authenticationRef: { name: 'celery-worker-redis' } }] },
    status: { conditions }
  }
}
const readyTrue = {
  type: 'Ready',
  status: 'True',
  reason: 'ScaledObjectReady',
  message: 'ScaledObject is defined correctly and is ready for scaling'
}
const unpaused = {
  type: 'Paused',
  status: 'False',
  reason: 'ScaledObjectUnpaused',
  message: 'pause annotation removed for ScaledObject'
}
const stillPaused = {
  type: 'Paused',
  status: 'True',
  reason: 'ScaledObjectPaused',
  message: 'ScaledObject is paused'
}

describe('KEDA\u2019s verdict on the ScaledObject', () => {
  test('what KEDA\u2019s messages say is wrong (measured messages, and the network kind)', () => {
    const cases: Array<[string, string]> = [
      [WRONGPASS, 'auth'],
      ['connection to redis failed: NOAUTH Authentication required.', 'auth'],
      [X509, 'tls'],
      ['connection to redis failed: dial tcp 10.0.0.5:6379: i/o timeout', 'network'],
      ['connection to redis failed: dial tcp 127.0.0.1:1: connect: connection refused', 'network'],
      ['ScaledObject doesn\u2019t have correct triggers specification', 'other'],
      [`${'a'.repeat(10_000)} WRONGPASS`, 'other']
    ]
    for (const [message, kind] of cases)
      assert.equal(classifyKedaMessage(message), kind, message.slice(0, 60))
  })

  test('when KEDA has answered', () => {
    const initial = status([
      { type: 'Ready', status: 'Unknown' },
      { type: 'Paused', status: 'False' }
    ])
    assert.equal(kedaSettled(undefined, { released: false }), false)
    assert.equal(kedaSettled(status([]), { released: false }), false, 'never looked at')
    assert.equal(kedaSettled(initial, { released: false }), false, 'its first look: all Unknown')
    assert.equal(kedaSettled(status([readyTrue, unpaused]), { released: true }), true)
    assert.equal(
      kedaSettled(status([readyTrue, stillPaused]), { released: true }),
      false,
      'release not processed yet'
    )
    assert.equal(
      kedaSettled(status([readyTrue, stillPaused], { [PAUSED_REPLICAS_ANNOTATION]: '0' }), {
        released: true
      }),
      true,
      'paused by someone else: that is the answer'
    )
    assert.equal(
      kedaSettled(status([{ type: 'Ready', status: 'Unknown', reason: 'PartialTriggerError' }]), {
        released: false
      }),
      true
    )
  })

  test('Ready False is a refusal with its reason; the message is redacted before it is clipped', () => {
    const secret = 'hunter2-redis'
    const long = `${WRONGPASS} ${'x'.repeat(390)}${secret}${'y'.repeat(20)}`
    const verdict = judgeScaledObject(
      'celery-worker',
      status([{ type: 'Ready', status: 'False', reason: 'ScaledObjectCheckFailed', message: long }]),
      { settled: true, redact: t => t.split(secret).join('***') }
    )
    assert.equal(verdict.state, 'not-ready')
    assert.equal(verdict.problem?.kind, 'auth')
    assert.equal(verdict.problem?.reason, 'ScaledObjectCheckFailed')
    assert.ok(verdict.problem!.message.length <= 400)
    assert.ok(!verdict.problem!.message.includes('hunter'), 'no part of the secret')
    assert.deepEqual(verdict.authentications, ['celery-worker-redis'])
    assert.match(
      kedaFailureHeadline([verdict])!,
      /^KEDA cannot use ScaledObject celery-worker \(Ready False, ScaledObjectCheckFailed\): failed to ensure HPA/
    )
  })

  test('the other states', () => {
    const redact = (t: string) => t
    assert.equal(judgeScaledObject('s', undefined, { settled: false, redact }).state, 'unseen')
    assert.equal(
      judgeScaledObject('s', status([readyTrue, unpaused]), { settled: true, redact }).state,
      'ready'
    )
    assert.equal(
      judgeScaledObject('s', status([readyTrue, stillPaused]), { settled: false, redact }).state,
      'unsettled'
    )
    assert.equal(
      judgeScaledObject('s', status([readyTrue, stillPaused]), { settled: true, redact }).state,
      'paused'
    )
  })
})

describe('how the summary and the findings show KEDA', () => {
  test('conditions in a fixed order; the message only where something is wrong, bounded', () => {
    const live = {
      status: {
        conditions: [
          {
            type: 'Paused',
            status: 'False',
            reason: 'ScaledObjectUnpaused',
            message: 'pause annotation removed'
          },
          {
            type: 'HPAActive',
            status: 'False',
            reason: 'FailedGetExternalMetric',
            message: 'HPA is not actively scaling: unable to get external metric'
          },
          { type: 'Ready', status: 'False', reason: 'ScaledObjectCheckFailed', message: 'y'.repeat(9000) },
          { type: 'Active', status: 'False', reason: 'ScalerNotActive', message: 'Scaling is not performed' },
          { type: 'Made-Up', status: 'True' }
        ]
      }
    }
    const shown = kedaConditions(live)
    assert.deepEqual(
      shown.map(c => c.split(' (')[0]),
      ['Ready False', 'Active False', 'Paused False', 'HPAActive False']
    )
    assert.equal(shown[1], 'Active False (ScalerNotActive)')
    assert.equal(
      shown[3],
      'HPAActive False (FailedGetExternalMetric: HPA is not actively scaling: unable to get external metric)'
    )
    assert.ok(shown[0].length < 4200, 'KEDA\u2019s text is read bounded')
  })

  test('KEDA\u2019s text in the summary is redacted, then clipped, then escaped', () => {
    const secret = 'hunter2-redis-secret'
    const hostile = `connection to redis failed: ${'a'.repeat(324)}${secret} <img src=x onerror=alert(1)> @admin ::add-mask::x [link](https://evil.example) |cell|`
    const outcome = {
      status: 'failed',
      headline: 'x',
      roles: { worker: 'celery-worker' },
      applied: [],
      retired: [],
      autoscaler: {
        kind: 'ScaledObject',
        name: 'celery-worker',
        minReplicas: 0,
        maxReplicas: 5,
        target: '5 tasks per replica on celery',
        replicas: 1,
        conditions: kedaConditions({
          status: {
            conditions: [
              { type: 'Ready', status: 'False', reason: 'ScaledObjectCheckFailed', message: hostile }
            ]
          }
        })
      },
      restarted: [],
      rollouts: [],
      rollbackRollouts: [],
      smoke: [],
      beatProblems: [],
      rollback: [],
      notes: [],
      warnings: [],
      failures: [],
      revisionsBefore: {},
      revisionsAfter: {},
      outages: [],
      left: []
    } as unknown as DeployOutcome
    const summary = renderDeploySummary(outcome, {
      image: 'r/app:v1',
      namespace: NS,
      redact: t => t.split(secret).join('***'),
      findings: [],
      timeline: []
    })
    const row = summary.split('\n').find(line => line.startsWith('| conditions |'))!
    assert.ok(row, summary)
    assert.ok(!row.includes('hunter'), 'no part of the secret, though the clip falls inside it')
    assert.ok(!row.includes('<img'), 'HTML escaped')
    assert.ok(!/\]\(https/.test(row), 'no live link')
    assert.equal(row.split(' | ').length, 2, 'the cell cannot break the row')
  })

  test('the queue lengths KEDA reads, by trigger index', () => {
    const values = new Map([
      ['s0-redis-celery', 12],
      ['s1-redis-rag_delete', 0],
      ['s2-cron-europe-berlin', 1]
    ])
    assert.equal(
      queueLengthsFromMetrics(values, ['celery', 'rag_delete']),
      'celery 12, rag_delete 0 tasks queued'
    )
    assert.equal(queueLengthsFromMetrics(new Map(), ['celery']), undefined)
  })

  const facts = { namespace: NS, secretName: 'app-secrets', writesSecret: true } as RolloutFacts
  const refused = (kind: 'auth' | 'tls' | 'network' | 'other', message: string): KedaVerdict => ({
    scaledObject: 'celery-worker',
    state: 'not-ready',
    conditions: [],
    authentications: ['celery-worker-redis'],
    problem: { kind, reason: 'ScaledObjectCheckFailed', message }
  })
  const remedies: Array<[Parameters<typeof refused>[0], RegExp]> = [
    [
      'auth',
      /key REDIS_PASSWORD of Secret app-secrets, which the TriggerAuthentication celery-worker-redis reads/
    ],
    ['tls', /redis_server_ca .*serverCaCerts\[0\]\.cert.*key REDIS_CA/],
    ['network', /runs in its own namespace \(keda\)/],
    ['other', /kubectl describe scaledobject -n noesis2 celery-worker/]
  ]
  for (const [kind, remedy] of remedies) {
    test(`a refusal of kind ${kind}: KEDA\u2019s message as the cause, its remedy`, () => {
      const [finding] = explainKeda([refused(kind, WRONGPASS)], facts)
      assert.equal(finding.class, 'keda-not-ready')
      assert.deepEqual(finding.subjects, ['ScaledObject celery-worker'])
      assert.equal(finding.cause, `KEDA marks ScaledObject celery-worker not Ready: ${WRONGPASS}`)
      assert.equal(finding.evidence, 'Ready False, ScaledObjectCheckFailed')
      assert.match(finding.remedy, remedy)
    })
  }
  test('no finding for what KEDA accepts', () => {
    assert.deepEqual(explainKeda([{ ...refused('auth', ''), state: 'ready', problem: undefined }], facts), [])
    assert.deepEqual(explainKeda(undefined, facts), [])
  })
})

describe('the pull-request plan of a switch to scale to zero', () => {
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'celery-worker', namespace: NS },
    spec: { template: { spec: { containers: [{ name: 'app', image: 'r/app:v1' }] } } }
  }
  const liveHpa: LiveObjectMeta = {
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: 'celery-worker-hpa', namespace: NS },
    spec: {
      minReplicas: 1,
      maxReplicas: 5,
      metrics: [{ resource: { name: 'cpu', target: { averageUtilization: 70 } } }]
    }
  }
  test('from the CPU HPA: when KEDA takes it to zero (at once if idle) and what starts it again', () => {
    const changes = behaviourChanges([deployment, scaledObject], new Map(), [], [liveHpa])
    const zero = changes.find(c => c.what === 'scale to zero')
    assert.ok(zero, JSON.stringify(changes))
    assert.equal(zero.object, 'ScaledObject/celery-worker')
    assert.equal(zero.from, '')
    assert.equal(
      zero.to,
      "KEDA scales celery-worker to 0 replicas right after this deploy if every queue (celery, rag_delete) is empty then (a new ScaledObject has no last activity to cool down from; a worker that rolls is verified first), otherwise once they have been empty for 5m (keda_cooldown_period). At zero, a queue holding more than 0 tasks (queue_activation_length) starts 1 pod at KEDA's next poll (every 30s, keda_polling_interval), plus the time a pod takes to start; tasks wait in Redis meanwhile"
    )
  })
  test('from a ScaledObject at minimum 1: after the cooldown only; unchanged at 0: nothing to say', () => {
    const liveAtOne = {
      ...(scaledObject as unknown as LiveObjectMeta),
      spec: { ...(scaledObject.spec as object), minReplicaCount: 1 }
    }
    const key = identityKey({ kind: 'ScaledObject', name: 'celery-worker', namespace: NS })
    const fromOne = behaviourChanges([deployment, scaledObject], new Map([[key, liveAtOne]]), [])
    const zero = fromOne.find(c => c.what === 'scale to zero')
    assert.equal(zero?.from, 'never (at least 1 replica)')
    assert.match(
      zero?.to ?? '',
      /^KEDA scales celery-worker to 0 replicas once every queue \(celery, rag_delete\) has been empty for 5m/
    )
    const same = behaviourChanges(
      [deployment, scaledObject],
      new Map([[key, scaledObject as unknown as LiveObjectMeta]]),
      []
    )
    assert.equal(
      same.find(c => c.what === 'scale to zero'),
      undefined
    )
  })
})
