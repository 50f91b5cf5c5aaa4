// When the API server could not be reached, as this run's kubectl calls saw it: each failure that means "the API
// is not there right now" (connection refused or reset, a 5xx, a 429, a timeout) opens or extends an outage, the
// next answer of any kind closes it. The report says how long the API was away; the runner uses it to tell an
// authorization answer from a server that has just restarted (its RBAC caches still empty) from a real refusal.

export interface Outage {
  fromMs: number
  // undefined while it lasts
  toMs?: number
  failures: number
}

// An apiserver answers before its authorizer has loaded every role: right after an outage a 401 or 403 is taken
// for the restart it is, for this long; the pre-flight checks proved the permissions before the outage.
export const AUTHORIZER_WARMUP_MS = 30_000

export class ApiAvailability {
  private readonly list: Outage[] = []

  constructor(private readonly now: () => number = Date.now) {}

  // `atMs`: when the failed call was sent (kubectl may have retried a refused connection inside it for seconds
  // before it gave up): the API was not there from then on. A failure that overlaps the last outage is part of it.
  noteUnavailable(atMs = this.now()): void {
    const last = this.list[this.list.length - 1]
    if (last && (last.toMs === undefined || last.toMs >= atMs)) {
      last.failures++
      last.fromMs = Math.min(last.fromMs, atMs)
      last.toMs = undefined
    } else this.list.push({ fromMs: atMs, failures: 1 })
  }

  noteAnswer(atMs = this.now()): void {
    const last = this.list[this.list.length - 1]
    if (last && last.toMs === undefined) last.toMs = atMs
  }

  // Whether the server was away a moment ago (or still is): its authorization answers are not yet its own.
  recentlyUnavailable(atMs = this.now()): boolean {
    const last = this.list[this.list.length - 1]
    return last !== undefined && (last.toMs === undefined || atMs - last.toMs < AUTHORIZER_WARMUP_MS)
  }

  outages(): Outage[] {
    return this.list.map(o => ({ ...o }))
  }

  // The total time the API was away, an outage still open counted up to now.
  unavailableMs(atMs = this.now()): number {
    return this.list.reduce((sum, o) => sum + ((o.toMs ?? atMs) - o.fromMs), 0)
  }
}

// "the API server was unreachable for 10.4s from 12:00:01Z (3 failed calls)": one line per outage.
export function describeOutages(outages: Outage[], nowMs: number): string[] {
  return outages.map(o => {
    const seconds = (((o.toMs ?? nowMs) - o.fromMs) / 1000).toFixed(1)
    const from = new Date(o.fromMs).toISOString().replace(/\.\d{3}Z$/, 'Z')
    const calls = `${o.failures} failed call${o.failures === 1 ? '' : 's'}`
    return o.toMs === undefined
      ? `the API server was unreachable from ${from} to the end of the run, ${seconds}s (${calls})`
      : `the API server was unreachable for ${seconds}s from ${from} (${calls}); the run waited for it`
  })
}
