// Runs the committed bundle exactly as the GitHub runner does: a node process with INPUT_* variables and the
// GITHUB_OUTPUT, GITHUB_STATE, GITHUB_STEP_SUMMARY and GITHUB_EVENT_PATH files, then reads those files back.

import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))

// The defaults of action.yml's inputs, which the runner passes to the action as INPUT_* values.
const ACTION_DEFAULTS: Record<string, string> = Object.fromEntries(
  Object.entries(
    (
      parse(readFileSync(path.join(REPO_ROOT, 'action.yml'), 'utf8')) as {
        inputs: Record<string, { default?: unknown }>
      }
    ).inputs
  )
    .filter(([, input]) => input.default !== undefined && !String(input.default).includes('${{'))
    .map(([name, input]) => [name, String(input.default)])
)
export const DIST_MAIN = path.join(REPO_ROOT, 'dist', 'index.js')
export const DIST_POST = path.join(REPO_ROOT, 'dist', 'post', 'index.js')

export interface ActionRun {
  exitCode: number
  stdout: string
  stderr: string
  outputs: Record<string, string>
  state: Record<string, string>
  summary: string
  runnerTemp: string
}

export interface RunOptions {
  inputs: Record<string, string>
  env?: Record<string, string | undefined>
  eventName?: string
  eventPayload?: unknown
  entry?: string
  // Reuse a workspace (for running the post step after main): the same RUNNER_TEMP and state.
  workspace?: ActionWorkspace
  timeoutMs?: number
}

export interface ActionWorkspace {
  directory: string
  runnerTemp: string
  state: Record<string, string>
  remove(): Promise<void>
}

export async function createWorkspace(): Promise<ActionWorkspace> {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'dgw-action-'))
  const runnerTemp = path.join(directory, 'runner-temp')
  await (await import('node:fs/promises')).mkdir(runnerTemp)
  return { directory, runnerTemp, state: {}, remove: () => rm(directory, { recursive: true, force: true }) }
}

// Parses the file format of GITHUB_OUTPUT / GITHUB_STATE: `name<<DELIMITER\nvalue\nDELIMITER` or `name=value`.
export function parseCommandFile(text: string): Record<string, string> {
  const values: Record<string, string> = {}
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i])
    if (heredoc) {
      const [, name, delimiter] = heredoc
      const body: string[] = []
      for (i++; i < lines.length && lines[i] !== delimiter; i++) body.push(lines[i])
      values[name] = body.join('\n')
    } else if (lines[i].includes('=')) {
      const at = lines[i].indexOf('=')
      values[lines[i].slice(0, at)] = lines[i].slice(at + 1)
    }
  }
  return values
}

export async function runAction(options: RunOptions): Promise<ActionRun> {
  return (await startAction(options)).done
}

// A run in progress: its output so far, a way to wait for a line (to act at a known point of the run, as
// GitHub's cancel does at a moment of the user's choosing), and signals.
export interface RunningAction {
  output(): string
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>
  signal(signal: NodeJS.Signals): void
  done: Promise<ActionRun>
}

export async function startAction(options: RunOptions): Promise<RunningAction> {
  const workspace = options.workspace ?? (await createWorkspace())
  const files = {
    output: path.join(workspace.directory, `output-${Date.now()}-${Math.random().toString(36).slice(2)}`),
    state: path.join(workspace.directory, `state-${Date.now()}-${Math.random().toString(36).slice(2)}`),
    summary: path.join(workspace.directory, 'summary.md'),
    event: path.join(workspace.directory, 'event.json')
  }
  await writeFile(files.output, '')
  await writeFile(files.state, '')
  await writeFile(files.summary, '', { flag: 'a' })
  await writeFile(files.event, JSON.stringify(options.eventPayload ?? {}))

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: workspace.directory,
    RUNNER_TEMP: workspace.runnerTemp,
    GITHUB_ACTIONS: 'true',
    GITHUB_OUTPUT: files.output,
    GITHUB_STATE: files.state,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_EVENT_NAME: options.eventName ?? 'push',
    GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
    GITHUB_REPOSITORY: 'noesis2/noesis2',
    GITHUB_RUN_ID: '4242',
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_ACTOR: 'octocat',
    GITHUB_WORKSPACE: workspace.directory
  }
  for (const [name, value] of Object.entries(workspace.state)) env[`STATE_${name}`] = value
  // As the runner does: every input action.yml gives a default gets it when the workflow leaves it out (an
  // expression default like ${{ github.token }} is the runner's to evaluate: left out here).
  for (const [name, value] of Object.entries({ ...ACTION_DEFAULTS, ...options.inputs }))
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }

  let stdout = ''
  let stderr = ''
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = []
  const child = spawn(process.execPath, [options.entry ?? DIST_MAIN], {
    env,
    cwd: workspace.directory,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const timeout = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000)
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8')
    for (const waiter of waiters.filter(w => w.pattern.test(stdout))) {
      waiters.splice(waiters.indexOf(waiter), 1)
      waiter.resolve()
    }
  })
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')))
  const exited = new Promise<number>(resolve =>
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)))
  )
  const done = exited.then(async exitCode => {
    clearTimeout(timeout)
    const state = parseCommandFile(await readFile(files.state, 'utf8'))
    Object.assign(workspace.state, state)
    return {
      exitCode,
      stdout,
      stderr,
      outputs: parseCommandFile(await readFile(files.output, 'utf8')),
      state,
      summary: await readFile(files.summary, 'utf8'),
      runnerTemp: workspace.runnerTemp
    }
  })
  return {
    output: () => stdout,
    waitForOutput: (pattern, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(stdout)) return resolve()
        const timer = setTimeout(
          () => reject(new Error(`no output matching ${pattern} after ${timeoutMs} ms:\n${stdout}`)),
          timeoutMs
        )
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer)
            resolve()
          }
        })
        void exited.then(() => {
          clearTimeout(timer)
          if (!pattern.test(stdout))
            reject(new Error(`the run ended without output matching ${pattern}:\n${stdout}`))
        })
      }),
    signal: sig => child.kill(sig),
    done
  }
}
