// A scripted stand-in for kubectl: each invocation plays the next step of a scenario (stdout, stderr, exit code,
// or hang) and appends what it was called with to a log, so tests can see argv, stdin and environment.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface FakeStep {
  exit?: number
  stdout?: string
  stderr?: string
  // Start a long `sleep` child, write both pids to the log and wait for it: used to test timeouts.
  hang?: boolean
}

export interface FakeInvocation {
  argv: string[]
  stdin: string
  kubecachedir: string | undefined
  beforeCallMarker: string | undefined
  pid: number
  sleeperPid?: number
}

// CommonJS, and this very node binary in the shebang, so the script runs the same whatever node is on PATH.
const SCRIPT = `#!${process.execPath}
const { readFileSync, writeFileSync, appendFileSync, existsSync } = require('node:fs')
const { spawn } = require('node:child_process')
const dir = process.env.FAKE_KUBECTL_DIR
const steps = JSON.parse(readFileSync(dir + '/scenario.json', 'utf8'))
const counterFile = dir + '/count'
const n = existsSync(counterFile) ? Number(readFileSync(counterFile, 'utf8')) : 0
writeFileSync(counterFile, String(n + 1))
const step = steps[Math.min(n, steps.length - 1)]
const marker = process.env.FAKE_MARKER_FILE && existsSync(process.env.FAKE_MARKER_FILE)
  ? readFileSync(process.env.FAKE_MARKER_FILE, 'utf8') : undefined
const record = { argv: process.argv.slice(2), stdin: '', kubecachedir: process.env.KUBECACHEDIR, beforeCallMarker: marker, pid: process.pid }
let stdin = ''
if (!process.stdin.isTTY) {
  try { stdin = readFileSync(0, 'utf8') } catch { stdin = '' }
}
record.stdin = stdin
if (step.hang) {
  const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' })
  record.sleeperPid = sleeper.pid
  appendFileSync(dir + '/log.jsonl', JSON.stringify(record) + '\\n')
  process.stderr.write('hanging\\n')
  sleeper.on('exit', () => process.exit(9))
} else {
  appendFileSync(dir + '/log.jsonl', JSON.stringify(record) + '\\n')
  if (step.stdout) process.stdout.write(step.stdout)
  if (step.stderr) process.stderr.write(step.stderr)
  process.exitCode = step.exit ?? 0
}
`

export class FakeKubectl {
  readonly dir: string
  readonly bin: string
  readonly kubeconfig: string
  readonly cacheDir: string
  readonly markerFile: string

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'fake-kubectl-'))
    this.bin = join(this.dir, 'kubectl')
    this.kubeconfig = join(this.dir, 'kubeconfig.yaml')
    this.cacheDir = join(this.dir, 'kube-cache')
    this.markerFile = join(this.dir, 'marker')
    writeFileSync(this.bin, SCRIPT)
    chmodSync(this.bin, 0o755)
    writeFileSync(this.kubeconfig, 'apiVersion: v1\nkind: Config\n')
    this.script([{}])
  }

  script(steps: FakeStep[]): void {
    writeFileSync(join(this.dir, 'scenario.json'), JSON.stringify(steps))
    rmSync(join(this.dir, 'count'), { force: true })
    rmSync(join(this.dir, 'log.jsonl'), { force: true })
    rmSync(this.markerFile, { force: true })
  }

  env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      FAKE_KUBECTL_DIR: this.dir,
      FAKE_MARKER_FILE: this.markerFile,
      KUBECACHEDIR: this.cacheDir
    }
  }

  invocations(): FakeInvocation[] {
    const log = join(this.dir, 'log.jsonl')
    if (!existsSync(log)) return []
    return readFileSync(log, 'utf8')
      .split('\n')
      .filter(line => line !== '')
      .map(line => JSON.parse(line) as FakeInvocation)
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}
