import { markerOfImage, SCENARIO_MARKERS } from '../scenario-images.js'

// How simulated pods behave, chosen by the image of their `app` container (or first container): set for an
// image by a test, or read from a marker in any container's image, as the real control plane's kubelet does.
export type PodScenario =
  | { kind: 'healthy'; readyAfterMs?: number }
  | { kind: 'pending'; forMs: number; then?: PodScenario }
  | { kind: 'imagePullBackOff'; answer?: 'not-found' | 'denied' }
  | { kind: 'crashLoop'; container: string; exitCode?: number; log?: string }
  | { kind: 'oomKilled'; container: string }
  | { kind: 'neverReady' }

export const DEFAULT_SCENARIO: PodScenario = { kind: 'healthy', readyAfterMs: 200 }

export class ScenarioBook {
  private byImage = new Map<string, PodScenario>()
  private fallback: PodScenario = DEFAULT_SCENARIO

  setImage(image: string, s: PodScenario): void {
    this.byImage.set(image, s)
  }
  setDefault(s: PodScenario): void {
    this.fallback = s
  }
  forPod(targetImage: string, containers: Array<{ name: string; image: string }>): PodScenario {
    return this.byImage.get(targetImage) ?? scenarioFromMarkers(containers) ?? this.fallback
  }
  reset(): void {
    this.byImage.clear()
    this.fallback = DEFAULT_SCENARIO
  }
}

// The first container whose image carries a marker decides (../scenario-images.ts).
export function scenarioFromMarkers(
  containers: Array<{ name: string; image: string }>
): PodScenario | undefined {
  for (const container of containers) {
    switch (markerOfImage(container.image)) {
      case SCENARIO_MARKERS.imageNotFound:
        return { kind: 'imagePullBackOff' }
      case SCENARIO_MARKERS.imageDenied:
        return { kind: 'imagePullBackOff', answer: 'denied' }
      case SCENARIO_MARKERS.crashLoop:
        return { kind: 'crashLoop', container: container.name, exitCode: 1 }
      case SCENARIO_MARKERS.oomKilled:
        return { kind: 'oomKilled', container: container.name }
      case SCENARIO_MARKERS.neverReady:
        return { kind: 'neverReady' }
    }
  }
  return undefined
}
