import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { KubeEmulator, KubeEmulatorOptions } from '../rig/kube/index.js'
import { startKubeEmulator } from '../rig/kube/index.js'

// A copy of the team's golden record (shared/reference): a real kube-apiserver's answers that the emulator
// must match. Kept in the repository so the suite runs anywhere, GitHub's runners included.
const REFERENCE = fileURLToPath(new URL('../fixtures/reference/', import.meta.url))
export const GOLDEN_MANIFESTS = join(REFERENCE, 'golden-manifests')
const GOLDEN_RECORD = join(REFERENCE, 'golden-apiserver.jsonl')

export interface KubectlResult {
  code: number
  stdout: string
  stderr: string
}

export interface RawResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  json: () => Record<string, unknown>
}

export interface Harness {
  emu: KubeEmulator
  dir: string
  kubeconfig: string
  kubectl(...args: string[]): Promise<KubectlResult>
  raw(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<RawResponse>
  stop(): Promise<void>
}

// One emulator, one kubeconfig and one private discovery cache per test file.
export async function startHarness(opts: KubeEmulatorOptions = {}): Promise<Harness> {
  const emu = await startKubeEmulator({ tickMs: 20, ...opts })
  const dir = await mkdtemp(join(tmpdir(), 'kube-emulator-test-'))
  const kubeconfig = join(dir, 'kubeconfig')
  await emu.writeKubeconfig(kubeconfig)
  const env = { ...process.env, KUBECACHEDIR: join(dir, 'cache'), HOME: dir }
  const kubectl = (...args: string[]): Promise<KubectlResult> =>
    new Promise(resolve => {
      execFile(
        'kubectl',
        ['--kubeconfig', kubeconfig, ...args],
        { env, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err
            ? typeof (err as { code?: unknown }).code === 'number'
              ? Number((err as { code: number }).code)
              : 1
            : 0
          resolve({ code, stdout, stderr })
        }
      )
    })
  const raw = (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {}
  ): Promise<RawResponse> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
      const req = request(
        `${emu.url}${path}`,
        {
          method,
          ca: emu.caPem,
          headers: {
            Authorization: `Bearer ${emu.token}`,
            ...(data ? { 'Content-Type': 'application/json' } : {}),
            ...headers
          }
        },
        res => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString()
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              text,
              json: () => JSON.parse(text) as Record<string, unknown>
            })
          })
        }
      )
      req.on('error', reject)
      if (data) req.write(data)
      req.end()
    })
  return {
    emu,
    dir,
    kubeconfig,
    kubectl,
    raw,
    async stop() {
      await emu.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export const manifest = (name: string): string => join(GOLDEN_MANIFESTS, name)

// Poll a condition (the emulator's controllers run on a timer) with a bounded timeout.
export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(r => setTimeout(r, 20))
  }
}

export interface GoldenExchange {
  seq: number
  method: string
  path: string
  status: number
  requestBody: unknown
  responseBody: Record<string, unknown>
}

let goldenCache: GoldenExchange[] | undefined
export function golden(seq: number): GoldenExchange {
  goldenCache ??= readFileSync(GOLDEN_RECORD, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map(l => JSON.parse(l) as GoldenExchange & { type: string })
    .filter(l => l.type === 'exchange')
  const ex = goldenCache.find(e => e.seq === seq)
  if (!ex) throw new Error(`golden seq ${seq} missing`)
  return ex
}

export const obj = (v: unknown): Record<string, unknown> => v as Record<string, unknown>
