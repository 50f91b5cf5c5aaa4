// The pace of a loop that follows objects by watches and lists: it looks, then rests until its next look is due,
// a watched change comes in (a change that comes while a look is being judged makes the rest end at once), or
// the run is cancelled. Shared by the rollout watch and the pre-deploy gate's.

import { CancelledError, cancellationReason } from './kubectl.js'

export class LookPacer {
  private changed = false
  private wake: (() => void) | undefined

  constructor(private readonly sleep: (ms: number) => Promise<void>) {}

  // For the watches: something changed.
  readonly notify = (): void => {
    this.changed = true
    this.wake?.()
  }

  // At the start of a look: what changed until now is in it.
  startLook(): void {
    this.changed = false
  }

  // Rests up to `ms`, or until a change when `woken` (a watch runs); throws a CancelledError once `signal` aborts.
  async rest(ms: number, options: { woken: boolean; signal?: AbortSignal }): Promise<void> {
    const { signal } = options
    const woken = new Promise<void>(resolve => {
      this.wake = resolve
      if (this.changed) resolve()
    })
    await Promise.race([
      this.sleep(ms),
      ...(options.woken ? [woken] : []),
      ...(signal
        ? [new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true }))]
        : [])
    ])
    this.wake = undefined
    if (signal?.aborted) throw new CancelledError(cancellationReason(signal))
  }
}
