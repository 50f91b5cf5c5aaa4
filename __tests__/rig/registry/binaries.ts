// Where the test registry's binaries are: scripts/build-registry.sh builds the CNCF distribution registry and
// crane from the pinned Go module test/registry into a cache outside the checkout (or finds them there, in well
// under a second) and prints the directory. REGISTRY_BIN_DIR names a directory to use instead.

import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const run = promisify(execFile)
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts', 'build-registry.sh')

export const REGISTRY_PROGRAMS = ['registry', 'crane'] as const

let located: Promise<string> | undefined

export function registryBinDir(): Promise<string> {
  located ??= locate()
  return located
}

async function locate(): Promise<string> {
  const given = process.env.REGISTRY_BIN_DIR
  const dir =
    given ||
    (await run('bash', [BUILD_SCRIPT], { maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60 * 1000 })).stdout
      .trim()
      .split('\n')
      .pop()!
  const missing = REGISTRY_PROGRAMS.filter(name => !existsSync(path.join(dir, name)))
  if (missing.length > 0) {
    throw new Error(
      `the registry build in ${dir} lacks ${missing.join(', ')}: run bash scripts/build-registry.sh`
    )
  }
  return dir
}
