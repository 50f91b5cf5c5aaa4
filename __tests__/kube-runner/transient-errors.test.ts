import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { isTransientKubectlFailure, retryAfterHintMs } from '../../src/kube/transient-errors.js'
import { permanentCases, transientCases } from './kubectl-stderr-cases.js'

describe('isTransientKubectlFailure', () => {
  for (const c of transientCases) {
    test(`transient: ${c.name}`, () => {
      assert.equal(isTransientKubectlFailure(c.stderr, 1), true)
    })
  }
  for (const c of permanentCases) {
    test(`permanent: ${c.name}`, () => {
      assert.equal(isTransientKubectlFailure(c.stderr, 1), false)
    })
  }
  test('exit code 0 is never a failure, whatever stderr says', () => {
    assert.equal(isTransientKubectlFailure('Unable to connect to the server: EOF\n', 0), false)
  })
})

describe('retryAfterHintMs', () => {
  const cases: { name: string; stderr: string; want: number | undefined }[] = [
    { name: 'header in verbose output', stderr: 'Response Headers:\n    Retry-After: 3\n', want: 3000 },
    { name: 'Status retryAfterSeconds', stderr: '"details":{"retryAfterSeconds":7}', want: 7000 },
    { name: 'prose', stderr: 'Too many requests, please try again in 2 seconds', want: 2000 },
    { name: 'none', stderr: 'Error from server (TooManyRequests): try again later', want: undefined },
    { name: 'zero is no hint', stderr: 'Retry-After: 0', want: undefined }
  ]
  for (const c of cases) {
    test(c.name, () => assert.equal(retryAfterHintMs(c.stderr), c.want))
  }
})
