import { randomBytes } from 'node:crypto'
import type { JsonObject } from '../json.js'
import { clone, deepEqual, isObject } from '../json.js'
import { nowSeconds } from '../managed.js'
import type { PodScenario, ScenarioBook } from '../scenarios.js'
import { badRequest } from '../status.js'
import type { Store } from '../store.js'
import { meta } from '../store.js'
import type { EventRecorder } from './events.js'
import type { ControllerWriter } from './writer.js'
import { rtOf } from './writer.js'

const podRt = rtOf('pods')
const secretRt = rtOf('secrets')
const configMapRt = rtOf('configmaps')
const NODE = 'gk3-emulator-pool-1-node-a'

interface ContainerSim {
  name: string
  image: string
  kind: 'init' | 'sidecar' | 'app'
  state: JsonObject // {waiting|running|terminated: ...}
  lastState: JsonObject
  restartCount: number
  started: boolean
  everStarted: boolean
  startedAtMs: number
  nextStartAtMs: number
  ready: boolean
  log: string[]
  previousLog?: string[]
  containerID: string
  unhealthyAtMs: number
}

interface PodSim {
  createdMs: number
  scheduledMs?: number
  scenario: PodScenario
  containers: ContainerSim[]
  transitions: Record<string, { status: string; time: string }>
  startTime?: string
  podIP: string
  deletionSeenMs?: number
}

export interface KubeletTiming {
  tickMs: number
}

// Simulates scheduler + kubelet: binds pods, runs containers according to the pod's scenario, writes status,
// emits the events a real node would, and keeps container logs.
export class Kubelet {
  private pods = new Map<string, PodSim>()

  constructor(
    private store: Store,
    private writer: ControllerWriter,
    private events: EventRecorder,
    private scenarios: ScenarioBook,
    private timing: KubeletTiming
  ) {}

  reset(): void {
    this.pods.clear()
  }

  sync(): void {
    const now = Date.now()
    const seen = new Set<string>()
    // The stored pods, not copies (scan): the kubelet looks at every pod each tick, and writes through the
    // writer, which reads the pod afresh.
    for (const pod of this.store.scan(podRt)) {
      const uid = String(meta(pod).uid)
      seen.add(uid)
      const sim = this.pods.get(uid) ?? this.newSim(pod, now)
      this.pods.set(uid, sim)
      if (meta(pod).deletionTimestamp) this.terminate(pod, sim, now)
      else this.advance(pod, sim, now)
    }
    for (const uid of this.pods.keys()) if (!seen.has(uid)) this.pods.delete(uid)
  }

  private newSim(pod: JsonObject, now: number): PodSim {
    const spec = pod.spec as JsonObject
    const inits = (spec.initContainers as JsonObject[] | undefined) ?? []
    const apps = (spec.containers as JsonObject[] | undefined) ?? []
    const target = apps.find(c => c.name === 'app') ?? apps[0]
    const mk = (c: JsonObject, kind: ContainerSim['kind']): ContainerSim => ({
      name: String(c.name),
      image: String(c.image),
      kind,
      state: {
        waiting: { reason: kind === 'app' && inits.length ? 'PodInitializing' : 'ContainerCreating' }
      },
      lastState: {},
      restartCount: 0,
      started: false,
      everStarted: false,
      startedAtMs: 0,
      nextStartAtMs: 0,
      ready: false,
      log: [],
      containerID: '',
      unhealthyAtMs: 0
    })
    return {
      createdMs: now,
      scenario: this.scenarios.forPod(
        String(target?.image ?? ''),
        [...inits, ...apps].map(c => ({ name: String(c.name), image: String(c.image) }))
      ),
      containers: [
        ...inits.map(c => mk(c, c.restartPolicy === 'Always' ? 'sidecar' : 'init')),
        ...apps.map(c => mk(c, 'app'))
      ],
      transitions: {},
      podIP: `10.52.${randomBytes(1)[0]}.${(randomBytes(1)[0] % 250) + 2}`
    }
  }

  private terminate(pod: JsonObject, sim: PodSim, now: number): void {
    if (sim.deletionSeenMs === undefined) {
      sim.deletionSeenMs = now
      for (const c of sim.containers)
        if (c.state.running)
          this.events.record(
            pod,
            'Normal',
            'Killing',
            `Stopping container ${c.name}`,
            'kubelet',
            this.fieldPath(sim, c)
          )
    }
    // a short stand-in for the grace period: long enough to be seen as terminating, short enough for tests
    const grace = Math.min(Number(meta(pod).deletionGracePeriodSeconds ?? 30) * 1000, 6 * this.timing.tickMs)
    if (now - sim.deletionSeenMs >= grace)
      this.store.remove(podRt, String(meta(pod).namespace), String(meta(pod).name))
  }

  private fieldPath(sim: PodSim, c: ContainerSim): string {
    const list = c.kind === 'app' ? 'containers' : 'initContainers'
    return `spec.${list}{${c.name}}`
  }

  private effectiveScenario(sim: PodSim, now: number): PodScenario | 'unschedulable' {
    let s = sim.scenario
    let start = sim.createdMs
    while (s.kind === 'pending') {
      if (now < start + s.forMs) return 'unschedulable'
      start += s.forMs
      s = s.then ?? { kind: 'healthy', readyAfterMs: 200 }
    }
    return s
  }

  private configError(pod: JsonObject, container: JsonObject): string | undefined {
    const ns = String(meta(pod).namespace)
    for (const e of (container.env as JsonObject[] | undefined) ?? []) {
      const vf = isObject(e.valueFrom) ? e.valueFrom : undefined
      for (const [refKey, rt, label] of [
        ['secretKeyRef', secretRt, 'Secret'],
        ['configMapKeyRef', configMapRt, 'ConfigMap']
      ] as const) {
        const ref = vf && isObject(vf[refKey]) ? (vf[refKey] as JsonObject) : undefined
        if (!ref || ref.optional === true) continue
        const obj = this.store.get(rt, ns, String(ref.name))
        if (!obj) return `${label.toLowerCase()} "${String(ref.name)}" not found`
        const data = {
          ...((obj.data as JsonObject | undefined) ?? {}),
          ...((obj.binaryData as JsonObject | undefined) ?? {})
        }
        if (!(String(ref.key) in data))
          return `couldn't find key ${String(ref.key)} in ${label} ${ns}/${String(ref.name)}`
      }
    }
    for (const e of (container.envFrom as JsonObject[] | undefined) ?? []) {
      for (const [refKey, rt, label] of [
        ['secretRef', secretRt, 'secret'],
        ['configMapRef', configMapRt, 'configmap']
      ] as const) {
        const ref = isObject(e[refKey]) ? (e[refKey] as JsonObject) : undefined
        if (ref && ref.optional !== true && !this.store.get(rt, ns, String(ref.name)))
          return `${label} "${String(ref.name)}" not found`
      }
    }
    return undefined
  }

  private startContainer(
    pod: JsonObject,
    sim: PodSim,
    c: ContainerSim,
    now: number,
    scenario: PodScenario
  ): void {
    const fp = this.fieldPath(sim, c)
    if (!c.everStarted) {
      this.events.record(pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, 'kubelet', fp)
      this.events.record(
        pod,
        'Normal',
        'Pulled',
        `Successfully pulled image "${c.image}" in 1.2s (1.2s including waiting). Image size: 52428800 bytes.`,
        'kubelet',
        fp
      )
    } else
      this.events.record(
        pod,
        'Normal',
        'Pulled',
        `Container image "${c.image}" already present on machine`,
        'kubelet',
        fp
      )
    this.events.record(pod, 'Normal', 'Created', `Created container: ${c.name}`, 'kubelet', fp)
    this.events.record(pod, 'Normal', 'Started', `Started container ${c.name}`, 'kubelet', fp)
    c.containerID = `containerd://${randomBytes(32).toString('hex')}`
    c.state = { running: { startedAt: nowSeconds() } }
    c.started = true
    c.everStarted = true
    c.startedAtMs = now
    c.ready = false
    const crash =
      (scenario.kind === 'crashLoop' || scenario.kind === 'oomKilled') && scenario.container === c.name
    const custom = scenario.kind === 'crashLoop' && crash ? scenario.log : undefined
    c.log =
      custom !== undefined
        ? custom.split('\n').filter((l, i, a) => l !== '' || i < a.length - 1)
        : defaultLog(c, c.restartCount)
  }

  private advance(pod: JsonObject, sim: PodSim, now: number): void {
    const tick = this.timing.tickMs
    const scenario = this.effectiveScenario(sim, now)
    const spec = pod.spec as JsonObject
    const nodeName = spec.nodeName as string | undefined
    if (scenario === 'unschedulable') {
      this.events.record(
        pod,
        'Warning',
        'FailedScheduling',
        '0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.',
        'default-scheduler'
      )
      if (!sim.transitions.scaleUp) {
        sim.transitions.scaleUp = { status: 'True', time: nowSeconds() }
        this.events.record(
          pod,
          'Normal',
          'TriggeredScaleUp',
          'pod triggered scale-up: [{https://www.googleapis.com/compute/v1/projects/emulator/zones/europe-west3-a/instanceGroups/gk3-emulator-pool-2-grp 0->1 (max: 1000)}]',
          'cluster-autoscaler'
        )
      }
      this.writePod(pod, {
        phase: 'Pending',
        conditions: [
          this.cond(
            sim,
            'PodScheduled',
            'False',
            'Unschedulable',
            '0/3 nodes are available: 3 Insufficient cpu, 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.'
          )
        ],
        qosClass: 'Burstable'
      })
      return
    }
    if (nodeName && sim.scheduledMs === undefined) {
      // bound elsewhere (spec.nodeName given at create): start from here
      sim.scheduledMs = now
      sim.startTime = nowSeconds()
    }
    if (!nodeName) {
      sim.scheduledMs = now
      sim.startTime = nowSeconds()
      const next = clone(pod)
      ;(next.spec as JsonObject).nodeName = NODE
      pod = this.writer.update(podRt, pod, next, 'kube-scheduler')
      this.events.record(
        pod,
        'Normal',
        'Scheduled',
        `Successfully assigned ${String(meta(pod).namespace)}/${String(meta(pod).name)} to ${NODE}`,
        'default-scheduler'
      )
    }
    const sched = sim.scheduledMs ?? now
    const specOf = (c: ContainerSim): JsonObject =>
      (((c.kind === 'app' ? spec.containers : spec.initContainers) as JsonObject[]) ?? []).find(
        x => x.name === c.name
      ) ?? {}

    let gateOpen = now >= sched + tick
    for (const c of sim.containers) {
      const cs = specOf(c)
      if (c.kind === 'app' && !gateOpen) break
      const crashes =
        (scenario.kind === 'crashLoop' || scenario.kind === 'oomKilled') && scenario.container === c.name
      if (c.state.terminated && c.kind === 'init') continue
      if (c.state.running) {
        if (crashes && now >= c.startedAtMs + 2 * tick) {
          const exitCode =
            scenario.kind === 'oomKilled' ? 137 : scenario.kind === 'crashLoop' ? (scenario.exitCode ?? 1) : 1
          const reason = scenario.kind === 'oomKilled' ? 'OOMKilled' : 'Error'
          const running = c.state.running as JsonObject
          c.lastState = {
            terminated: {
              exitCode,
              reason,
              startedAt: running.startedAt ?? null,
              finishedAt: nowSeconds(),
              containerID: c.containerID
            }
          }
          c.previousLog = c.log
          c.restartCount += 1
          c.started = false
          c.ready = false
          c.nextStartAtMs = now + 4 * tick
          c.state = {
            waiting: {
              reason: 'CrashLoopBackOff',
              message: `back-off 10s restarting failed container=${c.name} pod=${String(meta(pod).name)}_${String(meta(pod).namespace)}(${String(meta(pod).uid)})`
            }
          }
          this.events.record(
            pod,
            'Warning',
            'BackOff',
            `Back-off restarting failed container ${c.name} in pod ${String(meta(pod).name)}_${String(meta(pod).namespace)}(${String(meta(pod).uid)})`,
            'kubelet',
            this.fieldPath(sim, c)
          )
        } else if (c.kind === 'init' && now >= c.startedAtMs + tick) {
          const running = c.state.running as JsonObject
          c.previousLog = undefined
          c.state = {
            terminated: {
              exitCode: 0,
              reason: 'Completed',
              startedAt: running.startedAt ?? null,
              finishedAt: nowSeconds(),
              containerID: c.containerID
            }
          }
          c.started = false
          c.ready = true
        } else if (c.kind === 'sidecar') c.ready = !crashes
        else if (c.kind === 'app') {
          if (scenario.kind === 'neverReady') {
            c.ready = false
            if (now >= c.unhealthyAtMs) {
              c.unhealthyAtMs = now + 20 * tick
              this.events.record(
                pod,
                'Warning',
                'Unhealthy',
                'Readiness probe failed: ',
                'kubelet',
                this.fieldPath(sim, c)
              )
            }
          } else {
            const after = scenario.kind === 'healthy' ? (scenario.readyAfterMs ?? 200) : 200
            c.ready = now >= c.startedAtMs + after
          }
        }
      } else {
        const waitingReason = String((c.state.waiting as JsonObject | undefined)?.reason ?? '')
        const configErr = this.configError(pod, cs)
        const pullFails =
          scenario.kind === 'imagePullBackOff' && (c.kind === 'app' ? c === this.target(sim) : false)
        if (configErr) {
          if (waitingReason !== 'CreateContainerConfigError' || now >= c.nextStartAtMs) {
            c.state = { waiting: { reason: 'CreateContainerConfigError', message: configErr } }
            c.nextStartAtMs = now + 20 * tick
            this.events.record(
              pod,
              'Warning',
              'Failed',
              `Error: ${configErr}`,
              'kubelet',
              this.fieldPath(sim, c)
            )
          }
        } else if (pullFails) {
          if (
            waitingReason === '' ||
            waitingReason === 'ContainerCreating' ||
            waitingReason === 'PodInitializing'
          ) {
            // containerd's words, as the control-plane rig's kubelet stand-in says them (kubelet-stages.ts).
            const denied = sim.scenario.kind === 'imagePullBackOff' && sim.scenario.answer === 'denied'
            const msg = denied
              ? `rpc error: code = Unknown desc = failed to pull and unpack image "${c.image}": failed to resolve reference "${c.image}": failed to authorize: failed to fetch oauth token: unexpected status: 403 Forbidden`
              : `rpc error: code = NotFound desc = failed to pull and unpack image "${c.image}": failed to resolve reference "${c.image}": ${c.image}: not found`
            c.state = { waiting: { reason: 'ErrImagePull', message: msg } }
            c.nextStartAtMs = now + 3 * tick
            this.events.record(
              pod,
              'Normal',
              'Pulling',
              `Pulling image "${c.image}"`,
              'kubelet',
              this.fieldPath(sim, c)
            )
            this.events.record(
              pod,
              'Warning',
              'Failed',
              `Failed to pull image "${c.image}": ${msg}`,
              'kubelet',
              this.fieldPath(sim, c)
            )
            this.events.record(
              pod,
              'Warning',
              'Failed',
              'Error: ErrImagePull',
              'kubelet',
              this.fieldPath(sim, c)
            )
          } else if (waitingReason === 'ErrImagePull' && now >= c.nextStartAtMs) {
            c.state = {
              waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${c.image}"` }
            }
            this.events.record(
              pod,
              'Normal',
              'BackOff',
              `Back-off pulling image "${c.image}"`,
              'kubelet',
              this.fieldPath(sim, c)
            )
            this.events.record(
              pod,
              'Warning',
              'Failed',
              'Error: ImagePullBackOff',
              'kubelet',
              this.fieldPath(sim, c)
            )
          }
        } else if (waitingReason !== 'CrashLoopBackOff' || now >= c.nextStartAtMs) {
          this.startContainer(pod, sim, c, now, scenario)
        }
      }
      // regular init containers run one after another; app containers wait for init + sidecar startup
      if (c.kind === 'init' && !c.state.terminated) gateOpen = false
      // A crashing native sidecar never passes its startup probe: the app containers are never started.
      if (c.kind === 'sidecar' && (!c.everStarted || crashes)) gateOpen = false
    }
    this.writePod(pod, this.podStatus(sim))
  }

  private target(sim: PodSim): ContainerSim | undefined {
    const apps = sim.containers.filter(c => c.kind === 'app')
    return apps.find(c => c.name === 'app') ?? apps[0]
  }

  private cond(sim: PodSim, type: string, status: string, reason?: string, message?: string): JsonObject {
    const prev = sim.transitions[type]
    if (!prev || prev.status !== status) sim.transitions[type] = { status, time: nowSeconds() }
    const c: JsonObject = {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: sim.transitions[type].time
    }
    if (reason) c.reason = reason
    if (message) c.message = message
    return c
  }

  private podStatus(sim: PodSim): JsonObject {
    const inits = sim.containers.filter(c => c.kind !== 'app')
    const apps = sim.containers.filter(c => c.kind === 'app')
    const initDone = inits.every(c => (c.kind === 'init' ? !!c.state.terminated : c.everStarted))
    const notReady = [...inits.filter(c => c.kind === 'sidecar'), ...apps]
      .filter(c => !c.ready)
      .map(c => c.name)
    const allReady = notReady.length === 0
    const pendingInit = inits
      .filter(c => (c.kind === 'init' ? !c.state.terminated : !c.everStarted))
      .map(c => c.name)
    const conditions = [
      this.cond(sim, 'PodReadyToStartContainers', 'True'),
      initDone
        ? this.cond(sim, 'Initialized', 'True')
        : this.cond(
            sim,
            'Initialized',
            'False',
            'ContainersNotInitialized',
            `containers with incomplete status: [${pendingInit.join(' ')}]`
          ),
      allReady
        ? this.cond(sim, 'Ready', 'True')
        : this.cond(
            sim,
            'Ready',
            'False',
            'ContainersNotReady',
            `containers with unready status: [${notReady.join(' ')}]`
          ),
      allReady
        ? this.cond(sim, 'ContainersReady', 'True')
        : this.cond(
            sim,
            'ContainersReady',
            'False',
            'ContainersNotReady',
            `containers with unready status: [${notReady.join(' ')}]`
          ),
      this.cond(sim, 'PodScheduled', 'True')
    ]
    const statusOf = (c: ContainerSim): JsonObject => {
      const s: JsonObject = {
        name: c.name,
        state: c.state,
        lastState: c.lastState,
        ready: c.ready,
        restartCount: c.restartCount,
        image: c.image,
        imageID: c.everStarted ? `${c.image.split(':')[0]}@sha256:${hashHex(c.image)}` : '',
        started: c.started
      }
      if (c.containerID) s.containerID = c.containerID
      return s
    }
    const running = apps.some(c => c.everStarted)
    const status: JsonObject = {
      phase: initDone && running ? 'Running' : 'Pending',
      conditions,
      hostIP: '10.156.0.12',
      hostIPs: [{ ip: '10.156.0.12' }],
      podIP: sim.podIP,
      podIPs: [{ ip: sim.podIP }],
      startTime: sim.startTime ?? nowSeconds()
    }
    if (inits.length) status.initContainerStatuses = inits.map(statusOf)
    status.containerStatuses = apps.map(statusOf)
    status.qosClass = 'Burstable'
    return status
  }

  private writePod(pod: JsonObject, status: JsonObject): void {
    if (deepEqual(pod.status, status)) return
    const fresh = this.store.get(podRt, String(meta(pod).namespace), String(meta(pod).name))
    if (!fresh || meta(fresh).deletionTimestamp) return
    const next = clone(fresh)
    next.status = status
    this.writer.update(podRt, fresh, next, 'kubelet', 'status')
  }

  // GET .../pods/P/log
  readLog(pod: JsonObject, q: URLSearchParams): string {
    const sim = this.pods.get(String(meta(pod).uid))
    const name = String(meta(pod).name)
    const spec = pod.spec as JsonObject
    const apps = ((spec.containers as JsonObject[] | undefined) ?? []).map(c => String(c.name))
    const inits = ((spec.initContainers as JsonObject[] | undefined) ?? []).map(c => String(c.name))
    let container = q.get('container') ?? ''
    if (!container) {
      const preferred = (meta(pod).annotations as JsonObject | undefined)?.[
        'kubectl.kubernetes.io/default-container'
      ]
      if (typeof preferred === 'string') container = preferred
      else if (apps.length === 1) container = apps[0]
      else
        throw badRequest(
          `a container name must be specified for pod ${name}, choose one of: [${apps.join(' ')}]${inits.length ? ` or one of the init containers: [${inits.join(' ')}]` : ''}`
        )
    }
    if (!apps.includes(container) && !inits.includes(container))
      throw badRequest(`container ${container} is not valid for pod ${name}`)
    const c = sim?.containers.find(x => x.name === container)
    let lines: string[]
    if (q.get('previous') === 'true') {
      if (!c?.previousLog)
        throw badRequest(`previous terminated container "${container}" in pod "${name}" not found`)
      lines = c.previousLog
    } else {
      if (!c || !c.everStarted) {
        const reason = String((c?.state.waiting as JsonObject | undefined)?.reason ?? 'ContainerCreating')
        throw badRequest(
          `container "${container}" in pod "${name}" is waiting to start: ${reason === 'ContainerCreating' || reason === 'PodInitializing' ? reason : reason === 'ImagePullBackOff' || reason === 'ErrImagePull' ? 'trying and failing to pull image' : reason}`
        )
      }
      lines = c.log
    }
    const tail = q.get('tailLines')
    if (tail !== null) lines = lines.slice(Math.max(0, lines.length - Number(tail)))
    return lines.map(l => l + '\n').join('')
  }

  // exec needs to know whether the container is running
  containerRunning(pod: JsonObject, container: string): boolean {
    const sim = this.pods.get(String(meta(pod).uid))
    const c = sim?.containers.find(x => x.name === container)
    return !!c && !!c.state.running
  }
}

function hashHex(s: string): string {
  let h = 0n
  for (const ch of Buffer.from(s)) h = (h * 131n + BigInt(ch)) % 2n ** 256n
  return h.toString(16).padStart(64, '0')
}

function defaultLog(c: ContainerSim, instance: number): string[] {
  if (c.name === 'cloud-sql-proxy' || c.image.includes('cloud-sql-proxy'))
    return [
      `${new Date().toISOString()} Authorizing with Application Default Credentials`,
      `${new Date().toISOString()} [proj:region:inst] Listening on 127.0.0.1:5432`,
      `${new Date().toISOString()} The proxy has started successfully and is ready for new connections!`
    ]
  return [
    `emulator: container ${c.name} started (image ${c.image}, instance ${instance})`,
    `[INFO] ${c.name}: ready`
  ]
}
