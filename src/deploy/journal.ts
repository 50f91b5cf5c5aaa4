// The deploy's journal: what a run is about to change and how to undo it, kept in the deploy lock's Lease while
// the run holds it. A run that dies after its first write (a runner lost, a step killed) leaves it behind; the
// post step of that run, or the next run to take the lock, reads it and knows that the release in the cluster was
// never verified, and what the last verified one was: each Deployment's revision before, and the name of the
// Secret that holds the previous Secret values (a copy the run wrote before changing them: never the values
// themselves in the Lease, which more people may read than Secrets).
//
// The Lease is not the action's alone to write (anyone with `update` on leases can), so what is read back is
// checked field by field, bounded, and anything unexpected makes it no journal at all.

export const JOURNAL_ANNOTATION = 'deploy-gke-workers/journal'
// The Secret that holds the previous values of the Secret a run changes, while the change is not verified.
export const UNDO_SECRET_NAME = 'deploy-gke-workers-undo'
// On the undo Secret: which Secret its values belong to.
export const UNDO_OF_ANNOTATION = 'deploy-gke-workers/undo-of'
const MAX_JOURNAL_CHARS = 16_000

export type JournalPhase =
  // Written before the first write: everything after it may have reached the cluster.
  | 'applying'
  // The undo of the run's changes started; written before its first write.
  | 'undoing'
  // A cancelled run, or a post step, started the undo and could not watch it.
  | 'undo-started'

export interface UndoTarget {
  // Each Deployment a run may change, and the revision of the last verified release (none: created by the run).
  deployments: Array<{ name: string; revision?: string }>
  // The Secret a run may change; `backup` names the Secret with its values before (none: created by the run).
  secret?: { name: string; backup?: string }
}

export interface JournalRun {
  identity: string
  runUrl?: string
  actor?: string
  image: string
}

export interface Journal {
  v: 1
  run: JournalRun
  phase: JournalPhase
  // When the phase was written (the writer's clock: for people, never compared).
  at: string
  rollbackOnFailure: boolean
  undo: UndoTarget
  // Earlier runs whose unverified release this one took over (and whose undo target it kept), newest first.
  supersedes?: JournalRun[]
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/
const REVISION = /^[0-9]{1,12}$/
const PHASES: readonly JournalPhase[] = ['applying', 'undoing', 'undo-started']

export function encodeJournal(journal: Journal): string {
  return JSON.stringify(journal)
}

// The journal in a Lease's annotations, or undefined when there is none or it is not one this action wrote.
export function readJournal(annotations: Record<string, string> | undefined): Journal | undefined {
  const text = annotations?.[JOURNAL_ANNOTATION]
  if (text === undefined || text.length > MAX_JOURNAL_CHARS) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  return validJournal(value)
}

function validJournal(value: unknown): Journal | undefined {
  if (!isRecord(value) || value.v !== 1) return undefined
  const run = validRun(value.run)
  const phase = PHASES.find(p => p === value.phase)
  const undo = validUndo(value.undo)
  if (!run || !phase || !undo || typeof value.at !== 'string' || typeof value.rollbackOnFailure !== 'boolean')
    return undefined
  const supersedes = Array.isArray(value.supersedes) ? value.supersedes.slice(0, 10).map(validRun) : undefined
  if (supersedes?.some(r => r === undefined)) return undefined
  return {
    v: 1,
    run,
    phase,
    at: value.at.slice(0, 40),
    rollbackOnFailure: value.rollbackOnFailure,
    undo,
    ...(supersedes && supersedes.length > 0 ? { supersedes: supersedes as JournalRun[] } : {})
  }
}

function validRun(value: unknown): JournalRun | undefined {
  if (!isRecord(value)) return undefined
  const text = (field: unknown, max: number): string | undefined =>
    typeof field === 'string' && field.length <= max ? field : undefined
  const identity = text(value.identity, 300)
  const image = text(value.image, 1000)
  if (identity === undefined || image === undefined) return undefined
  const runUrl = text(value.runUrl, 500)
  const actor = text(value.actor, 100)
  return { identity, image, ...(runUrl ? { runUrl } : {}), ...(actor ? { actor } : {}) }
}

function validUndo(value: unknown): UndoTarget | undefined {
  if (!isRecord(value) || !Array.isArray(value.deployments) || value.deployments.length > 20) return undefined
  const deployments: UndoTarget['deployments'] = []
  for (const d of value.deployments) {
    if (!isRecord(d) || typeof d.name !== 'string' || !NAME.test(d.name)) return undefined
    if (d.revision !== undefined && (typeof d.revision !== 'string' || !REVISION.test(d.revision)))
      return undefined
    deployments.push({ name: d.name, ...(d.revision !== undefined ? { revision: d.revision } : {}) })
  }
  let secret: UndoTarget['secret']
  if (value.secret !== undefined) {
    const s = value.secret
    if (!isRecord(s) || typeof s.name !== 'string' || !NAME.test(s.name)) return undefined
    if (s.backup !== undefined && s.backup !== UNDO_SECRET_NAME) return undefined
    secret = { name: s.name, ...(s.backup !== undefined ? { backup: UNDO_SECRET_NAME } : {}) }
  }
  return { deployments, ...(secret ? { secret } : {}) }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

// The undo target of a run that takes over an interrupted run's unverified release: for what both touch, the
// last verified state is the earlier run's "before", not what the cluster holds now.
export function mergeUndoTargets(own: UndoTarget, inherited: UndoTarget | undefined): UndoTarget {
  if (!inherited) return own
  const names = new Set([...inherited.deployments, ...own.deployments].map(d => d.name))
  const deployments = [...names].map(
    name => inherited.deployments.find(d => d.name === name) ?? own.deployments.find(d => d.name === name)!
  )
  const secret =
    inherited.secret && (!own.secret || own.secret.name === inherited.secret.name)
      ? inherited.secret
      : own.secret
  return { deployments, ...(secret ? { secret } : {}) }
}

// "run https://…/runs/41 (by octocat) deploying IMAGE"
export function describeRun(run: JournalRun): string {
  return [
    run.runUrl ? `run ${run.runUrl}` : `run ${run.identity}`,
    run.actor ? `by ${run.actor}` : undefined,
    `deploying ${run.image}`
  ]
    .filter(Boolean)
    .join(' ')
}

// The journal as a run writes it at a phase; an interrupted run it took over is named among those it supersedes.
export function journalOf(
  run: JournalRun,
  phase: JournalPhase,
  atMs: number,
  rollbackOnFailure: boolean,
  undo: UndoTarget,
  inherited?: Journal
): Journal {
  return {
    v: 1,
    run,
    phase,
    at: new Date(atMs).toISOString(),
    rollbackOnFailure,
    undo,
    ...(inherited ? { supersedes: [inherited.run, ...(inherited.supersedes ?? [])].slice(0, 10) } : {})
  }
}
