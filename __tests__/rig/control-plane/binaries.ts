// Where the real control plane's binaries are: scripts/build-control-plane.sh builds them from the pinned Go
// module into a cache outside the checkout (or finds them there, in well under a second) and prints the
// directory. CONTROL_PLANE_BIN_DIR names a directory to use instead.

import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const run = promisify(execFile)
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts', 'build-control-plane.sh')

export const CONTROL_PLANE_PROGRAMS = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
  'kubectl',
  'yaml-to-json'
] as const

let located: Promise<string> | undefined

// `showBuild`: the build's progress on this process's stderr (for people waiting on a first build).
export function controlPlaneBinDir(options: { showBuild?: boolean } = {}): Promise<string> {
  located ??= locate(options.showBuild ?? false)
  return located
}

function buildShown(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')))
    child.on('error', reject)
    child.on('close', code =>
      code === 0 ? resolve(stdout) : reject(new Error(`${BUILD_SCRIPT} exited with ${code}`))
    )
  })
}

async function locate(showBuild: boolean): Promise<string> {
  const given = process.env.CONTROL_PLANE_BIN_DIR
  const built = given
    ? ''
    : showBuild
      ? await buildShown()
      : (await run('bash', [BUILD_SCRIPT], { maxBuffer: 16 * 1024 * 1024, timeout: 60 * 60 * 1000 })).stdout
  const dir = given || built.trim().split('\n').pop()!
  const missing = CONTROL_PLANE_PROGRAMS.filter(name => !existsSync(path.join(dir, name)))
  if (missing.length > 0) {
    throw new Error(
      `the control plane in ${dir} lacks ${missing.join(', ')}: run bash scripts/build-control-plane.sh`
    )
  }
  return dir
}
