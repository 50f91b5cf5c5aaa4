import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { detectPodFailures, summarizeFailure } from '../../src/deploy/pod-failures.js'
import type { PodFailure } from '../../src/deploy/pod-failures.js'
import type { Event, Pod } from '../../src/kube/types.js'
import { IMAGE, NOW, appStatus, podEvent, proxyStatus, secondsBefore, workerPod } from './fixtures/pods.js'

const POD = 'celery-worker-6599b86997-x7k2p'
const options = { now: NOW, pendingGraceSeconds: 300 }
const backOff = (container: string) =>
  `back-off 40s restarting failed container=${container} pod=${POD}_noesis2(uid-${POD})`

interface Case {
  name: string
  pod: Pod
  events?: Event[]
  crashLoopRestarts?: number
  expected: Array<Partial<PodFailure>>
}

const waitingApp = (reason: string, message?: string) =>
  workerPod({
    phase: 'Pending',
    containerStatuses: [
      appStatus({
        state: { waiting: { reason, ...(message ? { message } : {}) } },
        ready: false,
        started: false,
        imageID: ''
      })
    ]
  })

const cases: Case[] = [
  {
    name: 'healthy running pod: nothing',
    pod: workerPod(),
    expected: []
  },
  {
    name: 'ContainerCreating is normal start-up',
    pod: waitingApp('ContainerCreating'),
    expected: []
  },
  {
    name: 'app waiting for the sidecar to start (PodInitializing) is normal',
    pod: workerPod({
      phase: 'Pending',
      initContainerStatuses: [proxyStatus({ ready: false, started: true })],
      containerStatuses: [
        appStatus({ state: { waiting: { reason: 'PodInitializing' } }, ready: false, started: false })
      ]
    }),
    expected: []
  },
  {
    name: 'ImagePullBackOff names the image from the kubelet message',
    pod: waitingApp('ImagePullBackOff', `Back-off pulling image "${IMAGE}"`),
    expected: [
      {
        pod: POD,
        container: 'app',
        reason: 'ImagePullBackOff',
        message: `Back-off pulling image "${IMAGE}"`,
        fatal: true,
        sidecar: false,
        restartCount: 0
      }
    ]
  },
  {
    name: 'ErrImagePull',
    pod: waitingApp(
      'ErrImagePull',
      `rpc error: code = NotFound desc = failed to pull and unpack image "${IMAGE}": failed to resolve reference "${IMAGE}": ${IMAGE}: not found`
    ),
    expected: [{ container: 'app', reason: 'ErrImagePull', fatal: true }]
  },
  {
    name: 'InvalidImageName',
    pod: waitingApp(
      'InvalidImageName',
      'Failed to apply default image tag "Europe/App:v9": couldn\'t parse image name "Europe/App:v9": invalid reference format: repository name must be lowercase'
    ),
    expected: [{ reason: 'InvalidImageName', fatal: true }]
  },
  {
    name: 'ErrImageNeverPull without a message falls back to the image',
    pod: waitingApp('ErrImageNeverPull'),
    expected: [{ reason: 'ErrImageNeverPull', fatal: true, message: `image "${IMAGE}"` }]
  },
  {
    name: 'CreateContainerConfigError: missing Secret key',
    pod: waitingApp(
      'CreateContainerConfigError',
      "couldn't find key DATABASE_URL in Secret noesis2/app-secrets"
    ),
    expected: [
      {
        container: 'app',
        reason: 'CreateContainerConfigError',
        message: "couldn't find key DATABASE_URL in Secret noesis2/app-secrets",
        fatal: true
      }
    ]
  },
  {
    name: 'CreateContainerError',
    pod: waitingApp('CreateContainerError', 'failed to generate container spec: failed to apply OCI options'),
    expected: [{ reason: 'CreateContainerError', fatal: true }]
  },
  {
    name: 'RunContainerError',
    pod: waitingApp('RunContainerError', 'failed to start container "app": context deadline exceeded'),
    expected: [{ reason: 'RunContainerError', fatal: true }]
  },
  {
    name: 'app CrashLoopBackOff carries the last exit and the back-off message',
    pod: workerPod({
      containerStatuses: [
        appStatus({
          state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('app') } },
          lastState: {
            terminated: {
              exitCode: 1,
              reason: 'Error',
              startedAt: '2026-11-27T10:08:01Z',
              finishedAt: '2026-11-27T10:08:04Z'
            }
          },
          ready: false,
          started: false,
          restartCount: 3
        })
      ]
    }),
    expected: [
      {
        container: 'app',
        reason: 'CrashLoopBackOff',
        fatal: true,
        sidecar: false,
        restartCount: 3,
        lastExitCode: 1,
        message: `last exit code 1 (Error); ${backOff('app')}`
      }
    ]
  },
  {
    name: 'proxy sidecar CrashLoopBackOff (init container with restartPolicy Always)',
    pod: workerPod({
      phase: 'Pending',
      initContainerStatuses: [
        proxyStatus({
          state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('cloud-sql-proxy') } },
          lastState: {
            terminated: {
              exitCode: 1,
              reason: 'Error',
              message:
                'failed to connect to instance: Config error: instance does not have IP of type "PRIVATE"'
            }
          },
          ready: false,
          started: false,
          restartCount: 2
        })
      ],
      containerStatuses: [
        appStatus({ state: { waiting: { reason: 'PodInitializing' } }, ready: false, started: false })
      ]
    }),
    expected: [
      {
        container: 'cloud-sql-proxy',
        reason: 'CrashLoopBackOff',
        fatal: true,
        sidecar: true,
        restartCount: 2,
        lastExitCode: 1,
        message:
          'last exit code 1 (Error): failed to connect to instance: Config error: instance does not have IP of type "PRIVATE"; ' +
          backOff('cloud-sql-proxy')
      }
    ]
  },
  {
    name: 'proxy sidecar ImagePullBackOff',
    pod: workerPod({
      phase: 'Pending',
      initContainerStatuses: [
        proxyStatus({
          state: {
            waiting: {
              reason: 'ImagePullBackOff',
              message: 'Back-off pulling image "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.99.0"'
            }
          },
          ready: false,
          started: false
        })
      ],
      containerStatuses: [
        appStatus({ state: { waiting: { reason: 'PodInitializing' } }, ready: false, started: false })
      ]
    }),
    expected: [{ container: 'cloud-sql-proxy', reason: 'ImagePullBackOff', sidecar: true, fatal: true }]
  },
  {
    name: 'CrashLoopBackOff below crashLoopRestarts is reported but not fatal',
    crashLoopRestarts: 3,
    pod: workerPod({
      containerStatuses: [
        appStatus({
          state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('app') } },
          lastState: { terminated: { exitCode: 2, reason: 'Error' } },
          ready: false,
          restartCount: 1
        })
      ]
    }),
    expected: [{ reason: 'CrashLoopBackOff', fatal: false, restartCount: 1, lastExitCode: 2 }]
  },
  {
    name: 'CrashLoopBackOff at crashLoopRestarts is fatal',
    crashLoopRestarts: 3,
    pod: workerPod({
      containerStatuses: [
        appStatus({
          state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('app') } },
          lastState: { terminated: { exitCode: 2, reason: 'Error' } },
          ready: false,
          restartCount: 3
        })
      ]
    }),
    expected: [{ reason: 'CrashLoopBackOff', fatal: true, restartCount: 3 }]
  },
  {
    name: 'OOMKilled under CrashLoopBackOff names the memory limit',
    pod: workerPod({
      containerStatuses: [
        appStatus({
          state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('app') } },
          lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
          ready: false,
          restartCount: 2
        })
      ]
    }),
    expected: [
      {
        container: 'app',
        reason: 'OOMKilled',
        fatal: true,
        lastExitCode: 137,
        restartCount: 2,
        message: 'exceeded its memory limit 1Gi, exit code 137, 2 restarts'
      }
    ]
  },
  {
    name: 'OOMKilled once, now running again: still fatal',
    pod: workerPod({
      containerStatuses: [
        appStatus({ lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } }, restartCount: 1 })
      ]
    }),
    expected: [{ reason: 'OOMKilled', fatal: true, restartCount: 1 }]
  },
  {
    name: 'OOMKilled in the current state of the proxy sidecar names its limit',
    pod: workerPod({
      initContainerStatuses: [
        proxyStatus({
          state: { terminated: { exitCode: 137, reason: 'OOMKilled' } },
          ready: false,
          restartCount: 0
        })
      ]
    }),
    expected: [
      {
        container: 'cloud-sql-proxy',
        sidecar: true,
        reason: 'OOMKilled',
        fatal: true,
        message: 'exceeded its memory limit 128Mi, exit code 137'
      }
    ]
  },
  {
    name: 'StartError (command not found) is fatal',
    pod: workerPod({
      containerStatuses: [
        appStatus({
          state: {
            terminated: {
              exitCode: 128,
              reason: 'StartError',
              message:
                'failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "celery": executable file not found in $PATH: unknown'
            }
          },
          ready: false,
          started: false
        })
      ]
    }),
    expected: [{ reason: 'StartError', fatal: true, lastExitCode: 128 }]
  },
  {
    name: 'exited with an error before any back-off: reported, not fatal yet',
    pod: workerPod({
      containerStatuses: [
        appStatus({ state: { terminated: { exitCode: 1, reason: 'Error' } }, ready: false, restartCount: 0 })
      ]
    }),
    expected: [{ reason: 'Error', fatal: false, lastExitCode: 1, message: 'last exit code 1 (Error)' }]
  },
  {
    name: 'restarted after an error and running now: reported, not fatal',
    pod: workerPod({
      containerStatuses: [
        appStatus({ lastState: { terminated: { exitCode: 1, reason: 'Error' } }, restartCount: 1 })
      ]
    }),
    expected: [
      { reason: 'Error', fatal: false, restartCount: 1, message: 'last exit code 1 (Error), 1 restarts' }
    ]
  },
  {
    name: 'a terminating pod (proxy exiting 143) is ignored',
    pod: workerPod({
      deletionTimestamp: '2026-11-27T10:09:30Z',
      initContainerStatuses: [
        proxyStatus({ state: { terminated: { exitCode: 143, reason: 'Error' } }, ready: false })
      ]
    }),
    expected: []
  },
  {
    name: 'unschedulable within the grace: not fatal, says it waits for scale-up',
    pod: workerPod({ phase: 'Pending', scheduled: false, ageSeconds: 45 }),
    events: [
      podEvent(
        POD,
        'FailedScheduling',
        '0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.',
        { newStyle: true, component: 'default-scheduler', at: secondsBefore(NOW, 44) }
      ),
      podEvent(
        POD,
        'TriggeredScaleUp',
        'pod triggered scale-up: [{https://www.googleapis.com/compute/v1/projects/proj/zones/europe-west3-a/instanceGroups/gk3-workers-nap-1abc2def-9a8b7c6d-grp 0->1 (max: 1000)}]',
        { type: 'Normal', component: 'cluster-autoscaler', at: secondsBefore(NOW, 30) }
      )
    ],
    expected: [
      {
        pod: POD,
        container: '',
        reason: 'Unschedulable',
        fatal: false,
        sidecar: false,
        message:
          '0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.; ' +
          'the cluster autoscaler triggered a node scale-up; pending for 45s of a 300s grace for node scale-up'
      }
    ]
  },
  {
    name: 'unschedulable beyond the grace: fatal with the last FailedScheduling message',
    pod: workerPod({ phase: 'Pending', scheduled: false, ageSeconds: 420 }),
    events: [
      podEvent(POD, 'FailedScheduling', '0/2 nodes are available: 2 Insufficient cpu.', {
        at: secondsBefore(NOW, 400)
      }),
      podEvent(POD, 'FailedScheduling', '0/3 nodes are available: 3 Insufficient memory.', {
        at: secondsBefore(NOW, 20),
        count: 6
      }),
      podEvent(POD, 'NotTriggerScaleUp', "pod didn't trigger scale-up: 1 max node group size reached", {
        type: 'Normal',
        component: 'cluster-autoscaler',
        at: secondsBefore(NOW, 60)
      })
    ],
    expected: [
      {
        reason: 'Unschedulable',
        fatal: true,
        message:
          "0/3 nodes are available: 3 Insufficient memory.; pod didn't trigger scale-up: 1 max node group size reached; " +
          'still unscheduled after 420s (grace 300s)'
      }
    ]
  },
  {
    name: 'unschedulable exactly at the grace is fatal; condition message when no event was listed',
    pod: workerPod({
      phase: 'Pending',
      scheduled: false,
      ageSeconds: 300,
      unschedulableMessage: 'no nodes available'
    }),
    expected: [
      {
        reason: 'Unschedulable',
        fatal: true,
        message: 'no nodes available; still unscheduled after 300s (grace 300s)'
      }
    ]
  },
  {
    name: 'FailedScheduling events of another pod do not count',
    pod: workerPod({
      phase: 'Pending',
      containerStatuses: [appStatus({ state: { waiting: { reason: 'ContainerCreating' } }, ready: false })]
    }),
    events: [podEvent('celery-beat-5778b87fd9-abcde', 'FailedScheduling', '0/2 nodes are available.')],
    expected: []
  },
  {
    name: 'a scheduled pod with an old FailedScheduling event is not unschedulable',
    pod: workerPod({ ageSeconds: 900 }),
    events: [podEvent(POD, 'FailedScheduling', '0/2 nodes are available: 2 Insufficient cpu.')],
    expected: []
  }
]

describe('detectPodFailures', () => {
  for (const c of cases) {
    test(c.name, () => {
      const failures = detectPodFailures([c.pod], c.events ?? [], {
        ...options,
        ...(c.crashLoopRestarts !== undefined ? { crashLoopRestarts: c.crashLoopRestarts } : {})
      })
      assert.equal(failures.length, c.expected.length, JSON.stringify(failures, null, 2))
      c.expected.forEach((want, i) => {
        const got = failures[i]
        for (const [key, value] of Object.entries(want)) {
          assert.deepEqual(got[key as keyof PodFailure], value, `${key} of ${JSON.stringify(got)}`)
        }
      })
    })
  }

  test('several pods, init containers before app containers, in pod order', () => {
    const bad = workerPod({
      name: 'celery-worker-6599b86997-aaaaa',
      initContainerStatuses: [
        proxyStatus({ state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } } })
      ],
      containerStatuses: [
        appStatus({ state: { waiting: { reason: 'CreateContainerConfigError', message: 'x' } } })
      ]
    })
    const good = workerPod({ name: 'celery-worker-6599b86997-bbbbb' })
    const pending = workerPod({ name: 'celery-worker-6599b86997-ccccc', phase: 'Pending', scheduled: false })
    const failures = detectPodFailures([bad, good, pending], [], options)
    assert.deepEqual(
      failures.map(f => [f.pod, f.container, f.reason, f.fatal]),
      [
        ['celery-worker-6599b86997-aaaaa', 'cloud-sql-proxy', 'CrashLoopBackOff', true],
        ['celery-worker-6599b86997-aaaaa', 'app', 'CreateContainerConfigError', true],
        ['celery-worker-6599b86997-ccccc', '', 'Unschedulable', false]
      ]
    )
  })

  test('evicted (Failed) pods are left to the ReplicaSet to replace', () => {
    const evicted = workerPod({
      phase: 'Failed',
      containerStatuses: [appStatus({ state: { terminated: { exitCode: 137, reason: 'OOMKilled' } } })]
    })
    assert.deepEqual(detectPodFailures([evicted], [], options), [])
  })
})

describe('summarizeFailure', () => {
  const cases: Array<{ name: string; failure: PodFailure; line: string }> = [
    {
      name: 'app container',
      failure: {
        pod: 'celery-worker-abc12',
        container: 'app',
        reason: 'ImagePullBackOff',
        message: 'Back-off pulling image "x:v9"',
        fatal: true,
        sidecar: false
      },
      line: 'pod celery-worker-abc12 container app: ImagePullBackOff — Back-off pulling image "x:v9"'
    },
    {
      name: 'sidecar, multi-line message folded onto one line',
      failure: {
        pod: 'celery-worker-abc12',
        container: 'cloud-sql-proxy',
        reason: 'CrashLoopBackOff',
        message: 'last exit code 1 (Error): line one\nline two',
        fatal: true,
        sidecar: true
      },
      line: 'pod celery-worker-abc12 container cloud-sql-proxy (sidecar): CrashLoopBackOff — last exit code 1 (Error): line one line two'
    },
    {
      name: 'pod-level, no message',
      failure: {
        pod: 'celery-beat-x',
        container: '',
        reason: 'Unschedulable',
        message: '',
        fatal: true,
        sidecar: false
      },
      line: 'pod celery-beat-x: Unschedulable'
    }
  ]
  for (const c of cases) test(c.name, () => assert.equal(summarizeFailure(c.failure), c.line))
})
