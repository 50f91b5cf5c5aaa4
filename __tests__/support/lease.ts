// A deploy-lock Lease as another run of the action would leave it, for tests of a held or a lapsed lock.

export function lockLease(
  namespace: string,
  holder: string,
  renewedMs: number,
  durationSeconds: number,
  runUrl?: string
): object {
  // Lease times are MicroTime: six fractional digits.
  const time = new Date(renewedMs).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: 'deploy-gke-workers',
      namespace,
      annotations: runUrl ? { 'deploy-gke-workers/run-url': runUrl } : {}
    },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: durationSeconds,
      acquireTime: time,
      renewTime: time
    }
  }
}
