// The post step's part of the transaction: when the main step died while holding the deploy lock (killed, timed
// out, its process lost), the release it left was never verified. With the journal it left in the Lease, the
// undo to the last verified release is started (when that run asked for rollbacks), not watched: the post step
// has seconds. The Lease then stays, without a holder, with the journal saying the undo was started, so that the
// next run verifies what is there. Without a journal (nothing undoable was written yet) the lock is deleted.

import type { Kubectl } from '../kube/kubectl.js'
import { encodeJournal, readJournal, type Journal } from './journal.js'
import {
  leaseFor,
  LOCK_NAME,
  LockLostError,
  replaceLease,
  readLease,
  RENEW_DEADLINE_MS,
  type Lease
} from './deploy-lock.js'
import { undoChanges } from './undo.js'

export interface LeftBehind {
  // What the post step did, for its log.
  messages: string[]
}

export async function finishLeftBehind(
  kubectl: Kubectl,
  options: { namespace: string; identity: string; redact?: (text: string) => string; now?: () => number }
): Promise<LeftBehind> {
  const { namespace, identity } = options
  const now = options.now ?? Date.now
  const redact = options.redact ?? ((text: string) => text)
  const lease = await readLease(kubectl, namespace)
  if (lease?.spec.holderIdentity !== identity) return { messages: [] }
  const journal = readJournal(lease.metadata.annotations)
  if (!journal) {
    await kubectl.run(['delete', 'lease', LOCK_NAME, '-n', namespace, '--ignore-not-found', '--wait=false'])
    return { messages: [`Released the deploy lock this run still held in namespace ${namespace}.`] }
  }
  const messages: string[] = []
  const undoing = journal.rollbackOnFailure && journal.phase !== 'undo-started'
  // The write that says what happens next is also the proof that this run still holds the lock: it carries the
  // resourceVersion read above. The undo's writes follow within the renew deadline of it, or not at all.
  const next: Journal = {
    ...journal,
    phase: undoing ? 'undo-started' : journal.phase,
    at: new Date(now()).toISOString()
  }
  const provedAt = now()
  const held = await writeLease(kubectl, lease, identity, next)
  const fenced = kubectl.withFence(async () => {
    if (now() - provedAt >= RENEW_DEADLINE_MS)
      throw new LockLostError({
        reason: 'the post step ran out of time to prove it holds the deploy lock',
        atMs: now()
      })
  })
  if (undoing) {
    const undo = await undoChanges({
      kubectl: fenced,
      namespace,
      target: journal.undo,
      log: line => messages.push(line),
      redact
    })
    if (undo.secret && undo.secret.state !== 'unchanged') messages.push(undo.secret.message)
    if (undo.error) messages.push(undo.error)
    const started = undo.steps.filter(s => s.done && !s.skipped).map(s => s.deployment)
    messages.unshift(
      `The main step ended while its deploy of ${journal.run.image} was not verified: ${
        started.length > 0
          ? `rollback to the release before it started for ${started.join(', ')} (not watched)`
          : 'no Deployment needed a rollback'
      }.`
    )
  } else {
    messages.unshift(
      `The main step ended while its deploy of ${journal.run.image} was not verified; rollback_on_failure is false, so it is left as it is.`
    )
  }
  // Released, the journal kept: the next run verifies what is there.
  await writeLease(kubectl, held, undefined, next)
  messages.push(
    `Released the deploy lock in namespace ${namespace}; its journal stays for the next deploy, which verifies this release.`
  )
  return { messages }
}

async function writeLease(
  kubectl: Kubectl,
  current: Lease,
  identity: string | undefined,
  journal: Journal
): Promise<Lease> {
  const lease = leaseFor(
    current.metadata.namespace,
    identity === undefined
      ? undefined
      : {
          identity,
          image: current.metadata.annotations?.['deploy-gke-workers/image'] ?? journal.run.image,
          ...(journal.run.runUrl ? { runUrl: journal.run.runUrl } : {}),
          ...(journal.run.actor ? { actor: journal.run.actor } : {})
        },
    { acquiredMs: Date.parse(current.spec.acquireTime ?? '') || Date.now(), renewedMs: Date.now() },
    { journal: encodeJournal(journal) }
  )
  return replaceLease(kubectl, current, lease)
}
