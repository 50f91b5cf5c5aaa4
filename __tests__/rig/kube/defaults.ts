import type { JsonObject } from './json.js'
import { ensureObject, isObject } from './json.js'

// Server-side defaulting, matching golden §"Server defaults" so `kubectl diff` is clean right after an apply.

function imagePullPolicy(image: string): string {
  if (image.includes('@')) return 'IfNotPresent'
  const lastSegment = image.slice(image.lastIndexOf('/') + 1)
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : ''
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent'
}

function defaultProbe(p: unknown): void {
  if (!isObject(p)) return
  p.timeoutSeconds ??= 1
  p.periodSeconds ??= 10
  p.successThreshold ??= 1
  p.failureThreshold ??= 3
  if (isObject(p.httpGet)) p.httpGet.scheme ??= 'HTTP'
}

function defaultContainer(c: unknown): void {
  if (!isObject(c)) return
  c.resources ??= {}
  for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe']) defaultProbe(c[p])
  if (Array.isArray(c.ports)) for (const port of c.ports) if (isObject(port)) port.protocol ??= 'TCP'
  if (Array.isArray(c.env))
    for (const e of c.env) {
      const fieldRef = isObject(e) && isObject(e.valueFrom) ? e.valueFrom.fieldRef : undefined
      if (isObject(fieldRef)) fieldRef.apiVersion ??= 'v1'
    }
  c.terminationMessagePath ??= '/dev/termination-log'
  c.terminationMessagePolicy ??= 'File'
  if (typeof c.image === 'string') c.imagePullPolicy ??= imagePullPolicy(c.image)
}

export function defaultPodSpec(spec: JsonObject, isPod: boolean): void {
  if (Array.isArray(spec.volumes))
    for (const v of spec.volumes) {
      if (!isObject(v)) continue
      if (isObject(v.secret)) v.secret.defaultMode ??= 420
      if (isObject(v.configMap)) v.configMap.defaultMode ??= 420
      if (
        !v.secret &&
        !v.configMap &&
        !v.projected &&
        !v.persistentVolumeClaim &&
        !v.csi &&
        !v.ephemeral &&
        !v.hostPath &&
        !v.downwardAPI
      )
        v.emptyDir ??= {}
    }
  for (const list of [spec.initContainers, spec.containers])
    if (Array.isArray(list)) list.forEach(defaultContainer)
  spec.restartPolicy ??= 'Always'
  spec.terminationGracePeriodSeconds ??= 30
  spec.dnsPolicy ??= 'ClusterFirst'
  if (typeof spec.serviceAccountName === 'string') spec.serviceAccount ??= spec.serviceAccountName
  spec.securityContext ??= {}
  spec.schedulerName ??= 'default-scheduler'
  if (isPod) {
    spec.serviceAccountName ??= 'default'
    spec.serviceAccount ??= spec.serviceAccountName
    spec.enableServiceLinks ??= true
    spec.priority ??= 0
    spec.preemptionPolicy ??= 'PreemptLowerPriority'
    spec.tolerations ??= [
      {
        key: 'node.kubernetes.io/not-ready',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300
      },
      {
        key: 'node.kubernetes.io/unreachable',
        operator: 'Exists',
        effect: 'NoExecute',
        tolerationSeconds: 300
      }
    ]
  }
}

function defaultTemplate(spec: JsonObject): void {
  const template = ensureObject(spec, 'template')
  ensureObject(template, 'metadata')
  defaultPodSpec(ensureObject(template, 'spec'), false)
}

export function applyDefaults(obj: JsonObject, kind: string, creating: boolean): void {
  const spec = isObject(obj.spec) ? obj.spec : undefined
  switch (kind) {
    case 'Namespace': {
      const meta = ensureObject(obj, 'metadata')
      const labels = ensureObject(meta, 'labels')
      labels['kubernetes.io/metadata.name'] = meta.name ?? null
      const s = ensureObject(obj, 'spec')
      s.finalizers ??= ['kubernetes']
      const st = ensureObject(obj, 'status')
      st.phase ??= 'Active'
      break
    }
    case 'Deployment': {
      const s = spec ?? ensureObject(obj, 'spec')
      s.replicas ??= 1
      const strategy = ensureObject(s, 'strategy')
      strategy.type ??= 'RollingUpdate'
      if (strategy.type === 'RollingUpdate') {
        const ru = ensureObject(strategy, 'rollingUpdate')
        ru.maxUnavailable ??= '25%'
        ru.maxSurge ??= '25%'
      }
      s.revisionHistoryLimit ??= 10
      s.progressDeadlineSeconds ??= 600
      defaultTemplate(s)
      if (creating) obj.status ??= {}
      break
    }
    case 'ReplicaSet': {
      const s = spec ?? ensureObject(obj, 'spec')
      s.replicas ??= 1
      defaultTemplate(s)
      if (creating) obj.status ??= { replicas: 0 }
      break
    }
    case 'Pod':
      defaultPodSpec(spec ?? ensureObject(obj, 'spec'), true)
      break
    case 'Secret': {
      obj.type ??= 'Opaque'
      if (isObject(obj.stringData)) {
        const data = ensureObject(obj, 'data')
        for (const [k, v] of Object.entries(obj.stringData))
          data[k] = Buffer.from(String(v ?? '')).toString('base64')
        delete obj.stringData
      }
      break
    }
    case 'HorizontalPodAutoscaler': {
      const s = spec ?? ensureObject(obj, 'spec')
      s.minReplicas ??= 1
      s.metrics ??= [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } }
        }
      ]
      if (creating) obj.status ??= { desiredReplicas: 0, currentMetrics: null }
      break
    }
  }
}
