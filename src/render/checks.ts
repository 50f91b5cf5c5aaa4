// Checks on rendered objects: no template placeholder left anywhere, and every Secret key a container
// needs is provided by the Secret the action writes (or listed for the live-Secret pre-flight).

import { describeObject, isRecord, type KubeObject } from '../k8s/kube-object.js'
import { allContainersOf, podSpecOf } from './workload.js'

// ${NAME} is this project's placeholder; the other two are the old CI job's, which sed used to replace.
const PLACEHOLDERS = [
  /\$\{[A-Za-z0-9_]+\}/,
  /\bPROJECT:REGION:INSTANCE\b/,
  /\bREGION-docker\.pkg\.dev\/PROJECT\//
]

// A field that is nothing but a placeholder (`${SECRET_NAME}`): the action fills it in.
export const PLACEHOLDER_ONLY = /^\$\{[A-Z0-9_]+\}$/

export interface PlaceholderScanOptions {
  // Field paths holding user data (e.g. Secret values), which may legitimately contain "${...}".
  skip?: (path: string, value: unknown) => boolean
}

export function findPlaceholders(
  object: KubeObject,
  options: PlaceholderScanOptions = {}
): Array<{ path: string; placeholder: string }> {
  const found: Array<{ path: string; placeholder: string }> = []
  const visit = (value: unknown, path: string): void => {
    if (options.skip?.(path, value)) return
    if (typeof value === 'string') {
      for (const pattern of PLACEHOLDERS) {
        const match = pattern.exec(value)
        if (match) {
          found.push({ path, placeholder: match[0] })
          return
        }
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, `${path}[${i}]`))
    } else if (isRecord(value)) {
      for (const [key, child] of Object.entries(value)) {
        const childPath = path === '' ? key : `${path}.${key}`
        visit(key, `${childPath} (key)`)
        visit(child, childPath)
      }
    }
  }
  visit(object, '')
  return found
}

export interface SecretKeyReference {
  object: string
  // The container that reads the key, or for a KEDA TriggerAuthentication the parameter it fills.
  container: string
  parameter?: string
  secret: string
  key: string
}

// `Deployment/celery-worker container app`, `TriggerAuthentication/celery-worker-redis parameter password`.
export function whoNeeds(reference: SecretKeyReference): string {
  return reference.parameter !== undefined
    ? `${reference.object} parameter ${reference.parameter}`
    : `${reference.object} container ${reference.container}`
}

// Required (non-optional) Secret keys each workload references through secretKeyRef, and those a KEDA
// TriggerAuthentication hands to its scaler (secretTargetRef has no optional form).
export function requiredSecretKeys(objects: KubeObject[]): SecretKeyReference[] {
  const references: SecretKeyReference[] = []
  for (const object of objects) {
    if (object.kind === 'TriggerAuthentication' && isRecord(object.spec)) {
      const targets = Array.isArray(object.spec.secretTargetRef) ? object.spec.secretTargetRef : []
      for (const target of targets) {
        if (!isRecord(target) || typeof target.name !== 'string' || typeof target.key !== 'string') continue
        references.push({
          object: describeObject(object),
          container: '',
          parameter: String(target.parameter ?? ''),
          secret: target.name,
          key: target.key
        })
      }
      continue
    }
    const podSpec = podSpecOf(object)
    if (!podSpec) continue
    for (const container of allContainersOf(podSpec)) {
      for (const variable of container.env ?? []) {
        const ref = variable.valueFrom?.secretKeyRef
        if (!ref || ref.optional === true || !ref.name || !ref.key) continue
        references.push({
          object: describeObject(object),
          container: container.name,
          secret: ref.name,
          key: ref.key
        })
      }
    }
  }
  return references
}

// Secrets a workload loads whole through envFrom (non-optional): they must exist, whatever their keys.
export function requiredSecretsFromEnvFrom(
  objects: KubeObject[]
): Array<{ object: string; container: string; secret: string }> {
  const required: Array<{ object: string; container: string; secret: string }> = []
  for (const object of objects) {
    const podSpec = podSpecOf(object)
    if (!podSpec) continue
    for (const container of allContainersOf(podSpec)) {
      for (const source of container.envFrom ?? []) {
        if (source.secretRef?.name && source.secretRef.optional !== true) {
          required.push({
            object: describeObject(object),
            container: container.name,
            secret: source.secretRef.name
          })
        }
      }
    }
  }
  return required
}

// Characters kubectl's server-side apply cannot carry. kubectl sends the object as JSON with these written raw,
// and the API server reads that body as YAML: it refuses DEL, the C1 controls and U+FFFE/U+FFFF ("control
// characters are not allowed") and reads NEL (U+0085) as a line break, storing a space. Measured with kubectl
// and kube-apiserver 1.36 (__tests__/control-plane/plan-records.test.ts); the line and paragraph separators,
// the BOM and the C0 controls (JSON escapes those) come through unchanged.
const NOT_APPLICABLE = /[\x7f-\x9f\ufffe\uffff]/

export function findUnapplicableCharacters(object: KubeObject): Array<{ path: string; code: number }> {
  const found: Array<{ path: string; code: number }> = []
  const visit = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      const match = NOT_APPLICABLE.exec(value)
      if (match) found.push({ path, code: match[0].charCodeAt(0) })
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, `${path}[${i}]`))
    } else if (isRecord(value)) {
      for (const [key, child] of Object.entries(value)) {
        const childPath = path === '' ? key : `${path}.${key}`
        visit(key, `${childPath} (key)`)
        visit(child, childPath)
      }
    }
  }
  visit(object, '')
  return found
}
