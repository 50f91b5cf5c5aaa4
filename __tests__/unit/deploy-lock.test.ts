import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { leaseExpired, leaseFor, microTime } from '../../src/deploy/deploy-lock.js'

describe('deploy lock lease', () => {
  test('MicroTime has six fractional digits, as the API server writes it', () => {
    assert.equal(microTime(Date.UTC(2025, 0, 1, 0, 0, 0, 123)), '2025-01-01T00:00:00.123000Z')
  })

  const now = Date.UTC(2026, 10, 27, 12, 0, 0)
  const owner = {
    identity: 'o/r/runs/1/attempts/1/deploy',
    runUrl: 'https://github.com/o/r/actions/runs/1',
    actor: 'octocat',
    image: 'gcr.io/p/a:v1'
  }
  const cases: Array<{
    name: string
    renewedAgoSeconds: number
    holder?: string
    expired: boolean
  }> = [
    { name: 'fresh', renewedAgoSeconds: 10, expired: false },
    { name: 'just inside', renewedAgoSeconds: 59, expired: false },
    { name: 'past its duration', renewedAgoSeconds: 61, expired: true },
    { name: 'no holder', renewedAgoSeconds: 1, holder: '', expired: true }
  ]
  for (const c of cases) {
    test(`a lease ${c.name} is ${c.expired ? '' : 'not '}expired`, () => {
      const renewedMs = now - c.renewedAgoSeconds * 1000
      const lease = leaseFor(
        'ns',
        { ...owner, identity: c.holder ?? owner.identity },
        {
          acquiredMs: renewedMs,
          renewedMs
        }
      )
      assert.equal(leaseExpired(lease, now), c.expired)
    })
  }

  test('the lease names the run, the actor and the image for whoever finds it taken', () => {
    const lease = leaseFor('noesis2', owner, { acquiredMs: now - 5000, renewedMs: now })
    assert.equal(lease.metadata.annotations?.['deploy-gke-workers/run-url'], owner.runUrl)
    assert.equal(lease.metadata.annotations?.['deploy-gke-workers/actor'], 'octocat')
    assert.equal(lease.spec.holderIdentity, owner.identity)
    // Short, and renewed while the run lives: a killed run's lock lapses within a minute.
    assert.equal(lease.spec.leaseDurationSeconds, 60)
    assert.equal(lease.spec.acquireTime, microTime(now - 5000))
    assert.equal(lease.spec.renewTime, microTime(now))
  })
})
