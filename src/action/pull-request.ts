// The plan as one sticky comment on the pull request the run belongs to (pull_request and pull_request_target
// events); anything else comments nothing.

import { readFile } from 'node:fs/promises'
import type { DeployConfig } from '../inputs.js'
import { PLAN_COMMENT_MARKER } from '../report/cluster-plan-summary.js'
import { truncateMarkdown } from '../report/markdown.js'
import type { Runner, RunnerContext } from './runner.js'

// A PR comment body may hold 65536 characters (kept in bytes, which is stricter).
const MAX_COMMENT_BYTES = 60_000

export async function commentOnPullRequest(
  runner: Runner,
  context: RunnerContext,
  config: DeployConfig,
  markdown: string
): Promise<void> {
  if (!config.prComment || !config.githubToken) return
  const target = await pullRequestTarget(context, config.githubToken)
  if (!target) return
  const body = truncateMarkdown(
    markdown,
    MAX_COMMENT_BYTES,
    'a comment holds 65536 characters; the job summary has the rest'
  )
  try {
    // GitHub's client (Octokit) is loaded only for a pull request's comment.
    const { upsertPlanComment } = await import('../report/pr-comment.js')
    const result = await upsertPlanComment(
      target,
      `${PLAN_COMMENT_MARKER}<!-- namespace:${config.namespace} -->`,
      body
    )
    runner.info(`Plan comment ${result} on pull request #${target.number}.`)
  } catch (error) {
    // A fork's pull request gets a read-only token: the plan is still in the job summary.
    runner.warning(`deploy-gke-workers: could not comment on the pull request: ${(error as Error).message}`)
  }
}

async function pullRequestTarget(
  context: RunnerContext,
  token: string
): Promise<{ token: string; owner: string; repo: string; number: number } | undefined> {
  const { eventPath, repository } = context
  if (!eventPath || !repository || !['pull_request', 'pull_request_target'].includes(context.eventName)) {
    return undefined
  }
  const event = JSON.parse(await readFile(eventPath, 'utf8')) as {
    pull_request?: { number?: number }
    number?: number
  }
  const number = event.pull_request?.number ?? event.number
  if (typeof number !== 'number') return undefined
  const [owner, repo] = repository.split('/')
  return { token, owner, repo, number }
}
