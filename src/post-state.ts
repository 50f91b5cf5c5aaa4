// What the main step saves for the post step (core.saveState), read back without trusting it: an earlier step
// of the job can set STATE_* variables through GITHUB_ENV, so a value that is not what main.ts writes is
// reported and left alone, never thrown on.

import { isAbsolute } from 'node:path'

export interface HeldLockState {
  namespace: string
  identity: string
  kubeconfig: string
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/
const MAX_IDENTITY_CHARS = 512

/** The deploy lock main.ts saved while it held it; `{}` when none was saved (or the lock was released). */
export function parseHeldLockState(text: string): { state?: HeldLockState; problem?: string } {
  if (!text) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return { problem: 'it is not JSON' }
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    return { problem: 'it is not an object' }
  const { namespace, identity, kubeconfig } = parsed as Record<string, unknown>
  if (typeof namespace !== 'string' || !NAMESPACE.test(namespace))
    return { problem: 'its namespace is not a namespace name' }
  if (typeof identity !== 'string' || identity === '' || identity.length > MAX_IDENTITY_CHARS)
    return { problem: 'its holder identity is missing or too long' }
  if (typeof kubeconfig !== 'string' || !isAbsolute(kubeconfig))
    return { problem: 'its kubeconfig is not an absolute path' }
  return { state: { namespace, identity, kubeconfig } }
}
