// A real container registry for the tests, on 127.0.0.1 only: the CNCF distribution registry (cmd/registry,
// built from test/registry/go.mod) serving TLS with a CA of its own, with bearer-token auth whose token server
// (./token-server.ts) takes the Google stand-in's access tokens as Artifact Registry does. Images are pushed
// with crane (same module), as a build job would push them: no Docker needed. Everything it starts, it stops;
// its files live in one temporary directory that goes with it.

import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request as httpsRequest } from 'node:https'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import YAML from 'yaml'
import { LOOPBACK_NAMES, makeCertificate, makeCertificateAuthority } from '../shared/tls.js'
import { startProcess, waitUntil, type Started } from '../control-plane/processes.js'
import { registryBinDir } from './binaries.js'
import { startTokenServer, type TokenRequestRecord } from './token-server.js'
import type { ConnectProxy } from './connect-proxy.js'

export interface RegistryRigOptions {
  // The Google stand-in whose access tokens the token server accepts (isValidAccessToken's principal).
  principalOfAccessToken: (token: string) => string | undefined
  // Repositories (paths) no Google principal may pull: the deployer lacks roles/artifactregistry.reader there.
  deniedRepositories?: string[]
  // Repositories anyone may pull without credentials.
  publicRepositories?: string[]
  // The registry under a real registry's name (europe-west3-docker.pkg.dev): its certificate names it, and the
  // proxy routes NAME:443 to the registry and NAME:TOKEN_PORT to the token server, whose realm is given under
  // that name. Clients that use the proxy (the action with HTTPS_PROXY, crane here) then take exactly the path
  // they take to Artifact Registry, the Google token included.
  serveAs?: { name: string; proxy: ConnectProxy }
}

export interface PlatformImage {
  // os/arch, e.g. linux/amd64
  platform: string
  // What the image's one layer holds: different content makes a different image.
  content: string
}

export interface RegistryRig {
  // host:port, the registry part of image references (the serveAs name, when given)
  host: string
  // 127.0.0.1:port, where the registry listens
  address: string
  // host:port of the token realm (on a name: see token-server.ts)
  tokenHost: string
  caPem: string
  // Image references in this registry: `${host}/${repository}:${tag}`.
  reference(repository: string, tag: string): string
  // One single-platform image (an image manifest, no index); returns its digest.
  pushImage(reference: string, image: PlatformImage): Promise<string>
  // A multi-platform image: one manifest per platform under an OCI index; returns the index's digest and
  // each platform manifest's.
  pushIndex(
    reference: string,
    images: PlatformImage[]
  ): Promise<{ digest: string; manifests: Array<{ platform: string; digest: string }> }>
  // Removes a tag (DELETE /v2/NAME/manifests/TAG); the manifest it pointed to stays under its digest.
  deleteTag(reference: string): Promise<void>
  // crane, authenticated as the pusher and trusting the registry's CA.
  crane(args: string[]): Promise<string>
  tokenRequests(): TokenRequestRecord[]
  stop(): Promise<void>
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port
      server.close(() => resolve(port))
    })
  })
}

function statusOf(url: string, caPem: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, timeout: 2000 }, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.end()
  })
}

export async function startRegistry(options: RegistryRigOptions): Promise<RegistryRig> {
  const binDir = await registryBinDir()
  const dir = await mkdtemp(path.join(os.tmpdir(), 'registry-rig-'))
  const file = (name: string): string => path.join(dir, name)
  let registry: Started | undefined
  let stopTokens: (() => Promise<void>) | undefined
  const stop = async (): Promise<void> => {
    await registry?.stop()
    await stopTokens?.()
    await rm(dir, { recursive: true, force: true })
  }

  try {
    const ca = await makeCertificateAuthority('registry-rig-ca')
    const serveAs = options.serveAs?.name
    const serving = await makeCertificate(ca, {
      commonName: 'registry',
      subjectAltNames: serveAs ? [...LOOPBACK_NAMES, `DNS:${serveAs}`] : LOOPBACK_NAMES,
      usage: 'server'
    })
    const pusher = { username: 'rig-pusher', password: randomBytes(16).toString('hex') }
    const denied = new Set(options.deniedRepositories ?? [])
    const publicRepositories = new Set(options.publicRepositories ?? [])
    const tokens = await startTokenServer(
      serving,
      {
        principalOfAccessToken: options.principalOfAccessToken,
        pusher,
        deniedRepositories: (_principal, repository) => denied.has(repository),
        publicRepositories: repository => publicRepositories.has(repository)
      },
      serveAs
    )
    stopTokens = tokens.stop

    const port = await freePort()
    const address = `127.0.0.1:${port}`
    const host = serveAs ?? address
    if (options.serveAs) {
      const tokenPort = new URL(tokens.realm).port
      options.serveAs.proxy.route(`${serveAs}:443`, address)
      options.serveAs.proxy.route(`${serveAs}:${tokenPort}`, `127.0.0.1:${tokenPort}`)
    }
    await Promise.all([
      writeFile(file('ca.crt'), ca.certPem),
      writeFile(file('serving.crt'), serving.certPem),
      writeFile(file('serving.key'), serving.keyPem, { mode: 0o600 }),
      writeFile(file('jwks.json'), tokens.jwks),
      mkdir(file('data')),
      mkdir(file('docker')).then(() =>
        writeFile(
          file('docker/config.json'),
          JSON.stringify({
            auths: Object.fromEntries(
              [...new Set([host, address])].map(name => [
                name,
                { auth: Buffer.from(`${pusher.username}:${pusher.password}`).toString('base64') }
              ])
            )
          }),
          { mode: 0o600 }
        )
      )
    ])
    await writeFile(
      file('config.yml'),
      YAML.stringify({
        version: 0.1,
        log: { level: 'error', accesslog: { disabled: true } },
        storage: {
          filesystem: { rootdirectory: file('data') },
          delete: { enabled: true },
          maintenance: { uploadpurging: { enabled: false } }
        },
        http: { addr: address, tls: { certificate: file('serving.crt'), key: file('serving.key') } },
        auth: {
          token: {
            realm: tokens.realm,
            service: tokens.service,
            issuer: tokens.issuer,
            jwks: file('jwks.json')
          }
        }
      })
    )
    // Tracing off: the registry's OpenTelemetry exporter would otherwise try a collector on localhost.
    registry = startProcess(
      'registry',
      path.join(binDir, 'registry'),
      ['serve', file('config.yml')],
      file('registry.log'),
      { env: { ...process.env, OTEL_TRACES_EXPORTER: 'none' } }
    )
    await waitUntil(
      'the registry',
      async () => (await statusOf(`https://${address}/v2/`, ca.certPem)) === 401,
      {
        timeoutMs: 30_000,
        process: registry
      }
    )

    const craneEnv = {
      ...process.env,
      DOCKER_CONFIG: file('docker'),
      SSL_CERT_FILE: file('ca.crt'),
      HOME: dir,
      // Go's HTTP client takes the proxy for every host but loopback ones: the serveAs name goes through it.
      ...(options.serveAs ? { HTTPS_PROXY: options.serveAs.proxy.url, NO_PROXY: '' } : {})
    }
    const crane = (args: string[]): Promise<string> =>
      new Promise((resolve, reject) => {
        execFile(
          path.join(binDir, 'crane'),
          args,
          { env: craneEnv, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
          (error, stdout, stderr) => {
            if (error) reject(new Error(`crane ${args.join(' ')}: ${stderr || error.message}`))
            else resolve(stdout.trim())
          }
        )
      })

    let layers = 0
    const layerOf = async (content: string): Promise<string> => {
      const layerDir = file(`layer-${++layers}`)
      await mkdir(path.join(layerDir, 'app'), { recursive: true })
      await writeFile(path.join(layerDir, 'app', 'content.txt'), `${content}\n`)
      const tarball = `${layerDir}.tar`
      await new Promise<void>((resolve, reject) =>
        execFile('tar', ['-cf', tarball, '-C', layerDir, 'app'], error => (error ? reject(error) : resolve()))
      )
      return tarball
    }
    const pushImage = async (reference: string, image: PlatformImage): Promise<string> => {
      // An empty OCI base, one layer, then the config's platform: what `docker buildx --platform X` pushes.
      await crane([
        'append',
        '--oci-empty-base',
        '-f',
        await layerOf(`${image.content} ${image.platform}`),
        '-t',
        reference
      ])
      await crane(['mutate', reference, '--set-platform', image.platform, '-t', reference])
      return crane(['digest', reference])
    }

    return {
      host,
      address,
      tokenHost: new URL(tokens.realm).host,
      caPem: ca.certPem,
      reference: (repository, tag) => `${host}/${repository}:${tag}`,
      pushImage,
      async pushIndex(reference, images) {
        const manifests: Array<{ platform: string; digest: string }> = []
        const name = reference.slice(0, reference.lastIndexOf(':'))
        const buildTags: string[] = []
        for (const [i, image] of images.entries()) {
          buildTags.push(`${name}:build-${randomBytes(4).toString('hex')}-${i}`)
          const digest = await pushImage(buildTags[i], image)
          manifests.push({ platform: image.platform, digest })
        }
        await crane([
          'index',
          'append',
          ...manifests.flatMap(m => ['-m', `${name}@${m.digest}`]),
          '-t',
          reference
        ])
        // The platform images stay under their digests (the index names them); their build tags would only
        // clutter the repository's tag list.
        for (const build of buildTags) await crane(['delete', build])
        return { digest: await crane(['digest', reference]), manifests }
      },
      async deleteTag(reference) {
        await crane(['delete', reference])
      },
      crane,
      tokenRequests: tokens.requests,
      stop
    }
  } catch (error) {
    const log = registry?.tail(20) ?? ''
    if (options.serveAs) {
      options.serveAs.proxy.unroute(`${options.serveAs.name}:443`)
    }
    await stop()
    throw new Error(`the registry did not start: ${(error as Error).message}\n${log}`, { cause: error })
  }
}
