// The kubelet stand-in of the real control plane: kwok Stages that write what a kubelet writes for the pods on
// the rig's node (phase, conditions, container and native-sidecar states, restart counts with back-off) and the
// Events it records (Pulling, Started, Failed, BackOff, Unhealthy, Killing), each with the container's fieldPath.
// Which way a pod goes is decided by the markers in its images (../scenario-images.ts), so the stages are fixed
// and mutually exclusive. A pod of restartPolicy Never (a Job's) is not restarted: its process exits once (exit 0
// after KubeletTiming.jobRunMs when unmarked, exit 1 or OOMKilled when marked so) and the pod ends Succeeded or
// Failed, its native sidecars stopped with it, as the kubelet does; only a marked sidecar restarts there. The
// stages are mutually exclusive: at any moment at most one matches a pod, and kwok's random choice among matching
// stages never comes into play. A pod's place in this machine is kept in a condition of our own
// (STAGE_CONDITION); the API accepts any qualified name there, as it does for controllers' readiness gates.

import {
  SCENARIO_ANNOTATION,
  SCENARIO_CONTAINER_ANNOTATION,
  SCENARIO_MESSAGE_ANNOTATION
} from './pod-scenarios.js'
import { SCENARIO_MARKERS, STOP_MARKERS } from '../scenario-images.js'

export interface KubeletTiming {
  // pod bound -> containers created (waiting)
  startMs: number
  // created -> running (and ready, unless never-ready)
  runMs: number
  // running -> a crash-loop or oom-killed container exits
  crashAfterMs: number
  // the first restart back-off; it doubles after each restart up to 5 minutes, as the kubelet's does (10 s)
  backOffBaseMs: number
  // ErrImagePull -> ImagePullBackOff, and the back-off before the next pull
  pullBackOffMs: number
  // deletionTimestamp set -> containers stopped and the pod gone (the grace period, shortened)
  terminateMs: number
  // running -> the process of a pod that is not restarted (restartPolicy Never: a Job's) exits 0 (default 1 s)
  jobRunMs?: number
  // deletionTimestamp set -> the app container of a `stops-clean` pod exits 0 (its warm shutdown)
  drainMs: number
  // created -> running, for a `slow-start` pod (default 10 minutes: longer than any test waits)
  slowStartMs?: number
  // a `scale-up` pod first seen Unschedulable -> a node for it added (default 1.5 s; pod-scenarios.ts adds it)
  scaleUpMs?: number
}

// Shortened for tests; the kubelet's own back-off starts at 10 s (KubeletTiming.backOffBaseMs 10_000).
export const FAST_TIMING: KubeletTiming = {
  startMs: 50,
  runMs: 300,
  crashAfterMs: 300,
  backOffBaseMs: 1000,
  pullBackOffMs: 500,
  terminateMs: 300,
  jobRunMs: 1000,
  drainMs: 1500,
  slowStartMs: 600_000,
  scaleUpMs: 1500
}

export const STAGE_CONDITION = 'rig.deploy-gke-workers.test/kubelet'
const MAX_BACK_OFF_MS = 300_000
// The markers that change a pod's fate; never-ends only keeps a Job's process from exiting.
const FATE_MARKERS = Object.values(SCENARIO_MARKERS).filter(m => m !== SCENARIO_MARKERS.neverEnds)
const FAILING = [
  SCENARIO_MARKERS.imageNotFound,
  SCENARIO_MARKERS.imageDenied,
  SCENARIO_MARKERS.crashLoop,
  SCENARIO_MARKERS.oomKilled,
  SCENARIO_MARKERS.configError
]
// What containerd says when a pull fails, per scenario (printf formats; each %q / %s is the image reference).
const PULL_ERRORS = {
  [SCENARIO_MARKERS.imageNotFound]: {
    format:
      'rpc error: code = NotFound desc = failed to pull and unpack image %q: failed to resolve reference %q: %s: not found',
    references: 3
  },
  // The registry refuses the node's token (Artifact Registry without roles/artifactregistry.reader).
  [SCENARIO_MARKERS.imageDenied]: {
    format:
      'rpc error: code = Unknown desc = failed to pull and unpack image %q: failed to resolve reference %q: failed to authorize: failed to fetch oauth token: unexpected status: 403 Forbidden',
    references: 2
  }
}

const q = (text: string): string => JSON.stringify(text)
// Go template: the container's status before this stage (an empty dict for a new container).
const previousOfContainer = `(get $previous .name | default dict)`

// jq: the pod's annotations (pod-scenarios.ts names a scenario there when a test set one for an image).
const annotation = (name: string): string => `((.metadata.annotations // {})[${q(name)}] // "")`
// jq: does the pod carry one of these markers, in the image of any of its containers (init containers included)
// or in its scenario annotation?
function imagesMatch(markers: readonly string[]): string {
  return `[${annotation(SCENARIO_ANNOTATION)}, (.spec.initContainers // [])[].image, .spec.containers[].image] | map(select(test(${q(markers.join('|'))}))) | length > 0`
}
const stageReason = `.status.conditions[]? | select(.type == ${q(STAGE_CONDITION)}) | .reason`
// jq: is the container that carries the marker restarted when it exits? Yes in a pod of restartPolicy Always
// or OnFailure, and for a native sidecar (restartPolicy Always of its own) in any pod.
function markedRestarts(marker: string): string {
  const annotated = `(${annotation(SCENARIO_ANNOTATION).replace('.metadata', '$p.metadata')} == ${q(marker)} and .name == ${annotation(SCENARIO_CONTAINER_ANNOTATION).replace('.metadata', '$p.metadata')})`
  return `((.spec.restartPolicy // "Always") != "Never") or (. as $p | [(.spec.initContainers // [])[] | select(.restartPolicy == "Always") | select((.image | test(${q(marker)})) or ${annotated})] | length > 0)`
}

interface Selector {
  // healthy: no marker that changes the pod's fate; completes: no marker at all (a Job's process that exits 0)
  scenario?: 'healthy' | 'completes' | string[]
  from?: string[] | 'none'
  deleting?: boolean
  // Whether the marked container is restarted after it exits (see markedRestarts), for the scenario's marker.
  restarts?: boolean
  // The pod is not restarted at all (restartPolicy Never).
  neverRestarted?: boolean
  // How a deleted pod stops: by one of these STOP_MARKERS, or 'plain' (none of them).
  stops?: string[] | 'plain'
}

function selector(s: Selector): string {
  const lines = [
    `    - {key: '.metadata.deletionTimestamp', operator: ${s.deleting ? 'Exists' : 'DoesNotExist'}}`
  ]
  if (s.scenario === 'healthy' || s.scenario === 'completes') {
    const markers = s.scenario === 'healthy' ? FATE_MARKERS : Object.values(SCENARIO_MARKERS)
    lines.push(`    - {key: ${q(imagesMatch(markers))}, operator: In, values: ['false']}`)
  } else if (s.scenario) {
    lines.push(`    - {key: ${q(imagesMatch(s.scenario))}, operator: In, values: ['true']}`)
    if (s.restarts !== undefined) {
      lines.push(
        `    - {key: ${q(markedRestarts(s.scenario[0]))}, operator: In, values: ['${String(s.restarts)}']}`
      )
    }
  }
  if (s.neverRestarted) lines.push(`    - {key: '.spec.restartPolicy', operator: In, values: ['Never']}`)
  if (s.stops === 'plain') {
    lines.push(`    - {key: ${q(imagesMatch(Object.values(STOP_MARKERS)))}, operator: In, values: ['false']}`)
  } else if (s.stops) {
    lines.push(`    - {key: ${q(imagesMatch(s.stops))}, operator: In, values: ['true']}`)
  }
  if (s.from === 'none') lines.push(`    - {key: ${q(stageReason)}, operator: DoesNotExist}`)
  else if (s.from) lines.push(`    - {key: ${q(stageReason)}, operator: In, values: ${q(s.from as never)}}`)
  return lines.join('\n')
}

// Go template prelude: the marked container of a scenario (first init container, then app container), the
// pod's previous container statuses by name, and whether a failing sidecar keeps the app containers waiting.
function prelude(marker: string | undefined): string {
  const failing = q(FAILING.join('|'))
  const markedBy = `(or (contains $marker .image) (and (eq $annotated $marker) (eq $annotatedContainer .name)))`
  return `{{ $now := Now }}
{{ $pod := . }}
{{ $marker := ${q(marker ?? '')} }}
{{ $annotations := .metadata.annotations | default dict }}
{{ $annotated := get $annotations ${q(SCENARIO_ANNOTATION)} }}
{{ $annotatedContainer := get $annotations ${q(SCENARIO_CONTAINER_ANNOTATION)} }}
{{ $message := get $annotations ${q(SCENARIO_MESSAGE_ANNOTATION)} }}
{{ $target := "" }}{{ $targetList := "containers" }}{{ $targetImage := "" }}
{{ range (.spec.initContainers | default list) }}{{ if and (ne $marker "") (eq $target "") ${markedBy} }}{{ $target = .name }}{{ $targetList = "initContainers" }}{{ $targetImage = .image }}{{ end }}{{ end }}
{{ range .spec.containers }}{{ if and (ne $marker "") (eq $target "") ${markedBy} }}{{ $target = .name }}{{ $targetImage = .image }}{{ end }}{{ end }}
{{ $previous := dict }}
{{ range (.status.initContainerStatuses | default list) }}{{ $_ := set $previous .name . }}{{ end }}
{{ range (.status.containerStatuses | default list) }}{{ $_ := set $previous .name . }}{{ end }}
{{ $sidecarBlocked := false }}
{{ range (.spec.initContainers | default list) }}{{ if or (regexMatch ${failing} .image) (and (regexMatch ${failing} $annotated) (eq $annotatedContainer .name)) }}{{ $sidecarBlocked = true }}{{ end }}{{ end }}
`
}

// imageID as containerd reports it: the repository (the reference without its tag) @ the digest it pulled. For
// an image pinned by digest that is the digest itself, exactly what a real node reports. A tag-only image would
// be resolved by a real node in its registry; kwok asks no registry, so it reports a stand-in digest (the
// sha256 of the reference's text), which no registry holds: such a pod's imageID never matches a resolved
// digest here.
const IMAGE_ID = [
  '{{ $name := splitList "@" .image | first }}{{ $repository := regexReplaceAll ":[^/]*$" $name "" }}',
  '{{ if contains "@" .image }}{{ printf "%s@%s" $repository (splitList "@" .image | last) | Quote }}',
  '{{ else }}{{ printf "%s@sha256:%s" $repository (sha256sum .image) | Quote }}{{ end }}'
].join('')

// One container's status as the kubelet reports it; each option is template text. A running container gets a
// new container ID each time it starts; a waiting one has none.
function containerStatus(options: {
  ready: string
  started: string
  state: string
  restartCount?: string
  lastState?: string
}): string {
  return `  - name: {{ .name | Quote }}
    image: {{ .image | Quote }}
    imageID: ${IMAGE_ID}
    containerID: {{ printf "containerd://%s" (sha256sum (print $pod.metadata.uid .name $now)) | Quote }}
    ready: ${options.ready}
    started: ${options.started}
    restartCount: ${options.restartCount ?? `{{ (get ${previousOfContainer} "restartCount") | default 0 }}`}
    state: ${options.state}
    lastState: ${options.lastState ?? `{{ (get ${previousOfContainer} "lastState") | default dict | toJson }}`}
`
}

const previousOf = previousOfContainer
const running = `{"running": {"startedAt": {{ $now | Quote }}}}`
const waiting = (reason: string, message?: string): string =>
  `{"waiting": {"reason": ${q(reason)}${message ? `, "message": ${message}` : ''}}}`

function conditions(options: { initialized: string; ready: string; stage: string }): string {
  return `conditions:
  - {type: ${q(STAGE_CONDITION)}, status: "True", reason: ${q(options.stage)}, lastTransitionTime: {{ $now | Quote }}}
  - {type: PodReadyToStartContainers, status: "True", lastTransitionTime: {{ $now | Quote }}}
  - {type: Initialized, status: ${options.initialized}, lastTransitionTime: {{ $now | Quote }}}
  - {type: Ready, status: ${options.ready}, lastTransitionTime: {{ $now | Quote }}}
  - {type: ContainersReady, status: ${options.ready}, lastTransitionTime: {{ $now | Quote }}}
  - {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
`
}

function statusPatch(body: string): string {
  return `  - patch:
      subresource: status
      root: status
      type: merge
      template: |
${indent(body, 8)}`
}

// An Event of the kubelet about the marked container, or the app container, or (`started`) the container that
// just started: the app, or the failing sidecar that keeps it waiting.
function event(options: {
  type: 'Normal' | 'Warning'
  reason: string
  message: string
  about?: 'target' | 'app' | 'started'
}): string {
  const fieldPath = {
    target: '{{ printf "spec.%s{%s}" $targetList $target | Quote }}',
    app: '"spec.containers{app}"',
    started:
      '{{ if $sidecarBlocked }}{{ printf "spec.%s{%s}" $targetList $target | Quote }}{{ else }}"spec.containers{app}"{{ end }}'
  }[options.about ?? 'target']
  const body = `{{PRELUDE}}
apiVersion: v1
kind: Event
metadata:
  name: {{ printf "%s.%s" .metadata.name (randAlphaNum 12 | lower) | Quote }}
  namespace: {{ .metadata.namespace | Quote }}
involvedObject: {apiVersion: v1, kind: Pod, name: {{ .metadata.name | Quote }}, namespace: {{ .metadata.namespace | Quote }}, uid: {{ .metadata.uid | Quote }}, fieldPath: ${fieldPath}}
type: ${options.type}
reason: ${options.reason}
message: ${options.message}
source: {component: kubelet, host: {{ .spec.nodeName | Quote }}}
reportingComponent: kubelet
reportingInstance: {{ .spec.nodeName | Quote }}
firstTimestamp: {{ $now | Quote }}
lastTimestamp: {{ $now | Quote }}
count: 1
`
  return `  - apply:
      template: |
${indent(body, 8)}`
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces)
  return text
    .split('\n')
    .map(line => (line === '' ? line : pad + line))
    .join('\n')
    .replace(/\n*$/, '\n')
}

function stage(
  name: string,
  select: string,
  delayMs: number | string,
  steps: string[],
  marker?: string
): string {
  const delay =
    typeof delayMs === 'number'
      ? `  delay: {durationMilliseconds: ${delayMs}}`
      : `  delay:\n    durationMilliseconds: 0\n    durationFrom: {expressionFrom: ${q(delayMs)}}`
  const withPrelude = steps.map(step => step.replace(/\{\{PRELUDE\}\}/g, indent(prelude(marker), 8).trim()))
  return `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: ${name}}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
${select}
${delay}
  steps:
${withPrelude.join('')}`
}

// Every container created, none started yet.
function created(timing: KubeletTiming): string {
  const body = `{{PRELUDE}}
phase: Pending
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
hostIPs: [{ip: {{ NodeIPWith .spec.nodeName | Quote }}}]
podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
podIPs: [{ip: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}}]
startTime: {{ $now | Quote }}
${conditions({ initialized: '{{ if .spec.initContainers }}"False"{{ else }}"True"{{ end }}', ready: '"False"', stage: 'Created' })}{{ if .spec.initContainers }}
initContainerStatuses:
{{ range .spec.initContainers }}
${containerStatus({ ready: 'false', started: 'false', state: waiting('ContainerCreating') })}{{ end }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
${containerStatus({ ready: 'false', started: 'false', state: `{{ if $pod.spec.initContainers }}${waiting('PodInitializing')}{{ else }}${waiting('ContainerCreating')}{{ end }}` })}{{ end }}
`
  return stage('pod-created', selector({ from: 'none' }), timing.startMs, [
    statusPatch(body),
    event({
      type: 'Normal',
      reason: 'Pulling',
      message: '{{ printf "Pulling image %q" (index .spec.containers 0).image | Quote }}',
      about: 'app'
    })
  ])
}

// Containers running. The marked container of a failing scenario gets its own stages below; a failing
// native sidecar keeps the app containers waiting, since they start only once the sidecars have started.
function started(
  name: string,
  scenario: Selector['scenario'],
  from: string[],
  delayMs: number | string,
  marker?: string
): string {
  const ready = marker === SCENARIO_MARKERS.neverReady ? `{{ ne .name $target }}` : 'true'
  const body = `{{PRELUDE}}
phase: {{ if $sidecarBlocked }}Pending{{ else }}Running{{ end }}
${conditions({
  initialized: '{{ if $sidecarBlocked }}"False"{{ else }}"True"{{ end }}',
  ready:
    marker === SCENARIO_MARKERS.neverReady ||
    marker === SCENARIO_MARKERS.crashLoop ||
    marker === SCENARIO_MARKERS.oomKilled
      ? '"False"'
      : '{{ if $sidecarBlocked }}"False"{{ else }}"True"{{ end }}',
  stage: 'Running'
})}{{ if .spec.initContainers }}
initContainerStatuses:
{{ range .spec.initContainers }}
${containerStatus({ ready: `{{ ne .name $target }}`, started: `{{ ne .name $target }}`, state: running })}{{ end }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
${containerStatus({
  ready: `{{ if $sidecarBlocked }}false{{ else if eq .name $target }}false{{ else }}${ready}{{ end }}`,
  started: `{{ not $sidecarBlocked }}`,
  state: `{{ if $sidecarBlocked }}${waiting('PodInitializing')}{{ else }}${running}{{ end }}`
})}{{ end }}
`
  const steps = [
    statusPatch(body),
    event({
      type: 'Normal',
      reason: 'Started',
      message: '{{ printf "Started container %s" (ternary $target "app" $sidecarBlocked) | Quote }}',
      about: 'started'
    })
  ]
  return stage(name, selector({ scenario, from }), delayMs, steps, marker)
}

// The marked container exits (exit 1, or 137 for OOMKilled) and waits out the back-off.
function crashed(marker: string, timing: KubeletTiming): string {
  const oom = marker === SCENARIO_MARKERS.oomKilled
  const terminated = `{"terminated": {"exitCode": ${oom ? 137 : 1}, "reason": ${q(oom ? 'OOMKilled' : 'Error')}, "startedAt": {{ dig "state" "running" "startedAt" $now ${previousOf} | Quote }}, "finishedAt": {{ $now | Quote }}, "containerID": {{ (get ${previousOf} "containerID") | default "" | Quote }}}}`
  const restartCount = `{{ add1 ((get ${previousOf} "restartCount") | default 0) }}`
  // The kubelet's back-off doubles from the base with each restart, up to five minutes.
  const backOff = `{{ $backOff := ${timing.backOffBaseMs} }}{{ range until (int ((get ${previousOf} "restartCount") | default 0)) }}{{ $backOff = min ${MAX_BACK_OFF_MS} (mul $backOff 2) }}{{ end }}{{ printf "back-off %s restarting failed container=%s pod=%s_%s(%s)" (print (div $backOff 1000) "s") .name $pod.metadata.name $pod.metadata.namespace $pod.metadata.uid | Quote }}`
  const marked = containerStatus({
    ready: 'false',
    started: 'false',
    state: waiting('CrashLoopBackOff', backOff),
    restartCount,
    lastState: terminated
  })
  const unchanged = `  - {{ ${previousOf} | toJson }}\n`
  const body = `{{PRELUDE}}
${conditions({ initialized: '{{ if $sidecarBlocked }}"False"{{ else }}"True"{{ end }}', ready: '"False"', stage: 'Crashed' })}{{ if .spec.initContainers }}
initContainerStatuses:
{{ range .spec.initContainers }}
{{ if eq .name $target }}
${marked}{{ else }}
${unchanged}{{ end }}
{{ end }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
{{ if eq .name $target }}
${marked}{{ else }}
${unchanged}{{ end }}
{{ end }}
`
  return stage(
    `pod-${marker}-exited`,
    selector({ scenario: [marker], from: ['Running'], restarts: true }),
    timing.crashAfterMs,
    [
      statusPatch(body),
      event({
        type: 'Warning',
        reason: 'BackOff',
        message: `{{ printf "Back-off restarting failed container %s in pod %s_%s(%s)" $target .metadata.name .metadata.namespace .metadata.uid | Quote }}`
      })
    ],
    marker
  )
}

// After the back-off the kubelet starts the container again: back to the running stage (restart count kept).
// jq computes the back-off from the restart count the crash stage wrote.
function backOffDelay(marker: string, timing: KubeletTiming): string {
  const counts = `[(.status.initContainerStatuses // [])[], (.status.containerStatuses // [])[] | select(.image | contains(${q(marker)})) | .restartCount] | max // 1`
  return `"\\([${timing.backOffBaseMs} * pow(2; (${counts}) - 1), ${MAX_BACK_OFF_MS}] | min | floor)ms"`
}

// A process that is not restarted exits, and the pod ends: Succeeded (exit 0) or Failed (the marked app
// container's exit 1, or 137 OOMKilled); the native sidecars are stopped with it and exit 0 (the proxy's
// --exit-zero-on-sigterm; their exit codes do not decide the phase anyway).
function exitedForGood(marker: string | undefined, timing: KubeletTiming): string {
  const oom = marker === SCENARIO_MARKERS.oomKilled
  const finished = (exitCode: number, reason: string) =>
    `{"terminated": {"exitCode": ${exitCode}, "reason": ${q(reason)}, "startedAt": {{ dig "state" "running" "startedAt" $now ${previousOf} | Quote }}, "finishedAt": {{ $now | Quote }}, "containerID": {{ (get ${previousOf} "containerID") | default "" | Quote }}}}`
  const completed = finished(0, 'Completed')
  const failed = finished(oom ? 137 : 1, oom ? 'OOMKilled' : 'Error')
  const at = '{{ $now | Quote }}'
  const body = `{{PRELUDE}}
phase: {{ if eq $target "" }}Succeeded{{ else }}Failed{{ end }}
conditions:
- {type: ${q(STAGE_CONDITION)}, status: "True", reason: Exited, lastTransitionTime: ${at}}
- {type: PodReadyToStartContainers, status: "False", lastTransitionTime: ${at}}
- {type: Initialized, status: "True", lastTransitionTime: ${at}}
- {type: Ready, status: "False", reason: PodCompleted, lastTransitionTime: ${at}}
- {type: ContainersReady, status: "False", reason: PodCompleted, lastTransitionTime: ${at}}
- {type: PodScheduled, status: "True", lastTransitionTime: ${at}}
{{ if .spec.initContainers }}
initContainerStatuses:
{{ range .spec.initContainers }}
${containerStatus({ ready: 'false', started: 'false', state: completed })}{{ end }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
${containerStatus({ ready: 'false', started: 'false', state: `{{ if eq .name $target }}${failed}{{ else }}${completed}{{ end }}` })}{{ end }}
`
  return marker === undefined
    ? stage(
        'pod-not-restarted-succeeded',
        selector({ scenario: 'completes', from: ['Running'], neverRestarted: true }),
        timing.jobRunMs ?? FAST_TIMING.jobRunMs!,
        [statusPatch(body)]
      )
    : stage(
        `pod-not-restarted-${marker}-failed`,
        selector({ scenario: [marker], from: ['Running'], restarts: false }),
        timing.crashAfterMs,
        [statusPatch(body)],
        marker
      )
}

// The marked container waiting in `state`, the pod Pending: the other containers of its list run; behind a
// marked init container the app containers wait for it (PodInitializing).
function waitingStatus(state: string, stageName: string): string {
  return `{{PRELUDE}}
phase: Pending
${conditions({ initialized: `{{ if eq $targetList "initContainers" }}"False"{{ else }}"True"{{ end }}`, ready: '"False"', stage: stageName })}{{ if .spec.initContainers }}
initContainerStatuses:
{{ range .spec.initContainers }}
${containerStatus({ ready: `{{ ne .name $target }}`, started: `{{ ne .name $target }}`, state: `{{ if eq .name $target }}${state}{{ else }}${running}{{ end }}` })}{{ end }}
{{ end }}
containerStatuses:
{{ range .spec.containers }}
${containerStatus({ ready: 'false', started: 'false', state: `{{ if eq .name $target }}${state}{{ else if eq $targetList "initContainers" }}${waiting('PodInitializing')}{{ else }}${running}{{ end }}` })}{{ end }}
`
}

function pullFailure(
  timing: KubeletTiming,
  marker: typeof SCENARIO_MARKERS.imageNotFound | typeof SCENARIO_MARKERS.imageDenied
): string[] {
  const reference = '$targetImage'
  const { format, references } = PULL_ERRORS[marker]
  const printf = `printf ${q(format)}${` ${reference}`.repeat(references)}`
  const pullError = `{{ ${printf} | Quote }}`
  const statusFor = waitingStatus
  return [
    stage(
      `pod-${marker}-pull-failed`,
      selector({ scenario: [marker], from: ['Created', 'PullBackOff'] }),
      timing.pullBackOffMs,
      [
        statusPatch(statusFor(waiting('ErrImagePull', pullError), 'PullFailed')),
        event({
          type: 'Warning',
          reason: 'Failed',
          message: `{{ printf "Failed to pull image %q: %s" ${reference} (${printf}) | Quote }}`
        }),
        event({ type: 'Warning', reason: 'Failed', message: '"Error: ErrImagePull"' })
      ],
      marker
    ),
    stage(
      `pod-${marker}-back-off`,
      selector({ scenario: [marker], from: ['PullFailed'] }),
      timing.pullBackOffMs,
      [
        statusPatch(
          statusFor(
            waiting('ImagePullBackOff', `{{ printf "Back-off pulling image %q" ${reference} | Quote }}`),
            'PullBackOff'
          )
        ),
        event({
          type: 'Normal',
          reason: 'BackOff',
          message: `{{ printf "Back-off pulling image %q" ${reference} | Quote }}`
        }),
        event({ type: 'Warning', reason: 'Failed', message: '"Error: ImagePullBackOff"' })
      ],
      marker
    )
  ]
}

// The container cannot be created: the kubelet's words for the missing Secret, ConfigMap or key (the message
// pod-scenarios.ts wrote when the pod was created), as the container's waiting reason and a Failed event.
function configError(timing: KubeletTiming): string {
  const marker = SCENARIO_MARKERS.configError
  const message = `{{ $message | default "couldn't find key in ConfigMap" | Quote }}`
  return stage(
    'pod-config-error',
    selector({ scenario: [marker], from: ['Created'] }),
    timing.startMs,
    [
      statusPatch(waitingStatus(waiting('CreateContainerConfigError', message), 'ConfigError')),
      event({
        type: 'Warning',
        reason: 'Failed',
        message: `{{ printf "Error: %s" ($message | default "couldn't find key in ConfigMap") | Quote }}`
      })
    ],
    marker
  )
}

function neverReady(timing: KubeletTiming): string {
  const marker = SCENARIO_MARKERS.neverReady
  const body = `{{PRELUDE}}
${conditions({ initialized: '"True"', ready: '"False"', stage: 'Unhealthy' })}`
  return stage(
    'pod-never-ready-unhealthy',
    selector({ scenario: [marker], from: ['Running'] }),
    timing.runMs,
    [
      statusPatch(body),
      event({ type: 'Warning', reason: 'Unhealthy', message: '"Readiness probe failed: "' })
    ],
    marker
  )
}

// The kubelet stops the containers and, once they are gone, deletes the pod object for good.
function terminating(timing: KubeletTiming): string {
  return stage('pod-terminating', selector({ deleting: true, stops: 'plain' }), timing.terminateMs, [
    event({ type: 'Normal', reason: 'Killing', message: '"Stopping container app"', about: 'app' }),
    `  - finalizers: {empty: true}\n`,
    `  - delete: true\n`
  ])
}

// A pod that stops as a Celery worker does: the app container exits (its final state written, as a kubelet
// writes it before removing the pod), then the pod goes. `stops-clean`: exit 0 after drainMs (a warm shutdown
// that finished its tasks); `stops-killed`: still running at the grace deadline (deletionTimestamp), then
// SIGKILL, exit 137. The other containers keep their state.
function stopped(marker: string, delay: number | string, exit: { code: number; reason: string }): string {
  const terminated = `{"terminated": {"exitCode": ${exit.code}, "reason": ${q(exit.reason)}, "startedAt": {{ dig "state" "running" "startedAt" $now ${previousOf} | Quote }}, "finishedAt": {{ $now | Quote }}, "containerID": {{ (get ${previousOf} "containerID") | default "" | Quote }}}}`
  const app = containerStatus({ ready: 'false', started: 'false', state: terminated })
  const unchanged = `  - {{ ${previousOf} | toJson }}\n`
  const body = `{{PRELUDE}}
containerStatuses:
{{ range .spec.containers }}
{{ if eq .name "app" }}
${app}{{ else }}
${unchanged}{{ end }}
{{ end }}
`
  return stage(`pod-${marker}`, selector({ deleting: true, stops: [marker] }), delay, [
    event({ type: 'Normal', reason: 'Killing', message: '"Stopping container app"', about: 'app' }),
    statusPatch(body),
    `  - finalizers: {empty: true}\n`,
    `  - delete: true\n`
  ])
}

// The rig's one node: Ready, with room for every test's pods, and the kubelet endpoint kwok serves.
function nodeReady(): string {
  return `apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions[]? | select(.type == "Ready") | .status', operator: NotIn, values: ['True']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      addresses:
      - {type: InternalIP, address: {{ NodeIP | Quote }}}
      - {type: Hostname, address: {{ .metadata.name | Quote }}}
      allocatable: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 100Gi}
      capacity: {cpu: "32", memory: 128Gi, pods: "250", ephemeral-storage: 100Gi}
      conditions:
      - {type: Ready, status: "True", reason: KubeletReady, message: kubelet is posting ready status, lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      - {type: MemoryPressure, status: "False", reason: KubeletHasSufficientMemory, message: kubelet has sufficient memory available, lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      - {type: DiskPressure, status: "False", reason: KubeletHasNoDiskPressure, message: kubelet has no disk pressure, lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      - {type: PIDPressure, status: "False", reason: KubeletHasSufficientPID, message: kubelet has sufficient PID available, lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}}
      daemonEndpoints:
        kubeletEndpoint: {Port: {{ NodePort }}}
      nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: {{ Version | Quote }}, containerRuntimeVersion: "containerd://2.0.0", kernelVersion: 6.6.0, osImage: Container-Optimized OS from Google, machineID: "", systemUUID: "", bootID: "", kubeProxyVersion: ""}
      phase: Running
`
}

// What `kubectl logs` shows through the apiserver (the pod runtime serves it) unless a test says otherwise: a started worker and proxy,
// and, for --previous, the last words of a crashed instance (the proxy's is the classic Cloud SQL one).
export const CONTAINER_LOGS: Record<string, { current: string; previous: string }> = {
  app: {
    current:
      '[INFO/MainProcess] Connected to redis://10.0.0.5:6379/0\n[INFO/MainProcess] celery@worker ready.\n',
    previous:
      'Traceback (most recent call last):\n  File "/app/manage.py", line 22, in <module>\nRuntimeError: the app exited at start (stand-in for a crashing image)\n'
  },
  'cloud-sql-proxy': {
    current:
      '{"severity":"INFO","message":"The proxy has started successfully and is ready for new connections!"}\n',
    previous:
      '{"severity":"ERROR","message":"failed to connect to instance: Config error: instance does not have IP of type PRIVATE"}\n'
  }
}

export function kubeletStages(timing: KubeletTiming = FAST_TIMING): string {
  const crashing = [SCENARIO_MARKERS.crashLoop, SCENARIO_MARKERS.oomKilled]
  const documents = [
    nodeReady(),
    created(timing),
    started('pod-running', 'healthy', ['Created'], timing.runMs),
    started(
      'pod-never-ready-running',
      [SCENARIO_MARKERS.neverReady],
      ['Created'],
      timing.runMs,
      SCENARIO_MARKERS.neverReady
    ),
    neverReady(timing),
    // A slow start: the same start, much later.
    started(
      'pod-slow-start-running',
      [SCENARIO_MARKERS.slowStart],
      ['Created'],
      timing.slowStartMs ?? FAST_TIMING.slowStartMs!,
      SCENARIO_MARKERS.slowStart
    ),
    configError(timing),
    ...crashing.flatMap(marker => [
      started(`pod-${marker}-running`, [marker], ['Created'], timing.runMs, marker),
      crashed(marker, timing),
      started(`pod-${marker}-restarted`, [marker], ['Crashed'], backOffDelay(marker, timing), marker),
      exitedForGood(marker, timing)
    ]),
    exitedForGood(undefined, timing),
    ...pullFailure(timing, SCENARIO_MARKERS.imageNotFound),
    ...pullFailure(timing, SCENARIO_MARKERS.imageDenied),
    terminating(timing),
    stopped(STOP_MARKERS.stopsClean, timing.drainMs, { code: 0, reason: 'Completed' }),
    // kwok waits until the time the expression gives: the grace deadline.
    stopped(STOP_MARKERS.stopsKilled, '.metadata.deletionTimestamp', { code: 137, reason: 'Error' })
  ]
  return documents.join('---\n')
}
