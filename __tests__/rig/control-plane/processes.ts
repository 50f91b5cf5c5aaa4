// Starting and stopping the control plane's processes: each logs to a file of its own (read back when a start
// fails), and every process this test process started is killed when it exits, even on a crash, so no
// apiserver outlives its test.

import { spawn, type ChildProcess } from 'node:child_process'
import { openSync, closeSync, readFileSync } from 'node:fs'

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

export interface Started {
  name: string
  child: ChildProcess
  logFile: string
  // The last lines of its log, for an error message.
  tail(lines?: number): string
  // SIGTERM, and SIGKILL 5 s later; or at once SIGKILL, for a process whose data goes with it.
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  logFile: string,
  options: { env?: NodeJS.ProcessEnv } = {}
): Started {
  const fd = openSync(logFile, 'a')
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], env: options.env ?? process.env })
  closeSync(fd)
  running.add(child)
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  child.once('exit', () => running.delete(child))
  const tail = (lines = 15): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return ''
    }
  }
  return {
    name,
    child,
    logFile,
    tail,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(killer)
    }
  }
}

// Polls `ready` until it answers true; fails with the process's log if it exits first or the time runs out.
// Polling a process's own readiness endpoint is how one waits for a server to come up, not a guess at timing.
export async function waitUntil(
  what: string,
  ready: () => Promise<boolean>,
  options: { timeoutMs: number; process?: Started }
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    if (options.process && options.process.child.exitCode !== null) {
      throw new Error(
        `${what}: ${options.process.name} exited (${options.process.child.exitCode}):\n${options.process.tail()}`
      )
    }
    if (await ready().catch(() => false)) return
    if (Date.now() > deadline) {
      throw new Error(
        `${what}: not ready after ${options.timeoutMs} ms${options.process ? `:\n${options.process.tail()}` : ''}`
      )
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
