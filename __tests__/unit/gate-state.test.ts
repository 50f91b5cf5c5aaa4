// Where the gate's Job stands (deploy/gate-state.ts), from the Job, its pod and their events, as the job
// controller and a kubelet write them for a pod that is not restarted (restartPolicy Never): one table.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { FAILED_CREATE_GRACE_MS, judgeGate, type GateVerdict } from '../../src/deploy/gate-state.js'
import type { ContainerStatus, Event, Job, Pod } from '../../src/k8s/types.js'

const NOW = Date.parse('2026-12-05T10:00:00Z')
const ago = (seconds: number): string => new Date(NOW - seconds * 1000).toISOString()
const POD = 'pre-deploy-4242-1-abcdef-x1y2z'

function job(conditions: Array<{ type: string; reason?: string; message?: string }> = []): Job {
  return {
    metadata: { name: 'pre-deploy-4242-1-abcdef', uid: 'job-uid' },
    status: { conditions: conditions.map(c => ({ status: 'True' as const, ...c })) }
  }
}

const proxyRunning: ContainerStatus = {
  name: 'cloud-sql-proxy',
  ready: true,
  restartCount: 0,
  state: { running: { startedAt: ago(5) } }
}

function pod(options: {
  phase: NonNullable<Pod['status']>['phase']
  app?: ContainerStatus['state']
  proxy?: ContainerStatus
  deleting?: boolean
  created?: number
  reason?: string
  conditions?: NonNullable<Pod['status']>['conditions']
}): Pod {
  return {
    metadata: {
      name: POD,
      uid: 'pod-uid',
      creationTimestamp: ago(options.created ?? 5),
      ...(options.deleting ? { deletionTimestamp: ago(0) } : {})
    },
    spec: {
      containers: [{ name: 'app', image: 'r/web:v2', resources: { limits: { memory: '1Gi' } } }],
      initContainers: [{ name: 'cloud-sql-proxy', image: 'gcr.io/p:2', restartPolicy: 'Always' }]
    },
    status: {
      phase: options.phase,
      ...(options.reason ? { reason: options.reason, message: 'The node was low on resource: memory.' } : {}),
      ...(options.conditions ? { conditions: options.conditions } : {}),
      initContainerStatuses: [options.proxy ?? proxyRunning],
      containerStatuses: options.app
        ? [{ name: 'app', ready: false, restartCount: 0, image: 'r/web:v2', state: options.app }]
        : []
    }
  }
}

const exited = (exitCode: number, reason: string) => ({
  terminated: { exitCode, reason, startedAt: ago(3), finishedAt: ago(1) }
})

function warning(reason: string, message: string, about: { kind: string; name: string }, seconds = 2): Event {
  return {
    metadata: { name: `e-${reason}`, creationTimestamp: ago(seconds) },
    involvedObject: { kind: about.kind, name: about.name },
    type: 'Warning',
    reason,
    message,
    firstTimestamp: ago(seconds),
    lastTimestamp: ago(seconds)
  }
}

interface Case {
  name: string
  job?: Job
  pods?: Pod[]
  events?: Event[]
  failedCreateSince?: number
  expect: Partial<Omit<GateVerdict, 'pod' | 'failure' | 'message'>> & {
    message?: string | RegExp
    failure?: { container: string; reason: string; lastExitCode?: number; sidecar?: boolean }
  }
}

const cases: Case[] = [
  {
    name: 'no Job read yet',
    expect: { outcome: undefined, message: 'waiting for the Job', finished: false }
  },
  {
    name: 'the Job, no pod yet',
    job: job(),
    expect: { outcome: undefined, message: 'waiting for the Job to create its pod' }
  },
  {
    name: 'the command running',
    job: job(),
    pods: [pod({ phase: 'Running', app: { running: { startedAt: ago(2) } } })],
    expect: { outcome: undefined, message: `pod ${POD} runs the command`, finished: false }
  },
  {
    name: 'its pod Succeeded: passed, before the Job says Complete',
    job: job(),
    pods: [pod({ phase: 'Succeeded', app: exited(0, 'Completed') })],
    expect: { outcome: 'passed', finished: true }
  },
  {
    name: 'the Job Complete (its pod already removed)',
    job: job([{ type: 'SuccessCriteriaMet' }, { type: 'Complete' }]),
    expect: { outcome: 'passed', finished: true }
  },
  {
    name: 'the command exited 1',
    job: job([{ type: 'FailureTarget', reason: 'BackoffLimitExceeded' }]),
    pods: [pod({ phase: 'Failed', app: exited(1, 'Error') })],
    expect: {
      outcome: 'failed',
      reason: 'Error',
      message: 'the command exited with code 1 (Error)',
      failure: { container: 'app', reason: 'Error', lastExitCode: 1 },
      finished: true
    }
  },
  {
    name: 'the command killed for memory',
    job: job(),
    pods: [pod({ phase: 'Failed', app: exited(137, 'OOMKilled') })],
    expect: {
      outcome: 'failed',
      reason: 'OOMKilled',
      failure: { container: 'app', reason: 'OOMKilled', lastExitCode: 137 }
    }
  },
  {
    name: 'the command could not start (StartError)',
    job: job(),
    pods: [pod({ phase: 'Failed', app: exited(128, 'StartError') })],
    expect: { outcome: 'failed', reason: 'StartError', failure: { container: 'app', reason: 'StartError' } }
  },
  {
    name: 'its pod evicted before the command ended',
    job: job(),
    pods: [pod({ phase: 'Failed', reason: 'Evicted' })],
    expect: {
      outcome: 'failed',
      reason: 'Evicted',
      message: 'The node was low on resource: memory.',
      failure: { container: '', reason: 'Evicted' }
    }
  },
  {
    name: 'a pod that failed because it is being deleted: the Job\u2019s condition, not yet seen, will say why',
    job: job(),
    pods: [pod({ phase: 'Failed', app: exited(143, 'Error'), deleting: true })],
    expect: { outcome: undefined, message: `pod ${POD} is being deleted` }
  },
  {
    name: 'the deadline, while the command ran: DeadlineExceeded, not the SIGTERM exit',
    job: job([
      {
        type: 'FailureTarget',
        reason: 'DeadlineExceeded',
        message: 'Job was active longer than specified deadline'
      }
    ]),
    pods: [pod({ phase: 'Failed', app: exited(143, 'Error'), deleting: true })],
    expect: {
      outcome: 'failed',
      reason: 'DeadlineExceeded',
      message: `Job was active longer than specified deadline; pod ${POD} had ended`,
      finished: true
    }
  },
  {
    name: 'the deadline, while the image was still being pulled: what the pod was doing',
    job: job([
      { type: 'Failed', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }
    ]),
    pods: [
      pod({
        phase: 'Pending',
        deleting: true,
        app: {
          waiting: {
            reason: 'ImagePullBackOff',
            message: 'rpc error: code = Unavailable desc = 503 Service Unavailable'
          }
        }
      })
    ],
    expect: {
      outcome: 'failed',
      reason: 'DeadlineExceeded',
      message:
        /^Job was active longer than specified deadline; pod \S+ is starting \(ImagePullBackOff\) \(container app: ImagePullBackOff: rpc error/,
      failure: { container: 'app', reason: 'ImagePullBackOff' }
    }
  },
  {
    name: 'the image does not exist: failed at once, the Job still active',
    job: job(),
    pods: [
      pod({
        phase: 'Pending',
        app: {
          waiting: {
            reason: 'ErrImagePull',
            message: 'rpc error: code = NotFound desc = failed to resolve reference "r/web:v2": not found'
          }
        }
      })
    ],
    expect: {
      outcome: 'failed',
      reason: 'ErrImagePull',
      message: /^container app: ErrImagePull: rpc error: code = NotFound/,
      failure: { container: 'app', reason: 'ErrImagePull' },
      finished: false
    }
  },
  {
    name: 'a registry error inside the pull grace: not yet',
    job: job(),
    pods: [
      pod({
        phase: 'Pending',
        app: { waiting: { reason: 'ImagePullBackOff', message: 'rpc error: code = Unavailable desc = 503' } }
      })
    ],
    expect: {
      outcome: undefined,
      message: /^pod \S+ is starting \(ImagePullBackOff\) \(container app: ImagePullBackOff: .*grace/
    }
  },
  {
    name: 'a Secret key missing',
    job: job(),
    pods: [
      pod({
        phase: 'Pending',
        app: {
          waiting: {
            reason: 'CreateContainerConfigError',
            message: "couldn't find key REDIS_URL in Secret noesis2/app-secrets"
          }
        }
      })
    ],
    expect: {
      outcome: 'failed',
      reason: 'CreateContainerConfigError',
      failure: { container: 'app', reason: 'CreateContainerConfigError' }
    }
  },
  {
    name: 'the Cloud SQL proxy sidecar in a crash loop: the command never starts',
    job: job(),
    pods: [
      pod({
        phase: 'Pending',
        app: { waiting: { reason: 'PodInitializing' } },
        proxy: {
          name: 'cloud-sql-proxy',
          ready: false,
          restartCount: 2,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error' } }
        }
      })
    ],
    expect: {
      outcome: 'failed',
      reason: 'CrashLoopBackOff',
      failure: { container: 'cloud-sql-proxy', reason: 'CrashLoopBackOff', lastExitCode: 1, sidecar: true }
    }
  },
  {
    name: 'no node yet, inside scheduling_grace',
    job: job(),
    pods: [
      pod({
        phase: 'Pending',
        created: 30,
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available'
          }
        ]
      })
    ],
    expect: { outcome: undefined, message: /pending for 30s of a 240s grace/ }
  },
  {
    name: 'no node past scheduling_grace',
    job: job(),
    pods: [
      pod({
        phase: 'Pending',
        created: 300,
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/3 nodes are available'
          }
        ]
      })
    ],
    expect: {
      outcome: 'failed',
      reason: 'Unschedulable',
      failure: { container: '', reason: 'Unschedulable' }
    }
  },
  {
    name: 'the Job may not create its pod, just seen',
    job: job(),
    events: [
      warning('FailedCreate', 'pods "x" is forbidden: exceeded quota: compute', {
        kind: 'Job',
        name: 'pre-deploy-4242-1-abcdef'
      })
    ],
    failedCreateSince: NOW - 1000,
    expect: {
      outcome: undefined,
      reason: 'FailedCreate',
      message: /^its pod could not be created yet: pods "x" is forbidden/
    }
  },
  {
    name: 'the Job may not create its pod, for longer than the grace',
    job: job(),
    events: [
      warning('FailedCreate', 'pods "x" is forbidden: exceeded quota: compute', {
        kind: 'Job',
        name: 'pre-deploy-4242-1-abcdef'
      })
    ],
    failedCreateSince: NOW - FAILED_CREATE_GRACE_MS,
    expect: {
      outcome: 'failed',
      reason: 'FailedCreate',
      message: 'pods "x" is forbidden: exceeded quota: compute'
    }
  },
  {
    name: 'a FailedCreate of another Job says nothing about this one',
    job: job(),
    events: [warning('FailedCreate', 'forbidden', { kind: 'Job', name: 'pre-deploy-4242-1-ffffff' })],
    failedCreateSince: NOW - FAILED_CREATE_GRACE_MS,
    expect: { outcome: undefined, message: 'waiting for the Job to create its pod' }
  }
]

describe('judgeGate', () => {
  for (const c of cases) {
    test(c.name, () => {
      const verdict = judgeGate(c.job, c.pods ?? [], c.events ?? [], {
        now: NOW,
        pendingGraceSeconds: 240,
        container: 'app',
        ...(c.failedCreateSince !== undefined ? { failedCreateSince: c.failedCreateSince } : {})
      })
      const { message, failure, ...rest } = c.expect
      for (const [key, value] of Object.entries(rest)) {
        assert.deepEqual(verdict[key as keyof GateVerdict], value, `${key}: ${JSON.stringify(verdict)}`)
      }
      if (message instanceof RegExp) assert.match(verdict.message, message)
      else if (message !== undefined) assert.equal(verdict.message, message)
      if (failure) {
        assert.ok(verdict.failure, JSON.stringify(verdict))
        for (const [key, value] of Object.entries(failure)) {
          assert.equal(verdict.failure[key as keyof typeof failure], value, key)
        }
      } else if ('outcome' in rest && rest.outcome === undefined) {
        assert.equal(verdict.failure, undefined)
      }
    })
  }
})
