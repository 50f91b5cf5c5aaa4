// Pod scenarios chosen by the image itself: a container whose image reference holds one of these markers behaves
// so, every other container is healthy. A real kubelet decides by what the registry and the process do; the
// rig's kubelet stand-in (kwok's stages) decides by the name, so a test needs no set-up to get a broken pod
// (`…/noesis2-web:v2-crash-loop`, a proxy image `…/cloud-sql-proxy:2.15.0-crash-loop`). A test (or `npm run
// cluster`) can also give an image a scenario without renaming it: control-plane/pod-scenarios.ts.

export const SCENARIO_MARKERS = {
  // the registry says the image does not exist: ErrImagePull, then ImagePullBackOff
  imageNotFound: 'image-not-found',
  // the registry refuses the node's credentials (403): ErrImagePull, then ImagePullBackOff
  imageDenied: 'image-denied',
  // the process exits 1 a moment after it starts, again after each back-off
  crashLoop: 'crash-loop',
  // the process is killed for memory (exit 137, OOMKilled), again after each back-off
  oomKilled: 'oom-killed',
  // the process runs and its readiness probe never passes
  neverReady: 'never-ready',
  // the containers take long to start (KubeletTiming.slowStartMs): no error, just no progress
  slowStart: 'slow-start',
  // the container cannot be created: a Secret or ConfigMap (or a key of it) its env names is missing
  // (CreateContainerConfigError; pod-scenarios.ts finds these when the pod is created and names the missing one)
  configError: 'config-error',
  // the process never exits by itself: a Job's pod runs until its deadline or a deletion stops it (in a
  // Deployment's pod, where processes are meant to run on, it is healthy)
  neverEnds: 'never-ends'
} as const

export type ScenarioMarker = (typeof SCENARIO_MARKERS)[keyof typeof SCENARIO_MARKERS]

// Where the scheduler puts the pod, chosen the same way (pod-scenarios.ts gives it a node selector that no node
// matches yet): the real kube-scheduler then leaves it Pending as Unschedulable, with its own message.
export const SCHEDULING_MARKERS = {
  // no node ever fits (as an Autopilot cluster that cannot add one for the pod)
  unschedulable: 'unschedulable',
  // a node that fits is added a moment later (KubeletTiming.scaleUpMs), as Autopilot adds one
  scaleUp: 'scale-up'
} as const

// How a pod of the control-plane rig stops when it is deleted, chosen the same way (a marker in an image of the
// pod). They are not failures: such a pod runs like a healthy one. Without a marker the pod is simply removed
// after the (shortened) termination delay, with no final container state.
export const STOP_MARKERS = {
  // the app container exits 0 on its own (a warm shutdown) a moment after the deletion
  stopsClean: 'stops-clean',
  // the app container is still running at the grace deadline and is killed there (exit 137)
  stopsKilled: 'stops-killed'
} as const
