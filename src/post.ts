// Post step: runs after the job's steps, also when the main step failed or was cancelled. It removes the
// private kubeconfig first (its token must not outlive the job, whatever happens next), then releases a deploy
// lock the main step still held (a cancelled or killed run), starting the undo of a release that run left
// unverified (./deploy/left-behind.ts).
//
// It trusts nothing it reads: its state (STATE_kubeconfig, STATE_lock) can be set by an earlier step through
// GITHUB_ENV. It deletes only a file it verifies is this action's own kubeconfig, survives a state it cannot
// read, bounds its calls to the cluster to a few seconds in all, and never fails the job over clean-up: a
// problem is a warning.

import * as core from '@actions/core'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { finishLeftBehind } from './deploy/left-behind.js'
import { removeKubeconfig, verifyOwnKubeconfig } from './gke/kubeconfig.js'
import { Kubectl } from './kube/kubectl.js'
import { parseHeldLockState, type HeldLockState } from './post-state.js'

// Every call to the cluster the post step makes, together (the lock, and the start of an undo: a handful of
// calls). The lock lapses by itself within a minute; a post step that waits on an API that accepts connections
// and never answers would hold the job with nothing gained.
const CLUSTER_BUDGET_MS = 6000

export async function cleanup(): Promise<void> {
  const runnerTemp = process.env.RUNNER_TEMP || os.tmpdir()
  const lock = parseHeldLockState(core.getState('lock'))
  if (lock.problem) core.warning(`deploy-gke-workers: ignored the saved deploy lock state: ${lock.problem}`)
  const removed = await removeOwnKubeconfig(core.getState('kubeconfig'), runnerTemp, lock.state)
  if (lock.state) await releaseLeftLock(lock.state, removed, runnerTemp)
}

// The kubeconfig the main step wrote, removed after a check that it is that file. Its text is kept in memory
// when the lock release needs it, so the token is off the disk first.
async function removeOwnKubeconfig(
  saved: string,
  runnerTemp: string,
  lock: HeldLockState | undefined
): Promise<{ path: string; text?: string } | undefined> {
  if (!saved) return undefined
  const verdict = await verifyOwnKubeconfig(saved, runnerTemp)
  if ('problem' in verdict) {
    core.warning(`deploy-gke-workers: left ${saved} alone: ${verdict.problem}`)
    return undefined
  }
  try {
    const text = lock?.kubeconfig === verdict.path ? await readFile(verdict.path, 'utf8') : undefined
    await removeKubeconfig(verdict.path)
    core.info('Removed the kubeconfig written by deploy-gke-workers.')
    return { path: verdict.path, text }
  } catch (error) {
    core.warning(`deploy-gke-workers: could not remove the kubeconfig: ${(error as Error).message}`)
    return undefined
  }
}

/**
 * Releases the deploy lock the run still held, within CLUSTER_BUDGET_MS; never throws. It uses only a
 * kubeconfig the run itself used: the one just removed (from memory, in a private file gone when it returns),
 * or the one in place when cluster_name was empty (KUBECONFIG, ~/.kube/config).
 */
async function releaseLeftLock(
  lock: HeldLockState,
  removed: { path: string; text?: string } | undefined,
  runnerTemp: string
): Promise<void> {
  const inPlace = kubeconfigsInPlace()
  const own = removed?.path === lock.kubeconfig ? removed.text : undefined
  if (own === undefined && !inPlace.includes(lock.kubeconfig)) {
    core.warning(
      `deploy-gke-workers: did not release the deploy lock in namespace ${lock.namespace} (it lapses within a minute): its kubeconfig is neither this run's nor the one in place`
    )
    return
  }
  let scratch: string | undefined
  const budget = new AbortController()
  const timer = setTimeout(
    () => budget.abort(`the post step's ${CLUSTER_BUDGET_MS / 1000} s for the cluster ran out`),
    CLUSTER_BUDGET_MS
  )
  try {
    scratch = await mkdtemp(path.join(runnerTemp, 'deploy-gke-workers-post-'))
    const kubeconfig = own === undefined ? lock.kubeconfig : path.join(scratch, 'kubeconfig')
    if (own !== undefined) await writeFile(kubeconfig, own, { mode: 0o600 })
    const kubectl = new Kubectl({
      kubeconfig,
      env: { ...process.env, KUBECACHEDIR: path.join(scratch, 'cache') },
      retry: { attempts: 2, baseDelayMs: 500, maxDelayMs: 500 },
      // Cancels whatever is running when the budget is spent (kubectl's own timeout is a minute).
      signal: budget.signal
    })
    const left = await finishLeftBehind(kubectl, { namespace: lock.namespace, identity: lock.identity })
    for (const message of left.messages) core.info(message)
  } catch (error) {
    core.warning(
      `deploy-gke-workers: could not release the deploy lock in namespace ${lock.namespace} (it lapses within a minute): ${(error as Error).message}`
    )
  } finally {
    clearTimeout(timer)
    if (scratch) await rm(scratch, { recursive: true, force: true }).catch(() => undefined)
  }
}

// The kubeconfig kubectl uses when cluster_name is empty: the run locked with it and never wrote it.
function kubeconfigsInPlace(): string[] {
  const fromEnv = (process.env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean)
  return fromEnv.length > 0 ? fromEnv : [path.join(os.homedir(), '.kube', 'config')]
}

await cleanup().catch((error: unknown) =>
  core.warning(`deploy-gke-workers: clean-up did not finish: ${(error as Error).message}`)
)
