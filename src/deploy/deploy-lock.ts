// A Lease in the target namespace that one deploy holds at a time. Two runs (a push and a manual dispatch,
// or two repositories deploying to one cluster) would otherwise interleave applies and roll back each other's
// work. GitHub's `concurrency:` covers one workflow; this covers everyone who deploys with this action.
//
// The lease is short (LEASE_SECONDS) and renewed while the run lives, so the lock of a run that was killed
// lapses within a minute; a run that finds the lock held waits for it (lock_timeout), saying who holds it.
// Every write of the Lease carries the resourceVersion it read, so of two runs taking a lapsed lock over at
// once, exactly one wins.

import { CancelledError, cancellationReason, KubectlError, type Kubectl } from '../kube/kubectl.js'
import { getOptionalObject, parseObjects } from '../kube/objects.js'

export const LOCK_NAME = 'deploy-gke-workers'
// How long the lock outlives a run that stops renewing it (killed, or its runner lost).
export const LEASE_SECONDS = 60
// Renewed three times per lease, so two missed renewals (a slow API) do not lose it.
export const RENEW_EVERY_MS = (LEASE_SECONDS * 1000) / 3
// While waiting: how often the holder is looked at again, and how often the wait is reported.
const WAIT_POLL_MS = 5000
const WAIT_REPORT_MS = 30_000

export interface LockOwner {
  identity: string
  runUrl?: string
  actor?: string
  image: string
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1'
  kind: 'Lease'
  metadata: {
    name: string
    namespace: string
    resourceVersion?: string
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

// Lease times are MicroTime: RFC 3339 with six fractional digits.
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

export function leaseFor(
  namespace: string,
  owner: LockOwner,
  times: { acquiredMs: number; renewedMs: number },
  resourceVersion?: string
): Lease {
  const annotations: Record<string, string> = { 'deploy-gke-workers/image': owner.image }
  if (owner.runUrl) annotations['deploy-gke-workers/run-url'] = owner.runUrl
  if (owner.actor) annotations['deploy-gke-workers/actor'] = owner.actor
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: LOCK_NAME, namespace, annotations, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: {
      holderIdentity: owner.identity,
      leaseDurationSeconds: LEASE_SECONDS,
      acquireTime: microTime(times.acquiredMs),
      renewTime: microTime(times.renewedMs)
    }
  }
}

export function leaseExpired(lease: Lease, nowMs: number): boolean {
  const renewed = Date.parse(lease.spec.renewTime ?? lease.spec.acquireTime ?? '')
  if (!lease.spec.holderIdentity || Number.isNaN(renewed)) return true
  return renewed + (lease.spec.leaseDurationSeconds ?? 0) * 1000 < nowMs
}

export interface HeldLock {
  // Stops renewing and deletes the Lease if this run still holds it.
  release(): Promise<void>
  // Whether the run had to wait for another deploy's lock (what it changed is then read again).
  waited(): boolean
  // Why renewing failed, once it has (another run took the lock over): the deploy should stop.
  lost(): string | undefined
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
  const { namespace, owner } = options
  const started = now()
  let reported = 0
  let createNamespace = options.createNamespace === true

  for (;;) {
    if (options.signal?.aborted) throw new CancelledError(cancellationReason(options.signal))
    const taken = await tryToTake(kubectl, options, now, createNamespace)
    // After the first try the Namespace exists (or the error has been raised).
    createNamespace = false
    if (taken) {
      options.onHeld?.(true)
      return holdLock(kubectl, options, taken, now, reported > 0)
    }
    const existing = await readLease(kubectl, namespace)
    if (existing && existing.spec.holderIdentity !== owner.identity && !leaseExpired(existing, now())) {
      const waited = now() - started
      if (waited >= options.timeoutSeconds * 1000) {
        throw new DeployLockBusyError(
          `${describeHolder(existing, namespace)}; waited ${Math.round(waited / 1000)}s (lock_timeout ${options.timeoutSeconds}s). ` +
            `If that run is gone, its lock lapses within ${LEASE_SECONDS}s; to remove it now: kubectl delete lease ${LOCK_NAME} -n ${namespace}`,
          {
            holder: describeHolder(existing, namespace),
            runUrl: existing.metadata.annotations?.['deploy-gke-workers/run-url'],
            waitedSeconds: Math.round(waited / 1000),
            timeoutSeconds: options.timeoutSeconds,
            namespace
          }
        )
      }
      if (reported === 0 || now() - reported >= WAIT_REPORT_MS) {
        options.log?.(
          `Waiting for the deploy lock: ${describeHolder(existing, namespace)} (waiting up to ${options.timeoutSeconds}s)`
        )
        reported = now()
      }
      const remaining = options.timeoutSeconds * 1000 - waited
      await interruptible(sleep(Math.max(1, Math.min(WAIT_POLL_MS, remaining))), options.signal)
    }
    // Otherwise it lapsed or was released between the two reads: try again at once.
  }
}

// Creates the Lease, or takes over one that lapsed (or is this run's own, from an earlier attempt of the same
// run). undefined when another run holds it or won the race.
async function tryToTake(
  kubectl: Kubectl,
  options: LockOptions,
  now: () => number,
  // The Namespace may not exist yet (the first try of a first deploy).
  createNamespace: boolean
): Promise<Lease | undefined> {
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
        stdin: JSON.stringify({
          apiVersion: 'v1',
          kind: 'List',
          items: [bareNamespace, lease]
        }),
        okExitCodes: [0, 1],
        retry: false
      })
      .catch(() => undefined)
    const created = parseObjects(both?.stdout ?? '').find(o => o.kind === 'Lease')
    if (created) return created as unknown as Lease
    const leaseExists = /leases?[^\n]*already exists/i.test(both?.stderr ?? '')
    if (!leaseExists) {
      await kubectl.run(['create', '--validate=false', '-f', '-'], {
        stdin: JSON.stringify(bareNamespace),
        okExitCodes: [0, 1],
        accept: r => r.exitCode === 0 || /AlreadyExists|already exists/.test(r.stderr)
      })
      return tryToTake(kubectl, options, now, false)
    }
  } else {
    try {
      const created = await kubectl.json<Lease>(['create', '--validate=false', '-f', '-'], {
        stdin: JSON.stringify(lease)
      })
      return created
    } catch (error) {
      if (!(error instanceof KubectlError) || !/AlreadyExists|already exists/.test(error.stderr)) throw error
    }
  }
  const existing = await readLease(kubectl, namespace)
  if (!existing) return undefined
  if (existing.spec.holderIdentity !== owner.identity && !leaseExpired(existing, now())) return undefined
  try {
    return await kubectl.json<Lease>(['replace', '--validate=false', '-f', '-'], {
      stdin: JSON.stringify(
        leaseFor(namespace, owner, { acquiredMs: now(), renewedMs: now() }, existing.metadata.resourceVersion)
      )
    })
  } catch (error) {
    // Another run took it over (or released it) between our read and our write.
    if (error instanceof KubectlError && /Conflict|has been modified|NotFound|not found/.test(error.stderr)) {
      return undefined
    }
    throw error
  }
}

function holdLock(
  kubectl: Kubectl,
  options: LockOptions,
  taken: Lease,
  now: () => number,
  waited: boolean
): HeldLock {
  const { namespace, owner } = options
  const acquiredMs = Date.parse(taken.spec.acquireTime ?? '') || now()
  let current = taken
  let renewedMs = now()
  let lostReason: string | undefined
  let renewing: Promise<void> = Promise.resolve()

  const renew = async (): Promise<void> => {
    try {
      const at = now()
      current = await kubectl.json<Lease>(['replace', '--validate=false', '-f', '-'], {
        stdin: JSON.stringify(
          leaseFor(namespace, owner, { acquiredMs, renewedMs: at }, current.metadata.resourceVersion)
        )
      })
      renewedMs = at
    } catch (error) {
      if (
        error instanceof KubectlError &&
        /Conflict|has been modified|NotFound|not found/.test(error.stderr)
      ) {
        lostReason = `the deploy lock in namespace ${namespace} was taken over or removed while this run held it`
        clearInterval(timer)
        return
      }
      // A failed renewal is retried at the next tick; the lease outlives two missed ones.
      options.log?.(
        `could not renew the deploy lock (retried in ${RENEW_EVERY_MS / 1000}s): ${(error as Error).message}`
      )
    }
  }
  const timer = setInterval(() => {
    renewing = renewing.then(renew)
  }, RENEW_EVERY_MS)
  // The renewal must not keep the process alive on its own.
  timer.unref()

  return {
    lost: () => lostReason,
    waited: () => waited,
    async release() {
      clearInterval(timer)
      await renewing
      if (lostReason) return
      // Within the lease's duration since our last renewal nobody can have taken it over: delete at once.
      // Later than that, only after checking it is still ours.
      const stillOurs =
        now() - renewedMs < LEASE_SECONDS * 1000 ||
        (await readLease(kubectl, namespace))?.spec.holderIdentity === owner.identity
      // A Lease has no finalizers, so it is gone when the DELETE answers: --wait=false spares kubectl's look.
      if (stillOurs)
        await kubectl.run([
          'delete',
          'lease',
          LOCK_NAME,
          '-n',
          namespace,
          '--ignore-not-found',
          '--wait=false'
        ])
      options.onHeld?.(false)
    }
  }
}

// Releases a lock this run's identity still holds: the post step's net for a run that was cancelled or died
// before it could release it.
export async function releaseIfHeld(kubectl: Kubectl, namespace: string, identity: string): Promise<boolean> {
  const lease = await readLease(kubectl, namespace)
  if (lease?.spec.holderIdentity !== identity) return false
  await kubectl.run(['delete', 'lease', LOCK_NAME, '-n', namespace, '--ignore-not-found', '--wait=false'])
  return true
}

function readLease(kubectl: Kubectl, namespace: string): Promise<Lease | undefined> {
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

export function describeHolder(lease: Lease, namespace: string): string {
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
  const until = Date.parse(lease.spec.renewTime ?? '') + (lease.spec.leaseDurationSeconds ?? 0) * 1000
  return `another deploy is in progress in namespace ${namespace} (${who}, lock held until ${new Date(until).toISOString()} unless renewed)`
}
