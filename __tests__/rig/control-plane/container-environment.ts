// What a kubelet gives a container's process, worked out from the pod as the API server stores it: the
// environment (envFrom, then env in order, `$(VAR)` references expanded as Kubernetes expands them, values from
// Secrets, ConfigMaps and the pod's own fields) and the command line (command and args, expanded the same way).
// The rig's exec'd commands and the container's main process run with these, so a smoke check in "a pod" sees
// exactly what the Deployment defines. What the image adds (PATH, the working directory) comes from the caller.

export interface PodObject {
  metadata: {
    name: string
    namespace: string
    uid: string
    labels?: Record<string, string>
    annotations?: Record<string, string>
  }
  spec: {
    containers: ContainerSpec[]
    initContainers?: ContainerSpec[]
    nodeName?: string
    serviceAccountName?: string
    hostname?: string
  }
  status?: { podIP?: string; hostIP?: string }
}

interface KeyRef {
  name: string
  key: string
  optional?: boolean
}

export interface ContainerSpec {
  name: string
  image: string
  command?: string[]
  args?: string[]
  env?: Array<{
    name: string
    value?: string
    valueFrom?: {
      secretKeyRef?: KeyRef
      configMapKeyRef?: KeyRef
      fieldRef?: { fieldPath: string }
    }
  }>
  envFrom?: Array<{
    prefix?: string
    secretRef?: { name: string; optional?: boolean }
    configMapRef?: { name: string; optional?: boolean }
  }>
}

// A Secret's or ConfigMap's data as plain strings, or undefined when it does not exist.
export interface ConfigSources {
  secret(name: string): Promise<Record<string, string> | undefined>
  configMap(name: string): Promise<Record<string, string> | undefined>
}

export interface ContainerProcess {
  image: string
  env: Record<string, string>
  // command, then args, each `$(VAR)` expanded; empty when the container leaves both to its image
  commandLine: string[]
}

export function findContainer(pod: PodObject, name: string): ContainerSpec | undefined {
  return [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].find(c => c.name === name)
}

// Kubernetes' expansion (k8s.io/kubernetes/third_party/forked/golang/expansion): `$(NAME)` becomes the value of
// a variable defined before it, and stays as written when there is none; `$$` is a literal `$`.
export function expandReferences(text: string, defined: Record<string, string>): string {
  let out = ''
  let checkpoint = 0
  for (let cursor = 0; cursor < text.length; cursor++) {
    if (text[cursor] !== '$' || cursor + 1 >= text.length) continue
    out += text.slice(checkpoint, cursor)
    const rest = text.slice(cursor + 1)
    let advance = 1
    if (rest[0] === '$') {
      out += '$'
    } else if (rest[0] === '(') {
      const close = rest.indexOf(')')
      if (close < 0) {
        out += '$('
      } else {
        const name = rest.slice(1, close)
        out += Object.hasOwn(defined, name) ? defined[name] : `$(${name})`
        advance = close + 1
      }
    } else {
      out += `$${rest[0]}`
    }
    cursor += advance
    checkpoint = cursor + 1
  }
  return out + text.slice(checkpoint)
}

// The downward API's fields a container's env may name (fieldRef.fieldPath).
function podField(pod: PodObject, fieldPath: string): string | undefined {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath)
  if (labelOrAnnotation)
    return pod.metadata[labelOrAnnotation[1] as 'labels' | 'annotations']?.[labelOrAnnotation[2]]
  const fields: Record<string, string | undefined> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace,
    'metadata.uid': pod.metadata.uid,
    'spec.nodeName': pod.spec.nodeName,
    'spec.serviceAccountName': pod.spec.serviceAccountName,
    'status.podIP': pod.status?.podIP,
    'status.hostIP': pod.status?.hostIP
  }
  return fields[fieldPath]
}

export async function containerProcess(
  pod: PodObject,
  container: ContainerSpec,
  sources: ConfigSources
): Promise<ContainerProcess> {
  // The container runtime names the host; the pod's own env may say otherwise.
  const env: Record<string, string> = { HOSTNAME: pod.spec.hostname ?? pod.metadata.name }
  for (const from of container.envFrom ?? []) {
    const data = from.secretRef
      ? await sources.secret(from.secretRef.name)
      : from.configMapRef
        ? await sources.configMap(from.configMapRef.name)
        : undefined
    for (const [key, value] of Object.entries(data ?? {})) env[`${from.prefix ?? ''}${key}`] = value
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom
    let value: string | undefined
    if (from?.secretKeyRef) value = (await sources.secret(from.secretKeyRef.name))?.[from.secretKeyRef.key]
    else if (from?.configMapKeyRef)
      value = (await sources.configMap(from.configMapKeyRef.name))?.[from.configMapKeyRef.key]
    else if (from?.fieldRef) value = podField(pod, from.fieldRef.fieldPath)
    else value = expandReferences(variable.value ?? '', env)
    // A missing optional key leaves the variable out, as the kubelet does.
    if (value !== undefined) env[variable.name] = value
  }
  const commandLine = [...(container.command ?? []), ...(container.args ?? [])].map(part =>
    expandReferences(part, env)
  )
  return { image: container.image, env, commandLine }
}
