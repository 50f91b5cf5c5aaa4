import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { detectPodFailures, summarizeFailure } from '../../src/deploy/pod-failures.js'
import type { PodFailure, PodFailureOptions } from '../../src/deploy/pod-failures.js'
import type { Event, Pod } from '../../src/k8s/types.js'
import { IMAGE, NOW, appStatus, podEvent, proxyStatus, secondsBefore, workerPod } from './fixtures/pods.js'

const POD = 'celery-worker-6599b86997-x7k2p'
const options = { now: NOW, pendingGraceSeconds: 300 }
const backOff = (container: string) =>
  `back-off 40s restarting failed container=${container} pod=${POD}_noesis2(uid-${POD})`

interface Case {
  name: string
  pod: Pod
  events?: Event[]
  options?: Partial<PodFailureOptions>
  expected: Array<Partial<PodFailure>>
}

const waitingApp = (reason: string, message?: string, ageSeconds?: number) =>
  workerPod({
    phase: 'Pending',
    ...(ageSeconds !== undefined ? { ageSeconds } : {}),
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
    name: 'ImagePullBackOff names the image from the kubelet message; no cause, 120s old: past the pull grace',
    pod: waitingApp('ImagePullBackOff', `Back-off pulling image "${IMAGE}"`),
    expected: [
      {
        pod: POD,
        container: 'app',
        reason: 'ImagePullBackOff',
        message: `Back-off pulling image "${IMAGE}"; still failing to pull after 120s (grace 90s)`,
        fatal: true,
        sidecar: false,
        restartCount: 0
      }
    ]
  },
  {
    name: 'ErrImagePull of a missing tag on a new pod: fatal at once',
    pod: waitingApp(
      'ErrImagePull',
      `rpc error: code = NotFound desc = failed to pull and unpack image "${IMAGE}": failed to resolve reference "${IMAGE}": ${IMAGE}: not found`,
      5
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
    options: { crashLoopRestarts: 3 },
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
    options: { crashLoopRestarts: 3 },
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
    name: 'OOMKilled once, now running and ready again: reported, not fatal',
    pod: workerPod({
      containerStatuses: [
        appStatus({ lastState: { terminated: { exitCode: 137, reason: 'OOMKilled' } }, restartCount: 1 })
      ]
    }),
    expected: [
      {
        reason: 'OOMKilled',
        fatal: false,
        restartCount: 1,
        lastExitCode: 137,
        message: 'restarted after an OOM kill: exceeded its memory limit 1Gi, exit code 137, 1 restarts'
      }
    ]
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

// --- Image pulls: the registry's answer decides whether waiting can help ---

const pullError = (detail: string, image = IMAGE) =>
  `rpc error: code = Unknown desc = failed to pull and unpack image "${image}": failed to resolve reference "${image}": ${detail}`
const MANIFESTS = 'https://europe-west3-docker.pkg.dev/v2/proj/app/noesis2-web/manifests/v9'
const TOKEN =
  'https://europe-west3-docker.pkg.dev/v2/token?scope=repository%3Aproj%2Fapp%2Fnoesis2-web%3Apull'

/** A kubelet event about one container of the pod, as the kubelet writes them (involvedObject.fieldPath). */
const containerEvent = (event: Event, fieldPath = 'spec.containers{app}'): Event => ({
  ...event,
  involvedObject: { ...event.involvedObject, fieldPath }
})
const pullFailedEvent = (
  detail: string,
  secondsAgo: number,
  extra: { count?: number; newStyle?: boolean } = {}
) =>
  containerEvent(
    podEvent(POD, 'Failed', `Failed to pull image "${IMAGE}": ${detail}`, {
      at: secondsBefore(NOW, secondsAgo),
      ...extra
    })
  )

const DEFINITIVE_PULL_ERRORS: Array<[string, string]> = [
  [
    'not found (containerd)',
    `rpc error: code = NotFound desc = failed to pull and unpack image "${IMAGE}": failed to resolve reference "${IMAGE}": ${IMAGE}: not found`
  ],
  ['manifest unknown', pullError(`unexpected status from HEAD request to ${MANIFESTS}: manifest unknown`)],
  ['name unknown', pullError('name unknown: Repository "noesis2-web" does not exist')],
  [
    'access denied',
    pullError('denied: Permission "artifactregistry.repositories.downloadArtifacts" denied on resource')
  ],
  [
    '401 Unauthorized',
    pullError(
      `failed to authorize: failed to fetch oauth token: unexpected status from GET request to ${TOKEN}: 401 Unauthorized`
    )
  ],
  [
    '403 Forbidden',
    pullError(
      `failed to authorize: failed to fetch oauth token: unexpected status from GET request to ${TOKEN}: 403 Forbidden`
    )
  ],
  ['bare 403', pullError(`unexpected status from HEAD request to ${MANIFESTS}: 403`)],
  ['invalid reference format', 'failed to pull image "Europe/App:v9": invalid reference format'],
  [
    'no such host',
    pullError(
      `failed to do request: Head "${MANIFESTS}": dial tcp: lookup europe-west3-docker.pkg.dev on 169.254.169.254:53: no such host`
    )
  ]
]

const TRANSIENT_PULL_ERRORS: Array<[string, string]> = [
  [
    '503 Service Unavailable',
    pullError(`unexpected status from HEAD request to ${MANIFESTS}: 503 Service Unavailable`)
  ],
  [
    '500 Internal Server Error',
    pullError(`unexpected status from HEAD request to ${MANIFESTS}: 500 Internal Server Error`)
  ],
  [
    'i/o timeout',
    pullError(`failed to do request: Head "${MANIFESTS}": dial tcp 142.250.185.74:443: i/o timeout`)
  ],
  [
    'TLS handshake timeout',
    pullError(`failed to do request: Head "${MANIFESTS}": net/http: TLS handshake timeout`)
  ],
  [
    'connection reset',
    pullError(
      `failed to do request: Head "${MANIFESTS}": read tcp 10.52.1.17:51234->142.250.185.74:443: read: connection reset by peer`
    )
  ],
  [
    'toomanyrequests',
    pullError("toomanyrequests: Quota exceeded for quota metric 'Requests per project per region'")
  ],
  ['unknown cause', pullError('failed to copy: httpReadSeeker: failed open: unexpected EOF')]
]

const pullCases: Case[] = [
  ...DEFINITIVE_PULL_ERRORS.flatMap(([label, message]): Case[] => [
    {
      name: `ErrImagePull, ${label}, no events, pod 5s old: fatal at once`,
      pod: waitingApp('ErrImagePull', message, 5),
      expected: [{ container: 'app', reason: 'ErrImagePull', fatal: true, message }]
    },
    {
      name: `ImagePullBackOff, ${label} only in the Failed event, pod 5s old: fatal at once, the event\u2019s cause instead of the back-off`,
      pod: waitingApp('ImagePullBackOff', `Back-off pulling image "${IMAGE}"`, 5),
      events: [pullFailedEvent(message, 4)],
      expected: [
        {
          reason: 'ImagePullBackOff',
          fatal: true,
          message: `Failed to pull image "${IMAGE}": ${message}`
        }
      ]
    }
  ]),
  ...TRANSIENT_PULL_ERRORS.flatMap(([label, message]): Case[] => [
    {
      name: `ErrImagePull, ${label}, no events, pod 30s old: within the grace from creation`,
      pod: waitingApp('ErrImagePull', message, 30),
      expected: [
        {
          reason: 'ErrImagePull',
          fatal: false,
          message: `${message}; failing to pull for 30s of a 90s grace for registry errors`
        }
      ]
    },
    {
      name: `ErrImagePull, ${label}, no events, pod 120s old: past the grace from creation`,
      pod: waitingApp('ErrImagePull', message, 120),
      expected: [
        {
          reason: 'ErrImagePull',
          fatal: true,
          message: `${message}; still failing to pull after 120s (grace 90s)`
        }
      ]
    },
    {
      name: `ImagePullBackOff, ${label} in events, pod 600s old but failing for 30s: within the grace from the first event`,
      pod: waitingApp('ImagePullBackOff', `Back-off pulling image "${IMAGE}"`, 600),
      events: [
        pullFailedEvent(message, 30, { count: 3 }),
        containerEvent(podEvent(POD, 'Failed', 'Error: ErrImagePull', { at: secondsBefore(NOW, 30) })),
        containerEvent(podEvent(POD, 'Failed', 'Error: ImagePullBackOff', { at: secondsBefore(NOW, 15) }))
      ],
      expected: [
        {
          reason: 'ImagePullBackOff',
          fatal: false,
          message:
            `Failed to pull image "${IMAGE}": ${message}; ` +
            'failing to pull for 30s of a 90s grace for registry errors'
        }
      ]
    },
    {
      name: `ImagePullBackOff, ${label} in events, failing for 100s of a 600s-old pod: past the grace from the first event`,
      pod: waitingApp('ImagePullBackOff', `Back-off pulling image "${IMAGE}"`, 600),
      events: [
        containerEvent(podEvent(POD, 'Failed', 'Error: ImagePullBackOff', { at: secondsBefore(NOW, 10) })),
        pullFailedEvent(message, 100, { count: 4 })
      ],
      expected: [
        {
          reason: 'ImagePullBackOff',
          fatal: true,
          message: `Failed to pull image "${IMAGE}": ${message}; still failing to pull after 100s (grace 90s)`
        }
      ]
    }
  ]),
  {
    // The fixture's eventTime carries microseconds (.123456), so 91s before NOW is 90.88s: whole seconds count.
    name: 'pull grace from an events.k8s.io event (eventTime, no firstTimestamp), at the grace: fatal',
    pod: waitingApp('ErrImagePull', TRANSIENT_PULL_ERRORS[0][1], 600),
    events: [pullFailedEvent(TRANSIENT_PULL_ERRORS[0][1], 91, { newStyle: true })],
    expected: [
      {
        reason: 'ErrImagePull',
        fatal: true,
        message: `${TRANSIENT_PULL_ERRORS[0][1]}; still failing to pull after 90s (grace 90s)`
      }
    ]
  },
  {
    name: 'pull grace from an events.k8s.io event, one second short of the grace: not fatal',
    pod: waitingApp('ErrImagePull', TRANSIENT_PULL_ERRORS[0][1], 600),
    events: [pullFailedEvent(TRANSIENT_PULL_ERRORS[0][1], 90, { newStyle: true })],
    expected: [{ reason: 'ErrImagePull', fatal: false }]
  },
  {
    name: 'pull grace: Normal events, crash back-offs and other containers do not start the clock',
    pod: waitingApp('ErrImagePull', TRANSIENT_PULL_ERRORS[0][1], 20),
    events: [
      containerEvent(
        podEvent(POD, 'Pulling', `Pulling image "${IMAGE}"`, { type: 'Normal', at: secondsBefore(NOW, 300) })
      ),
      containerEvent(
        podEvent(
          POD,
          'BackOff',
          `Back-off restarting failed container app in pod ${POD}_noesis2(uid-${POD})`,
          {
            at: secondsBefore(NOW, 300)
          }
        )
      ),
      containerEvent(
        podEvent(
          POD,
          'Failed',
          'Failed to pull image "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.99.0": 503',
          {
            at: secondsBefore(NOW, 300)
          }
        ),
        'spec.initContainers{cloud-sql-proxy}'
      ),
      podEvent('celery-worker-6599b86997-zzzzz', 'Failed', `Failed to pull image "${IMAGE}": 503`, {
        at: secondsBefore(NOW, 300)
      })
    ],
    expected: [
      {
        reason: 'ErrImagePull',
        fatal: false,
        message: `${TRANSIENT_PULL_ERRORS[0][1]}; failing to pull for 20s of a 90s grace for registry errors`
      }
    ]
  },
  {
    name: 'a tag that looks like a status code (v1.403) does not make a 503 definitive',
    pod: workerPod({
      phase: 'Pending',
      ageSeconds: 10,
      containerStatuses: [
        appStatus({
          image: `${IMAGE.split(':')[0]}:v1.403`,
          state: {
            waiting: {
              reason: 'ErrImagePull',
              message: pullError('503 Service Unavailable', `${IMAGE.split(':')[0]}:v1.403`)
            }
          },
          ready: false,
          started: false
        })
      ]
    }),
    expected: [{ reason: 'ErrImagePull', fatal: false }]
  },
  {
    name: 'pullRetryGraceSeconds is honoured: 120s of a 300s grace is not fatal',
    options: { pullRetryGraceSeconds: 300 },
    pod: waitingApp('ErrImagePull', TRANSIENT_PULL_ERRORS[0][1], 120),
    expected: [
      {
        reason: 'ErrImagePull',
        fatal: false,
        message: `${TRANSIENT_PULL_ERRORS[0][1]}; failing to pull for 120s of a 300s grace for registry errors`
      }
    ]
  },
  {
    name: 'proxy sidecar ImagePullBackOff within the grace: reported as sidecar, not fatal',
    pod: workerPod({
      phase: 'Pending',
      ageSeconds: 30,
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
    expected: [{ container: 'cloud-sql-proxy', sidecar: true, reason: 'ImagePullBackOff', fatal: false }]
  },
  {
    name: 'InvalidImageName and ErrImageNeverPull stay fatal at once on a new pod',
    pod: workerPod({
      phase: 'Pending',
      ageSeconds: 1,
      initContainerStatuses: [
        proxyStatus({ state: { waiting: { reason: 'ErrImageNeverPull' } }, ready: false, started: false })
      ],
      containerStatuses: [
        appStatus({
          state: { waiting: { reason: 'InvalidImageName', message: 'x' } },
          ready: false,
          started: false
        })
      ]
    }),
    expected: [
      { container: 'cloud-sql-proxy', reason: 'ErrImageNeverPull', fatal: true },
      { container: 'app', reason: 'InvalidImageName', fatal: true }
    ]
  }
]

// --- CrashLoopBackOff: the first back-off may be a dependency still starting, the second is not ---

const crashLoopCases: Case[] = [0, 1, 2, 3].flatMap((restartCount): Case[] => {
  const fatal = restartCount >= 2
  const lastState = { terminated: { exitCode: 1, reason: 'Error' } }
  return [
    {
      name: `app CrashLoopBackOff at restartCount ${restartCount}: ${fatal ? 'fatal' : 'not fatal yet'} (default threshold 2)`,
      pod: workerPod({
        containerStatuses: [
          appStatus({
            state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('app') } },
            lastState,
            ready: false,
            restartCount
          })
        ]
      }),
      expected: [{ container: 'app', sidecar: false, reason: 'CrashLoopBackOff', fatal, restartCount }]
    },
    {
      name: `proxy sidecar CrashLoopBackOff at restartCount ${restartCount}: ${fatal ? 'fatal' : 'not fatal yet'}`,
      pod: workerPod({
        phase: 'Pending',
        initContainerStatuses: [
          proxyStatus({
            state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('cloud-sql-proxy') } },
            lastState,
            ready: false,
            started: false,
            restartCount
          })
        ],
        containerStatuses: [
          appStatus({ state: { waiting: { reason: 'PodInitializing' } }, ready: false, started: false })
        ]
      }),
      expected: [
        { container: 'cloud-sql-proxy', sidecar: true, reason: 'CrashLoopBackOff', fatal, restartCount }
      ]
    }
  ]
})

// --- OOMKilled: fatal while the container is down for it, not once it runs again ---

const OOM = { terminated: { exitCode: 137, reason: 'OOMKilled' } }
const oomCases: Case[] = [
  {
    name: 'app OOMKilled in its current state: fatal',
    pod: workerPod({
      containerStatuses: [appStatus({ state: OOM, ready: false, restartCount: 0 })]
    }),
    expected: [
      {
        reason: 'OOMKilled',
        fatal: true,
        lastExitCode: 137,
        message: 'exceeded its memory limit 1Gi, exit code 137'
      }
    ]
  },
  {
    name: 'CrashLoopBackOff after an OOM kill at restartCount 1: fatal as OOMKilled',
    pod: workerPod({
      containerStatuses: [
        appStatus({
          state: { waiting: { reason: 'CrashLoopBackOff', message: backOff('app') } },
          lastState: OOM,
          ready: false,
          restartCount: 1
        })
      ]
    }),
    expected: [
      {
        reason: 'OOMKilled',
        fatal: true,
        message: 'exceeded its memory limit 1Gi, exit code 137, 1 restarts'
      }
    ]
  },
  {
    name: 'running again after an OOM kill but not ready yet: not fatal',
    pod: workerPod({
      containerStatuses: [appStatus({ lastState: OOM, ready: false, restartCount: 1 })]
    }),
    expected: [
      {
        reason: 'OOMKilled',
        fatal: false,
        message: 'restarted after an OOM kill: exceeded its memory limit 1Gi, exit code 137, 1 restarts'
      }
    ]
  },
  {
    name: 'proxy sidecar running and ready again after an OOM kill: not fatal, names its limit',
    pod: workerPod({
      initContainerStatuses: [proxyStatus({ lastState: OOM, restartCount: 1 })]
    }),
    expected: [
      {
        container: 'cloud-sql-proxy',
        sidecar: true,
        reason: 'OOMKilled',
        fatal: false,
        message: 'restarted after an OOM kill: exceeded its memory limit 128Mi, exit code 137, 1 restarts'
      }
    ]
  },
  {
    name: 'a fatal waiting reason after an earlier OOM kill is reported as itself',
    pod: workerPod({
      containerStatuses: [
        appStatus({
          state: {
            waiting: { reason: 'CreateContainerConfigError', message: 'secret "app-secrets" not found' }
          },
          lastState: OOM,
          ready: false,
          restartCount: 1
        })
      ]
    }),
    expected: [{ reason: 'CreateContainerConfigError', fatal: true, lastExitCode: 137 }]
  }
]

describe('detectPodFailures', () => {
  for (const c of [...cases, ...pullCases, ...crashLoopCases, ...oomCases]) {
    test(c.name, () => {
      const failures = detectPodFailures([c.pod], c.events ?? [], { ...options, ...c.options })
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
        proxyStatus({
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off' } },
          restartCount: 2
        })
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
