// One sticky comment per pull request and namespace: updated in place on every push, never a new one each time.

import { getOctokit } from '@actions/github'

export interface PullRequestTarget {
  token: string
  owner: string
  repo: string
  number: number
}

export async function upsertPlanComment(
  target: PullRequestTarget,
  marker: string,
  body: string
): Promise<'created' | 'updated'> {
  const octokit = getOctokit(target.token)
  const comments = await octokit.paginate(octokit.rest.issues.listComments, {
    owner: target.owner,
    repo: target.repo,
    issue_number: target.number,
    per_page: 100
  })
  const text = `${marker}\n${body}`
  const existing = comments.find(c => c.body?.includes(marker))
  if (existing) {
    await octokit.rest.issues.updateComment({
      owner: target.owner,
      repo: target.repo,
      comment_id: existing.id,
      body: text
    })
    return 'updated'
  }
  await octokit.rest.issues.createComment({
    owner: target.owner,
    repo: target.repo,
    issue_number: target.number,
    body: text
  })
  return 'created'
}
