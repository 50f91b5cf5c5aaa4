// The journal in the deploy lock's Lease is read back by other processes (the post step, the next run), and the
// Lease is writable by anyone with `update` on leases: what is read must be exactly what this action writes.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  encodeJournal,
  JOURNAL_ANNOTATION,
  mergeUndoTargets,
  readJournal,
  UNDO_SECRET_NAME,
  type Journal
} from '../../src/deploy/journal.js'

const journal: Journal = {
  v: 1,
  run: {
    identity: 'o/r/runs/7/attempts/1/deploy#abcdef012345',
    runUrl: 'https://github.com/o/r/actions/runs/7',
    image: 'r/app:v2'
  },
  phase: 'applying',
  at: '2026-12-04T10:00:00.000Z',
  rollbackOnFailure: true,
  undo: {
    deployments: [
      { name: 'celery-worker', revision: '3' },
      { name: 'celery-beat', revision: '2' }
    ],
    secret: { name: 'app-secrets', backup: UNDO_SECRET_NAME }
  }
}

describe('the journal', () => {
  test('what is written is read back as it was', () => {
    assert.deepEqual(readJournal({ [JOURNAL_ANNOTATION]: encodeJournal(journal) }), journal)
  })

  const broken: Array<[string, unknown]> = [
    ['not JSON', '{not json'],
    ['another version', { ...journal, v: 2 }],
    ['an unknown phase', { ...journal, phase: 'done' }],
    [
      'a revision that is not a number',
      { ...journal, undo: { deployments: [{ name: 'celery-worker', revision: '3; rm -rf' }] } }
    ],
    [
      'a Deployment name that is not a name',
      { ...journal, undo: { deployments: [{ name: '../etc', revision: '3' }] } }
    ],
    [
      'a backup Secret other than the action\u2019s own',
      { ...journal, undo: { deployments: [], secret: { name: 'app-secrets', backup: 'someone-elses' } } }
    ],
    ['no run', { ...journal, run: undefined }],
    ['rollbackOnFailure not a boolean', { ...journal, rollbackOnFailure: 'yes' }]
  ]
  for (const [name, value] of broken) {
    test(`${name}: no journal at all`, () => {
      const text = typeof value === 'string' ? value : JSON.stringify(value)
      assert.equal(readJournal({ [JOURNAL_ANNOTATION]: text }), undefined)
    })
  }

  test('an oversized annotation is not parsed', () => {
    const huge = encodeJournal({ ...journal, run: { ...journal.run, actor: 'x'.repeat(20_000) } })
    assert.equal(readJournal({ [JOURNAL_ANNOTATION]: huge }), undefined)
  })

  test('no annotation: no journal', () => {
    assert.equal(readJournal(undefined), undefined)
    assert.equal(readJournal({}), undefined)
  })

  test('taking over an interrupted run keeps its undo target: the last verified release is before it', () => {
    const own = {
      deployments: [
        { name: 'celery-worker', revision: '4' },
        { name: 'celery-beat', revision: '3' },
        { name: 'extra' }
      ],
      secret: { name: 'app-secrets', backup: UNDO_SECRET_NAME }
    }
    assert.deepEqual(mergeUndoTargets(own, journal.undo), {
      deployments: [
        { name: 'celery-worker', revision: '3' },
        { name: 'celery-beat', revision: '2' },
        { name: 'extra' }
      ],
      secret: { name: 'app-secrets', backup: UNDO_SECRET_NAME }
    })
    assert.deepEqual(mergeUndoTargets(own, undefined), own)
  })
})
