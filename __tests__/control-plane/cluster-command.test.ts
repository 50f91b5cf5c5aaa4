// `npm run cluster`, as a person uses it: the variables it prints are enough to run the action (the bundle, as a
// runner runs it) and kubectl against it; the inputs it names reach its PostgreSQL and Redis, so a deploy's smoke
// checks pass; its control endpoint makes an image's pods crash with a given log, changes what an image's
// exec'd commands see, and lists the API requests the action made.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { startCluster, type Cluster } from '../support/cluster.js'
import { REGISTRY } from '../support/e2e.js'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import {
  DIST_POST,
  createWorkspace,
  runAction,
  type ActionRun,
  type ActionWorkspace
} from '../support/run-action.js'

const run = promisify(execFile)
let cluster: Cluster
let variables: Record<string, string>
const workspaces: ActionWorkspace[] = []
before(async () => {
  cluster = await startCluster()
  variables = Object.fromEntries(cluster.variables)
})
after(async () => {
  await Promise.all(workspaces.map(w => w.remove()))
  await cluster?.stop()
})

async function control(method: string, route: string, body?: object): Promise<unknown> {
  const res = await fetch(`${variables.CLUSTER_CONTROL_URL}${route}`, {
    method,
    ...(body ? { body: JSON.stringify(body) } : {})
  })
  assert.equal(res.status, 200, await res.clone().text())
  return res.json()
}

// The action with nothing but the printed variables (and kubectl on PATH), and inputs a person would give.
async function deploy(namespace: string, image: string): Promise<ActionRun> {
  const workspace = await createWorkspace()
  workspaces.push(workspace)
  const env = { ...variables, PATH: `${cluster.rig.controlPlane.binDir}${path.delimiter}${process.env.PATH}` }
  const result = await runAction({
    inputs: {
      ...EXAMPLE_INPUTS,
      cluster_name: 'workers',
      location: 'europe-west3',
      namespace,
      image,
      cloud_sql_instance: '',
      db_host: variables.DB_HOST,
      db_user: variables.DB_USER,
      db_password: variables.DB_PASSWORD,
      db_name: variables.DB_NAME,
      secret_data: `SECRET_KEY=django-insecure-example-key\nREDIS_URL=${variables.REDIS_URL}`
    },
    env,
    workspace
  })
  assert.equal((await runAction({ inputs: {}, env, entry: DIST_POST, workspace })).exitCode, 0)
  return result
}

describe('npm run cluster', () => {
  test('the printed variables and inputs deploy, with every smoke check passing against its services', async () => {
    for (const name of [
      'KUBECONFIG',
      'GOOGLE_APPLICATION_CREDENTIALS',
      'CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER',
      'ACTIONS_ID_TOKEN_REQUEST_URL',
      'REDIS_URL',
      'DB_HOST',
      'DB_USER',
      'DB_PASSWORD',
      'DB_NAME'
    ]) {
      assert.ok(variables[name], `${name} is printed`)
    }
    const result = await deploy('by-hand', `${REGISTRY}:v1`)
    assert.equal(result.outputs.status, 'deployed', result.stdout)
    const smoke = JSON.parse(result.outputs.smoke_results) as Array<{ name: string; ok: boolean }>
    assert.deepEqual(
      smoke.map(s => `${s.name}:${s.ok}`),
      ['worker-process:true', 'beat-process:true', 'database:true', 'redis:true']
    )
    const pods = await run(
      path.join(cluster.rig.controlPlane.binDir, 'kubectl'),
      ['get', 'pods', '-n', 'by-hand', '-o', 'name'],
      {
        env: { ...process.env, KUBECONFIG: variables.KUBECONFIG, HOME: cluster.rig.directory }
      }
    )
    assert.match(pods.stdout, /pod\/celery-worker-/)
    // What the action asked, method, path and status, from the control endpoint.
    const requests = (await control('GET', '/requests')) as Array<{
      method: string
      path: string
      status: number
    }>
    assert.ok(
      requests.some(
        r =>
          r.method === 'PATCH' &&
          r.path.startsWith('/apis/apps/v1/namespaces/by-hand/deployments/celery-worker') &&
          [200, 201].includes(r.status)
      ),
      JSON.stringify(requests.slice(-5))
    )
  })

  test('a scenario set for an image: its pods crash with the given log, named in the failure', async () => {
    const image = `${REGISTRY}:v2`
    await control('POST', '/scenario', {
      image,
      scenario: 'crash-loop',
      log: 'ImportError: the app set for this image died'
    })
    const result = await deploy('by-hand-crash', image)
    assert.equal(result.outputs.status, 'failed', result.stdout)
    assert.match(result.summary, /container app exits with code 1/)
    assert.match(result.summary, /last log line: ImportError: the app set for this image died/)
  })

  test('an exec override for an image: its pods\u2019 Redis check sees another REDIS_URL, and fails', async () => {
    const image = `${REGISTRY}:v3`
    const wrong = variables.REDIS_URL.replace(/:[^:@/]+@/, ':not-the-password@')
    await control('POST', '/exec', { image, env: { REDIS_URL: wrong } })
    const result = await deploy('by-hand-exec', image)
    assert.equal(result.outputs.status, 'failed', result.stdout)
    const redis = (
      JSON.parse(result.outputs.smoke_results) as Array<{ name: string; ok: boolean; detail: string }>
    ).find(r => r.name === 'redis')
    assert.equal(redis?.ok, false)
    assert.match(redis!.detail, /WRONGPASS/)
  })
})
