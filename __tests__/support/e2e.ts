// What every end-to-end file does around the action: a rig of its own (one real control plane per file, a
// namespace per test), one fresh runner workspace per run, the README's example inputs aimed at the rig's
// cluster and at its app services (so the smoke checks and the task-safety check, exec'd in the pods, reach a
// real PostgreSQL, Redis and Celery app), the post step after each run (as on a runner, also after a failure),
// and everything removed at the end.

import assert from 'node:assert/strict'
import { EXAMPLE_INPUTS } from './example-inputs.js'
import { startControlPlaneRig, type ControlPlaneRig, type ControlPlaneRigOptions } from './rig.js'
import {
  createWorkspace,
  runAction,
  startAction,
  DIST_POST,
  type ActionRun,
  type ActionWorkspace,
  type RunningAction
} from './run-action.js'

export const REGISTRY = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web'

export interface RunOptions {
  eventName?: string
  eventPayload?: unknown
  env?: Record<string, string | undefined>
}

export interface E2E {
  rig: ControlPlaneRig
  // Runs the action's main step and then its post step; returns the main step's run.
  run(namespace: string, inputs: Record<string, string>, options?: RunOptions): Promise<ActionRun>
  // Starts the main step and hands it over running (to cancel it, kill it or start another beside it);
  // post() runs its post step once it has ended, as the runner does after a cancellation too.
  start(namespace: string, inputs: Record<string, string>, options?: RunOptions): Promise<StartedRun>
  // Writes to a namespace that reached the cluster from the action (dry-run writes excluded), for "nothing
  // was changed".
  writesTo(namespace: string): number
  stop(): Promise<void>
}

export interface StartedRun extends RunningAction {
  // The runner's files of this run: RUNNER_TEMP, and the state the main step saved for its post step.
  workspace: ActionWorkspace
  // The post step, with the state the main step saved; `state` replaces some of it (as an earlier step of the
  // job can, through GITHUB_ENV), `env` adds to the run's environment.
  post(options?: {
    state?: Record<string, string>
    env?: Record<string, string | undefined>
  }): Promise<ActionRun>
}

function harness(rig: ControlPlaneRig): E2E {
  const workspaces: ActionWorkspace[] = []
  const begin = async (
    namespace: string,
    inputs: Record<string, string>,
    runOptions: RunOptions
  ): Promise<StartedRun> => {
    const workspace = await createWorkspace()
    workspaces.push(workspace)
    const env = { PATH: rig.path, ...rig.env, ...runOptions.env }
    const running = await startAction({
      inputs: {
        ...EXAMPLE_INPUTS,
        ...rig.clusterInputs,
        ...rig.services.inputs,
        namespace,
        rollout_timeout: '60s',
        ...inputs
      },
      env,
      eventName: runOptions.eventName,
      eventPayload: runOptions.eventPayload,
      workspace
    })
    return {
      ...running,
      workspace,
      post: async (postOptions = {}) => {
        await running.done
        return runAction({
          inputs: {},
          env: { ...env, ...postOptions.env },
          entry: DIST_POST,
          workspace: { ...workspace, state: { ...workspace.state, ...postOptions.state } }
        })
      }
    }
  }
  return {
    rig,
    async run(namespace, inputs, runOptions = {}) {
      const started = await begin(namespace, inputs, runOptions)
      const run = await started.done
      const post = await started.post()
      assert.equal(post.exitCode, 0, `post step: ${post.stdout}${post.stderr}`)
      return run
    },
    start: (namespace, inputs, runOptions = {}) => begin(namespace, inputs, runOptions),
    writesTo(namespace) {
      return rig.requestLog().filter(
        r =>
          r.method !== 'GET' &&
          r.path.includes(`/namespaces/${namespace}`) &&
          !r.path.includes('dryRun=All') &&
          // An exec (kubectl's SPDY request is a POST) runs a check in a pod; it changes nothing there.
          !/\/pods\/[^/]+\/exec\?/.test(r.path)
      ).length
    },
    async stop() {
      await Promise.all(workspaces.map(w => w.remove()))
      await rig.stop()
    }
  }
}

export async function startControlPlaneE2E(options: ControlPlaneRigOptions = {}): Promise<E2E> {
  return harness(await startControlPlaneRig(options))
}
