// Certificates for the test rigs, made with the openssl CLI: a CA, and leaf certificates it signs (serving
// certificates for 127.0.0.1 and localhost, client certificates). EC P-256 keys, valid for two days.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface CertificateAuthority {
  certPem: string
  keyPem: string
}

export interface LeafOptions {
  commonName: string
  organization?: string
  // DNS names and IP addresses; IP:127.0.0.1 and DNS:localhost for a loopback server
  subjectAltNames?: string[]
  usage: 'server' | 'client' | 'server+client'
}

async function withScratch<T>(fn: (file: (name: string) => string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'rig-tls-'))
  try {
    return await fn(name => join(dir, name))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

export function makeCertificateAuthority(commonName = 'rig-ca'): Promise<CertificateAuthority> {
  return withScratch(async f => {
    await run('openssl', [
      'req',
      '-x509',
      ...EC_KEY,
      '-keyout',
      f('ca.key'),
      '-out',
      f('ca.crt'),
      '-days',
      '2',
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign'
    ])
    const [certPem, keyPem] = await Promise.all([
      readFile(f('ca.crt'), 'utf8'),
      readFile(f('ca.key'), 'utf8')
    ])
    return { certPem, keyPem }
  })
}

export function makeCertificate(
  ca: CertificateAuthority,
  options: LeafOptions
): Promise<{ certPem: string; keyPem: string }> {
  return withScratch(async f => {
    await writeFile(f('ca.crt'), ca.certPem)
    await writeFile(f('ca.key'), ca.keyPem, { mode: 0o600 })
    const subject = `/CN=${options.commonName}${options.organization ? `/O=${options.organization}` : ''}`
    await run('openssl', [
      'req',
      ...EC_KEY,
      '-keyout',
      f('leaf.key'),
      '-out',
      f('leaf.csr'),
      '-subj',
      subject
    ])
    const extendedUsage = {
      server: 'serverAuth',
      client: 'clientAuth',
      'server+client': 'serverAuth,clientAuth'
    }[options.usage]
    const lines = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${extendedUsage}`
    ]
    if (options.subjectAltNames?.length) lines.push(`subjectAltName=${options.subjectAltNames.join(',')}`)
    await writeFile(f('ext.cnf'), lines.join('\n') + '\n')
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      f('leaf.csr'),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f('leaf.crt'),
      '-days',
      '2',
      '-extfile',
      f('ext.cnf')
    ])
    const [certPem, keyPem] = await Promise.all([
      readFile(f('leaf.crt'), 'utf8'),
      readFile(f('leaf.key'), 'utf8')
    ])
    return { certPem, keyPem }
  })
}

export const LOOPBACK_NAMES = ['IP:127.0.0.1', 'DNS:localhost']
