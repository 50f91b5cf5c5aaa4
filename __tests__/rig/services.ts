// Real PostgreSQL and Redis servers for the smoke-check tests, each in a temp dir on a free 127.0.0.1 port, plus
// the system python3 that has both psycopg drivers. Missing tools fail loudly: run scripts/ci-services.sh.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const INSTALL_HINT = 'run `sudo bash scripts/ci-services.sh` to install the test services'

export class MissingToolError extends Error {
  constructor(what: string) {
    super(`${what} is missing: ${INSTALL_HINT}`)
  }
}

export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address !== 'object') throw new Error('no port')
  await new Promise<void>(resolve => server.close(() => resolve()))
  return address.port
}

// The first interpreter with both drivers: /usr/bin/python3 (Debian's packages) before a pyenv python3 on PATH.
export function pythonWithDrivers(): string {
  for (const candidate of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(candidate, ['-c', 'import psycopg, psycopg2'], { stdio: 'ignore' })
      return candidate
    } catch {
      // try the next one
    }
  }
  throw new MissingToolError(
    'a python3 with both psycopg (3) and psycopg2 (Debian python3-psycopg, python3-psycopg2)'
  )
}

function postgresBinDir(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter(name => existsSync(join(root, name, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  if (versions.length === 0)
    throw new MissingToolError('PostgreSQL server binaries (/usr/lib/postgresql/*/bin)')
  return join(root, versions[0], 'bin')
}

function run(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; asUser?: string } = {}
): string {
  const [bin, argv] = options.asUser
    ? ['runuser', ['-u', options.asUser, '--', command, ...args]]
    : [command, args]
  try {
    return execFileSync(bin, argv, { env: options.env ?? process.env, encoding: 'utf8', stdio: 'pipe' })
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string }
    throw new Error(`${command} ${args.join(' ')} failed: ${failure.stderr ?? ''}${failure.stdout ?? ''}`, {
      cause: error
    })
  }
}

export interface PostgresRole {
  user: string
  password: string
}

export class TestPostgres {
  readonly port: number
  private readonly dir: string
  private readonly bin: string
  // PostgreSQL refuses to run as root; under root (this container) it runs as the `postgres` system user.
  private readonly asUser: string | undefined

  private readonly superuser: PostgresRole

  private constructor(
    port: number,
    dir: string,
    bin: string,
    asUser: string | undefined,
    superuser: PostgresRole
  ) {
    this.port = port
    this.dir = dir
    this.bin = bin
    this.asUser = asUser
    this.superuser = superuser
  }

  // `superuser` authenticates with SCRAM; every role in `md5Roles` has an MD5-stored password, so both
  // authentication methods a Cloud SQL instance may use are exercised. `databases` are created, each owned by
  // one of those roles.
  static async start(
    superuser: PostgresRole,
    md5Roles: PostgresRole[],
    databases: Array<{ name: string; owner: string }> = []
  ): Promise<TestPostgres> {
    const bin = postgresBinDir()
    const asUser = process.getuid?.() === 0 ? 'postgres' : undefined
    const dir = mkdtempSync(join(tmpdir(), 'smoke-pg-'))
    if (asUser) {
      const uid = Number(execFileSync('id', ['-u', asUser], { encoding: 'utf8' }).trim())
      const gid = Number(execFileSync('id', ['-g', asUser], { encoding: 'utf8' }).trim())
      chownSync(dir, uid, gid)
    }
    const passwordFile = join(dir, 'pwfile')
    writeFileSync(passwordFile, `${superuser.password}\n`)
    if (asUser) execFileSync('chown', [asUser, passwordFile])
    chmodSync(passwordFile, 0o600)
    const data = join(dir, 'data')
    run(
      join(bin, 'initdb'),
      [
        '-D',
        data,
        '-U',
        superuser.user,
        `--pwfile=${passwordFile}`,
        '--auth-local=scram-sha-256',
        '--auth-host=md5'
      ],
      { asUser }
    )
    rmSync(passwordFile)
    const port = await freePort()
    const server = new TestPostgres(port, dir, bin, asUser, superuser)
    run(
      join(bin, 'pg_ctl'),
      [
        '-D',
        data,
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '60',
        '-o',
        `-k ${dir} -h 127.0.0.1 -p ${port}`,
        'start'
      ],
      { asUser }
    )
    const statements = [
      "SET password_encryption = 'md5'",
      ...md5Roles.map(
        role => `CREATE ROLE "${role.user}" LOGIN PASSWORD '${role.password.replace(/'/g, "''")}'`
      )
    ]
    run(
      join(bin, 'psql'),
      [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        superuser.user,
        '-d',
        'postgres',
        '-c',
        statements.join('; '),
        // CREATE DATABASE runs outside a transaction: a -c of its own each.
        ...databases.flatMap(d => ['-c', `CREATE DATABASE "${d.name}" OWNER "${d.owner}"`])
      ],
      { env: { ...process.env, PGPASSWORD: superuser.password } }
    )
    return server
  }

  // One more login role (an MD5-stored password, as the others), for a test that deploys with another db_user.
  addRole(role: PostgresRole): void {
    run(
      join(this.bin, 'psql'),
      [
        '-X',
        '-q',
        '-v',
        'ON_ERROR_STOP=1',
        '-h',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-U',
        this.superuser.user,
        '-d',
        'postgres',
        '-c',
        `SET password_encryption = 'md5'; CREATE ROLE "${role.user}" LOGIN PASSWORD '${role.password.replace(/'/g, "''")}'`
      ],
      { env: { ...process.env, PGPASSWORD: this.superuser.password } }
    )
  }

  url(user: string, password: string, database = 'postgres'): string {
    return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${this.port}/${database}`
  }

  stop(): void {
    try {
      run(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', 'stop'], {
        asUser: this.asUser
      })
    } finally {
      rmSync(this.dir, { recursive: true, force: true })
    }
  }
}

export class TestRedis {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess
  ) {}

  static async start(extraArgs: string[]): Promise<TestRedis> {
    const found = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(path => existsSync(path))
    if (!found) throw new MissingToolError('redis-server')
    const port = await freePort()
    const child = spawn(
      found,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    )
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not get ready in 20 s:\n${output}`)),
        20_000
      )
      const onData = (chunk: Buffer): void => {
        output += chunk.toString()
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout.on('data', onData)
      child.stderr.on('data', onData)
      child.on('exit', code => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited with ${code}:\n${output}`))
      })
    })
    child.removeAllListeners('exit')
    child.stdout.resume()
    child.stderr.resume()
    return new TestRedis(port, child)
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    const exited = new Promise(resolve => this.child.once('exit', resolve))
    this.child.kill('SIGTERM')
    await exited
  }
}

// Accepts TCP connections and never answers: how a firewalled or hung server looks to a client with a timeout.
export class SilentServer {
  private readonly sockets = new Set<Socket>()
  private readonly server = createServer(socket => {
    this.sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => this.sockets.delete(socket))
  })
  port = 0

  async start(): Promise<this> {
    await new Promise<void>(resolve => this.server.listen(0, '127.0.0.1', resolve))
    const address = this.server.address()
    if (address === null || typeof address !== 'object') throw new Error('no port')
    this.port = address.port
    return this
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }
}

export interface SnippetRun {
  exitCode: number
  stdout: string
  stderr: string
  durationMs: number
}

// Runs a smoke check's argv locally as kubectl exec would in the pod (no shell unless the argv has one),
// with `python3` replaced by the given interpreter. Killed if it outlives `killAfterMs`.
export function runArgv(
  argv: string[],
  options: { python: string; env: NodeJS.ProcessEnv; cwd?: string; killAfterMs: number }
): Promise<SnippetRun> {
  const [command, ...args] = argv
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command === 'python3' ? options.python : command, args, {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe']
    })
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs)
    child.on('error', error => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('close', code => {
      clearTimeout(timer)
      resolve({
        exitCode: code ?? -1,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        durationMs: Date.now() - started
      })
    })
  })
}

// A directory whose modules shadow the named ones with an ImportError, to make a driver look absent.
export function shadowModules(names: string[]): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'smoke-shadow-'))
  for (const name of names) {
    writeFileSync(join(dir, `${name}.py`), `raise ImportError('${name} hidden by the test')\n`)
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

// The environment a check sees in the pod: only what it needs, plus PATH so python3 and celery resolve.
export function podEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...extra }
}
