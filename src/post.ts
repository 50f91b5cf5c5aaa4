// Post step: runs after the job's steps, even when the main step failed, and removes the private kubeconfig.

import * as core from '@actions/core'
import { removeKubeconfig } from './gke/kubeconfig.js'

export async function cleanup(): Promise<void> {
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
