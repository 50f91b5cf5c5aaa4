import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** A throwaway CA and a server certificate for 127.0.0.1 signed by it, made with the openssl CLI. */
export async function makeLoopbackCertificate(
  dir: string
): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const f = (name: string) => join(dir, name)
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir })
  const rsa = ['-newkey', 'rsa:2048', '-nodes']
  await openssl(
    'req',
    '-x509',
    ...rsa,
    '-days',
    '2',
    '-subj',
    '/CN=gke-test-cluster-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt')
  )
  await openssl('req', ...rsa, '-subj', '/CN=127.0.0.1', '-keyout', f('server.key'), '-out', f('server.csr'))
  await writeFile(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n')
  await openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('server.ext'),
    '-out',
    f('server.crt')
  )
  return {
    caPem: await readFile(f('ca.crt'), 'utf8'),
    certPem: await readFile(f('server.crt'), 'utf8'),
    keyPem: await readFile(f('server.key'), 'utf8')
  }
}
