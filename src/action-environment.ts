// Facts about the workflow run, read from the variables the runner sets. Only main.ts calls this.

import type { TraceContext } from './render/render-manifests.js'

export function traceFromEnvironment(env: NodeJS.ProcessEnv): TraceContext {
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com'
  const runUrl =
    env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
      ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}${env.GITHUB_RUN_ATTEMPT ? `/attempts/${env.GITHUB_RUN_ATTEMPT}` : ''}`
      : undefined
  return {
    commitSha: env.GITHUB_SHA || undefined,
    runUrl,
    actor: env.GITHUB_ACTOR || undefined,
    repository: env.GITHUB_REPOSITORY || undefined,
    eventName: env.GITHUB_EVENT_NAME || undefined
  }
}
