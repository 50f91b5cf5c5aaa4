import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startGoogleStandIns, type GoogleStandIns } from '../rig/gcp/index.js'
import { getAccessTokenSource, resolveProjectId, hasCredentials } from '../../src/gke/credentials.js'
import { GkeError } from '../../src/gke/errors.js'
import { assertNoSecretIn, authStepEnv, captureLog, makeTempDir } from './fixtures.js'

function posts(google: GoogleStandIns): string[] {
  return google.requests().map(r => `${r.method} ${r.path} ${r.status}`)
}

describe('credentials from google-github-actions/auth', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    google = await startGoogleStandIns({})
    tmp = await makeTempDir('gke-creds')
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  test('the credentials file has the shape the auth action writes', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    assert.match(path, /gha-creds-[0-9a-f]{16}\.json$/)
    const json = JSON.parse(await readFile(path, 'utf8'))
    const provider = `projects/${google.projectNumber}/locations/global/workloadIdentityPools/github/providers/github-actions`
    assert.deepEqual(Object.keys(json), [
      'type',
      'audience',
      'subject_token_type',
      'token_url',
      'credential_source',
      'service_account_impersonation_url'
    ])
    assert.equal(json.type, 'external_account')
    assert.equal(json.audience, `//iam.googleapis.com/${provider}`)
    assert.equal(json.subject_token_type, 'urn:ietf:params:oauth:token-type:jwt')
    assert.equal(json.token_url, google.stsUrl)
    const source = new URL(json.credential_source.url)
    assert.equal(source.searchParams.get('api-version'), '2.0')
    assert.equal(source.searchParams.get('audience'), `https://iam.googleapis.com/${provider}`)
    assert.deepEqual(json.credential_source.headers, { Authorization: `Bearer ${google.oidcRequestToken}` })
    assert.deepEqual(json.credential_source.format, { type: 'json', subject_token_field_name: 'value' })
    assert.equal(
      json.service_account_impersonation_url,
      `${google.iamCredentialsUrl}/projects/-/serviceAccounts/${google.serviceAccountEmail}:generateAccessToken`
    )
    const direct = JSON.parse(
      await readFile(await google.writeExternalAccountCredentials(tmp.dir, { impersonate: false }), 'utf8')
    )
    assert.equal(direct.service_account_impersonation_url, undefined)
  })

  test('workload identity federation with impersonation: OIDC -> STS -> IAM', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir, { impersonate: true })
    const before = google.requests().length
    const { log, messages } = captureLog()
    const source = await getAccessTokenSource({ env: authStepEnv(google, path), log })
    assert.equal(source.credentialsType, 'external_account')
    assert.equal(source.serviceAccountEmail, google.serviceAccountEmail)
    const { token, expiresAt } = await source.getToken()
    assert.ok(google.isValidAccessToken(token))
    assert.ok(token.startsWith('ya29.'), 'the IAM-issued token, not the federated one')
    const remaining = expiresAt.getTime() - Date.now()
    assert.ok(remaining > 3500_000 && remaining <= 3600_000, `expiry from IAM's expireTime (${remaining} ms)`)
    assert.deepEqual(posts(google).slice(before), [
      'GET /github/idtoken 200',
      'POST /sts/v1/token 200',
      `POST /iamcredentials/v1/projects/-/serviceAccounts/${google.serviceAccountEmail}:generateAccessToken 200`
    ])
    assert.ok(messages.some(m => m.includes(`impersonating ${google.serviceAccountEmail}`)))
    assertNoSecretIn(messages, [token, google.oidcRequestToken], 'log messages')
  })

  test('direct workload identity federation uses the federated token', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir, { impersonate: false })
    const before = google.requests().length
    const source = await getAccessTokenSource({ env: authStepEnv(google, path) })
    assert.equal(source.serviceAccountEmail, undefined)
    assert.match(source.principal, /workloadIdentityPools\/github\/providers\/github-actions$/)
    const { token, expiresAt } = await source.getToken()
    assert.ok(google.isValidAccessToken(token))
    assert.ok(expiresAt.getTime() > Date.now() + 3500_000)
    assert.deepEqual(posts(google).slice(before), ['GET /github/idtoken 200', 'POST /sts/v1/token 200'])
  })

  test('a service account key file: JWT assertion to its token_uri', async () => {
    const path = await google.writeServiceAccountKey(tmp.dir)
    const before = google.requests().length
    const source = await getAccessTokenSource({ env: { GOOGLE_APPLICATION_CREDENTIALS: path } })
    assert.equal(source.credentialsType, 'service_account')
    assert.equal(source.serviceAccountEmail, google.serviceAccountEmail)
    const { token } = await source.getToken()
    assert.ok(google.isValidAccessToken(token))
    assert.deepEqual(posts(google).slice(before), ['POST /oauth2/token 200'])
    // Cached: a second call within the token's life mints nothing.
    const minted = google.issuedAccessTokens()
    assert.equal((await source.getToken()).token, token)
    assert.equal(google.issuedAccessTokens(), minted)
  })

  test('the gcloud and auth-action variables are used when GOOGLE_APPLICATION_CREDENTIALS is not set', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    for (const variable of ['CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE', 'GOOGLE_GHA_CREDS_PATH']) {
      assert.ok(await hasCredentials({ [variable]: path }))
      const source = await getAccessTokenSource({ env: { [variable]: path } })
      assert.equal(source.credentialsPath, path)
      assert.ok(google.isValidAccessToken((await source.getToken()).token))
    }
  })

  test('no credentials: says the auth step is missing and shows the fix', async () => {
    assert.equal(await hasCredentials({ HOME: '/root', METADATA_SERVER_DETECTION: 'none' }), false)
    await assert.rejects(
      getAccessTokenSource({ env: { HOME: '/root', METADATA_SERVER_DETECTION: 'none' } }),
      (err: unknown) => {
        assert.ok(err instanceof GkeError)
        assert.equal(err.code, 'NO_CREDENTIALS')
        assert.match(err.message, /google-github-actions\/auth step is missing/)
        assert.match(err.message, /- uses: google-github-actions\/auth@v3\n/)
        assert.match(err.message, /with: \{ workload_identity_provider: \.\.\., service_account: \.\.\. \}/)
        assert.match(err.message, /id-token: write/)
        return true
      }
    )
  })

  test('a credentials variable naming a missing file says so', async () => {
    const missing = join(tmp.dir, 'gha-creds-gone.json')
    await assert.rejects(
      getAccessTokenSource({ env: { GOOGLE_APPLICATION_CREDENTIALS: missing } }),
      (err: unknown) => {
        assert.ok(err instanceof GkeError)
        assert.equal(err.code, 'BAD_CREDENTIALS_FILE')
        assert.ok(err.message.includes(missing))
        assert.match(err.message, /GOOGLE_APPLICATION_CREDENTIALS/)
        return true
      }
    )
  })

  test('a rejected OIDC request points at id-token: write and leaks no secret', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    const json = JSON.parse(await readFile(path, 'utf8'))
    const wrongRequestToken = 'wrong-request-token-0123456789abcdef'
    json.credential_source.headers.Authorization = `Bearer ${wrongRequestToken}`
    await writeFile(path, JSON.stringify(json))
    const source = await getAccessTokenSource({ env: authStepEnv(google, path) })
    await assert.rejects(source.getToken(), (err: unknown) => {
      assert.ok(err instanceof GkeError)
      assert.equal(err.code, 'AUTH_FAILED')
      assert.match(err.message, /OIDC token failed/)
      assert.match(err.message, /id-token: write/)
      assertNoSecretIn(
        [err.message, String(err.stack)],
        [wrongRequestToken, google.oidcRequestToken],
        'the error'
      )
      return true
    })
  })

  test('impersonating a service account the pool may not use explains the IAM binding', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    const json = JSON.parse(await readFile(path, 'utf8'))
    json.service_account_impersonation_url = json.service_account_impersonation_url.replace(
      'deployer@',
      'other@'
    )
    await writeFile(path, JSON.stringify(json))
    const source = await getAccessTokenSource({ env: authStepEnv(google, path) })
    await assert.rejects(source.getToken(), (err: unknown) => {
      assert.ok(err instanceof GkeError)
      assert.equal(err.code, 'AUTH_FAILED')
      assert.match(err.message, /HTTP 403/)
      assert.match(err.message, /iam\.serviceAccounts\.getAccessToken/)
      assert.match(err.message, /roles\/iam\.workloadIdentityUser/)
      assert.ok(err.message.includes(`other@${google.projectId}.iam.gserviceaccount.com`))
      return true
    })
  })

  test('a wrong workload identity provider is rejected by STS with its reason', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    const json = JSON.parse(await readFile(path, 'utf8'))
    json.audience = json.audience.replace('/providers/github-actions', '/providers/nope')
    await writeFile(path, JSON.stringify(json))
    const source = await getAccessTokenSource({ env: authStepEnv(google, path) })
    await assert.rejects(source.getToken(), (err: unknown) => {
      assert.ok(err instanceof GkeError)
      assert.equal(err.code, 'AUTH_FAILED')
      assert.match(err.message, /invalid_target/)
      assert.match(err.message, /workload_identity_provider/)
      return true
    })
  })
})

describe('token refresh margin', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    // Tokens live 60 s, less than the default 300 s margin: every getToken must fetch a new one.
    google = await startGoogleStandIns({ accessTokenLifetimeSeconds: 60 })
    tmp = await makeTempDir('gke-refresh')
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  for (const impersonate of [true, false]) {
    test(`a token within the margin is replaced (${impersonate ? 'impersonation' : 'direct'})`, async () => {
      const path = await google.writeExternalAccountCredentials(tmp.dir, { impersonate })
      const source = await getAccessTokenSource({ env: authStepEnv(google, path) })
      const first = await source.getToken()
      const minted = google.issuedAccessTokens()
      const second = await source.getToken()
      assert.notEqual(second.token, first.token)
      assert.ok(google.issuedAccessTokens() > minted)
      assert.ok(google.isValidAccessToken(first.token) && google.isValidAccessToken(second.token))
    })
  }

  test('a service account key token within the margin is replaced', async () => {
    const path = await google.writeServiceAccountKey(tmp.dir)
    const source = await getAccessTokenSource({ env: { GOOGLE_APPLICATION_CREDENTIALS: path } })
    const first = await source.getToken()
    const second = await source.getToken()
    assert.notEqual(second.token, first.token)
  })

  test('with a margin below the lifetime the cached token is reused', async () => {
    const path = await google.writeExternalAccountCredentials(tmp.dir)
    const source = await getAccessTokenSource({ env: authStepEnv(google, path), refreshMarginSeconds: 10 })
    const first = await source.getToken()
    const minted = google.issuedAccessTokens()
    assert.equal((await source.getToken()).token, first.token)
    assert.equal(google.issuedAccessTokens(), minted)
  })
})

describe('resolveProjectId', () => {
  let google: GoogleStandIns
  let tmp: { dir: string; remove: () => Promise<void> }
  before(async () => {
    google = await startGoogleStandIns({ projectId: 'acme-prod' })
    tmp = await makeTempDir('gke-project')
  })
  after(async () => {
    await google.stop()
    await tmp.remove()
  })

  test('the input wins, then the variables in gcloud order', async () => {
    const env = {
      CLOUDSDK_PROJECT: 'b-project',
      GOOGLE_CLOUD_PROJECT: 'e-project',
      CLOUDSDK_CORE_PROJECT: 'a-project'
    }
    assert.equal(await resolveProjectId('from-input', env), 'from-input')
    assert.equal(await resolveProjectId('  ', env), 'a-project')
    assert.equal(await resolveProjectId(undefined, { GCP_PROJECT: 'd', GOOGLE_CLOUD_PROJECT: 'e' }), 'd')
  })

  test('else the credentials: a key project_id, or the impersonated service account project', async () => {
    const key = await google.writeServiceAccountKey(tmp.dir)
    assert.equal(await resolveProjectId('', { GOOGLE_APPLICATION_CREDENTIALS: key }), 'acme-prod')
    const wif = await google.writeExternalAccountCredentials(tmp.dir)
    assert.equal(await resolveProjectId('', { GOOGLE_APPLICATION_CREDENTIALS: wif }), 'acme-prod')
  })

  test('direct federation without a project anywhere asks for project_id', async () => {
    const wif = await google.writeExternalAccountCredentials(tmp.dir, { impersonate: false })
    await assert.rejects(resolveProjectId('', { GOOGLE_APPLICATION_CREDENTIALS: wif }), (err: unknown) => {
      assert.ok(err instanceof GkeError)
      assert.equal(err.code, 'NO_PROJECT')
      assert.match(err.message, /project_id/)
      return true
    })
  })
})
