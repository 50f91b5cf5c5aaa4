// Pod scenarios chosen by the image itself, the same way on both rigs: a container whose image reference holds
// one of these markers behaves so, every other container is healthy. A real kubelet decides by what the
// registry and the process do; the stand-ins decide by the name, so a test needs no set-up to get a broken pod
// (`…/noesis2-web:v2-crash-loop`, a proxy image `…/cloud-sql-proxy:2.15.0-crash-loop`).

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
  // the process never exits by itself: a Job's pod runs until its deadline or a deletion stops it (in a
  // Deployment's pod, where processes are meant to run on, it is healthy)
  neverEnds: 'never-ends'
} as const

export type ScenarioMarker = (typeof SCENARIO_MARKERS)[keyof typeof SCENARIO_MARKERS]

export function markerOfImage(image: string): ScenarioMarker | undefined {
  return Object.values(SCENARIO_MARKERS).find(marker => image.includes(marker))
}

// How a pod of the control-plane rig stops when it is deleted, chosen the same way (a marker in an image of the
// pod). They are not failures: such a pod runs like a healthy one. Without a marker the pod is simply removed
// after the (shortened) termination delay, with no final container state.
export const STOP_MARKERS = {
  // the app container exits 0 on its own (a warm shutdown) a moment after the deletion
  stopsClean: 'stops-clean',
  // the app container is still running at the grace deadline and is killed there (exit 137)
  stopsKilled: 'stops-killed'
} as const
