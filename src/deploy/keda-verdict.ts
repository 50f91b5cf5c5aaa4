// KEDA's own word on the worker's ScaledObject after the deploy: its conditions Ready, Active, Fallback,
// Paused (and HPAActive, which mirrors its HPA). A ScaledObject KEDA cannot use gets Ready=False with the
// reason in the message, and KEDA then creates no HPA and runs no scale loop: the worker never scales again.
// Measured with KEDA v2.20.2 and a real Redis:
//   Ready False ScaledObjectCheckFailed "failed to ensure HPA is correctly created for ScaledObject:
//     connection to redis failed: WRONGPASS invalid username-password pair or user is disabled."
//   ... "connection to redis failed: tls: failed to verify certificate: x509: certificate signed by unknown
//     authority"
// So Ready=False fails the deploy, with a cause and remedy by what KEDA's message says.
//
// When KEDA has answered: a paused ScaledObject is not checked at all (Ready True "ScaledObject is paused"), so
// the verdict is read after the hold is released, once KEDA has processed the release (Paused no longer True,
// written in the same status update as the fresh Ready). A ScaledObject KEDA has never reported on (no
// conditions) is given a short while: KEDA writes its first conditions within a second of a create; none at
// all means no operator is looking, which the run says rather than fail.
//
// KEDA's messages are untrusted text: bounded when read (before any pattern runs over them), redacted, then
// clipped, here; escaped where they are shown.

import type { Kubectl } from '../kube/kubectl.js'
import type { Redact } from '../redact.js'
import { readScaledObjects } from './keda-hold.js'

export interface KedaCondition {
  type: string
  status: string
  reason?: string
  message?: string
}

export type KedaProblemKind = 'auth' | 'tls' | 'network' | 'other'

export interface KedaVerdict {
  scaledObject: string
  // ready: KEDA can use it; not-ready: Ready=False; paused: by its own annotation (not this run's hold);
  // unseen: KEDA never reported on it; unsettled: KEDA did not report on this deploy's change in time.
  state: 'ready' | 'not-ready' | 'paused' | 'unseen' | 'unsettled'
  // As KEDA wrote them, redacted and clipped.
  conditions: KedaCondition[]
  problem?: { kind: KedaProblemKind; reason?: string; message: string }
  // The TriggerAuthentications its triggers name (where KEDA's Redis address, password and CA come from).
  authentications: string[]
}

// KEDA's condition texts: read up to this much (a bound on what the patterns below run over), shown up to
// MESSAGE_CHARS after redaction.
const READ_CHARS = 4096
const MESSAGE_CHARS = 400
export const SETTLE_TIMEOUT_MS = 30_000
export const FIRST_LOOK_TIMEOUT_MS = 10_000
const POLL_MS = 250

interface ScaledObjectStatus {
  metadata: { name: string; annotations?: Record<string, string> }
  spec?: unknown
  status?: { conditions?: Array<Partial<KedaCondition>> }
}

function authenticationsOf(object: ScaledObjectStatus | undefined): string[] {
  const triggers = (object?.spec as { triggers?: unknown } | undefined)?.triggers
  if (!Array.isArray(triggers)) return []
  const names = triggers.flatMap(t => {
    const name = (t as { authenticationRef?: { name?: unknown } } | null)?.authenticationRef?.name
    return typeof name === 'string' ? [name.slice(0, 253)] : []
  })
  return [...new Set(names)]
}

// Linear patterns only (alternations of literals): the text is bounded and untrusted.
const AUTH =
  /WRONGPASS|NOAUTH|NOPERM|invalid password|invalid username-password|authentication required|auth(?:entication)? failed/i
const TLS = /x509|certificate|tls: /i
const NETWORK =
  /dial tcp|connection refused|i\/o timeout|no such host|network is unreachable|no route to host|connection reset|context deadline exceeded|EOF/i

export function classifyKedaMessage(message: string): KedaProblemKind {
  const text = message.slice(0, READ_CHARS)
  if (AUTH.test(text)) return 'auth'
  if (TLS.test(text)) return 'tls'
  if (NETWORK.test(text)) return 'network'
  return 'other'
}

function conditionsOf(object: ScaledObjectStatus | undefined): KedaCondition[] {
  return (object?.status?.conditions ?? [])
    .filter(c => typeof c.type === 'string' && typeof c.status === 'string')
    .map(c => ({
      type: c.type!.slice(0, 64),
      status: c.status!.slice(0, 16),
      ...(typeof c.reason === 'string' && c.reason !== '' ? { reason: c.reason.slice(0, 128) } : {}),
      ...(typeof c.message === 'string' && c.message !== ''
        ? { message: c.message.slice(0, READ_CHARS) }
        : {})
    }))
}

// Whether KEDA has answered on this ScaledObject as it is now; pure.
export function kedaSettled(object: ScaledObjectStatus | undefined, options: { released: boolean }): boolean {
  const conditions = conditionsOf(object)
  const ready = conditions.find(c => c.type === 'Ready')
  // Its first look writes every condition Unknown, without a reason; the check that follows sets Ready.
  if (!ready || (ready.status === 'Unknown' && !ready.reason)) return false
  if (options.released && conditions.some(c => c.type === 'Paused' && c.status === 'True')) {
    // Still paused: KEDA has not processed the release yet, unless the pause is someone else's.
    return pausedByAnnotation(object)
  }
  return true
}

function pausedByAnnotation(object: ScaledObjectStatus | undefined): boolean {
  const annotations = object?.metadata.annotations ?? {}
  return (
    annotations['autoscaling.keda.sh/paused-replicas'] !== undefined ||
    (annotations['autoscaling.keda.sh/paused'] ?? 'false').toLowerCase() !== 'false'
  )
}

// The verdict on what KEDA reports; pure. `redact` runs before any clipping.
export function judgeScaledObject(
  name: string,
  object: ScaledObjectStatus | undefined,
  options: { settled: boolean; redact: Redact }
): KedaVerdict {
  const raw = conditionsOf(object)
  const conditions = raw.map(c => ({
    ...c,
    ...(c.message !== undefined ? { message: clip(options.redact(c.message)) } : {})
  }))
  const base = { scaledObject: name, conditions, authentications: authenticationsOf(object) }
  if (raw.length === 0) return { ...base, state: 'unseen' }
  const ready = raw.find(c => c.type === 'Ready')
  if (ready?.status === 'False') {
    const message = ready.message ?? ''
    return {
      ...base,
      state: 'not-ready',
      problem: {
        kind: classifyKedaMessage(message),
        reason: ready.reason,
        message: clip(options.redact(message)) || '(no message)'
      }
    }
  }
  if (!options.settled) return { ...base, state: 'unsettled' }
  const paused = raw.some(c => c.type === 'Paused' && c.status === 'True')
  return { ...base, state: paused ? 'paused' : 'ready' }
}

function clip(text: string): string {
  const one = text.trim()
  return one.length > MESSAGE_CHARS ? `${one.slice(0, MESSAGE_CHARS - 1)}…` : one
}

// Reads the ScaledObjects until KEDA has answered on each (see the header), or the time is up: then the
// verdict is what KEDA says by then.
export async function awaitKedaVerdicts(
  kubectl: Kubectl,
  options: {
    namespace: string
    names: string[]
    // This run released its hold: KEDA's answer comes after it processes the release.
    released: boolean
    // Whether this run created it: KEDA's first look at a new one is awaited; an existing one KEDA never
    // reported on is not looked at by any KEDA (none runs, or it watches other namespaces).
    created: (name: string) => boolean
    redact: Redact
    now?: () => number
    sleep?: (ms: number) => Promise<void>
  }
): Promise<KedaVerdict[]> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms)))
  const started = now()
  let states = await readScaledObjects(kubectl, options.namespace, options.names)
  for (;;) {
    const pending = options.names.filter(name => {
      const state = states.get(name)
      if (kedaSettled(state, { released: options.released })) return false
      // Never reported on: a new one gets KEDA's first look, no more.
      if (conditionsOf(state).length === 0) {
        return options.created(name) && now() - started < FIRST_LOOK_TIMEOUT_MS
      }
      return now() - started < SETTLE_TIMEOUT_MS
    })
    if (pending.length === 0) break
    await sleep(POLL_MS)
    states = await readScaledObjects(kubectl, options.namespace, options.names)
  }
  return options.names.map(name =>
    judgeScaledObject(name, states.get(name), {
      settled: kedaSettled(states.get(name), { released: options.released }),
      redact: options.redact
    })
  )
}

// One line for the run's headline when KEDA refuses the ScaledObject.
export function kedaFailureHeadline(verdicts: KedaVerdict[] | undefined): string | undefined {
  const refused = verdicts?.find(v => v.state === 'not-ready')
  if (!refused) return undefined
  return `KEDA cannot use ScaledObject ${refused.scaledObject} (Ready False${refused.problem?.reason ? `, ${refused.problem.reason}` : ''}): ${refused.problem?.message ?? ''}`
}

export function kedaRefuses(verdicts: KedaVerdict[] | undefined): boolean {
  return (verdicts ?? []).some(v => v.state === 'not-ready')
}
