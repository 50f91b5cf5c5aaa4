import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import {
  InputError,
  isMaskable,
  parseInputs,
  plainInputValues,
  secretValuesOf,
  type RawInputs
} from '../../src/inputs.js'

const IMAGE = 'europe-west3-docker.pkg.dev/proj-123/app/noesis2-web:abc123'
const minimal: RawInputs = { image: IMAGE }

function problemsOf(raw: RawInputs, eventName = 'push'): string[] {
  try {
    parseInputs(raw, { eventName })
  } catch (error) {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`)
    return error.problems
  }
  return []
}

describe('parseInputs: defaults', () => {
  test('the minimal input set gives the design defaults', () => {
    const config = parseInputs(minimal, { eventName: 'push' })
    assert.equal(config.namespace, 'noesis2')
    assert.equal(config.serviceAccount, 'noesis2-worker-sa')
    assert.equal(config.secretName, 'app-secrets')
    assert.deepEqual(config.workerQueues, ['celery'])
    assert.equal(config.workerMinReplicas, 1)
    assert.equal(config.workerMaxReplicas, 5)
    assert.equal(config.workerCpuTarget, 70)
    assert.equal(config.beat, true)
    assert.equal(config.clusterEndpoint, 'public')
    assert.equal(config.rolloutTimeoutSeconds, 300)
    assert.equal(config.rollbackOnFailure, true)
    assert.equal(config.dryRun, false)
    assert.equal(config.secretData, undefined, 'no secret_data and no db_*: the action writes no Secret')
    assert.deepEqual(config.smokeChecks, ['worker', 'beat', 'database', 'redis'])
    assert.equal(config.cloudSqlProxyImage, 'gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.15.0')
  })
})

describe('parseInputs: accepted values', () => {
  const cases: Array<{ name: string; raw: RawInputs; check: (c: ReturnType<typeof parseInputs>) => void }> = [
    {
      name: 'digest-only image',
      raw: { image: `ghcr.io/noesis2/web@sha256:${'a'.repeat(64)}` },
      check: c => assert.match(c.image, /@sha256:/)
    },
    {
      name: 'tag and digest',
      raw: { image: `registry.example.com:5000/a/b/c:v1.2@sha256:${'0'.repeat(64)}` },
      check: c => assert.match(c.image, /:5000/)
    },
    {
      name: 'localhost registry',
      raw: { image: 'localhost/app:dev' },
      check: c => assert.equal(c.image, 'localhost/app:dev')
    },
    {
      name: 'image_pinning defaults to digest',
      raw: minimal,
      check: c => assert.equal(c.imagePinning, 'digest')
    },
    {
      name: 'image_pinning tag keeps the image as given',
      raw: { ...minimal, image_pinning: 'tag' },
      check: c => assert.equal(c.imagePinning, 'tag')
    },
    {
      name: 'image_pinning is read case-insensitively',
      raw: { ...minimal, image_pinning: 'Digest' },
      check: c => assert.equal(c.imagePinning, 'digest')
    },
    {
      name: 'duration 90',
      raw: { ...minimal, rollout_timeout: '90' },
      check: c => assert.equal(c.rolloutTimeoutSeconds, 90)
    },
    {
      name: 'duration 90s',
      raw: { ...minimal, rollout_timeout: '90s' },
      check: c => assert.equal(c.rolloutTimeoutSeconds, 90)
    },
    {
      name: 'duration 5m',
      raw: { ...minimal, rollout_timeout: '5m' },
      check: c => assert.equal(c.rolloutTimeoutSeconds, 300)
    },
    {
      name: 'duration 1m30s',
      raw: { ...minimal, rollout_timeout: '1m30s' },
      check: c => assert.equal(c.rolloutTimeoutSeconds, 90)
    },
    { name: 'dry_run auto on pull_request', raw: { ...minimal }, check: () => undefined },
    {
      name: 'queues list',
      raw: { ...minimal, worker_queues: 'celery, rag_delete' },
      check: c => assert.deepEqual(c.workerQueues, ['celery', 'rag_delete'])
    },
    {
      name: 'full cluster resource name fills project and location',
      raw: { ...minimal, cluster_name: 'projects/my-proj-1/locations/europe-west3/clusters/workers' },
      check: c => {
        assert.equal(c.clusterName, 'workers')
        assert.equal(c.location, 'europe-west3')
        assert.equal(c.projectId, 'my-proj-1')
      }
    },
    {
      name: 'domain-scoped Cloud SQL instance',
      raw: { ...minimal, cloud_sql_instance: 'example.com:my-proj:europe-west3:main' },
      check: c => assert.equal(c.cloudSqlInstance, 'example.com:my-proj:europe-west3:main')
    },
    {
      name: 'env KEY=VALUE keeps "=" in values and skips comments',
      raw: { ...minimal, env: '# comment\nFOO=a=b\n\nBAR=\n' },
      check: c =>
        assert.deepEqual(c.env, [
          { name: 'FOO', value: 'a=b' },
          { name: 'BAR', value: '' }
        ])
    },
    {
      name: 'db_* with the proxy',
      raw: {
        ...minimal,
        db_user: 'app',
        db_password: 'p@ss:w/rd',
        db_name: 'noesis2',
        cloud_sql_instance: 'proj-1x:europe-west3:main'
      },
      check: c => {
        assert.deepEqual(c.database, {
          user: 'app',
          password: 'p@ss:w/rd',
          name: 'noesis2',
          host: '127.0.0.1',
          port: 5432
        })
        assert.deepEqual(c.secretData, [])
      }
    },
    {
      name: 'db_* with db_host and no proxy',
      raw: { ...minimal, db_user: 'app', db_password: 'pw', db_name: 'n', db_host: '10.1.2.3:6432' },
      check: c => assert.deepEqual([c.database?.host, c.database?.port], ['10.1.2.3', 6432])
    },
    {
      name: 'smoke_checks list',
      raw: { ...minimal, smoke_checks: 'worker,celery-ping' },
      check: c => assert.deepEqual(c.smokeChecks, ['worker', 'celery-ping'])
    },
    {
      name: 'smoke_checks false',
      raw: { ...minimal, smoke_checks: 'false' },
      check: c => assert.deepEqual(c.smokeChecks, [])
    },
    {
      name: 'beat false drops the beat check',
      raw: { ...minimal, beat: 'false' },
      check: c => assert.ok(!c.smokeChecks.includes('beat'))
    }
  ]
  for (const c of cases) test(c.name, () => c.check(parseInputs(c.raw, { eventName: 'push' })))

  test('dry_run auto is true on pull_request and false on push', () => {
    assert.equal(parseInputs(minimal, { eventName: 'pull_request' }).dryRun, true)
    assert.equal(parseInputs(minimal, { eventName: 'pull_request_target' }).dryRun, true)
    assert.equal(parseInputs(minimal, { eventName: 'workflow_dispatch' }).dryRun, false)
    assert.equal(parseInputs({ ...minimal, dry_run: 'true' }, { eventName: 'push' }).dryRun, true)
    assert.equal(parseInputs({ ...minimal, dry_run: 'false' }, { eventName: 'pull_request' }).dryRun, false)
  })
})

describe('parseInputs: rejected values name the input, the value and the rule', () => {
  const cases: Array<{ name: string; raw: RawInputs; expect: RegExp }> = [
    { name: 'missing image', raw: {}, expect: /^image: is required/ },
    {
      name: 'YAML injection in image',
      raw: { image: 'app:v1\nkind: ClusterRole' },
      expect: /^image: "app:v1\\nkind: ClusterRole" is not a full image reference/
    },
    {
      name: 'image without registry',
      raw: { image: 'app:v1' },
      expect: /^image: "app:v1" is not a full image reference/
    },
    {
      name: 'image without tag or digest',
      raw: { image: 'gcr.io/p/app' },
      expect: /^image: "gcr.io\/p\/app" is not a full image reference/
    },
    {
      name: 'image with space',
      raw: { image: 'gcr.io/p/foo bar:1' },
      expect: /^image: "gcr.io\/p\/foo bar:1"/
    },
    { name: 'short digest', raw: { image: 'gcr.io/p/app@sha256:abc' }, expect: /^image:/ },
    {
      name: 'uppercase namespace',
      raw: { ...minimal, namespace: 'Prod' },
      expect: /^namespace: "Prod" is not a valid DNS-1123 label/
    },
    {
      name: 'namespace too long',
      raw: { ...minimal, namespace: 'a'.repeat(64) },
      expect: /^namespace: .* at most 63/
    },
    {
      name: 'service account with underscore',
      raw: { ...minimal, service_account: 'worker_sa' },
      expect: /^service_account: "worker_sa" is not a valid DNS-1123 subdomain/
    },
    { name: 'secret name uppercase', raw: { ...minimal, secret_name: 'App' }, expect: /^secret_name: "App"/ },
    {
      name: 'Cloud SQL two parts',
      raw: { ...minimal, cloud_sql_instance: 'proj:main' },
      expect:
        /^cloud_sql_instance: "proj:main" is not a Cloud SQL instance connection name \(expected PROJECT:REGION:INSTANCE/
    },
    {
      name: 'old placeholder as instance',
      raw: { ...minimal, cloud_sql_instance: 'PROJECT:REGION:INSTANCE' },
      expect: /^cloud_sql_instance:/
    },
    {
      name: 'GSA email',
      raw: { ...minimal, gcp_service_account: 'workers@gmail.com' },
      expect: /^gcp_service_account: "workers@gmail.com" is not a Google service account email/
    },
    {
      name: 'min > max',
      raw: { ...minimal, worker_min_replicas: '6', worker_max_replicas: '5' },
      expect: /^worker_min_replicas: 6 is greater than worker_max_replicas \(5\)/
    },
    {
      name: 'cpu target 0',
      raw: { ...minimal, worker_cpu_target: '0' },
      expect: /^worker_cpu_target: "0" must be a whole number from 1 to 100/
    },
    {
      name: 'cpu target 101',
      raw: { ...minimal, worker_cpu_target: '101' },
      expect: /^worker_cpu_target: "101"/
    },
    {
      name: 'replicas not a number',
      raw: { ...minimal, worker_max_replicas: 'five' },
      expect: /^worker_max_replicas: "five" must be a whole number/
    },
    {
      name: 'concurrency 0',
      raw: { ...minimal, worker_concurrency: '0' },
      expect: /^worker_concurrency: "0"/
    },
    {
      name: 'duration with unit typo',
      raw: { ...minimal, rollout_timeout: '5 min' },
      expect: /^rollout_timeout: "5 min" is not a duration/
    },
    { name: 'duration zero', raw: { ...minimal, rollout_timeout: '0s' }, expect: /^rollout_timeout: "0s"/ },
    {
      name: 'env bad name',
      raw: { ...minimal, env: '1FOO=bar' },
      expect: /^env: line 1: "1FOO" is not a valid environment variable name/
    },
    { name: 'env no equals', raw: { ...minimal, env: 'FOO' }, expect: /^env: line 1 is not KEY=VALUE/ },
    {
      name: 'env duplicate',
      raw: { ...minimal, env: 'A=1\nA=2' },
      expect: /^env: line 2: A is given more than once/
    },
    {
      name: 'secret_data duplicate',
      raw: { ...minimal, secret_data: 'K=1\nK=2' },
      expect: /^secret_data: line 2: K is given more than once/
    },
    {
      name: 'enum dry_run',
      raw: { ...minimal, dry_run: 'maybe' },
      expect: /^dry_run: "maybe" must be one of auto, true, false/
    },
    {
      name: 'enum image_pinning',
      raw: { ...minimal, image_pinning: 'sha256' },
      expect: /^image_pinning: "sha256" must be one of digest, tag/
    },
    {
      name: 'enum cluster_endpoint',
      raw: { ...minimal, cluster_endpoint: 'internal' },
      expect: /^cluster_endpoint: "internal" must be one of public, private, dns/
    },
    {
      name: 'boolean beat',
      raw: { ...minimal, beat: 'yes' },
      expect: /^beat: "yes" must be one of true, false/
    },
    {
      name: 'partial db_*',
      raw: { ...minimal, db_user: 'u', cloud_sql_instance: 'proj-1x:europe-west3:main' },
      expect: /^db_password, db_name: are required/
    },
    {
      name: 'db_* without proxy or host',
      raw: { ...minimal, db_user: 'u', db_password: 'p', db_name: 'n' },
      expect: /^db_host: is required/
    },
    {
      name: 'secret_data duplicates db_*',
      raw: {
        ...minimal,
        db_user: 'u',
        db_password: 'p',
        db_name: 'n',
        cloud_sql_instance: 'proj-1x:europe-west3:main',
        secret_data: 'DATABASE_URL=x'
      },
      expect: /^secret_data: DATABASE_URL is also built from db_user/
    },
    {
      name: 'env collides with secret key',
      raw: { ...minimal, secret_data: 'REDIS_URL=redis://x', env: 'REDIS_URL=y' },
      expect: /^env: REDIS_URL is also a Secret key/
    },
    {
      name: 'cluster without location',
      raw: { ...minimal, cluster_name: 'workers' },
      expect: /^location: is required with cluster_name/
    },
    {
      name: 'location without cluster',
      raw: { ...minimal, location: 'europe-west3' },
      expect: /^cluster_name: is required with location/
    },
    {
      name: 'bad location',
      raw: { ...minimal, cluster_name: 'workers', location: 'Europe' },
      expect: /^location: "Europe" is not a GKE region or zone/
    },
    {
      name: 'bad queue',
      raw: { ...minimal, worker_queues: 'celery,,x' },
      expect: /^worker_queues: .* has an empty queue name/
    },
    {
      name: 'smoke check unknown',
      raw: { ...minimal, smoke_checks: 'worker,http' },
      expect: /^smoke_checks: "worker,http" must be true, false or a comma-separated list/
    },
    {
      name: 'celery app with space',
      raw: { ...minimal, celery_app: 'my app' },
      expect: /^celery_app: "my app" is not a Celery app/
    },
    {
      name: 'proxy image',
      raw: { ...minimal, cloud_sql_proxy_image: 'cloud-sql-proxy' },
      expect: /^cloud_sql_proxy_image: "cloud-sql-proxy"/
    }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const problems = problemsOf(c.raw)
      assert.ok(
        problems.some(p => c.expect.test(p)),
        `no problem matched ${c.expect}; got:\n${problems.join('\n')}`
      )
    })
  }

  test('all problems are reported together', () => {
    const problems = problemsOf({ image: 'bad', namespace: 'Prod', worker_cpu_target: '0', dry_run: 'x' })
    assert.equal(problems.length, 4, problems.join('\n'))
    const error = (() => {
      try {
        parseInputs({ image: 'bad', namespace: 'Prod' }, { eventName: 'push' })
      } catch (e) {
        return e as Error
      }
    })()
    assert.match(error!.message, /^Invalid inputs \(2\):\n {2}- image: .*\n {2}- namespace: /)
  })

  test('a malformed secret_data line is described without quoting it', () => {
    const key = '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ'
    const problems = problemsOf({ ...minimal, secret_data: `{\n${key}=x\n}` })
    assert.ok(
      problems.some(p =>
        /^secret_data: line 2: the text before the first "=" is not a valid environment variable name/.test(p)
      ),
      problems.join('\n')
    )
    for (const p of problems) assert.ok(!p.includes('PRIVATE KEY'), p)
  })

  test('secret values never appear in problems', () => {
    const password = 'hunter2-very-secret'
    const problems = problemsOf({
      ...minimal,
      secret_data: `GOOD=${password}\n9BAD=${password}\nGOOD=${password}\nnoequals${password}`,
      db_user: password
    })
    assert.ok(problems.length >= 3)
    for (const p of problems) assert.ok(!p.includes(password), p)
  })
})

test('secretValuesOf lists raw, base64 and URL-encoded forms for masking', () => {
  const config = parseInputs(
    {
      ...minimal,
      secret_data: 'SECRET_KEY=s3cr3t-key',
      db_user: 'app',
      db_password: 'p@ss:w/rd',
      db_name: 'db',
      cloud_sql_instance: 'proj-1x:europe-west3:main'
    },
    { eventName: 'push' }
  )
  const values = secretValuesOf(
    config,
    new Map([['DATABASE_URL', 'postgresql://app:p%40ss%3Aw%2Frd@127.0.0.1:5432/db']])
  )
  for (const expected of [
    's3cr3t-key',
    'p@ss:w/rd',
    'p%40ss%3Aw%2Frd',
    Buffer.from('p@ss:w/rd').toString('base64'),
    'postgresql://app:p%40ss%3Aw%2Frd@127.0.0.1:5432/db'
  ]) {
    assert.ok(values.includes(expected), `missing ${expected}`)
  }
})

test('secretValuesOf leaves the plain db_name and db_user alone', () => {
  const config = parseInputs(
    {
      ...minimal,
      db_user: 'app_user',
      db_password: 'pw-123',
      db_name: 'noesis2',
      cloud_sql_instance: 'proj-1x:europe-west3:main'
    },
    { eventName: 'push' }
  )
  const values = secretValuesOf(
    config,
    new Map([
      ['DB_NAME', 'noesis2'],
      ['DB_USER', 'app_user']
    ])
  )
  assert.ok(!values.includes('noesis2'))
  assert.ok(!values.includes('app_user'))
  assert.ok(values.includes('pw-123'))
})

test('a secret that equals a plain input is not masked (it would blank the namespace everywhere)', () => {
  const raw = {
    ...minimal,
    namespace: 'noesis2',
    secret_data: 'SECRET_KEY=real-secret-value\nTENANT=noesis2',
    db_user: 'app',
    db_password: 'pw-secret',
    db_name: 'noesis2',
    cloud_sql_instance: 'proj-1x:europe-west3:main'
  }
  const plain = plainInputValues(raw)
  for (const word of ['noesis2', 'app', 'proj-1x:europe-west3:main']) assert.ok(plain.has(word), word)
  assert.ok(!plain.has('real-secret-value') && !plain.has('pw-secret'), 'secret inputs are not plain')
  const values = secretValuesOf(parseInputs(raw, { eventName: 'push' }), new Map(), plain)
  assert.ok(values.includes('real-secret-value'))
  assert.ok(values.includes('pw-secret'))
  assert.ok(!values.includes('noesis2'))
  assert.ok(!isMaskable('noesis2', plain))
  assert.ok(!isMaskable('ab', new Set()), 'two characters are too short to mask')
})

describe('secret values are used exactly as given', () => {
  const cases = [
    { name: 'a space after "="', raw: { secret_data: 'SECRET_KEY= padded' }, key: 'SECRET_KEY' },
    { name: 'spaces at the end', raw: { secret_data: 'SECRET_KEY=padded value  ' }, key: 'SECRET_KEY' },
    { name: 'an env value with a trailing tab', raw: { env: 'MODE=fast\t' }, key: 'MODE' }
  ]
  for (const c of cases) {
    test(`${c.name} is refused, naming the key and not the value`, () => {
      const problems = problemsOf({ ...minimal, ...c.raw })
      const problem = problems.find(p => p.includes(`the value of ${c.key} starts or ends with white space`))
      assert.ok(problem, problems.join('\n'))
      assert.ok(!problem.includes('padded'), problem)
    })
  }
  test('a db_password with a trailing newline is refused without quoting it', () => {
    const problems = problemsOf({
      ...minimal,
      db_user: 'app',
      db_password: 'pw-secret\n',
      db_name: 'db',
      cloud_sql_instance: 'proj-1x:europe-west3:main'
    })
    const problem = problems.find(p => p.startsWith('db_password: starts or ends with white space'))
    assert.ok(problem, problems.join('\n'))
    assert.ok(!problem.includes('pw-secret'))
  })
  test('inner spaces and "=" stay part of the value', () => {
    const config = parseInputs(
      { ...minimal, secret_data: 'SECRET_KEY=two words=and more' },
      { eventName: 'push' }
    )
    assert.equal(config.secretData?.[0].value, 'two words=and more')
  })
})

test('secretForms adds the password of a connection URL, raw and decoded', async () => {
  const { secretForms } = await import('../../src/redact.js')
  const forms = secretForms('postgresql://app:p%40ss%3Aw@10.0.0.3:5432/db')
  assert.ok(forms.includes('p%40ss%3Aw'))
  assert.ok(forms.includes('p@ss:w'))
  assert.ok(!secretForms('plain-value').some(f => f.includes('@')))
})

test('secretForms: every encoding of the value and of a URL password', async () => {
  const { secretForms, createRedactor } = await import('../../src/redact.js')
  const url = 'rediss://default:p%40ss"w\\d@10.0.0.5:6378/0'
  const forms = secretForms(url)
  const password = 'p@ss"w\\d'
  for (const expected of [
    url,
    password,
    Buffer.from(password).toString('base64'),
    encodeURIComponent(password),
    JSON.stringify(password).slice(1, -1),
    JSON.stringify(url).slice(1, -1)
  ]) {
    assert.ok(forms.includes(expected), `missing ${expected}`)
  }
  const redact = createRedactor(forms)
  const leaky = `error: {"password":${JSON.stringify(password)}} b64=${Buffer.from(password).toString('base64')} q=${encodeURIComponent(password)}`
  const redacted = redact(leaky)
  assert.equal(redacted, 'error: {"password":"***"} b64=*** q=***')
})
