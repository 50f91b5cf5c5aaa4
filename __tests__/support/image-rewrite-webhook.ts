// A mutating admission webhook that rewrites pods' images, served to the real kube-apiserver: what a policy
// engine or a "registry mirror" webhook does in a real cluster, between the Deployment the action applied and
// the pods the ReplicaSet controller creates. The apiserver calls it over TLS (its CA in the configuration's
// caBundle) for pod creations in one namespace; it replaces every container image that contains `match`.

import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { LOOPBACK_NAMES, makeCertificate, makeCertificateAuthority } from '../rig/shared/tls.js'

export interface ImageRewriteWebhook {
  // The MutatingWebhookConfiguration to apply (as the cluster's administrator).
  configuration: object
  // Pods it rewrote: namespace/generateName…, container, from, to.
  rewrites(): Array<{ container: string; from: string; to: string }>
  stop(): Promise<void>
}

interface AdmissionReview {
  request?: {
    uid: string
    object?: { spec?: { containers?: Array<{ name: string; image?: string }> } }
  }
}

export async function startImageRewriteWebhook(options: {
  name: string
  namespace: string
  match: string
  rewriteTo: string
}): Promise<ImageRewriteWebhook> {
  const ca = await makeCertificateAuthority('image-webhook-ca')
  const serving = await makeCertificate(ca, {
    commonName: 'image-webhook',
    subjectAltNames: LOOPBACK_NAMES,
    usage: 'server'
  })
  const rewrites: Array<{ container: string; from: string; to: string }> = []
  const server: Server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReview
      const containers = review.request?.object?.spec?.containers ?? []
      const patch = containers.flatMap((container, i) => {
        if (!container.image?.includes(options.match)) return []
        rewrites.push({ container: container.name, from: container.image, to: options.rewriteTo })
        return [{ op: 'replace', path: `/spec/containers/${i}/image`, value: options.rewriteTo }]
      })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: {
            uid: review.request?.uid,
            allowed: true,
            ...(patch.length > 0
              ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
              : {})
          }
        })
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const port = (server.address() as AddressInfo).port
  return {
    configuration: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: options.name },
      webhooks: [
        {
          name: `${options.name}.rig.deploy-gke-workers.test`,
          clientConfig: {
            url: `https://127.0.0.1:${port}/mutate`,
            caBundle: Buffer.from(ca.certPem).toString('base64')
          },
          rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': options.namespace } },
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          failurePolicy: 'Fail',
          timeoutSeconds: 5
        }
      ]
    },
    rewrites: () => rewrites.map(r => ({ ...r })),
    stop: () =>
      new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}
