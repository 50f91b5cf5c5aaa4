import { lstat, open, readFile, realpath, rename, rm } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { basename, dirname, isAbsolute, join, normalize } from 'node:path'
import { parse } from 'yaml'
import { toPortableYaml } from '../k8s/serialize.js'
import { GkeError } from './errors.js'

// A private kubeconfig for this run only (under RUNNER_TEMP), never ~/.kube/config: the runner may be shared
// and other steps must not silently inherit cluster access. The token sits in it, so: 0600, atomic rewrites.

export interface WriteKubeconfigOptions {
  dir: string
  server: string
  caPem?: string
  token: string
  namespace?: string
  /** Cluster/context/user name; gcloud's `gke_PROJECT_LOCATION_NAME` style is a good value. */
  name?: string
}

const FILE_MODE = 0o600

function kubeconfigDocument(opts: WriteKubeconfigOptions): Record<string, unknown> {
  const name = opts.name ?? 'gke'
  const cluster: Record<string, unknown> = { server: opts.server }
  if (opts.caPem) cluster['certificate-authority-data'] = Buffer.from(opts.caPem, 'utf8').toString('base64')
  const context: Record<string, unknown> = { cluster: name, user: name }
  if (opts.namespace) context.namespace = opts.namespace
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster }],
    users: [{ name, user: { token: opts.token } }],
    contexts: [{ name, context }],
    'current-context': name,
    preferences: {}
  }
}

/** Creates the file exclusively with mode 0600 from the start, so the token is never readable by others. */
async function writePrivateFile(path: string, content: string): Promise<void> {
  const handle = await open(path, 'wx', FILE_MODE)
  try {
    await handle.writeFile(content, 'utf8')
    // Mode given to open() is filtered by the umask; 0600 is what it must be.
    await handle.chmod(FILE_MODE)
    await handle.sync()
  } finally {
    await handle.close()
  }
}

export async function writeKubeconfig(opts: WriteKubeconfigOptions): Promise<string> {
  const path = join(opts.dir, `kubeconfig-gke-${randomBytes(8).toString('hex')}.yaml`)
  await writePrivateFile(path, toPortableYaml(kubeconfigDocument(opts)))
  return path
}

/** Replaces the user token: written to a sibling temp file, then renamed over, so kubectl never reads half a file. */
export async function rewriteToken(path: string, token: string): Promise<void> {
  const doc = parse(await readFile(path, 'utf8')) as { users?: Array<{ user?: Record<string, unknown> }> }
  const user = doc?.users?.[0]?.user
  if (!user) throw new GkeError('KUBECONFIG', `${path} has no user entry to put the token in.`)
  user.token = token
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    await writePrivateFile(temp, toPortableYaml(doc))
    await rename(temp, path)
  } catch (err) {
    await rm(temp, { force: true })
    throw err
  }
}

export async function removeKubeconfig(path: string): Promise<void> {
  await rm(path, { force: true })
}

// What the run writes, and so all the post step may delete: writeKubeconfig's file, in the run's work
// directory (main.ts: mkdtemp(RUNNER_TEMP/deploy-gke-workers-), which appends six characters).
const OWN_FILE_NAME = /^kubeconfig-gke-[0-9a-f]{16}\.yaml$/
const OWN_DIRECTORY_NAME = /^deploy-gke-workers-[A-Za-z0-9]{6}$/

/**
 * `file` if it is this action's own kubeconfig, else why not: an absolute path, named as writeKubeconfig names
 * it, in a deploy-gke-workers- directory directly under RUNNER_TEMP (neither a symbolic link), a regular file
 * (not a link to one elsewhere) of this user. The post step reads the path from its state, which an earlier
 * step can set (GITHUB_ENV), so nothing else is taken on trust.
 */
export async function verifyOwnKubeconfig(
  file: string,
  runnerTemp: string
): Promise<{ path: string } | { problem: string }> {
  if (!isAbsolute(file) || normalize(file) !== file) return { problem: 'not an absolute, normalised path' }
  if (!OWN_FILE_NAME.test(basename(file))) return { problem: 'not named as this action names its kubeconfig' }
  const directory = dirname(file)
  if (!OWN_DIRECTORY_NAME.test(basename(directory)))
    return { problem: 'not in a deploy-gke-workers- work directory' }
  try {
    const [temp, parent] = await Promise.all([realpath(runnerTemp), realpath(dirname(directory))])
    if (temp !== parent) return { problem: 'not in a work directory directly under RUNNER_TEMP' }
    const [directoryStat, fileStat] = await Promise.all([lstat(directory), lstat(file)])
    if (!directoryStat.isDirectory())
      return { problem: 'its directory is a symbolic link or not a directory' }
    if (fileStat.isSymbolicLink()) return { problem: 'a symbolic link' }
    if (!fileStat.isFile()) return { problem: 'not a regular file' }
    if (process.getuid && fileStat.uid !== process.getuid()) return { problem: 'not owned by this user' }
  } catch (error) {
    return { problem: `cannot be checked (${(error as NodeJS.ErrnoException).code ?? String(error)})` }
  }
  return { path: file }
}
