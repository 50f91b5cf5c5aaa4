import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { Compute, gcpMetadata, GoogleAuth, type AuthClient } from 'google-auth-library'
import { GkeError, googleFailureFromBody, redact } from './errors.js'

// Application Default Credentials as google-github-actions/auth leaves them: a credentials file named by
// GOOGLE_APPLICATION_CREDENTIALS (or gcloud's / the auth action's own variables). Without one, on a
// self-hosted runner on Google Cloud, the metadata server's service account (ADC, as every Google client
// library finds it). No gcloud involved, and none run: GoogleAuth's own discovery would spawn
// `gcloud config config-helper` to find a project (and read gcloud's ~/.config/gcloud for credentials), so the
// metadata server is asked directly (its Compute client, its project and e-mail), and the GoogleAuth built for
// a credentials file is handed the credentials and, when known, the project, leaving it nothing to look up.

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'
export const DEFAULT_REFRESH_MARGIN_SECONDS = 300
const GOOGLE_OAUTH2_TOKEN_URL = 'https://oauth2.googleapis.com/token'

/** Checked in this order; the first one set wins. */
export const CREDENTIALS_FILE_VARIABLES = [
  'GOOGLE_APPLICATION_CREDENTIALS',
  'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE',
  'GOOGLE_GHA_CREDS_PATH'
] as const

export const PROJECT_VARIABLES = [
  'CLOUDSDK_CORE_PROJECT',
  'CLOUDSDK_PROJECT',
  'GCLOUD_PROJECT',
  'GCP_PROJECT',
  'GOOGLE_CLOUD_PROJECT'
] as const

export type Env = Record<string, string | undefined>
export type Log = (message: string) => void

export interface AccessToken {
  token: string
  expiresAt: Date
}

export interface AccessTokenSource {
  /** A token valid for at least the refresh margin, or the freshest one Google hands out. */
  getToken(): Promise<AccessToken>
  readonly credentialsType: string
  readonly credentialsPath: string
  /** The Google service account the tokens act as, when the credentials name one. */
  readonly serviceAccountEmail?: string
  /** Who the tokens act as, for messages: the service account, else the workload identity provider. */
  readonly principal: string
}

export interface AccessTokenSourceOptions {
  env: Env
  // The project_id input, when given.
  projectId?: string
  scopes?: string[]
  refreshMarginSeconds?: number
  log?: Log
}

const AUTH_STEP_FIX = [
  'Add the google-github-actions/auth step before this action:',
  '  - uses: google-github-actions/auth@v3',
  '    with: { workload_identity_provider: ..., service_account: ... }',
  "and give the job `permissions: { id-token: write, contents: read }` so it can request GitHub's OIDC token."
].join('\n')

export function findCredentialsFile(env: Env): { path: string; variable: string } | undefined {
  for (const variable of CREDENTIALS_FILE_VARIABLES) {
    const path = env[variable]?.trim()
    if (path) return { path, variable }
  }
  return undefined
}

// Where a GCE metadata server may answer: a test or proxy named one, detection was forced, or the machine's
// firmware says Google Compute Engine (a self-hosted runner's VM, or a GKE node under a runner pod). Elsewhere
// (GitHub's hosted runners) the metadata address is not even tried, so an offline dry run stays instant.
function metadataServerPlausible(env: Env): boolean {
  if (env.GCE_METADATA_HOST || env.GCE_METADATA_IP) return true
  const detection = env.METADATA_SERVER_DETECTION?.trim().toLowerCase()
  if (detection === 'none') return false
  if (detection === 'assume-present' || detection === 'ping-only') return true
  try {
    return /Google/.test(readFileSync('/sys/class/dmi/id/product_name', 'utf8'))
  } catch {
    return false
  }
}

async function metadataServerAnswers(env: Env): Promise<boolean> {
  if (!metadataServerPlausible(env)) return false
  try {
    return await gcpMetadata.isAvailable()
  } catch {
    return false
  }
}

/** Whether there are Google credentials to use; main.ts uses it to decide on an offline dry run. */
export async function hasCredentials(env: Env): Promise<boolean> {
  return findCredentialsFile(env) !== undefined || (await metadataServerAnswers(env))
}

interface CredentialsFile {
  type?: string
  project_id?: string
  quota_project_id?: string
  client_email?: string
  token_uri?: string
  audience?: string
  service_account_impersonation_url?: string
  workforce_pool_user_project?: string
  credential_source?: { url?: string }
}

async function readCredentialsFile(
  env: Env
): Promise<{ path: string; variable: string; json: CredentialsFile }> {
  const found = findCredentialsFile(env)
  if (!found) {
    throw new GkeError(
      'NO_CREDENTIALS',
      `No Google Cloud credentials: none of ${CREDENTIALS_FILE_VARIABLES.join(', ')} is set, so the ` +
        `google-github-actions/auth step is missing (or ran in another job).\n${AUTH_STEP_FIX}`
    )
  }
  let text: string
  try {
    text = await readFile(found.path, 'utf8')
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new GkeError(
      'BAD_CREDENTIALS_FILE',
      `${found.variable} names ${found.path}, which cannot be read (${reason}). The file only exists in the job ` +
        `whose google-github-actions/auth step wrote it; run the auth step in this job, before this action.`
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    throw new GkeError('BAD_CREDENTIALS_FILE', `${found.variable} names ${found.path}, which is not JSON.`)
  }
  if (!json || typeof json !== 'object' || typeof (json as CredentialsFile).type !== 'string') {
    throw new GkeError('BAD_CREDENTIALS_FILE', `${found.path} (from ${found.variable}) has no "type" field.`)
  }
  return { ...found, json: json as CredentialsFile }
}

function impersonatedEmail(json: CredentialsFile): string | undefined {
  const match = /serviceAccounts\/([^/:]+):generateAccessToken$/.exec(
    json.service_account_impersonation_url ?? ''
  )
  return match?.[1] ? decodeURIComponent(match[1]) : undefined
}

function serviceAccountEmailOf(json: CredentialsFile): string | undefined {
  if (json.type === 'service_account') return json.client_email
  if (json.type === 'external_account') return impersonatedEmail(json)
  return undefined
}

// A project the input, the auth step's variables or the credentials name, without asking anyone.
function projectNamedBy(json: CredentialsFile, opts: AccessTokenSourceOptions): string | undefined {
  if (opts.projectId?.trim()) return opts.projectId.trim()
  for (const variable of PROJECT_VARIABLES) {
    const value = opts.env[variable]?.trim()
    if (value) return value
  }
  return json.project_id ?? json.quota_project_id
}

/**
 * The project: the `project_id` input, else the variables the auth step exports, else what the credentials
 * themselves tell (a key's project_id, or the project in the impersonated service account's email).
 */
export async function resolveProjectId(inputProjectId: string | undefined, env: Env): Promise<string> {
  const fromInput = inputProjectId?.trim()
  if (fromInput) return fromInput
  for (const variable of PROJECT_VARIABLES) {
    const value = env[variable]?.trim()
    if (value) return value
  }
  const found = findCredentialsFile(env)
  if (found) {
    const { json } = await readCredentialsFile(env)
    if (json.project_id) return json.project_id
    const email = serviceAccountEmailOf(json)
    const fromEmail = email
      ? /@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(email)?.[1]
      : undefined
    if (fromEmail) return fromEmail
    if (json.quota_project_id) return json.quota_project_id
  }
  if (!found && (await metadataServerAnswers(env))) {
    const fromMetadata = await gcpMetadata.project<string>('project-id').catch(() => undefined)
    if (typeof fromMetadata === 'string' && fromMetadata.trim()) return fromMetadata.trim()
  }
  throw new GkeError(
    'NO_PROJECT',
    'Cannot tell which Google Cloud project the cluster is in: set the `project_id` input (or the ' +
      '`project_id` input of google-github-actions/auth, which exports it).'
  )
}

/**
 * google-auth-library signs service-account assertions for, and posts them to, Google's fixed token URL and
 * ignores the key's `token_uri`. gcloud (whose job this action takes over) honours `token_uri`, e.g. for
 * keys pointed at a private token endpoint, so requests for the fixed URL are sent to the key's one instead.
 */
function honourTokenUri(client: AuthClient, tokenUri: string | undefined): void {
  if (!tokenUri || tokenUri === GOOGLE_OAUTH2_TOKEN_URL) return
  let target: URL
  try {
    target = new URL(tokenUri)
  } catch {
    throw new GkeError('BAD_CREDENTIALS_FILE', `The service account key's token_uri is not a URL.`)
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new GkeError('BAD_CREDENTIALS_FILE', `The service account key's token_uri must be http(s).`)
  }
  client.transporter.interceptors.request.add({
    resolved: async config => {
      if (config.url !== undefined && String(config.url) === GOOGLE_OAUTH2_TOKEN_URL)
        config.url = new URL(target)
      return config
    }
  })
}

function originAndPath(url: unknown): string | undefined {
  try {
    const parsed = new URL(String(url))
    return `${parsed.origin}${parsed.pathname}`
  } catch {
    return undefined
  }
}

/** Turns a google-auth-library failure into a message that says which step failed and what to do. */
function explainAuthFailure(err: unknown, json: CredentialsFile, path: string, secrets: string[]): GkeError {
  const e = err as {
    message?: string
    config?: { url?: unknown }
    response?: { status?: number; data?: unknown }
    status?: number
  }
  const url = e.config?.url !== undefined ? String(e.config.url) : undefined
  const httpStatus = e.response?.status ?? e.status
  const failure = googleFailureFromBody(httpStatus, e.response?.data)
  const detail = redact(failure?.message ?? e.message ?? String(err), secrets)
  const where = originAndPath(url)
  const statusText = httpStatus ? `HTTP ${httpStatus}: ` : ''
  const sourceUrl = json.credential_source?.url
  let hint: string
  if (url && sourceUrl && originAndPath(url) === originAndPath(sourceUrl)) {
    hint =
      "Fetching GitHub's OIDC token failed. The job needs `permissions: { id-token: write }`, and the " +
      'credentials file must come from the google-github-actions/auth step of this same job.'
  } else if (
    url &&
    json.service_account_impersonation_url &&
    url === json.service_account_impersonation_url
  ) {
    hint =
      `Impersonating ${impersonatedEmail(json) ?? 'the service account'} failed. The workload identity pool ` +
      'principal needs roles/iam.workloadIdentityUser on that service account, and the IAM Credentials API ' +
      'must be enabled.'
  } else if (json.type === 'external_account') {
    hint =
      'The workload identity federation token exchange failed. Check the workload_identity_provider given to ' +
      "google-github-actions/auth and the provider's attribute condition (repository, branch)."
  } else if (json.type === 'service_account') {
    hint = `The service account key ${json.client_email ?? ''} was rejected: it may be disabled or deleted.`
  } else {
    hint = `Credentials of type ${json.type ?? 'unknown'} from ${path} were rejected.`
  }
  return new GkeError(
    'AUTH_FAILED',
    `Could not get a Google access token${where ? ` (${where})` : ''}: ${statusText}${detail}\n${hint}`
  )
}

export async function getAccessTokenSource(opts: AccessTokenSourceOptions): Promise<AccessTokenSource> {
  const log = opts.log ?? (() => {})
  const marginSeconds = opts.refreshMarginSeconds ?? DEFAULT_REFRESH_MARGIN_SECONDS
  if (!findCredentialsFile(opts.env) && (await metadataServerAnswers(opts.env))) {
    return metadataTokenSource(opts.scopes ?? [CLOUD_PLATFORM_SCOPE], marginSeconds, log)
  }
  const { path, variable, json } = await readCredentialsFile(opts.env)
  const supported = ['external_account', 'service_account', 'impersonated_service_account', 'authorized_user']
  if (!supported.includes(json.type ?? '')) {
    throw new GkeError(
      'BAD_CREDENTIALS_FILE',
      `${path} (from ${variable}) holds credentials of type "${json.type}", which this action does not support. ` +
        'Use google-github-actions/auth with workload_identity_provider (or credentials_json).'
    )
  }
  const serviceAccountEmail = serviceAccountEmailOf(json)
  const principal =
    serviceAccountEmail ?? json.audience?.replace(/^\/\/iam\.googleapis\.com\//, '') ?? json.type!

  const auth = new GoogleAuth({
    credentials: json as Record<string, unknown>,
    // Given whenever it is known, so the library never looks one up (resolveProjectId decides the cluster's).
    ...(projectNamedBy(json, opts) ? { projectId: projectNamedBy(json, opts) } : {}),
    scopes: opts.scopes ?? [CLOUD_PLATFORM_SCOPE],
    // The library refreshes a cached token this long before it expires; 0 would mean its own default.
    clientOptions: { eagerRefreshThresholdMillis: Math.max(1, marginSeconds * 1000) }
  })
  let client: AuthClient
  try {
    client = await auth.getClient()
  } catch (err) {
    throw new GkeError(
      'BAD_CREDENTIALS_FILE',
      `${path} (from ${variable}) is not a usable ${json.type} credentials file: ${redact(String((err as Error).message ?? err), [])}`
    )
  }
  if (json.type === 'service_account') honourTokenUri(client, json.token_uri)

  const how =
    json.type === 'external_account'
      ? serviceAccountEmail
        ? `workload identity federation, impersonating ${serviceAccountEmail}`
        : 'workload identity federation (direct, no service account)'
      : json.type === 'service_account'
        ? `service account key of ${serviceAccountEmail}`
        : json.type
  log(`Google credentials: ${how} (${variable})`)

  const issued = new Set<string>()
  return {
    credentialsType: json.type!,
    credentialsPath: path,
    serviceAccountEmail,
    principal,
    async getToken() {
      let token: string | null | undefined
      try {
        token = (await client.getAccessToken()).token
      } catch (err) {
        throw explainAuthFailure(err, json, path, [...issued])
      }
      if (!token) throw new GkeError('AUTH_FAILED', 'google-auth-library returned no access token.')
      issued.add(token)
      const expiry = client.credentials.expiry_date
      // A token without a stated expiry is assumed to live the usual hour; a margin early, it gets replaced.
      const expiresAt = new Date(typeof expiry === 'number' ? expiry : Date.now() + 3600_000)
      return { token, expiresAt }
    }
  }
}

// The metadata server's service account: google-auth-library's Compute client asks it for tokens. Built
// directly, not found by GoogleAuth's discovery (which would run gcloud for a project, see the header).
async function metadataTokenSource(
  scopes: string[],
  marginSeconds: number,
  log: Log
): Promise<AccessTokenSource> {
  const client = new Compute({ scopes, eagerRefreshThresholdMillis: Math.max(1, marginSeconds * 1000) })
  const named = await gcpMetadata.instance<string>('service-accounts/default/email').catch(() => undefined)
  const email = typeof named === 'string' && named.trim() ? named.trim() : undefined
  log(
    `Google credentials: the metadata server's service account${email ? ` ${email}` : ''} (no credentials file)`
  )
  return {
    credentialsType: 'gce_metadata',
    credentialsPath: 'metadata server',
    serviceAccountEmail: email,
    principal: email ?? "the metadata server's service account",
    async getToken() {
      let token: string | null | undefined
      try {
        token = (await client.getAccessToken()).token
      } catch (err) {
        throw new GkeError(
          'AUTH_FAILED',
          `Could not get a Google access token from the metadata server: ${redact(String((err as Error).message ?? err), [])}\n` +
            "The runner's VM (or GKE node) needs a service account with the cloud-platform scope."
        )
      }
      if (!token) throw new GkeError('AUTH_FAILED', 'The metadata server returned no access token.')
      const expiry = client.credentials.expiry_date
      return { token, expiresAt: new Date(typeof expiry === 'number' ? expiry : Date.now() + 3600_000) }
    }
  }
}
