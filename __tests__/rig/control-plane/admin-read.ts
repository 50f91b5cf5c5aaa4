// One object read from the API server as the rig's administrator (its token, straight to the apiserver, never
// through the fault proxy): what the rig's own parts (the pod runtime, the pod-scenario webhook) need to know of
// pods, Secrets and ConfigMaps, as a kubelet or an admission plugin reads them. Absent (404) is undefined.

import { request, type Agent } from 'node:https'

export interface AdminReadOptions {
  apiUrl: string
  adminToken: string
  // Keep-alive, trusting the apiserver's CA.
  agent: Agent
  timeoutMs: number
}

export function adminReader(options: AdminReadOptions): <T>(apiPath: string) => Promise<T | undefined> {
  return <T>(apiPath: string) =>
    new Promise<T | undefined>((resolve, reject) => {
      const req = request(
        `${options.apiUrl}${apiPath}`,
        {
          headers: { Authorization: `Bearer ${options.adminToken}` },
          agent: options.agent,
          timeout: options.timeoutMs
        },
        res => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            if (res.statusCode === 404) return resolve(undefined)
            const text = Buffer.concat(chunks).toString('utf8')
            if (res.statusCode !== 200) return reject(new Error(`GET ${apiPath}: ${res.statusCode} ${text}`))
            resolve(JSON.parse(text) as T)
          })
        }
      )
      req.on('error', reject)
      req.on('timeout', () => req.destroy(new Error(`GET ${apiPath}: no answer`)))
      req.end()
    })
}
