// Post step: runs after the job's steps, also when the main step failed or was cancelled. It releases a deploy
// lock the main step still held (a cancelled or killed run), then removes the private kubeconfig.

import * as core from '@actions/core'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { finishLeftBehind } from './deploy/left-behind.js'
import { removeKubeconfig } from './gke/kubeconfig.js'
import { Kubectl } from './kube/kubectl.js'

interface HeldLockState {
  namespace: string
  identity: string
  kubeconfig: string
}

async function releaseLeftLock(): Promise<void> {
  const state = core.getState('lock')
  if (!state) return
  const lock = JSON.parse(state) as HeldLockState
  const cache = await mkdtemp(path.join(process.env.RUNNER_TEMP || os.tmpdir(), 'deploy-gke-workers-post-'))
  try {
    const kubectl = new Kubectl({
      kubeconfig: lock.kubeconfig,
      env: { ...process.env, KUBECACHEDIR: cache },
      // The lock lapses by itself within a minute: one quick try is enough.
      retry: { attempts: 2, baseDelayMs: 500, maxDelayMs: 500 }
    })
    const left = await finishLeftBehind(kubectl, { namespace: lock.namespace, identity: lock.identity })
    for (const message of left.messages) core.info(message)
  } catch (error) {
    core.warning(
      `deploy-gke-workers: could not release the deploy lock in namespace ${lock.namespace} (it lapses within a minute): ${(error as Error).message}`
    )
  } finally {
    await rm(cache, { recursive: true, force: true })
  }
}

export async function cleanup(): Promise<void> {
  await releaseLeftLock()
  const kubeconfig = core.getState('kubeconfig')
  if (!kubeconfig) return
  try {
    await removeKubeconfig(kubeconfig)
    core.info('Removed the kubeconfig written by deploy-gke-workers.')
  } catch (error) {
    core.warning(`deploy-gke-workers: could not remove the kubeconfig: ${(error as Error).message}`)
  }
}

await cleanup()
