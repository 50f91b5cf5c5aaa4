import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { lockIdentity, LeaseObserver, leaseFor, microTime, type Lease } from '../../src/deploy/deploy-lock.js'
import { JOURNAL_ANNOTATION, readJournal } from '../../src/deploy/journal.js'

describe('deploy lock lease', () => {
  test('MicroTime has six fractional digits, as the API server writes it', () => {
    assert.equal(microTime(Date.UTC(2025, 0, 1, 0, 0, 0, 123)), '2025-01-01T00:00:00.123000Z')
  })

  const start = Date.UTC(2026, 10, 27, 12, 0, 0)
  const owner = {
    identity: 'o/r/runs/1/attempts/1/deploy#0a1b2c3d4e5f',
    runUrl: 'https://github.com/o/r/actions/runs/1',
    actor: 'octocat',
    image: 'gcr.io/p/a:v1'
  }
  const versioned = (lease: Lease, resourceVersion: string): Lease => ({
    ...lease,
    metadata: { ...lease.metadata, resourceVersion }
  })

  // Expiry as client-go's leader election judges it: by watching the lease not change, on our own clock.
  // `renewTime` is the holder's clock and says nothing here.
  const cases: Array<{
    name: string
    // [ms after start, resourceVersion seen] in order, the last one judged
    looks: Array<[number, string]>
    holder?: string
    renewedAgoSeconds?: number
    expired: boolean
  }> = [
    { name: 'seen once', looks: [[0, '10']], expired: false },
    {
      name: 'unchanged for 59 s',
      looks: [
        [0, '10'],
        [59_000, '10']
      ],
      expired: false
    },
    {
      name: 'unchanged for 60 s',
      looks: [
        [0, '10'],
        [60_000, '10']
      ],
      expired: true
    },
    {
      name: 'renewed every 2 s by a holder whose clock is 90 s behind',
      looks: Array.from({ length: 40 }, (_, i): [number, string] => [i * 2000, String(10 + i)]),
      renewedAgoSeconds: 90,
      expired: false
    },
    {
      name: 'renewed once after 50 s, then unchanged for 59 s',
      looks: [
        [0, '10'],
        [50_000, '11'],
        [109_000, '11']
      ],
      expired: false
    },
    {
      name: 'written a day ago by its clock, just seen',
      looks: [[0, '10']],
      renewedAgoSeconds: 86_400,
      expired: false
    },
    { name: 'released (no holder)', looks: [[0, '10']], holder: '', expired: true }
  ]
  for (const c of cases) {
    test(`a lease ${c.name} is ${c.expired ? '' : 'not '}expired`, () => {
      let clock = start
      const observer = new LeaseObserver(() => clock)
      let expired = false
      for (const [at, version] of c.looks) {
        clock = start + at
        const renewedMs = clock - (c.renewedAgoSeconds ?? 0) * 1000
        const lease = leaseFor(
          'ns',
          { ...owner, identity: c.holder ?? owner.identity },
          { acquiredMs: renewedMs, renewedMs }
        )
        expired = observer.expired(versioned(lease, version))
      }
      assert.equal(expired, c.expired)
    })
  }

  test('each process gets its own identity: two matrix legs of one job are two holders', () => {
    const run = 'o/r/runs/1/attempts/1/deploy'
    const a = lockIdentity(run)
    const b = lockIdentity(run)
    assert.notEqual(a, b)
    assert.ok(a.startsWith(`${run}#`) && b.startsWith(`${run}#`))
  })

  test('the lease names the run, the actor and the image for whoever finds it taken', () => {
    const lease = leaseFor('noesis2', owner, { acquiredMs: start - 5000, renewedMs: start })
    assert.equal(lease.metadata.annotations?.['deploy-gke-workers/run-url'], owner.runUrl)
    assert.equal(lease.metadata.annotations?.['deploy-gke-workers/actor'], 'octocat')
    assert.equal(lease.spec.holderIdentity, owner.identity)
    // Short, and renewed while the run lives: a killed run's lock lapses within a minute.
    assert.equal(lease.spec.leaseDurationSeconds, 60)
    assert.equal(lease.spec.acquireTime, microTime(start - 5000))
    assert.equal(lease.spec.renewTime, microTime(start))
  })

  test('a released lease keeps its journal and has no holder', () => {
    const journal = JSON.stringify({
      v: 1,
      run: { identity: owner.identity, image: owner.image },
      phase: 'applying',
      at: '2026-11-27T12:00:00.000Z',
      rollbackOnFailure: true,
      undo: { deployments: [{ name: 'celery-worker', revision: '3' }] }
    })
    const lease = leaseFor('noesis2', undefined, { acquiredMs: start, renewedMs: start }, { journal })
    assert.equal(lease.spec.holderIdentity, '')
    assert.equal(readJournal(lease.metadata.annotations)?.undo.deployments[0].revision, '3')
    assert.equal(lease.metadata.annotations?.[JOURNAL_ANNOTATION], journal)
  })
})
