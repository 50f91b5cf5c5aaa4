// How simulated pods behave, chosen by the image of their `app` container (or first container).
export type PodScenario =
  | { kind: 'healthy'; readyAfterMs?: number }
  | { kind: 'pending'; forMs: number; then?: PodScenario }
  | { kind: 'imagePullBackOff' }
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
  forImage(image: string): PodScenario {
    return this.byImage.get(image) ?? this.fallback
  }
  reset(): void {
    this.byImage.clear()
    this.fallback = DEFAULT_SCENARIO
  }
}
