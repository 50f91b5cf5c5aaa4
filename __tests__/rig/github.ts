// A stand-in for the slice of the GitHub REST API the action uses: who the token is, and issue comments on a
// pull request, each with its author. The action finds it through GITHUB_API_URL, as it finds github.com's API
// on a runner.
//
// As GitHub answers (docs.github.com, "Get the authenticated user"; the 403 is what every installation token
// gets, the workflow's GITHUB_TOKEN included): GET /user names the user behind a personal access token, and
// answers an installation token 403 "Resource not accessible by integration". Comments a GITHUB_TOKEN writes
// are authored by github-actions[bot] (type Bot). A token that may write to the pull request may also edit a
// comment another account wrote; the comment keeps its author. A body over 65536 characters is refused with
// 422, as GitHub refuses it.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface GitHubUser {
  login: string
  id: number
  type: 'User' | 'Bot'
}

// The account behind every workflow's GITHUB_TOKEN (its id on github.com).
export const GITHUB_ACTIONS_BOT: GitHubUser = { login: 'github-actions[bot]', id: 41898282, type: 'Bot' }

// GitHub counts characters (code points); so does this.
const MAX_BODY_CHARACTERS = 65536

export interface StoredComment {
  id: number
  body: string
  issue: number
  user: GitHubUser
}

export interface GitHubStandIn {
  apiUrl: string
  token: string
  // Who the token is: github-actions[bot] for a GITHUB_TOKEN (the default), a user for a personal token.
  identity: GitHubUser
  comments(): StoredComment[]
  // A comment written by someone else (another user, another bot), before or between the action's runs.
  addComment(issue: number, body: string, user: GitHubUser): StoredComment
  requests(): Array<{ method: string; path: string; status: number }>
  stop(): Promise<void>
}

export async function startGitHubStandIn(
  options: { token?: string; readOnly?: boolean; identity?: GitHubUser } = {}
): Promise<GitHubStandIn> {
  const token = options.token ?? 'ghs_standin_token_0123456789'
  const identity = options.identity ?? GITHUB_ACTIONS_BOT
  const comments: StoredComment[] = []
  const requests: Array<{ method: string; path: string; status: number }> = []
  let nextId = 1000
  const shown = (c: StoredComment) => ({ id: c.id, body: c.body, user: { ...c.user } })

  const send = (res: ServerResponse, req: IncomingMessage, status: number, body: unknown): void => {
    requests.push({ method: req.method ?? '', path: req.url ?? '', status })
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.headers.authorization !== `token ${token}` && req.headers.authorization !== `Bearer ${token}`) {
        return send(res, req, 401, { message: 'Bad credentials' })
      }
      const url = new URL(req.url ?? '/', 'http://localhost')
      const list = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname)
      const one = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname)
      const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as { body?: string }) : {}
      if (url.pathname === '/user' && req.method === 'GET') {
        if (identity.type === 'Bot') {
          return send(res, req, 403, {
            message: 'Resource not accessible by integration',
            documentation_url: 'https://docs.github.com/rest/users/users#get-the-authenticated-user',
            status: '403'
          })
        }
        return send(res, req, 200, { ...identity })
      }
      if (list && req.method === 'GET') {
        return send(res, req, 200, comments.filter(c => c.issue === Number(list[3])).map(shown))
      }
      if (options.readOnly && req.method !== 'GET') {
        return send(res, req, 403, { message: 'Resource not accessible by integration' })
      }
      if ([...(body.body ?? '')].length > MAX_BODY_CHARACTERS) {
        return send(res, req, 422, {
          message: 'Validation Failed',
          errors: [
            {
              resource: 'IssueComment',
              code: 'custom',
              field: 'body',
              message: 'body is too long (maximum is 65536 characters)'
            }
          ]
        })
      }
      if (list && req.method === 'POST') {
        const comment = { id: nextId++, body: body.body ?? '', issue: Number(list[3]), user: { ...identity } }
        comments.push(comment)
        return send(res, req, 201, shown(comment))
      }
      if (one && req.method === 'PATCH') {
        const comment = comments.find(c => c.id === Number(one[3]))
        if (!comment) return send(res, req, 404, { message: 'Not Found' })
        comment.body = body.body ?? ''
        return send(res, req, 200, shown(comment))
      }
      send(res, req, 404, { message: 'Not Found' })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    apiUrl: `http://127.0.0.1:${port}`,
    token,
    identity,
    comments: () => comments.map(c => ({ ...c, user: { ...c.user } })),
    addComment(issue, text, user) {
      const comment = { id: nextId++, body: text, issue, user: { ...user } }
      comments.push(comment)
      return { ...comment }
    },
    requests: () => [...requests],
    stop: () => new Promise<void>(resolve => server.close(() => resolve()))
  }
}
