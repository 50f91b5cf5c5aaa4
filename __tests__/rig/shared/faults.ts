// Seeded fault injection, so that a test of a flaky network repeats exactly: which requests get a 429/500/503, a
// reset or a lost answer is drawn from a seeded generator, and `only` narrows it to the requests a test names.
export interface FaultOptions {
  seed: number
  errorRate?: number // 0..1
  statuses?: number[] // drawn from 500, 503, 429
  resetRate?: number // 0..1, destroys the socket
  // 0..1: the request reaches the API server and is answered, but the answer never reaches the client (the
  // connection dies on the way back).
  dropReplyRate?: number
  latencyMs?: number
  retryAfterSeconds?: number
  // `body`: the request's body, when inspectBody is set (the fault proxy then reads a request whole before it
  // decides).
  only?: (method: string, path: string, body?: string) => boolean
  inspectBody?: boolean
}

export type FaultDecision =
  | { kind: 'none' }
  | { kind: 'reset' }
  | { kind: 'drop-reply' }
  | { kind: 'status'; code: number; retryAfter?: number }

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export class Faults {
  private opts: FaultOptions | undefined
  private rand: () => number = Math.random

  set(opts: FaultOptions | undefined): void {
    this.opts = opts
    if (opts) this.rand = mulberry32(opts.seed)
  }

  // `only` is asked here only when there is a latency to add: a test counting its askings counts requests.
  latency(method: string, path: string): number {
    const o = this.opts
    if (!o?.latencyMs || (o.only && !o.only(method, path))) return 0
    return o.latencyMs
  }

  // Whether a decision needs the request's body.
  needsBody(): boolean {
    return this.opts?.inspectBody === true
  }

  decide(method: string, path: string, body?: string): FaultDecision {
    const o = this.opts
    if (!o || (o.only && !o.only(method, path, body))) return { kind: 'none' }
    if (o.resetRate && this.rand() < o.resetRate) return { kind: 'reset' }
    if (o.dropReplyRate && this.rand() < o.dropReplyRate) return { kind: 'drop-reply' }
    if (o.errorRate && this.rand() < o.errorRate) {
      const statuses = o.statuses?.length ? o.statuses : [503]
      const code = statuses[Math.floor(this.rand() * statuses.length)]
      return { kind: 'status', code, retryAfter: code === 500 ? undefined : (o.retryAfterSeconds ?? 1) }
    }
    return { kind: 'none' }
  }
}
