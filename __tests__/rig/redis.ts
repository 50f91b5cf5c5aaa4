// A real Redis server for KEDA to read queue lengths from: redis-server on a free 127.0.0.1 port, with a
// password, plain or TLS only (a certificate of a CA of its own, as Memorystore's in-transit encryption has).
// A Celery queue on a Redis broker is a Redis list; the tests fill and empty those lists with a small RESP
// client of their own (LPUSH, LLEN, DEL), over TLS too.

import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { connect as connectTcp, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { connect as connectTls } from 'node:tls'
import { freePort, MissingToolError } from './services.js'
import { makeCertificate, makeCertificateAuthority } from './shared/tls.js'

export interface RigRedis {
  port: number
  password: string
  // The CA that signed the server's certificate (TLS only): what `redis_server_ca` gives KEDA.
  caPem?: string
  // The same CA as a file (TLS only): what an app's image holds and names in REDIS_URL's `ssl_ca_certs`.
  caFile?: string
  // REDIS_URL as the app and the action read it: redis://:PASSWORD@127.0.0.1:PORT/0 (rediss:// with TLS).
  url(password?: string): string
  // One Redis command; the reply as text (an integer reply as its digits); a Redis error rejects.
  command(...args: string[]): Promise<string>
  stop(): Promise<void>
}

export async function startRedis(options: { password: string; tls?: boolean }): Promise<RigRedis> {
  const server = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(p => existsSync(p))
  if (!server) throw new MissingToolError('redis-server')
  const dir = await mkdtemp(path.join(tmpdir(), 'rig-redis-'))
  const port = await freePort()
  let caPem: string | undefined
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--requirepass', options.password]
  if (options.tls) {
    const ca = await makeCertificateAuthority('rig-redis-ca')
    const leaf = await makeCertificate(ca, {
      commonName: 'redis',
      subjectAltNames: ['IP:127.0.0.1', 'DNS:localhost'],
      usage: 'server'
    })
    caPem = ca.certPem
    await Promise.all([
      writeFile(path.join(dir, 'ca.crt'), ca.certPem),
      writeFile(path.join(dir, 'tls.crt'), leaf.certPem),
      writeFile(path.join(dir, 'tls.key'), leaf.keyPem, { mode: 0o600 })
    ])
    // TLS only, no client certificates: as Memorystore with in-transit encryption.
    args.push(
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--tls-cert-file',
      path.join(dir, 'tls.crt'),
      '--tls-key-file',
      path.join(dir, 'tls.key'),
      '--tls-ca-cert-file',
      path.join(dir, 'ca.crt'),
      '--tls-auth-clients',
      'no'
    )
  } else {
    args.push('--port', String(port))
  }
  const child = spawn(server, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  await readyOrExit(child)

  const open = (): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = options.tls
        ? connectTls({ host: '127.0.0.1', port, ca: caPem, servername: 'localhost' }, () => resolve(socket))
        : connectTcp({ host: '127.0.0.1', port }, () => resolve(socket))
      socket.once('error', reject)
    })
  const command = async (...words: string[]): Promise<string> => {
    const socket = await open()
    try {
      const replies = await send(socket, [['AUTH', options.password], words])
      return replies[1]
    } finally {
      socket.destroy()
    }
  }
  const scheme = options.tls ? 'rediss' : 'redis'
  return {
    port,
    password: options.password,
    caPem,
    caFile: options.tls ? path.join(dir, 'ca.crt') : undefined,
    url: (password = options.password) => `${scheme}://:${encodeURIComponent(password)}@127.0.0.1:${port}/0`,
    command,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve))
        child.kill('SIGTERM')
        await exited
      }
      await rm(dir, { recursive: true, force: true })
    }
  }
}

function readyOrExit(child: ChildProcess): Promise<void> {
  let output = ''
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server not ready in 20 s:\n${output}`)), 20_000)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer)
        // Once: later output (its shutdown) must not come here again.
        child.stdout?.off('data', onData)
        child.stderr?.off('data', onData)
        child.stdout?.resume()
        child.stderr?.resume()
        child.off('exit', onExit)
        resolve()
      }
    }
    const onExit = (code: number | null): void => {
      clearTimeout(timer)
      reject(new Error(`redis-server exited with ${code}:\n${output}`))
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}

// Sends the commands at once and reads as many replies (simple strings, integers, errors, bulk strings).
function send(socket: Socket, commands: string[][]): Promise<string[]> {
  const encode = (words: string[]): string =>
    `*${words.length}\r\n${words.map(w => `$${Buffer.byteLength(w)}\r\n${w}\r\n`).join('')}`
  return new Promise((resolve, reject) => {
    let buffer = ''
    const replies: string[] = []
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8')
      for (;;) {
        const end = buffer.indexOf('\r\n')
        if (end < 0) return
        const line = buffer.slice(0, end)
        if (line.startsWith('$')) {
          const length = Number(line.slice(1))
          if (length < 0) {
            replies.push('')
            buffer = buffer.slice(end + 2)
          } else {
            if (buffer.length < end + 2 + length + 2) return
            replies.push(buffer.slice(end + 2, end + 2 + length))
            buffer = buffer.slice(end + 2 + length + 2)
          }
        } else {
          buffer = buffer.slice(end + 2)
          if (line.startsWith('-')) {
            reject(new Error(`redis: ${line.slice(1)}`))
            return
          }
          replies.push(line.slice(1))
        }
        if (replies.length === commands.length) {
          resolve(replies)
          return
        }
      }
    })
    socket.once('error', reject)
    socket.write(commands.map(encode).join(''))
  })
}
