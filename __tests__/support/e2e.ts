// What every end-to-end file does around the action: a rig of its own (the emulator, or the real control
// plane), one fresh runner workspace per run, the README's example inputs aimed at the rig's cluster, the post
// step after each run (as on a runner, also after a failure), and everything removed at the end.

import assert from 'node:assert/strict'
import { EXAMPLE_INPUTS } from './example-inputs.js'
import {
  startControlPlaneRig,
  startRig,
  type AnyRig,
  type ControlPlaneRig,
  type ControlPlaneRigOptions,
  type Rig,
  type RigOptions
} from './rig.js'
import {
  createWorkspace,
  runAction,
  startAction,
  DIST_POST,
  type ActionRun,
  type ActionWorkspace,
  type RunningAction
} from './run-action.js'
import { programSmokeExec, type SmokeAnswers } from './smoke-exec.js'

export const REGISTRY = 'europe-west3-docker.pkg.dev/noesis2-prod/app/noesis2-web'

export interface RunOptions {
  eventName?: string
  eventPayload?: unknown
  env?: Record<string, string | undefined>
}

export interface E2E<R extends AnyRig = Rig> {
  rig: R
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

function harness<R extends AnyRig>(rig: R, defaults: Record<string, string>): E2E<R> {
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
        namespace,
        rollout_timeout: '60s',
        ...defaults,
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
      return rig
        .requestLog()
        .filter(
          r =>
            r.method !== 'GET' &&
            r.path.includes(`/namespaces/${namespace}`) &&
            !r.path.includes('dryRun=All')
        ).length
    },
    async stop() {
      await Promise.all(workspaces.map(w => w.remove()))
      await rig.stop()
    }
  }
}

export async function startE2E(options: RigOptions & { smoke?: SmokeAnswers } = {}): Promise<E2E> {
  const rig = await startRig(options)
  programSmokeExec(rig.kube, options.smoke)
  // No Celery app in the emulator's pods: the task-safety check is for the tests that bring one.
  return harness(rig, { task_safety: 'off' })
}

// On the real control plane no container runs, so nothing can be exec'd into: smoke checks and the task-safety
// check are off unless a test asks for them (with the rig's `pods` exec, or expecting them to fail to connect).
export async function startControlPlaneE2E(
  options: ControlPlaneRigOptions = {}
): Promise<E2E<ControlPlaneRig>> {
  const rig = await startControlPlaneRig(options)
  return harness(rig, { smoke_checks: 'false', task_safety: 'off' })
}
