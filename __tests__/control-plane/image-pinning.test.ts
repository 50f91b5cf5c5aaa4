// The image proved before anything rolls and after: dist/ on the real control plane, its registry the real
// CNCF registry reached as europe-west3-docker.pkg.dev through the runner's proxy (HTTPS_PROXY, the CA in
// NODE_EXTRA_CA_CERTS), with the Google stand-in's access tokens, as the action reaches Artifact Registry. No
// test-only switch in the action: the proxy and the CA are what a self-hosted runner behind a proxy has.

import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { startControlPlaneE2E, REGISTRY, type E2E } from '../support/e2e.js'
import { RIG_REGISTRY_HOST } from '../support/rig.js'
import type { Pod } from '../../src/k8s/types.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import { startImageRewriteWebhook } from '../support/image-rewrite-webhook.js'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { cancelLikeGitHub } from '../support/cluster-state.js'
import { waitUntil } from '../rig/control-plane/processes.js'
import os from 'node:os'
import path from 'node:path'

const REPOSITORY = 'noesis2-prod/app/noesis2-web'
const DENIED_REPOSITORY = 'noesis2-prod/private/noesis2-web'
const PUBLIC_REPOSITORY = 'noesis2-prod/public/noesis2-web'
const DEPLOYER = 'deployer@noesis2-prod.iam.gserviceaccount.com'

let e2e: E2E

before(async () => {
  e2e = await startControlPlaneE2E({
    registry: { deniedRepositories: [DENIED_REPOSITORY], publicRepositories: [PUBLIC_REPOSITORY] }
  })
})
after(async () => e2e?.stop())

function registry() {
  const rig = e2e.rig.registry
  assert.ok(rig, 'the registry rig runs')
  return rig
}

async function pushIndex(tag: string, content: string) {
  return registry().pushIndex(`${REGISTRY}:${tag}`, [
    { platform: 'linux/amd64', content },
    { platform: 'linux/arm64', content }
  ])
}

async function deploymentImage(namespace: string, name: string): Promise<string> {
  const deployment = await e2e.rig.kubectlJson<KubeObject>('get', 'deployment', name, '-n', namespace)
  const spec = deployment.spec as {
    template: { spec: { containers: Array<{ name: string; image: string }> } }
  }
  return spec.template.spec.containers.find(c => c.name === 'app')!.image
}

async function appPods(namespace: string): Promise<Pod[]> {
  const list = await e2e.rig.kubectlJson<{ items: Pod[] }>('get', 'pods', '-n', namespace)
  return list.items.filter(p => !p.metadata.deletionTimestamp)
}

// The imageIDs the running pods of a Deployment report for their app container.
async function appImageIds(namespace: string, app: string): Promise<string[]> {
  const pods = (await appPods(namespace)).filter(p => p.metadata.labels?.app === app)
  return pods.map(p => p.status?.containerStatuses?.find(s => s.name === 'app')?.imageID ?? '')
}

async function namespaceExists(namespace: string): Promise<boolean> {
  return (await e2e.rig.kubectl('get', 'namespace', namespace)).code === 0
}

// A run stopped before any write: failed, nothing sent to the namespace, not even the Namespace or the lock.
function assertNothingWritten(run: { exitCode: number; outputs: Record<string, string> }, namespace: string) {
  assert.equal(run.exitCode, 1)
  assert.equal(run.outputs.status, 'failed')
  assert.equal(e2e.writesTo(namespace), 0, 'nothing reached the cluster')
}

describe('the image resolved in its registry, pinned, and proved on the pods', () => {
  test('a good deploy pins the digest, outputs it, and every new pod runs it', async () => {
    const namespace = 'img-good'
    const index = await pushIndex('good1', 'good one')
    const run = await e2e.run(namespace, { image: `${REGISTRY}:good1` })
    assert.equal(run.exitCode, 0, run.stdout + run.stderr)
    assert.equal(run.outputs.status, 'deployed')
    assert.equal(run.outputs.image_digest, index.digest)
    const pinned = `${REGISTRY}:good1@${index.digest}`
    for (const name of ['celery-worker', 'celery-beat']) {
      assert.equal(await deploymentImage(namespace, name), pinned)
    }
    const deployment = await e2e.rig.kubectlJson<KubeObject>(
      'get',
      'deployment',
      'celery-worker',
      '-n',
      namespace
    )
    assert.equal(deployment.metadata.annotations?.['deploy-gke-workers/image'], `${REGISTRY}:good1`)
    assert.equal(deployment.metadata.annotations?.['deploy-gke-workers/image-digest'], index.digest)
    assert.match(
      deployment.metadata.annotations?.['kubernetes.io/change-cause'] ?? '',
      new RegExp(`${index.digest}`)
    )
    const pods = await appPods(namespace)
    assert.ok(pods.length >= 2)
    for (const pod of pods) {
      const app = pod.status?.containerStatuses?.find(s => s.name === 'app')
      assert.equal(app?.imageID, `${RIG_REGISTRY_HOST}/${REPOSITORY}@${index.digest}`)
    }
    assert.match(run.stdout, /Every new pod runs sha256:[a-f0-9]{64} \(\d+ containers checked\)/)
    assert.match(run.summary, /### Image/)
    assert.match(run.summary, new RegExp(`pinned to the digest resolved before any write`))
    // The registry was asked through the runner's proxy, with the Google token (the deployer's principal).
    assert.ok(e2e.rig.proxy.connects().some(c => c.target === `${RIG_REGISTRY_HOST}:443` && c.status === 200))
    assert.ok(
      registry()
        .tokenRequests()
        .some(r => r.who.startsWith('deployer@') && r.granted.length > 0)
    )
  })

  test('a missing tag fails before any write, naming the nearby tags and the push command', async () => {
    const namespace = 'img-missing'
    await pushIndex('v1.4.0', 'v1.4.0')
    await registry().crane(['tag', `${REGISTRY}:v1.4.0`, 'v1.4.1'])
    const run = await e2e.run(namespace, { image: `${REGISTRY}:v1.4.2` })
    assertNothingWritten(run, namespace)
    assert.equal(await namespaceExists(namespace), false, 'not even the Namespace')
    assert.match(run.summary, /image not in the registry|is not in the registry/)
    assert.match(run.summary, /close to it: v1\.4\.1, v1\.4\.0/)
    assert.match(
      run.summary,
      /docker push europe-west3-docker\.pkg\.dev\/noesis2-prod\/app\/noesis2-web:v1\.4\.2/
    )
    assert.match(run.summary, /gcloud auth configure-docker europe-west3-docker\.pkg\.dev/)
    assert.match(run.stdout, /::error title=image%3A image not in the registry::/)
    assert.match(run.summary, /Nothing was changed/)
    assert.equal(run.outputs.image_digest ?? '', '')
  })

  test('a repository the deployer may not read fails before any write, with the reader role as a command', async () => {
    const namespace = 'img-denied'
    const image = `${RIG_REGISTRY_HOST}/${DENIED_REPOSITORY}:v1`
    await registry().pushImage(image, { platform: 'linux/amd64', content: 'private' })
    const run = await e2e.run(namespace, { image })
    assertNothingWritten(run, namespace)
    assert.equal(await namespaceExists(namespace), false)
    assert.match(
      run.stdout,
      new RegExp(
        `gcloud artifacts repositories add-iam-policy-binding private --project=noesis2-prod --location=europe-west3 --member=serviceAccount:${DEPLOYER.replace(/\./g, '\\.')} --role=roles/artifactregistry\\.reader`
      )
    )
    assert.match(run.stdout, /::error title=image%3A may not read the image::/)
  })

  test('an image built only for arm64 fails before any write: the nodes are amd64', async () => {
    const namespace = 'img-arm'
    await registry().pushImage(`${REGISTRY}:arm-only`, { platform: 'linux/arm64', content: 'laptop build' })
    const run = await e2e.run(namespace, { image: `${REGISTRY}:arm-only` })
    assertNothingWritten(run, namespace)
    assert.equal(await namespaceExists(namespace), false)
    assert.match(run.summary, /has no linux\/amd64 image: it offers linux\/arm64/)
    assert.match(run.summary, /docker buildx build --platform linux\/amd64,linux\/arm64 --push/)
    assert.match(run.stdout, /::error title=image%3A image not built for the node platform::/)
  })

  test('an unreachable registry is a warning: the run deploys the tag as given', async () => {
    const namespace = 'img-unreachable'
    // The runner's proxy cannot reach this registry (502), as a firewall would not let it.
    const image = 'europe-west1-docker.pkg.dev/noesis2-prod/app/noesis2-web:v9'
    const run = await e2e.run(namespace, { image })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.equal(run.outputs.image_digest, '')
    assert.match(
      run.stdout,
      /::warning::deploy-gke-workers: The registry europe-west1-docker\.pkg\.dev could not be asked/
    )
    assert.equal(await deploymentImage(namespace, 'celery-worker'), image)
    assert.match(run.summary, /as given, not pinned/)
  })

  test('the registry unreachable on a redeploy of a pinned tag: the running digest is kept, nothing rolls', async () => {
    const namespace = 'img-kept'
    const index = await pushIndex('kept1', 'kept one')
    const first = await e2e.run(namespace, { image: `${REGISTRY}:kept1` })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    e2e.rig.proxy.unroute(`${RIG_REGISTRY_HOST}:443`)
    try {
      const again = await e2e.run(namespace, { image: `${REGISTRY}:kept1` })
      assert.equal(again.exitCode, 0, again.stdout)
      assert.equal(again.outputs.status, 'unchanged')
      assert.match(
        again.stdout,
        /::warning::deploy-gke-workers: The registry europe-west3-docker\.pkg\.dev could not be asked/
      )
      assert.equal(await deploymentImage(namespace, 'celery-worker'), `${REGISTRY}:kept1@${index.digest}`)
      assert.match(again.summary, /kept the digest the running release has for this tag/)
    } finally {
      e2e.rig.proxy.route(`${RIG_REGISTRY_HOST}:443`, registry().address)
    }
  })

  test('a tag pushed again between two deploys: the plan shows same tag, new bytes; the deploy rolls the new bytes', async () => {
    const namespace = 'img-moving'
    const first = await pushIndex('main', 'main at first')
    const deployed = await e2e.run(namespace, { image: `${REGISTRY}:main` })
    assert.equal(deployed.outputs.status, 'deployed', deployed.stdout)
    assert.deepEqual(
      [...new Set(await appImageIds(namespace, 'celery-worker'))],
      [`${RIG_REGISTRY_HOST}/${REPOSITORY}@${first.digest}`]
    )

    const second = await pushIndex('main', 'main rebuilt')
    assert.notEqual(second.digest, first.digest)
    const plan = await e2e.run(namespace, { image: `${REGISTRY}:main`, dry_run: 'true', pr_comment: 'false' })
    assert.equal(plan.outputs.status, 'dry-run', plan.stdout)
    assert.equal(plan.outputs.image_digest, second.digest)
    assert.match(plan.summary, /### What changes in behaviour/)
    assert.match(
      plan.summary,
      new RegExp(
        `${first.digest} \\| ${REGISTRY.replace(/\./g, '\\.').replace(/\//g, '\\/')}:main&#64;${second.digest} \\(same tag main, new bytes\\)`
      )
    )
    assert.match(plan.summary, /Pods would roll: celery-worker, celery-beat/)

    const redeployed = await e2e.run(namespace, { image: `${REGISTRY}:main` })
    assert.equal(redeployed.outputs.status, 'deployed', redeployed.stdout)
    assert.equal(redeployed.outputs.image_digest, second.digest)
    assert.equal(await deploymentImage(namespace, 'celery-worker'), `${REGISTRY}:main@${second.digest}`)
    assert.deepEqual(
      [...new Set(await appImageIds(namespace, 'celery-worker'))],
      [`${RIG_REGISTRY_HOST}/${REPOSITORY}@${second.digest}`]
    )
  })

  test('a rollback after a failed deploy restores the previous digest, though its tag was pushed again since', async () => {
    const namespace = 'img-rollback'
    const good = await pushIndex('rb1', 'release one')
    const first = await e2e.run(namespace, { image: `${REGISTRY}:rb1` })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    // rb1 is rebuilt after its deploy: "the previous tag" now names other bytes than the ones that ran.
    const rebuilt = await pushIndex('rb1', 'release one, rebuilt')
    assert.notEqual(rebuilt.digest, good.digest)
    await pushIndex('rb2-crash-loop', 'release two')
    const failed = await e2e.run(namespace, { image: `${REGISTRY}:rb2-crash-loop` })
    assert.equal(failed.outputs.status, 'rolled-back', failed.stdout)
    for (const name of ['celery-worker', 'celery-beat']) {
      assert.equal(await deploymentImage(namespace, name), `${REGISTRY}:rb1@${good.digest}`)
    }
    const ids = await appImageIds(namespace, 'celery-worker')
    assert.ok(ids.length > 0)
    assert.deepEqual([...new Set(ids)], [`${RIG_REGISTRY_HOST}/${REPOSITORY}@${good.digest}`])
  })

  test('a pod that runs other bytes than the pinned digest fails the verification, named, and is rolled back', async () => {
    const namespace = 'img-rewritten'
    const good = await pushIndex('mm1', 'mm one')
    const first = await e2e.run(namespace, { image: `${REGISTRY}:mm1` })
    assert.equal(first.outputs.status, 'deployed', first.stdout)
    const next = await pushIndex('mm2', 'mm two')
    // Something between the Deployment and the node (a "mirror" webhook) gives mm2's pods other bytes.
    const other = `${REGISTRY}:mm2@${good.manifests[0].digest}`
    const webhook = await startImageRewriteWebhook({
      name: 'image-rewrite',
      namespace,
      match: ':mm2@',
      rewriteTo: other
    })
    await e2e.rig.applyObjects([webhook.configuration])
    try {
      const run = await e2e.run(namespace, { image: `${REGISTRY}:mm2` })
      assert.equal(run.outputs.status, 'rolled-back', run.stdout)
      assert.equal(run.exitCode, 1)
      assert.ok(webhook.rewrites().length > 0, 'the webhook rewrote the new pods')
      assert.match(run.stdout, /::error title=image%3A pods run other bytes than the image resolved::/)
      assert.match(
        run.summary,
        new RegExp(`run other bytes than the image resolved before the deploy \\(${next.digest}\\)`)
      )
      assert.match(
        run.summary,
        /celery-worker-[a-z0-9]+-[a-z0-9]+\/app runs sha256:[a-f0-9]{64} \(its spec says/
      )
      assert.match(run.summary, /mutating admission webhook/)
      assert.equal(await deploymentImage(namespace, 'celery-worker'), `${REGISTRY}:mm1@${good.digest}`)
    } finally {
      await e2e.rig.kubectl('delete', 'mutatingwebhookconfiguration', 'image-rewrite', '--ignore-not-found')
      await webhook.stop()
    }
  })

  test('image_pinning tag: the tag as given, the digest still output, other bytes on the pods a warning only', async () => {
    const namespace = 'img-tag'
    const index = await pushIndex('tagged', 'tag mode')
    const run = await e2e.run(namespace, { image: `${REGISTRY}:tagged`, image_pinning: 'tag' })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.equal(run.outputs.status, 'deployed')
    assert.equal(run.outputs.image_digest, index.digest)
    assert.equal(await deploymentImage(namespace, 'celery-worker'), `${REGISTRY}:tagged`)
    // kwok resolves no tag (it asks no registry): its imageID for a tag-only image is a stand-in digest, as a
    // node that pulled other bytes under the tag would report. In tag mode that is said, not failed.
    assert.match(
      run.stdout,
      /::warning::deploy-gke-workers: \d new pods? runs? other bytes than the image resolved/
    )
    assert.match(run.summary, /each node resolved the tag itself when it pulled/)
  })

  test('cluster_name empty (the kubeconfig in place, no Google credentials): the registry is asked anonymously', async () => {
    const namespace = 'img-anonymous'
    const image = `${RIG_REGISTRY_HOST}/${PUBLIC_REPOSITORY}:v1`
    const index = await registry().pushIndex(image, [{ platform: 'linux/amd64', content: 'public' }])
    const directory = await mkdtemp(path.join(os.tmpdir(), 'img-anonymous-'))
    const kubeconfig = path.join(directory, 'kubeconfig')
    await e2e.rig.controlPlane.writeKubeconfig(kubeconfig)
    const tokenRequests = registry().tokenRequests().length
    try {
      const env: Record<string, string | undefined> = { KUBECONFIG: kubeconfig }
      for (const name of Object.keys(e2e.rig.env)) if (!(name in e2e.rig.networkEnv)) env[name] = undefined
      const run = await e2e.run(namespace, { image, cluster_name: '', location: '' }, { env })
      assert.equal(run.exitCode, 0, run.stdout)
      assert.equal(run.outputs.image_digest, index.digest)
      assert.equal(await deploymentImage(namespace, 'celery-worker'), `${image}@${index.digest}`)
      const asked = registry().tokenRequests().slice(tokenRequests)
      assert.ok(asked.length > 0)
      assert.ok(
        asked.every(r => r.who === 'anonymous'),
        JSON.stringify(asked)
      )
    } finally {
      await rm(directory, { recursive: true, force: true })
    }
  })

  test('cancelled while the registry does not answer: the check stops with the run, nothing written', async () => {
    const namespace = 'img-cancel'
    // A registry that accepts the connection and never says a word (not even its TLS hello).
    const held = new Set<Socket>()
    const silent = createServer(socket => held.add(socket))
    await new Promise<void>(resolve => silent.listen(0, '127.0.0.1', () => resolve()))
    const target = 'europe-west2-docker.pkg.dev:443'
    e2e.rig.proxy.route(target, `127.0.0.1:${(silent.address() as AddressInfo).port}`)
    try {
      const run = await e2e.start(namespace, {
        image: 'europe-west2-docker.pkg.dev/noesis2-prod/app/noesis2-web:v1'
      })
      await waitUntil(
        'the check in flight',
        async () => e2e.rig.proxy.connects().some(c => c.target === target && c.status === 200),
        { timeoutMs: 60_000 }
      )
      const took = await cancelLikeGitHub(run)
      const result = await run.done
      assert.ok(took < 5000, `ended ${took} ms after SIGINT`)
      assert.equal(result.outputs.status, 'cancelled', result.stdout)
      assert.match(
        result.summary,
        /Cancelled \(SIGINT\) during the pre-flight checks, before any change: nothing was changed/
      )
      assert.equal(e2e.writesTo(namespace), 0)
      assert.equal((await run.post()).exitCode, 0)
    } finally {
      e2e.rig.proxy.unroute(target)
      for (const socket of held) socket.destroy()
      await new Promise<void>(resolve => silent.close(() => resolve()))
    }
  })
})
