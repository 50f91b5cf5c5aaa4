// Where KEDA's operator, metrics adapter and CRDs are: scripts/build-keda.sh builds them from the pinned Go
// module test/keda into a cache outside the checkout (or finds them there, in well under a second) and prints
// the directory. KEDA_BIN_DIR names a directory to use instead.

import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'

const run = promisify(execFile)
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BUILD_SCRIPT = path.join(REPO_ROOT, 'scripts', 'build-keda.sh')

export const KEDA_PROGRAMS = ['keda-operator', 'keda-adapter'] as const

export interface KedaBuild {
  binDir: string
  // KEDA's own CRDs (config/crd/bases of the module the binaries were built from).
  crdFiles: string[]
  version: string
}

let located: Promise<KedaBuild> | undefined

export function kedaBuild(): Promise<KedaBuild> {
  located ??= locate()
  return located
}

async function locate(): Promise<KedaBuild> {
  const given = process.env.KEDA_BIN_DIR
  const dir =
    given ||
    (await run('bash', [BUILD_SCRIPT], { maxBuffer: 16 * 1024 * 1024, timeout: 60 * 60 * 1000 })).stdout
      .trim()
      .split('\n')
      .pop()!
  const missing = KEDA_PROGRAMS.filter(name => !existsSync(path.join(dir, name)))
  const crdDir = path.join(dir, 'crds')
  const crdFiles = existsSync(crdDir)
    ? readdirSync(crdDir)
        .filter(name => name.endsWith('.yaml'))
        .sort()
        .map(name => path.join(crdDir, name))
    : []
  if (missing.length > 0 || crdFiles.length === 0) {
    throw new Error(
      `the KEDA build in ${dir} lacks ${[...missing, ...(crdFiles.length === 0 ? ['crds/'] : [])].join(', ')}: run bash scripts/build-keda.sh`
    )
  }
  const versionFile = path.join(dir, 'VERSION')
  const version = existsSync(versionFile) ? readFileSync(versionFile, 'utf8').trim() : 'unknown'
  return { binDir: dir, crdFiles, version }
}
