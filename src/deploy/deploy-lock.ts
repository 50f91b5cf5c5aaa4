// A Lease in the target namespace that one deploy holds at a time. Two runs (a push and a manual dispatch, two
// matrix legs, or two repositories deploying to one cluster) would otherwise interleave applies and roll back each
// other's work. GitHub's `concurrency:` covers one workflow; this covers everyone who deploys with this action.
//
// The rules are client-go's leader election:
// - A lease is judged expired by watching it not change, on our own clock: a holder's renewTime is written by its
//   clock, which may be minutes off. A lease whose resourceVersion has not moved for its leaseDurationSeconds
//   since we first saw it is free to take over.
// - The holder renews every RENEW_EVERY_MS and stops writing (fence()) once it has not renewed for
//   RENEW_DEADLINE_MS: before anyone else can have seen its lease unchanged for LEASE_SECONDS. Past that, it may
//   write again only after a renewal proves the lease is still the one it wrote.
// - Every write of the Lease carries the resourceVersion it read, so of two runs taking it over, exactly one wins.
// The Lease also carries the run's journal (./journal.ts): what it is changing and how to undo it.

import { randomBytes } from 'node:crypto'
import { CancelledError, cancellationReason, KubectlError, type Kubectl } from '../kube/kubectl.js'
import { getOptionalObject, parseObjects } from '../kube/objects.js'
import { encodeJournal, JOURNAL_ANNOTATION, readJournal, type Journal } from './journal.js'

export const LOCK_NAME = 'deploy-gke-workers'
// How long the lock outlives a run that stops renewing it (killed, or its runner lost).
export const LEASE_SECONDS = 60
// Renewed three times per lease, so one missed renewal (a slow API) does not stop the run.
export const RENEW_EVERY_MS = (LEASE_SECONDS * 1000) / 3
// A holder that has not renewed for this long writes nothing more until a renewal succeeds. The 20 s to the
// lease's end cover the time a request takes and clocks that run at slightly different rates.
export const RENEW_DEADLINE_MS = (LEASE_SECONDS * 1000 * 2) / 3
// While waiting: how often the holder is looked at again, and how often the wait is reported.
const WAIT_POLL_MS = 2000
const WAIT_REPORT_MS = 30_000

export interface LockOwner {
  // Unique to this process (a random part beside the run, attempt and job): two matrix legs of one job, or a
  // re-run of the same attempt, are different holders.
  identity: string
  runUrl?: string
  actor?: string
  image: string
}

// The lock identity of a run: the run, attempt and job people can read, and a random part that makes it unique.
export function lockIdentity(run: string): string {
  return `${run}#${randomBytes(6).toString('hex')}`
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1'
  kind: 'Lease'
  metadata: {
    name: string
    namespace: string
    resourceVersion?: string
    uid?: string
    annotations?: Record<string, string>
  }
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string }
}

export class DeployLockBusyError extends Error {
  constructor(
    message: string,
    // For the report: who holds the lock (a run URL when the holder is a workflow run) and how long this waited.
    readonly lock: {
      holder: string
      runUrl?: string
      waitedSeconds: number
      timeoutSeconds: number
      namespace: string
    }
  ) {
    super(message)
    this.name = 'DeployLockBusyError'
  }
}

// Why this run may no longer write: another run took the lock over, or this one could not renew it in time.
export interface LockLoss {
  reason: string
  atMs: number
  // Who holds it now, when known (a run URL or an identity).
  holder?: string
}

export class LockLostError extends CancelledError {
  constructor(readonly loss: LockLoss) {
    super('the deploy lock was lost')
    this.name = 'LockLostError'
    this.message = loss.reason
  }
}

// Lease times are MicroTime: RFC 3339 with six fractional digits.
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

export function leaseFor(
  namespace: string,
  owner: LockOwner | undefined,
  times: { acquiredMs: number; renewedMs: number },
  options: { resourceVersion?: string; journal?: string } = {}
): Lease {
  const annotations: Record<string, string> = {}
  if (owner) {
    annotations['deploy-gke-workers/image'] = owner.image
    if (owner.runUrl) annotations['deploy-gke-workers/run-url'] = owner.runUrl
    if (owner.actor) annotations['deploy-gke-workers/actor'] = owner.actor
  }
  if (options.journal !== undefined) annotations[JOURNAL_ANNOTATION] = options.journal
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: LOCK_NAME,
      namespace,
      annotations,
      ...(options.resourceVersion ? { resourceVersion: options.resourceVersion } : {})
    },
    spec: {
      // An empty holder is a released lock (client-go's release does the same); its journal stays.
      holderIdentity: owner?.identity ?? '',
      leaseDurationSeconds: LEASE_SECONDS,
      acquireTime: microTime(times.acquiredMs),
      renewTime: microTime(times.renewedMs)
    }
  }
}

// Writes `desired` over `current` only if the Lease is still `current`: a replace that carries current's
// resourceVersion (a Conflict if another run wrote it since) and its uid. The uid matters: a Lease may be created
// by an update, so a replace of one that another run has deleted meanwhile would bring it back, held by a run
// that lost it (seen on a real kube-apiserver); with a uid the server refuses it (its precondition fails).
export async function replaceLease(kubectl: Kubectl, current: Lease, desired: Lease): Promise<Lease> {
  const lease = {
    ...desired,
    metadata: {
      ...desired.metadata,
      ...(current.metadata.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
      ...(current.metadata.uid ? { uid: current.metadata.uid } : {})
    }
  }
  return kubectl.json<Lease>(['replace', '--validate=false', '-f', '-'], { stdin: JSON.stringify(lease) })
}

// Tracks when each version of the lease was first seen, on our clock: a lease is expired once one version has
// been seen unchanged for its duration. The holder's own times are never trusted.
export class LeaseObserver {
  private seen?: { resourceVersion: string; atMs: number }

  constructor(private readonly now: () => number) {}

  expired(lease: Lease): boolean {
    if (!lease.spec.holderIdentity) return true
    const version = lease.metadata.resourceVersion ?? ''
    if (this.seen?.resourceVersion !== version) this.seen = { resourceVersion: version, atMs: this.now() }
    return this.now() - this.seen.atMs >= (lease.spec.leaseDurationSeconds ?? LEASE_SECONDS) * 1000
  }

  // How long until the lease, unchanged, counts as expired.
  remainingMs(lease: Lease): number {
    if (!this.seen) return (lease.spec.leaseDurationSeconds ?? LEASE_SECONDS) * 1000
    return Math.max(
      0,
      (lease.spec.leaseDurationSeconds ?? LEASE_SECONDS) * 1000 - (this.now() - this.seen.atMs)
    )
  }
}

export interface HeldLock {
  // Resolves while this run may write: renewed within RENEW_DEADLINE_MS, or renewed now. Throws
  // LockLostError otherwise. Every write of the run waits for it.
  fence(): Promise<void>
  // Aborted when the lock is lost (with the loss as its reason): what the run is waiting on stops.
  readonly lostSignal: AbortSignal
  lost(): LockLoss | undefined
  // Whether the run had to wait for another deploy's lock (what it changed is then read again).
  waited(): boolean
  // The journal of an interrupted run found in the Lease when this run took it.
  inherited(): Journal | undefined
  // Writes the run's journal into the Lease (a renewal too); undefined removes it.
  writeJournal(journal: Journal | undefined): Promise<void>
  // Stops renewing. With a journal the Lease stays, without a holder, carrying it for whoever comes next (the
  // post step, the next run); otherwise it is deleted. Nothing happens once the lock is lost.
  // `kubectl`: the runner for the release itself (a cancelled run's, bound to the seconds it has left).
  release(options?: { journal?: Journal; kubectl?: Kubectl }): Promise<void>
}

export interface LockOptions {
  namespace: string
  owner: LockOwner
  // How long to wait for another run's lock before giving up; 0 fails at once.
  timeoutSeconds: number
  // The namespace does not exist yet (a first deploy): it is created, bare, in the same call as the Lease
  // (the apply sets its fields later). One that exists by then is fine.
  createNamespace?: boolean
  signal?: AbortSignal
  log?: (line: string) => void
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  // For the post step: what this run wrote, so a lock left behind by a cancelled run can be released.
  onHeld?: (held: boolean) => void
}

export async function acquireDeployLock(kubectl: Kubectl, options: LockOptions): Promise<HeldLock> {
  const now = options.now ?? Date.now
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>(resolve => setTimeout(resolve, ms)))
  const { namespace } = options
  const started = now()
  const observer = new LeaseObserver(now)
  let reported = 0
  let createNamespace = options.createNamespace === true

  for (;;) {
    if (options.signal?.aborted) throw new CancelledError(cancellationReason(options.signal))
    const attemptStarted = now()
    const taken = await tryToTake(kubectl, options, now, observer, createNamespace)
    // After the first try the Namespace exists (or the error has been raised).
    createNamespace = false
    if (taken.lease) {
      options.onHeld?.(true)
      return holdLock(kubectl, options, taken.lease, {
        now,
        renewedAtMs: attemptStarted,
        waited: reported > 0,
        inherited: taken.inherited
      })
    }
    const existing = taken.existing
    if (!existing) continue
    const waited = now() - started
    if (waited >= options.timeoutSeconds * 1000) {
      throw new DeployLockBusyError(
        `${describeHolder(existing, namespace, observer)}; waited ${Math.round(waited / 1000)}s (lock_timeout ${options.timeoutSeconds}s). ` +
          `If that run is gone, its lock lapses ${LEASE_SECONDS}s after its last renewal; to remove it now: kubectl delete lease ${LOCK_NAME} -n ${namespace}`,
        {
          holder: describeHolder(existing, namespace, observer),
          runUrl: existing.metadata.annotations?.['deploy-gke-workers/run-url'],
          waitedSeconds: Math.round(waited / 1000),
          timeoutSeconds: options.timeoutSeconds,
          namespace
        }
      )
    }
    if (reported === 0 || now() - reported >= WAIT_REPORT_MS) {
      options.log?.(
        `Waiting for the deploy lock: ${describeHolder(existing, namespace, observer)} (waiting up to ${options.timeoutSeconds}s)`
      )
      reported = now()
    }
    const remaining = options.timeoutSeconds * 1000 - waited
    await interruptible(
      sleep(Math.max(1, Math.min(WAIT_POLL_MS, remaining, observer.remainingMs(existing) + 1))),
      options.signal
    )
  }
}

// Creates the Lease, or takes over one that is free (released, or seen unchanged for its duration). `lease`
// when taken; otherwise the Lease that stands in the way, if it was read.
async function tryToTake(
  kubectl: Kubectl,
  options: LockOptions,
  now: () => number,
  observer: LeaseObserver,
  // The Namespace may not exist yet (the first try of a first deploy).
  createNamespace: boolean
): Promise<{ lease?: Lease; existing?: Lease; inherited?: Journal }> {
  const { namespace, owner } = options
  const lease = leaseFor(namespace, owner, { acquiredMs: now(), renewedMs: now() })
  const bareNamespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }
  // --validate=false on our own objects: kubectl need not fetch the OpenAPI documents to check them.
  if (createNamespace) {
    // One call for both, once: kubectl creates the objects of a List one after another and goes on past one
    // that exists (exit 1). Anything but a created Lease or a Lease that exists is sorted out by the two
    // calls below, each retried on its own terms (a transient error beside an AlreadyExists is still one).
    const both = await kubectl
      .run(['create', '--validate=false', '-f', '-', '-o', 'json'], {
        stdin: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [bareNamespace, lease] }),
        okExitCodes: [0, 1],
        retry: false
      })
      .catch(() => undefined)
    const created = parseObjects(both?.stdout ?? '').find(o => o.kind === 'Lease')
    if (created) return { lease: created as unknown as Lease }
    // Line by line, two plain searches: kubectl's stderr is the cluster's text, not for a backtracking pattern.
    const leaseExists = (both?.stderr ?? '')
      .toLowerCase()
      .split('\n')
      .some(line => line.includes('lease') && line.includes('already exists'))
    if (!leaseExists) {
      await kubectl.run(['create', '--validate=false', '-f', '-'], {
        stdin: JSON.stringify(bareNamespace),
        okExitCodes: [0, 1],
        accept: r => r.exitCode === 0 || /AlreadyExists|already exists/.test(r.stderr)
      })
      return tryToTake(kubectl, options, now, observer, false)
    }
  } else {
    try {
      return {
        lease: await kubectl.json<Lease>(['create', '--validate=false', '-f', '-'], {
          stdin: JSON.stringify(lease)
        })
      }
    } catch (error) {
      if (!(error instanceof KubectlError) || !/AlreadyExists|already exists/.test(error.stderr)) throw error
    }
  }
  const existing = await readLease(kubectl, namespace)
  if (!existing) return {}
  // Ours already: a create whose answer was lost, then retried.
  if (existing.spec.holderIdentity === owner.identity) return { lease: existing }
  if (!observer.expired(existing)) return { existing }
  const inherited = readJournal(existing.metadata.annotations)
  const journal = existing.metadata.annotations?.[JOURNAL_ANNOTATION]
  try {
    const takenOver = await replaceLease(
      kubectl,
      existing,
      // The journal of an interrupted run stays until this run writes its own: if this one dies too, the next
      // still finds it.
      leaseFor(
        namespace,
        owner,
        { acquiredMs: now(), renewedMs: now() },
        { journal: inherited ? journal : undefined }
      )
    )
    return { lease: takenOver, inherited }
  } catch (error) {
    // Another run took it over (or released it) between our read and our write.
    if (
      error instanceof KubectlError &&
      /Conflict|has been modified|NotFound|not found|Precondition failed/.test(error.stderr)
    ) {
      const now2 = await readLease(kubectl, namespace)
      if (now2?.spec.holderIdentity === owner.identity) return { lease: now2, inherited }
      return { existing: now2 }
    }
    throw error
  }
}

function holdLock(
  kubectl: Kubectl,
  options: LockOptions,
  taken: Lease,
  state: { now: () => number; renewedAtMs: number; waited: boolean; inherited?: Journal }
): HeldLock {
  const { namespace, owner } = options
  const { now } = state
  // The runner of every Lease write; a release may hand over a bounded one.
  let runner = kubectl
  const acquiredMs = Date.parse(taken.spec.acquireTime ?? '') || now()
  let current = taken
  // When the last write that succeeded was sent (not answered): nobody can have seen our lease unchanged
  // for longer than since then.
  let renewedAtMs = state.renewedAtMs
  let loss: LockLoss | undefined
  let released = false
  const lostController = new AbortController()
  // Lease writes one after another: a renewal, a journal write and the fence's renewal never race.
  let chain: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn)
    chain = next.catch(() => undefined)
    return next
  }

  const lose = (reason: string, holder?: string): LockLoss => {
    if (!loss) {
      loss = { reason, atMs: now(), ...(holder ? { holder } : {}) }
      clearInterval(timer)
      lostController.abort(reason)
    }
    return loss
  }

  // One write of the Lease as this run holds it, with the annotations given (the journal among them).
  const write = async (annotations: Record<string, string> | undefined): Promise<void> => {
    if (loss) throw new LockLostError(loss)
    const sentAt = now()
    const journal = annotations?.[JOURNAL_ANNOTATION]
    const lease = leaseFor(namespace, owner, { acquiredMs, renewedMs: sentAt }, { journal })
    try {
      current = await replaceLease(runner, current, lease)
      renewedAtMs = sentAt
    } catch (error) {
      if (
        error instanceof KubectlError &&
        /Conflict|has been modified|NotFound|not found|Precondition failed/.test(error.stderr)
      ) {
        // A conflict may be our own write whose answer was lost, then retried: the holder says whose it is.
        const found = await readLease(runner, namespace).catch(() => undefined)
        if (found?.spec.holderIdentity === owner.identity) {
          current = found
          renewedAtMs = sentAt
          if (found.metadata.annotations?.[JOURNAL_ANNOTATION] === journal) return
          return write(annotations)
        }
        const holder = found?.spec.holderIdentity
          ? (found.metadata.annotations?.['deploy-gke-workers/run-url'] ?? found.spec.holderIdentity)
          : undefined
        throw new LockLostError(
          lose(
            holder
              ? `the deploy lock in namespace ${namespace} was taken over by ${holder}`
              : `the deploy lock in namespace ${namespace} was removed while this run held it`,
            holder
          )
        )
      }
      throw error
    }
  }
  const annotationsNow = (): Record<string, string> | undefined => current.metadata.annotations

  const renew = async (): Promise<void> => {
    try {
      await serial(() => write(annotationsNow()))
    } catch (error) {
      if (error instanceof LockLostError) return
      // A failed renewal is tried again at the next tick; the fence stops the run's writes past the deadline.
      options.log?.(
        `could not renew the deploy lock (tried again in ${RENEW_EVERY_MS / 1000}s): ${(error as Error).message}`
      )
    }
  }
  const timer = setInterval(() => void renew(), RENEW_EVERY_MS)
  // The renewal must not keep the process alive on its own.
  timer.unref()

  // Proves, inside the serial chain, that this run may still write: renewed within the deadline, or renewed now.
  const proveHeld = async (): Promise<void> => {
    if (loss) throw new LockLostError(loss)
    if (released) throw new LockLostError({ reason: 'the deploy lock was already released', atMs: now() })
    if (now() - renewedAtMs < RENEW_DEADLINE_MS) return
    // Past the deadline (the process was paused, or the API was away): only a renewal that goes through proves
    // that nobody has taken the lock over meanwhile.
    const staleFor = Math.round((now() - renewedAtMs) / 1000)
    try {
      await write(annotationsNow())
    } catch (error) {
      if (error instanceof LockLostError) throw error
      throw new LockLostError(
        lose(
          `this run could not renew the deploy lock for ${staleFor}s (${(error as Error).message.split('\n')[0]}), so it stopped writing: another run may take the lock over`
        )
      )
    }
  }

  return {
    fence: () => serial(proveHeld),
    lostSignal: lostController.signal,
    lost: () => loss,
    waited: () => state.waited,
    inherited: () => state.inherited,
    // A write of the Lease with its resourceVersion is itself the proof that this run still holds it.
    writeJournal: journal =>
      serial(async () => {
        const annotations = { ...(annotationsNow() ?? {}) }
        if (journal) annotations[JOURNAL_ANNOTATION] = encodeJournal(journal)
        else delete annotations[JOURNAL_ANNOTATION]
        await write(annotations)
      }),
    async release(releaseOptions = {}) {
      clearInterval(timer)
      if (releaseOptions.kubectl) runner = releaseOptions.kubectl
      await chain
      if (loss || released) return
      await serial(async () => {
        await proveHeld()
        if (releaseOptions.journal) {
          // Released, not deleted: the journal stays for the post step or the next run.
          await replaceLease(
            runner,
            current,
            leaseFor(
              namespace,
              undefined,
              { acquiredMs, renewedMs: now() },
              { journal: encodeJournal(releaseOptions.journal) }
            )
          )
        } else {
          // Within the renew deadline nobody can have taken it over: deleted at once. A Lease has no
          // finalizers, so it is gone when the DELETE answers: --wait=false spares kubectl's look.
          await runner.run([
            'delete',
            'lease',
            LOCK_NAME,
            '-n',
            namespace,
            '--ignore-not-found',
            '--wait=false'
          ])
        }
      })
      released = true
      options.onHeld?.(false)
    }
  }
}

export function readLease(kubectl: Kubectl, namespace: string): Promise<Lease | undefined> {
  return getOptionalObject<Lease>(kubectl, 'lease', LOCK_NAME, namespace)
}

async function interruptible(wait: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return wait
  await Promise.race([
    wait,
    new Promise<void>(resolve => signal.addEventListener('abort', () => resolve(), { once: true }))
  ])
  if (signal.aborted) throw new CancelledError(cancellationReason(signal))
}

export function describeHolder(lease: Lease, namespace: string, observer?: LeaseObserver): string {
  const annotations = lease.metadata.annotations ?? {}
  const who = [
    annotations['deploy-gke-workers/run-url']
      ? `run ${annotations['deploy-gke-workers/run-url']}`
      : `holder ${lease.spec.holderIdentity}`,
    annotations['deploy-gke-workers/actor'] ? `by ${annotations['deploy-gke-workers/actor']}` : undefined,
    annotations['deploy-gke-workers/image']
      ? `deploying ${annotations['deploy-gke-workers/image']}`
      : undefined
  ]
    .filter(Boolean)
    .join(' ')
  // The holder's renewTime is its own clock's; what we can say is how long it may still hold it unrenewed.
  const left = observer ? Math.ceil(observer.remainingMs(lease) / 1000) : undefined
  return `another deploy is in progress in namespace ${namespace} (${who}; its lock lapses if not renewed within ${left ?? lease.spec.leaseDurationSeconds ?? LEASE_SECONDS}s)`
}
