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

export interface ServerCertificate {
  caPem: string
  certPem: string
  keyPem: string
}

// A CA (unless one is handed in, e.g. by the GKE stand-in) and a server certificate for 127.0.0.1 and localhost,
// made with the openssl CLI.
export async function makeServerCertificate(ca?: CertificateAuthority): Promise<ServerCertificate> {
  const dir = await mkdtemp(join(tmpdir(), 'kube-emulator-tls-'))
  try {
    const f = (n: string): string => join(dir, n)
    if (ca) {
      await writeFile(f('ca.crt'), ca.certPem)
      await writeFile(f('ca.key'), ca.keyPem, { mode: 0o600 })
    } else {
      await run('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        f('ca.key'),
        '-out',
        f('ca.crt'),
        '-days',
        '2',
        '-subj',
        '/CN=kube-emulator-ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign'
      ])
    }
    await run('openssl', [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      f('server.key'),
      '-out',
      f('server.csr'),
      '-subj',
      '/CN=kube-apiserver'
    ])
    await writeFile(
      f('ext.cnf'),
      'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n'
    )
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      f('server.csr'),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f('server.crt'),
      '-days',
      '2',
      '-extfile',
      f('ext.cnf')
    ])
    const [caPem, certPem, keyPem] = await Promise.all([
      readFile(f('ca.crt'), 'utf8'),
      readFile(f('server.crt'), 'utf8'),
      readFile(f('server.key'), 'utf8')
    ])
    return { caPem, certPem, keyPem }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
