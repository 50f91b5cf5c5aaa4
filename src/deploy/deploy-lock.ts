// A Lease in the target namespace that one deploy holds at a time. Two runs (a push and a manual dispatch,
// or two repositories deploying to one cluster) would otherwise interleave applies and roll back each other's
// work. GitHub's `concurrency:` covers one workflow; this covers everyone who deploys with this action.

import { KubectlError, type Kubectl } from '../kube/kubectl.js'
import { getOptionalObject } from '../kube/objects.js'

export const LOCK_NAME = 'deploy-gke-workers'

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
  constructor(message: string) {
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
  durationSeconds: number,
  nowMs: number,
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
      leaseDurationSeconds: durationSeconds,
      acquireTime: microTime(nowMs),
      renewTime: microTime(nowMs)
    }
  }
}

export function leaseExpired(lease: Lease, nowMs: number): boolean {
  const renewed = Date.parse(lease.spec.renewTime ?? lease.spec.acquireTime ?? '')
  if (!lease.spec.holderIdentity || Number.isNaN(renewed)) return true
  return renewed + (lease.spec.leaseDurationSeconds ?? 0) * 1000 < nowMs
}

export interface HeldLock {
  release(): Promise<void>
}

export async function acquireDeployLock(
  kubectl: Kubectl,
  options: { namespace: string; owner: LockOwner; durationSeconds: number; now?: () => number }
): Promise<HeldLock> {
  const now = options.now ?? Date.now
  const { namespace, owner } = options
  const release = async (): Promise<void> => {
    const current = await readLease(kubectl, namespace)
    if (current?.spec.holderIdentity === owner.identity) {
      await kubectl.run(['delete', 'lease', LOCK_NAME, '-n', namespace, '--ignore-not-found'])
    }
  }

  try {
    await kubectl.run(['create', '-f', '-', '-o', 'name'], {
      stdin: JSON.stringify(leaseFor(namespace, owner, options.durationSeconds, now()))
    })
    return { release }
  } catch (error) {
    if (!(error instanceof KubectlError) || !/AlreadyExists|already exists/.test(error.stderr)) throw error
  }

  const existing = await readLease(kubectl, namespace)
  if (existing && existing.spec.holderIdentity !== owner.identity && !leaseExpired(existing, now())) {
    throw new DeployLockBusyError(describeHolder(existing, namespace))
  }
  // Expired (a run that died) or ours (a re-run of the same attempt): take it over. The resourceVersion makes
  // the write conditional, so of two runs taking over at once, one gets a Conflict.
  try {
    await kubectl.run(['replace', '-f', '-', '-o', 'name'], {
      stdin: JSON.stringify(
        leaseFor(namespace, owner, options.durationSeconds, now(), existing?.metadata.resourceVersion)
      )
    })
  } catch (error) {
    if (error instanceof KubectlError && /Conflict|has been modified|NotFound|not found/.test(error.stderr)) {
      throw new DeployLockBusyError(
        `another deploy took the lock in namespace ${namespace} at the same moment; run again`
      )
    }
    throw error
  }
  return { release }
}

function readLease(kubectl: Kubectl, namespace: string): Promise<Lease | undefined> {
  return getOptionalObject<Lease>(kubectl, 'lease', LOCK_NAME, namespace)
}

function describeHolder(lease: Lease, namespace: string): string {
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
  return (
    `another deploy is in progress in namespace ${namespace} (${who}, lock held until ${new Date(until).toISOString()}). ` +
    `If that run is gone, remove the lock: kubectl delete lease ${LOCK_NAME} -n ${namespace}`
  )
}
