// The part of a kubelet that kwok leaves out: the processes of the pods on the rig's node. The API server reaches
// "the kubelet" here (the port the node reports); everything passes through to kwok's own server but two things:
//
// - exec: kwok runs an exec'd command on this machine as it is, with its own environment. Here each exec is
//   rewritten, before kwok sees it, into the rig's launcher (pod-exec.py) in PID, UTS and mount namespaces of
//   its own, with the container's environment as the kubelet gives it (container-environment.ts: the
//   Deployment's env, its Secret's and ConfigMaps' values, resolved at the container's first exec and kept, as a
//   kubelet resolves them once at the container's start), the image's PATH and working directory (a real Celery
//   app, ./app), and beside the command a process with the container's command line, the stand-in of its main
//   process. kwok still speaks the exec protocols (SPDY, WebSocket) and passes stdout, stderr and stdin through.
// - container logs: served from here, per container name, what a test set for the pod's namespace or image, or
//   the defaults of kubelet-stages.ts's CONTAINER_LOGS.
//
// A test makes a check fail or print what it needs with a stand-in (`set`): more variables, directories first on
// PATH, Python run first by every python3 (a sitecustomize.py), another main process or other logs, for the pods
// of a namespace, an image or a name prefix.

import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { createServer, request as httpsRequest, Agent, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import path from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import { adminReader } from './admin-read.js'
import { execExitStatus } from './exec-exit-status.js'
import {
  containerProcess,
  findContainer,
  type ContainerProcess,
  type PodObject
} from './container-environment.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const LAUNCHER = path.join(HERE, 'pod-exec.py')
// The image's code: a real Celery app, `celery -A noesis2`, the stand-in of the NOESIS 2 project.
export const APP_DIRECTORY = path.join(HERE, 'app')
// Debian's PATH in an image, after the rig's directory of the image's own programs (its python3).
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export interface ContainerLog {
  current?: string
  previous?: string
}

export interface ContainerStandIn {
  // Variables over the container's own (the Deployment's) in exec'd commands.
  env?: Record<string, string>
  // Directories first on PATH, where an exec'd command is looked up.
  path?: string[]
  // The working directory of exec'd commands (the image's WORKDIR; the rig's app by default).
  workDir?: string
  // Python that every python3 in the container runs first (a sitecustomize.py first on PYTHONPATH).
  python?: string
  // The command line of the container's main process, instead of the container's command and args.
  main?: string[]
  // What `kubectl logs` shows, per container name; '*' for any container the stand-in is for (with an image
  // selector: the containers of that image).
  logs?: Record<string, ContainerLog>
}

// Which pods a stand-in is for: all that match every field given (the pod's name by its start, an image by its
// reference as written or pinned to a digest).
export interface PodSelector {
  namespace?: string
  image?: string
  pod?: string
}

export interface PodRuntime {
  // The port the node reports as its kubelet's: the API server's exec and log requests come here.
  port: number
  // Whether exec'd commands get namespaces of their own (root, or unprivileged user namespaces).
  isolated: boolean
  set(where: PodSelector, standIn: ContainerStandIn): void
  // Every exec that reached this node: the pod, the container and the command as kubectl sent it.
  execs(): Array<{ namespace: string; pod: string; container: string; command: string[] }>
  stop(): Promise<void>
}

export interface PodRuntimeOptions {
  // kwok's own kubelet server, on 127.0.0.1.
  kwokPort: number
  caPem: string
  certPem: string
  keyPem: string
  // The API server itself and an administrator's token, to read pods, Secrets and ConfigMaps.
  apiUrl: string
  adminToken: string
  // Where the rig keeps its files (the exec specs, the image's programs).
  directory: string
  // python3 of "the image": one with psycopg, psycopg2, redis and Celery.
  python: string
  // What every container logs unless a stand-in says otherwise, per container name.
  defaultLogs: Record<string, ContainerLog>
}

function matches(where: PodSelector, namespace: string, pod: string, image: string): boolean {
  if (where.namespace !== undefined && where.namespace !== namespace) return false
  if (where.pod !== undefined && !pod.startsWith(where.pod)) return false
  if (where.image !== undefined && image !== where.image && !image.startsWith(`${where.image}@`)) return false
  return true
}

// How exec'd commands are put in namespaces of their own, found once: as root, or in a user namespace that maps
// this user to root, or (neither allowed) not at all.
function isolationPrefix(): string[] | undefined {
  const base = ['--pid', '--uts', '--mount', '--fork', '--mount-proc', '--kill-child']
  for (const prefix of [
    ['unshare', ...base],
    ['unshare', '--user', '--map-root-user', ...base]
  ]) {
    const probe = spawnSync(prefix[0], [...prefix.slice(1), 'true'], { stdio: 'ignore', timeout: 10_000 })
    if (probe.status === 0) return prefix
  }
  return undefined
}

// A CRI-style log as `kubectl logs` prints it, with the kubelet's options: tailLines, limitBytes, timestamps.
function logText(text: string, query: URLSearchParams): string {
  let lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  const tail = query.get('tailLines')
  if (tail !== null && Number(tail) >= 0) lines = lines.slice(Math.max(0, lines.length - Number(tail)))
  if (query.get('timestamps') === 'true') {
    const at = new Date().toISOString().replace('Z', '000000Z')
    lines = lines.map(line => `${at} ${line}`)
  }
  let body = lines.map(line => `${line}\n`).join('')
  const limit = query.get('limitBytes')
  if (limit !== null && Number(limit) > 0) body = Buffer.from(body).subarray(0, Number(limit)).toString()
  return body
}

export async function startPodRuntime(options: PodRuntimeOptions): Promise<PodRuntime> {
  const isolation = isolationPrefix()
  const specs = path.join(options.directory, 'exec-specs')
  const imageBin = path.join(options.directory, 'image-bin')
  const home = path.join(options.directory, 'home')
  await Promise.all([
    mkdir(specs, { recursive: true, mode: 0o700 }),
    mkdir(imageBin, { recursive: true }),
    mkdir(home, { recursive: true })
  ])
  await symlink(options.python, path.join(imageBin, 'python3'))
  const imageEnv = {
    PATH: `${imageBin}:${SYSTEM_PATH}`,
    HOME: home,
    LANG: 'C.UTF-8',
    PYTHONPATH: APP_DIRECTORY,
    PYTHONDONTWRITEBYTECODE: '1'
  }
  const rules: Array<{ where: PodSelector; standIn: ContainerStandIn }> = []
  const execLog: Array<{ namespace: string; pod: string; container: string; command: string[] }> = []
  // Resolved once per container, at its first exec, as a kubelet resolves them at the container's start.
  const resolved = new Map<string, Promise<ContainerProcess>>()
  const agent = new Agent({ keepAlive: true, ca: options.caPem })

  const api = adminReader({
    apiUrl: options.apiUrl,
    adminToken: options.adminToken,
    agent,
    timeoutMs: 30_000
  })
  const dataOf = (object: { data?: Record<string, string> } | undefined, base64: boolean) =>
    object
      ? Object.fromEntries(
          Object.entries(object.data ?? {}).map(([k, v]) => [
            k,
            base64 ? Buffer.from(v, 'base64').toString('utf8') : v
          ])
        )
      : undefined

  const pod = (namespace: string, name: string) =>
    api<PodObject>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`)

  const standInFor = (namespace: string, podName: string, image: string): ContainerStandIn => {
    const merged: ContainerStandIn = {}
    for (const { where, standIn } of rules) {
      if (!matches(where, namespace, podName, image)) continue
      merged.env = { ...merged.env, ...standIn.env }
      merged.path = [...(standIn.path ?? []), ...(merged.path ?? [])]
      merged.logs = { ...merged.logs, ...standIn.logs }
      for (const key of ['workDir', 'python', 'main'] as const) {
        if (standIn[key] !== undefined) (merged as Record<string, unknown>)[key] = standIn[key]
      }
    }
    return merged
  }

  const sitecustomize = async (code: string): Promise<string> => {
    const dir = path.join(options.directory, 'python', createHash('sha256').update(code).digest('hex'))
    await mkdir(dir, { recursive: true })
    await writeFile(path.join(dir, 'sitecustomize.py'), code)
    return dir
  }

  // The launcher's command for one exec, its spec written beside.
  const launch = async (namespace: string, podName: string, container: string, command: string[]) => {
    const live = await pod(namespace, podName)
    if (!live) throw new Error(`pod ${namespace}/${podName} not found`)
    const spec = findContainer(live, container)
    if (!spec) throw new Error(`container ${container} not found in pod ${namespace}/${podName}`)
    const key = `${live.metadata.uid}/${container}`
    let process = resolved.get(key)
    if (!process) {
      process = containerProcess(live, spec, {
        secret: async name =>
          dataOf(
            await api(
              `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`
            ),
            true
          ),
        configMap: async name =>
          dataOf(
            await api(
              `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`
            ),
            false
          )
      })
      resolved.set(key, process)
      process.catch(() => resolved.delete(key))
    }
    const { env: own, commandLine } = await process
    const standIn = standInFor(namespace, podName, spec.image)
    const env: Record<string, string> = { ...imageEnv, ...own, ...standIn.env }
    if (standIn.path?.length) env.PATH = [...standIn.path, env.PATH].join(':')
    if (standIn.python !== undefined) {
      env.PYTHONPATH = [await sitecustomize(standIn.python), env.PYTHONPATH].filter(Boolean).join(':')
    }
    const file = path.join(specs, `${Date.now()}-${randomBytes(6).toString('hex')}.json`)
    await writeFile(
      file,
      JSON.stringify({
        isolated: isolation !== undefined,
        hostname: live.spec.hostname ?? live.metadata.name,
        workDir: standIn.workDir ?? APP_DIRECTORY,
        env,
        main: standIn.main ?? commandLine,
        command
      }),
      { mode: 0o600 }
    )
    return [...(isolation ?? []), options.python, '-I', '-S', LAUNCHER, file]
  }

  const server: Server = createServer(
    { cert: options.certPem, key: options.keyPem },
    (req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'https://kubelet')
      const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname)
      if (logs) {
        const [namespace, podName, container] = logs.slice(1).map(decodeURIComponent)
        void pod(namespace, podName)
          .then(live => {
            const image = live ? (findContainer(live, container)?.image ?? '') : ''
            const logs = standInFor(namespace, podName, image).logs
            const log = logs?.[container] ?? logs?.['*'] ?? options.defaultLogs[container] ?? {}
            const text = url.searchParams.get('previous') === 'true' ? log.previous : log.current
            res.writeHead(200, { 'Content-Type': 'text/plain' })
            res.end(logText(text ?? '', url.searchParams))
          })
          .catch((error: Error) => {
            res.writeHead(500, { 'Content-Type': 'text/plain' })
            res.end(error.message)
          })
        return
      }
      const upstream = httpsRequest(
        {
          host: '127.0.0.1',
          port: options.kwokPort,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent
        },
        answer => {
          res.writeHead(answer.statusCode ?? 502, answer.headers)
          answer.pipe(res)
        }
      )
      upstream.on('error', () => res.destroy())
      req.pipe(upstream)
    }
  )

  const upgraded = new Set<Socket>()
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    upgraded.add(socket)
    socket.once('close', () => upgraded.delete(socket))
    socket.on('error', () => socket.destroy())
    const url = new URL(req.url ?? '/', 'https://kubelet')
    const exec = /^\/exec\/([^/]+)\/([^/]+)\/(?:[^/]+\/)?([^/]+)$/.exec(url.pathname)
    const rewritten: Promise<string> = exec
      ? (async () => {
          const [namespace, podName, container] = exec.slice(1).map(decodeURIComponent)
          const command = url.searchParams.getAll('command')
          execLog.push({ namespace, pod: podName, container, command })
          const launcher = await launch(namespace, podName, container, command)
          const query = new URLSearchParams()
          for (const [name, value] of url.searchParams) if (name !== 'command') query.append(name, value)
          for (const part of launcher) query.append('command', part)
          return `${url.pathname}?${query.toString()}`
        })()
      : Promise.resolve(req.url ?? '/')
    rewritten
      .then(target => {
        const up = tlsConnect({ host: '127.0.0.1', port: options.kwokPort, ca: options.caPem }, () => {
          const lines = [`${req.method} ${target} HTTP/1.1`]
          for (let i = 0; i < req.rawHeaders.length; i += 2)
            lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`)
          up.write(`${lines.join('\r\n')}\r\n\r\n`)
          if (head.length > 0) up.write(head)
          socket.pipe(up)
          // The API server speaks SPDY to a kubelet; its exec answer gets a kubelet's exit status.
          if (exec && /^SPDY\//i.test(req.headers.upgrade ?? '')) up.pipe(execExitStatus()).pipe(socket)
          else up.pipe(socket)
        })
        upgraded.add(up)
        const close = (): void => {
          socket.destroy()
          up.destroy()
          upgraded.delete(up)
        }
        up.on('error', close)
        up.on('close', close)
        socket.on('close', close)
      })
      .catch((error: Error) => {
        const body = `pod runtime: ${error.message}`
        socket.end(
          `HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
        )
      })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  return {
    port: (server.address() as AddressInfo).port,
    isolated: isolation !== undefined,
    set(where, standIn) {
      rules.push({ where, standIn })
    },
    execs: () => execLog.map(e => ({ ...e, command: [...e.command] })),
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
        for (const socket of upgraded) socket.destroy()
        agent.destroy()
      })
  }
}
