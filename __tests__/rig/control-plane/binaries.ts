// Where the real control plane's binaries are: scripts/build-control-plane.sh builds them from the pinned Go
// module into a cache outside the checkout (or finds them there, in well under a second) and prints the
// directory. CONTROL_PLANE_BIN_DIR names a directory to use instead.

import { execFile } from 'node:child_process'
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

export function controlPlaneBinDir(): Promise<string> {
  located ??= locate()
  return located
}

async function locate(): Promise<string> {
  const given = process.env.CONTROL_PLANE_BIN_DIR
  const dir =
    given ||
    (await run('bash', [BUILD_SCRIPT], { maxBuffer: 16 * 1024 * 1024, timeout: 60 * 60 * 1000 })).stdout
      .trim()
      .split('\n')
      .pop()!
  const missing = CONTROL_PLANE_PROGRAMS.filter(name => !existsSync(path.join(dir, name)))
  if (missing.length > 0) {
    throw new Error(
      `the control plane in ${dir} lacks ${missing.join(', ')}: run bash scripts/build-control-plane.sh`
    )
  }
  return dir
}
