// Rendered objects -> multi-document YAML. The default is redacted: Secret values become "***", so the file
// can be kept, uploaded or shown without ever holding a secret.

import { stringify } from 'yaml'
import type { KubeObject } from './kube-object.js'

export const REDACTED = '***'

export function redactSecrets(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret') return object
  const copy = structuredClone(object)
  for (const field of ['stringData', 'data'] as const) {
    const values = copy[field]
    if (values && typeof values === 'object') {
      copy[field] = Object.fromEntries(Object.keys(values).map(key => [key, REDACTED]))
    }
  }
  return copy
}

export function toYamlDocuments(
  objects: KubeObject[],
  options: { redact: boolean } = { redact: true }
): string {
  return objects
    .map(object => stringify(options.redact ? redactSecrets(object) : object, { lineWidth: 0 }))
    .map(text => `---\n${text}`)
    .join('')
}
