// Which way a new pod goes, decided when the API server creates it: a mutating admission webhook of the rig,
// called for every pod (as a policy engine's is). It writes what kwok's stages and the real scheduler act on:
//
// - a scenario a test (or `npm run cluster`) set for an image, without renaming it: an annotation naming the
//   scenario marker and the container (kubelet-stages.ts reads it beside the markers in image references);
// - a container whose env names a Secret or ConfigMap (or a key of one) that does not exist: the kubelet cannot
//   create it (CreateContainerConfigError, in the kubelet's words). A kubelet finds this at the container's
//   start and keeps trying; here it is found once, when the pod is created.
// - `unschedulable` and `scale-up` (by marker or set for an image): a node selector for a pool no node has yet,
//   so the real kube-scheduler leaves the pod Pending (Unschedulable, with its own message); for `scale-up` a node
//   of that pool is added a moment later, as Autopilot adds one.

import { createHash } from 'node:crypto'
import { createServer, Agent, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { SCENARIO_MARKERS, SCHEDULING_MARKERS, type ScenarioMarker } from '../scenario-images.js'
import { LOOPBACK_NAMES, makeCertificate, type CertificateAuthority } from '../shared/tls.js'
import { adminReader } from './admin-read.js'
import type { ContainerSpec, PodObject } from './container-environment.js'

export const SCENARIO_ANNOTATION = 'rig.deploy-gke-workers.test/scenario'
export const SCENARIO_CONTAINER_ANNOTATION = 'rig.deploy-gke-workers.test/scenario-container'
export const SCENARIO_MESSAGE_ANNOTATION = 'rig.deploy-gke-workers.test/scenario-message'
// The label of the nodes the rig adds for scale-up pods, and of the node selector they are given.
export const POOL_LABEL = 'rig.deploy-gke-workers.test/pool'

export type SchedulingScenario = (typeof SCHEDULING_MARKERS)[keyof typeof SCHEDULING_MARKERS]
export type PodScenario = ScenarioMarker | SchedulingScenario | 'healthy'

export interface PodScenarios {
  // Pods of this image (as written, or pinned to a digest) created from now on go this way; `healthy` undoes it.
  set(image: string, scenario: PodScenario): void
  // The MutatingWebhookConfiguration that sends the API server's pod creations here.
  configuration: object
  stop(): Promise<void>
}

export interface PodScenarioOptions {
  ca: CertificateAuthority
  apiUrl: string
  adminToken: string
  // Adds a Ready node labelled POOL_LABEL=pool (kwok runs it).
  addNode(pool: string): Promise<void>
  scaleUpMs: number
}

interface AdmissionReview {
  request?: { uid: string; namespace?: string; object?: PodObject }
}

const FATES = new Set<string>(Object.values(SCENARIO_MARKERS))
const SCHEDULING = Object.values(SCHEDULING_MARKERS) as string[]

function imageMatches(image: string, key: string): boolean {
  return image === key || image.startsWith(`${key}@`)
}

// JSON Pointer escaping of a map key (RFC 6901).
const pointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1')

export async function startPodScenarios(options: PodScenarioOptions): Promise<PodScenarios> {
  const byImage = new Map<string, PodScenario>()
  const agent = new Agent({ keepAlive: true, ca: options.ca.certPem })
  const nodesAdded = new Map<string, Promise<void>>()
  const serving = await makeCertificate(options.ca, {
    commonName: 'pod-scenarios',
    subjectAltNames: LOOPBACK_NAMES,
    usage: 'server'
  })

  const read = adminReader({
    apiUrl: options.apiUrl,
    adminToken: options.adminToken,
    agent,
    timeoutMs: 5000
  })
  const get = (apiPath: string) => read<{ data?: Record<string, string> }>(apiPath)

  // The first Secret or ConfigMap (or key) the container's env needs and the namespace lacks, in the kubelet's
  // words (kubelet_pods.go makeEnvironmentVariables).
  const missingConfig = async (namespace: string, container: ContainerSpec): Promise<string | undefined> => {
    const seen = new Map<string, Promise<{ data?: Record<string, string> } | undefined>>()
    const read = (kind: 'secrets' | 'configmaps', name: string) => {
      const key = `${kind}/${name}`
      if (!seen.has(key))
        seen.set(key, get(`/api/v1/namespaces/${namespace}/${kind}/${encodeURIComponent(name)}`))
      return seen.get(key)!
    }
    for (const from of container.envFrom ?? []) {
      const ref = from.secretRef ?? from.configMapRef
      if (!ref || ref.optional) continue
      const kind = from.secretRef ? 'secret' : 'configmap'
      if (!(await read(from.secretRef ? 'secrets' : 'configmaps', ref.name)))
        return `${kind} "${ref.name}" not found`
    }
    for (const variable of container.env ?? []) {
      const secret = variable.valueFrom?.secretKeyRef
      const configMap = variable.valueFrom?.configMapKeyRef
      const ref = secret ?? configMap
      if (!ref || ref.optional) continue
      const object = await read(secret ? 'secrets' : 'configmaps', ref.name)
      if (!object) return `${secret ? 'secret' : 'configmap'} "${ref.name}" not found`
      if (!(ref.key in (object.data ?? {}))) {
        return `couldn't find key ${ref.key} in ${secret ? 'Secret' : 'ConfigMap'} ${namespace}/${ref.name}`
      }
    }
    return undefined
  }

  const scaleUpPool = (namespace: string): string =>
    `scale-up-${createHash('sha256').update(namespace).digest('hex').slice(0, 8)}`

  const decide = async (namespace: string, pod: PodObject): Promise<object[]> => {
    const containers = [
      ...(pod.spec.initContainers ?? []).map(c => ({ container: c, list: 'initContainers' })),
      ...pod.spec.containers.map(c => ({ container: c, list: 'containers' }))
    ]
    const annotations: Record<string, string> = {}
    let pool: string | undefined
    for (const { container } of containers) {
      const set = [...byImage].find(([image]) => imageMatches(container.image, image))?.[1]
      if (set && FATES.has(set) && annotations[SCENARIO_ANNOTATION] === undefined) {
        annotations[SCENARIO_ANNOTATION] = set
        annotations[SCENARIO_CONTAINER_ANNOTATION] = container.name
      }
      const scheduling =
        set && SCHEDULING.includes(set) ? set : SCHEDULING.find(m => container.image.includes(m))
      if (scheduling === SCHEDULING_MARKERS.unschedulable) pool = 'none'
      else if (scheduling === SCHEDULING_MARKERS.scaleUp && pool === undefined) pool = scaleUpPool(namespace)
    }
    if (annotations[SCENARIO_ANNOTATION] === undefined) {
      for (const { container } of containers) {
        const message = await missingConfig(namespace, container)
        if (message === undefined) continue
        annotations[SCENARIO_ANNOTATION] = SCENARIO_MARKERS.configError
        annotations[SCENARIO_CONTAINER_ANNOTATION] = container.name
        annotations[SCENARIO_MESSAGE_ANNOTATION] = message
        break
      }
    }
    const patch: object[] = []
    if (Object.keys(annotations).length > 0) {
      if (!pod.metadata.annotations)
        patch.push({ op: 'add', path: '/metadata/annotations', value: annotations })
      else {
        for (const [key, value] of Object.entries(annotations)) {
          patch.push({ op: 'add', path: `/metadata/annotations/${pointer(key)}`, value })
        }
      }
    }
    if (pool !== undefined) {
      const selector = (pod.spec as { nodeSelector?: Record<string, string> }).nodeSelector
      patch.push(
        selector
          ? { op: 'add', path: `/spec/nodeSelector/${pointer(POOL_LABEL)}`, value: pool }
          : { op: 'add', path: '/spec/nodeSelector', value: { [POOL_LABEL]: pool } }
      )
      if (pool !== 'none' && !nodesAdded.has(pool)) {
        const added = new Promise<void>(resolve => setTimeout(resolve, options.scaleUpMs)).then(() =>
          options.addNode(pool!)
        )
        nodesAdded.set(pool, added)
        added.catch(() => nodesAdded.delete(pool!))
      }
    }
    return patch
  }

  const server: Server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview
      const pod = review.request?.object
      const namespace = review.request?.namespace ?? pod?.metadata.namespace ?? ''
      const answer = (patch: object[], denied?: string): void => {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: review.request?.uid,
              allowed: denied === undefined,
              ...(denied ? { status: { code: 500, message: denied } } : {}),
              ...(patch.length > 0
                ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
                : {})
            }
          })
        )
      }
      if (!pod) return answer([])
      // A failed decision refuses the pod (the controller creates it again): never a pod gone the wrong way.
      decide(namespace, pod).then(
        patch => answer(patch),
        (error: Error) => answer([], `pod scenarios: ${error.message}`)
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    set(image, scenario) {
      if (scenario === 'healthy') byImage.delete(image)
      else byImage.set(image, scenario)
    },
    configuration: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'rig-pod-scenarios' },
      webhooks: [
        {
          name: 'pod-scenarios.rig.deploy-gke-workers.test',
          clientConfig: {
            url: `https://127.0.0.1:${port}/mutate`,
            caBundle: Buffer.from(options.ca.certPem).toString('base64')
          },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          namespaceSelector: {
            matchExpressions: [
              {
                key: 'kubernetes.io/metadata.name',
                operator: 'NotIn',
                values: ['kube-system', 'kube-public']
              }
            ]
          },
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          failurePolicy: 'Fail',
          timeoutSeconds: 10
        }
      ]
    },
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
        agent.destroy()
      })
  }
}
