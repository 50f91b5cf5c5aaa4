import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer } from 'ws'
import type { WebSocket } from 'ws'

// Programmed answers for `kubectl exec`; anything unprogrammed fails loudly with 127.
export interface ExecRule {
  pod?: string | RegExp
  container?: string
  match: string[] | ((argv: string[]) => boolean)
  stdout?: string
  stderr?: string
  exitCode?: number
  delayMs?: number
  times?: number
  // Computes the answer, for a program that runs other commands (the action's batch of smoke checks): `inner`
  // answers one of them from this book, as the container would run it.
  run?: (argv: string[], inner: (argv: string[]) => ExecResult) => Partial<Omit<ExecResult, 'argv'>>
}

export interface ExecResult {
  stdout: string
  stderr: string
  exitCode: number
  delayMs: number
  argv: string[]
}

export class ExecBook {
  private rules: Array<ExecRule & { used: number }> = []

  program(rule: ExecRule): void {
    this.rules.push({ ...rule, used: 0 })
  }

  reset(): void {
    this.rules = []
  }

  // The rule programmed last wins, so a test can override what its harness programmed for every test.
  run(pod: string, container: string, argv: string[]): ExecResult {
    for (const r of [...this.rules].reverse()) {
      if (r.times !== undefined && r.used >= r.times) continue
      if (r.pod !== undefined && (typeof r.pod === 'string' ? r.pod !== pod : !r.pod.test(pod))) continue
      if (r.container !== undefined && r.container !== container) continue
      const ok =
        typeof r.match === 'function'
          ? r.match(argv)
          : r.match.length === argv.length && r.match.every((a, i) => a === argv[i])
      if (!ok) continue
      r.used++
      if (r.run) {
        const answer = r.run(argv, inner => this.run(pod, container, inner))
        return {
          stdout: answer.stdout ?? '',
          stderr: answer.stderr ?? '',
          exitCode: answer.exitCode ?? 0,
          delayMs: answer.delayMs ?? r.delayMs ?? 0,
          argv
        }
      }
      return {
        stdout: r.stdout ?? '',
        stderr: r.stderr ?? '',
        exitCode: r.exitCode ?? 0,
        delayMs: r.delayMs ?? 0,
        argv
      }
    }
    return {
      stdout: '',
      stderr: `emulator: no exec rule for ${JSON.stringify(argv)}\n`,
      exitCode: 127,
      delayMs: 0,
      argv
    }
  }
}

const PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io']
// A process in a real container takes a moment to start and print. client-go starts reading frames before it
// has registered its streams, so output sent the instant the socket opens is dropped ("Unknown stream id 1")
// and kubectl exits 0 with nothing: seen here once in a few hundred execs.
const PROCESS_START_MS = 100

export function createExecSocketServer(): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    handleProtocols: offered => PROTOCOLS.find(p => offered.has(p)) ?? false
  })
}

export function acceptExec(
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  result: ExecResult
): void {
  wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
    // stdin frames (channel 0) and close-stdin ([255, 0]) are read and ignored
    ws.on('message', () => undefined)
    ws.on('error', () => undefined)
    const finish = (): void => {
      if (result.stdout) ws.send(Buffer.concat([Buffer.from([1]), Buffer.from(result.stdout)]))
      if (result.stderr) ws.send(Buffer.concat([Buffer.from([2]), Buffer.from(result.stderr)]))
      const status =
        result.exitCode === 0
          ? { metadata: {}, status: 'Success' }
          : {
              metadata: {},
              status: 'Failure',
              message: `command terminated with non-zero exit code: error executing command [${result.argv.join(' ')}], exit code ${result.exitCode}`,
              reason: 'NonZeroExitCode',
              details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] }
            }
      ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify(status))]))
      ws.close(1000)
    }
    setTimeout(finish, Math.max(result.delayMs, PROCESS_START_MS))
  })
}
