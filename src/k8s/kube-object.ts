// The loose shape of a Kubernetes object as parsed from YAML: what the renderer reads and writes.

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: {
    name: string
    namespace?: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
    [field: string]: unknown
  }
  [field: string]: unknown
}

// Where an object came from, for error messages that point at a file.
export interface TemplateObject {
  file: string
  documentIndex: number
  object: KubeObject
}

export function describeObject(object: KubeObject): string {
  return `${object.kind}/${object.metadata?.name ?? '<unnamed>'}`
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
