// A stand-in for the slice of the GitHub REST API the action uses: issue comments on a pull request.
// The action finds it through GITHUB_API_URL, as it finds github.com's API on a runner.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface StoredComment {
  id: number
  body: string
  issue: number
}

export interface GitHubStandIn {
  apiUrl: string
  token: string
  comments(): StoredComment[]
  requests(): Array<{ method: string; path: string; status: number }>
  stop(): Promise<void>
}

export async function startGitHubStandIn(
  options: { token?: string; readOnly?: boolean } = {}
): Promise<GitHubStandIn> {
  const token = options.token ?? 'ghs_standin_token_0123456789'
  const comments: StoredComment[] = []
  const requests: Array<{ method: string; path: string; status: number }> = []
  let nextId = 1000

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
      if (list && req.method === 'GET') {
        return send(
          res,
          req,
          200,
          comments.filter(c => c.issue === Number(list[3])).map(c => ({ id: c.id, body: c.body }))
        )
      }
      if (options.readOnly && req.method !== 'GET') {
        return send(res, req, 403, { message: 'Resource not accessible by integration' })
      }
      if (list && req.method === 'POST') {
        const comment = { id: nextId++, body: body.body ?? '', issue: Number(list[3]) }
        comments.push(comment)
        return send(res, req, 201, { id: comment.id, body: comment.body })
      }
      if (one && req.method === 'PATCH') {
        const comment = comments.find(c => c.id === Number(one[3]))
        if (!comment) return send(res, req, 404, { message: 'Not Found' })
        comment.body = body.body ?? ''
        return send(res, req, 200, { id: comment.id, body: comment.body })
      }
      send(res, req, 404, { message: 'Not Found' })
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    apiUrl: `http://127.0.0.1:${port}`,
    token,
    comments: () => comments.map(c => ({ ...c })),
    requests: () => [...requests],
    stop: () => new Promise<void>(resolve => server.close(() => resolve()))
  }
}
