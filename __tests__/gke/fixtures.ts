import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { GoogleStandIns } from '../rig/gcp/index.js'

// Shared test scaffolding for the GKE module tests: temp dirs and the environment the auth step leaves.

/** Only a value carried through into the kubeconfig; not parsed by these tests. */
export const FAKE_CA_PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBszCCAVmgAwIBAgIUQ2x1c3RlciBDQSBmb3IgdGVzdHMgb25seTAKBggqhkjOPQQDAjAAMB4XDTI2',
  '-----END CERTIFICATE-----',
  ''
].join('\n')

export async function makeTempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-`))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}

/** The variables google-github-actions/auth@v2 exports, plus the GKE API override gcloud honours. */
export function authStepEnv(google: GoogleStandIns, credentialsPath: string): Record<string, string> {
  return {
    GOOGLE_APPLICATION_CREDENTIALS: credentialsPath,
    CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE: credentialsPath,
    GOOGLE_GHA_CREDS_PATH: credentialsPath,
    CLOUDSDK_CORE_PROJECT: google.projectId,
    CLOUDSDK_PROJECT: google.projectId,
    GCLOUD_PROJECT: google.projectId,
    GCP_PROJECT: google.projectId,
    GOOGLE_CLOUD_PROJECT: google.projectId,
    CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER: google.containerApiUrl
  }
}

/** Collects log messages so tests can check that no token ever reaches them. */
export function captureLog(): { log: (message: string) => void; messages: string[] } {
  const messages: string[] = []
  return { log: message => messages.push(message), messages }
}

export function assertNoSecretIn(texts: string[], secrets: Iterable<string>, what: string): void {
  for (const secret of secrets) {
    for (const text of texts) {
      if (text.includes(secret)) throw new Error(`a secret value appeared in ${what}`)
    }
  }
}
