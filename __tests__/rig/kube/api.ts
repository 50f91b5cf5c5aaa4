import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import YAML from 'yaml'
import { serverSideApply, touchApplyTime } from './apply.js'
import type { Authorizer } from './authz.js'
import { applyDefaults } from './defaults.js'
import type { Json, JsonObject } from './json.js'
import { clone, deepEqual, dropNulls, isObject } from './json.js'
import { managerFromUserAgent, nowSeconds, recordUpdate } from './managed.js'
import {
  applyJsonPatch,
  applyMergePatch,
  applyStrategicMergePatch,
  consumedPatchString,
  stripDirectives
} from './patch.js'
import { decodeSelfSubjectAccessReview } from './protobuf.js'
import type { ResourceType } from './resources.js'
import { apiVersionOf, findResource, groupVersionKind, RESOURCES } from './resources.js'
import { KIND_SCHEMAS } from './schema.js'
import { labelsOf, parseFieldSelector, parseLabelSelector, selectorToString } from './selectors.js'
import * as S from './status.js'
import type { Store } from './store.js'
import { meta } from './store.js'
import { TABLE_CONTENT_TYPE, toTable, wantsTable } from './table.js'
import { strictDecodingMessage, unknownFields, validateObject } from './validation.js'
import { firstTypeMismatch } from './value-types.js'
import { serveWatch } from './watch.js'

export interface ApiContext {
  store: Store
  authz: Authorizer
  // called after every persisted write so controllers react promptly
  wake: () => void
  readLog: (namespace: string, pod: JsonObject, q: URLSearchParams) => string
  // open watch streams, ended by stop()
  watches: Set<ServerResponse>
}

export interface ParsedPath {
  rt: ResourceType
  namespace?: string
  name?: string
  subresource?: string
}

const WITH_STATUS_SUBRESOURCE = new Set([
  'Deployment',
  'ReplicaSet',
  'Pod',
  'HorizontalPodAutoscaler',
  'Namespace'
])

export function parseResourcePath(pathname: string): ParsedPath | undefined {
  const segs = pathname.split('/').filter(Boolean)
  let group = ''
  let version: string
  let rest: string[]
  if (segs[0] === 'api' && segs.length >= 3) {
    version = segs[1]
    rest = segs.slice(2)
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1]
    version = segs[2]
    rest = segs.slice(3)
  } else return undefined
  let namespace: string | undefined
  if (rest[0] === 'namespaces' && rest.length >= 3 && !['status', 'finalize'].includes(rest[2])) {
    namespace = rest[1]
    rest = rest.slice(2)
  }
  const rt = findResource(group, version, rest[0])
  if (!rt || rest.length > 3) return undefined
  if (rt.namespaced && namespace === undefined && rest.length > 1) return undefined
  return { rt, namespace, name: rest[1], subresource: rest[2] }
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers
  })
  res.end(text)
}

function decodeJson(body: Buffer): JsonObject {
  let v: unknown
  try {
    v = JSON.parse(body.toString('utf8'))
  } catch (e) {
    throw S.badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`)
  }
  if (!isObject(v)) throw S.badRequest('the body of the request was not a JSON object')
  return v
}

function decodeYamlOrJson(body: Buffer): JsonObject {
  let v: unknown
  try {
    v = YAML.parse(body.toString('utf8'))
  } catch (e) {
    throw S.badRequest(`error decoding YAML: ${(e as Error).message}`)
  }
  if (!isObject(v)) throw S.badRequest('the body of the request was not an object')
  return v
}

function checkTypeMeta(rt: ResourceType, obj: JsonObject): void {
  const av = apiVersionOf(rt)
  if (obj.apiVersion !== undefined && obj.apiVersion !== av)
    throw S.badRequest(
      `the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${av})`
    )
  if (obj.kind !== undefined && obj.kind !== rt.kind)
    throw S.badRequest(
      `${String(obj.kind)} in version "${rt.version}" cannot be handled as a ${rt.kind}: the object kind does not match`
    )
}

export class ResourceApi {
  constructor(private ctx: ApiContext) {}

  private get store(): Store {
    return this.ctx.store
  }

  async handle(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    p: ParsedPath,
    body: Buffer
  ): Promise<void> {
    const q = url.searchParams
    const { rt, namespace, name, subresource } = p
    const method = req.method ?? 'GET'
    const dryRun = q.getAll('dryRun').includes('All')
    const manager = q.get('fieldManager') ?? managerFromUserAgent(req.headers['user-agent'])

    if (rt.virtual) {
      if (method !== 'POST' || name) throw S.methodNotAllowed()
      if (rt.kind === 'SelfSubjectRulesReview') return this.rulesReview(res, body)
      return this.accessReview(req, res, body, manager)
    }
    if (
      namespace !== undefined &&
      rt.resource === 'pods' &&
      name &&
      subresource === 'log' &&
      method === 'GET'
    )
      return this.podLog(res, rt, namespace, name, q)
    if (subresource === 'exec') throw S.badRequest('Upgrade request required')
    if (subresource === 'scale')
      return this.scale(req, res, rt, namespace ?? '', name ?? '', body, dryRun, manager)
    if (subresource && subresource !== 'status') throw S.pathNotFound()

    const ns = rt.namespaced ? (namespace ?? '') : ''
    switch (method) {
      case 'GET': {
        if (!name) {
          if (q.get('watch') === 'true' || q.get('watch') === '1')
            return serveWatch(
              this.store,
              res,
              rt,
              namespace,
              q,
              this.ctx.watches,
              wantsTable(req.headers.accept)
            )
          const list = this.list(rt, namespace, q)
          if (!wantsTable(req.headers.accept)) return send(res, 200, list)
          const rv = String((list.metadata as JsonObject).resourceVersion)
          return send(res, 200, toTable(rt, list.items as JsonObject[], rv), {
            'Content-Type': TABLE_CONTENT_TYPE
          })
        }
        const one = this.get(rt, ns, name)
        if (!wantsTable(req.headers.accept)) return send(res, 200, one)
        return send(res, 200, toTable(rt, [one], String(meta(one).resourceVersion)), {
          'Content-Type': TABLE_CONTENT_TYPE
        })
      }
      case 'POST':
        if (name) throw S.methodNotAllowed()
        return send(res, 201, this.create(rt, ns, decodeJson(body), q, manager, dryRun))
      case 'PUT': {
        if (!name) throw S.methodNotAllowed()
        return send(res, 200, this.update(rt, ns, name, decodeJson(body), q, manager, dryRun, subresource))
      }
      case 'PATCH': {
        if (!name) throw S.methodNotAllowed()
        const [code, obj] = this.patch(
          rt,
          ns,
          name,
          body,
          String(req.headers['content-type'] ?? ''),
          q,
          manager,
          dryRun,
          subresource
        )
        return send(res, code, obj)
      }
      case 'DELETE': {
        if (!name) return send(res, 200, this.deleteCollection(rt, ns, q, dryRun))
        const [code, obj] = this.delete(rt, ns, name, body, q, dryRun)
        return send(res, code, obj)
      }
      default:
        throw S.methodNotAllowed()
    }
  }

  get(rt: ResourceType, ns: string, name: string): JsonObject {
    const o = this.store.get(rt, ns, name)
    if (!o) throw S.notFound(rt, name)
    return o
  }

  list(rt: ResourceType, namespace: string | undefined, q: URLSearchParams): JsonObject {
    const byLabel = parseLabelSelector(q.get('labelSelector'))
    const byField = parseFieldSelector(q.get('fieldSelector'), rt.kind)
    let items = this.store.list(rt, namespace).filter(o => byLabel(labelsOf(o)) && byField(o))
    const start = q.get('continue')
      ? Number(Buffer.from(q.get('continue') ?? '', 'base64').toString()) || 0
      : 0
    const limit = Number(q.get('limit') ?? 0)
    const listMeta: JsonObject = { resourceVersion: String(this.store.currentRv()) }
    items = items.slice(start)
    if (limit > 0 && items.length > limit) {
      items = items.slice(0, limit)
      listMeta.continue = Buffer.from(String(start + limit)).toString('base64')
      listMeta.remainingItemCount = 0
    }
    for (const i of items) {
      delete i.kind
      delete i.apiVersion
    }
    return { kind: `${rt.kind}List`, apiVersion: apiVersionOf(rt), metadata: listMeta, items }
  }

  private requireNamespace(rt: ResourceType, ns: string, name: string): void {
    if (!rt.namespaced) return
    const nsRt = findResource('', 'v1', 'namespaces') as ResourceType
    const nsObj = this.store.get(nsRt, '', ns)
    if (!nsObj) throw S.namespaceNotFound(ns)
    if (meta(nsObj).deletionTimestamp)
      throw new S.ApiError({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `${rt.resource} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
        reason: 'Forbidden',
        details: { name: ns, kind: 'namespaces' },
        code: 403
      })
  }

  private strictCheck(rt: ResourceType, obj: JsonObject, q: URLSearchParams): string[] {
    // Decoding into the Go type fails on a value of the wrong type whatever the field validation.
    const wrongType = firstTypeMismatch(obj, rt.kind)
    if (wrongType)
      throw S.badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: ${wrongType.decodeMessage}`
      )
    const unknown = unknownFields(obj, rt.kind)
    if (!unknown.length) return []
    const mode = q.get('fieldValidation') ?? 'Warn'
    if (mode === 'Strict')
      throw S.badRequest(
        `${rt.kind} in version "${rt.version}" cannot be handled as a ${rt.kind}: ${strictDecodingMessage(unknown)}`
      )
    return unknown.map(u => u.decodePath)
  }

  create(
    rt: ResourceType,
    ns: string,
    input: JsonObject,
    q: URLSearchParams,
    manager: string,
    dryRun: boolean
  ): JsonObject {
    checkTypeMeta(rt, input)
    const dropped = this.strictCheck(rt, input, q)
    const obj = clone(input)
    dropUnknown(obj, dropped)
    const m = meta(obj)
    if (rt.namespaced) {
      if (m.namespace !== undefined && m.namespace !== ns)
        throw S.badRequest(
          'the namespace of the provided object does not match the namespace sent on the request'
        )
      m.namespace = ns
    } else delete m.namespace
    if (!m.name && typeof m.generateName === 'string') m.name = m.generateName + randomSuffix()
    return this.finishCreate(rt, ns, obj, manager, dryRun, false)
  }

  private finishCreate(
    rt: ResourceType,
    ns: string,
    input: JsonObject,
    manager: string,
    dryRun: boolean,
    applied: boolean
  ): JsonObject {
    const obj = withoutNulls(input)
    const m = meta(obj)
    for (const k of [
      'uid',
      'resourceVersion',
      'creationTimestamp',
      'generation',
      'deletionTimestamp',
      'selfLink'
    ])
      delete m[k]
    if (!applied) delete m.managedFields
    obj.kind = rt.kind
    obj.apiVersion = apiVersionOf(rt)
    applyDefaults(obj, rt.kind, true)
    const causes = validateObject(obj, rt.kind)
    if (causes.length) throw S.invalid(rt, String(m.name ?? ''), causes)
    this.requireNamespace(rt, ns, String(m.name))
    if (this.store.get(rt, ns, String(m.name))) throw S.alreadyExists(rt, String(m.name))
    m.uid = randomUUID()
    m.creationTimestamp = nowSeconds()
    if (rt.hasGeneration) m.generation = 1
    const ordered = orderMeta(obj)
    if (!applied) recordUpdate(undefined, ordered, rt.kind, manager, apiVersionOf(rt))
    if (dryRun) return withTypeFirst(ordered)
    const stored = this.store.put(rt, ordered)
    this.ctx.wake()
    return stored
  }

  update(
    rt: ResourceType,
    ns: string,
    name: string,
    input: JsonObject,
    q: URLSearchParams,
    manager: string,
    dryRun: boolean,
    subresource?: string
  ): JsonObject {
    checkTypeMeta(rt, input)
    const dropped = this.strictCheck(rt, input, q)
    const obj = clone(input)
    dropUnknown(obj, dropped)
    const m = meta(obj)
    if (m.name !== undefined && m.name !== name)
      throw S.badRequest(
        `the name of the object (${String(m.name)}) does not match the name on the URL (${name})`
      )
    const old = this.store.get(rt, ns, name)
    if (!old) throw S.notFound(rt, name)
    if (
      m.resourceVersion !== undefined &&
      m.resourceVersion !== '' &&
      m.resourceVersion !== meta(old).resourceVersion
    )
      throw S.conflictModified(rt, name)
    return this.commitUpdate(rt, old, obj, { manager, dryRun, subresource })
  }

  commitUpdate(
    rt: ResourceType,
    old: JsonObject,
    candidate: JsonObject,
    opts: { manager: string; dryRun: boolean; subresource?: string; applied?: boolean }
  ): JsonObject {
    let obj = withoutNulls(candidate)
    const om = meta(old)
    if (opts.subresource === 'status') {
      obj = { ...clone(old), status: clone(candidate.status ?? {}) }
    } else if (WITH_STATUS_SUBRESOURCE.has(rt.kind)) {
      if (old.status !== undefined) obj.status = clone(old.status)
      else delete obj.status
    }
    const m = meta(obj)
    m.name = om.name
    if (om.namespace !== undefined) m.namespace = om.namespace
    else delete m.namespace
    m.uid = om.uid
    m.creationTimestamp = om.creationTimestamp
    m.resourceVersion = om.resourceVersion
    if (om.deletionTimestamp) m.deletionTimestamp = om.deletionTimestamp
    if (om.deletionGracePeriodSeconds !== undefined)
      m.deletionGracePeriodSeconds = om.deletionGracePeriodSeconds
    if (!opts.applied) m.managedFields = clone(om.managedFields ?? null)
    if (m.managedFields === null) delete m.managedFields
    if (rt.hasGeneration) m.generation = om.generation ?? 1
    else delete m.generation
    obj.kind = rt.kind
    obj.apiVersion = apiVersionOf(rt)
    applyDefaults(obj, rt.kind, false)
    const causes = validateObject(obj, rt.kind, old)
    if (causes.length) throw S.invalid(rt, String(m.name), causes)
    // The Deployment strategy bumps the generation on an annotation change too (annotations are copied to
    // the ReplicaSets); every other kind on a spec change only.
    const annotationsMoved = rt.kind === 'Deployment' && !deepEqual(om.annotations ?? {}, m.annotations ?? {})
    if (rt.hasGeneration && (!deepEqual(old.spec, obj.spec) || annotationsMoved))
      m.generation = Number(om.generation ?? 1) + 1
    if (!opts.applied) recordUpdate(old, obj, rt.kind, opts.manager, apiVersionOf(rt), opts.subresource)
    else touchApplyTime(obj, old, opts.manager)
    const result = withTypeFirst(orderMeta(obj))
    if (deepEqual(result, old)) return old
    if (opts.dryRun) return result
    const stored = this.store.put(rt, result)
    this.ctx.wake()
    return stored
  }

  patch(
    rt: ResourceType,
    ns: string,
    name: string,
    body: Buffer,
    contentType: string,
    q: URLSearchParams,
    manager: string,
    dryRun: boolean,
    subresource?: string
  ): [number, JsonObject] {
    const ct = contentType.split(';')[0].trim()
    if (ct === 'application/apply-patch+yaml')
      return this.applyPatch(rt, ns, name, body, q, dryRun, subresource)
    const old = this.store.get(rt, ns, name)
    const strict = (q.get('fieldValidation') ?? 'Warn') === 'Strict'
    let patched: JsonObject
    if (ct === 'application/json-patch+json') {
      if (!old) throw S.notFound(rt, name)
      patched = applyJsonPatch(old, decodeJsonAny(body))
      const unknown = unknownFields(patched, rt.kind)
      if (unknown.length && strict)
        throw S.invalidPatch(JSON.stringify(patched), strictDecodingMessage(unknown))
    } else if (ct === 'application/merge-patch+json' || ct === 'application/strategic-merge-patch+json') {
      const patchDoc = decodeJson(body)
      if (!old) throw S.notFound(rt, name)
      const schema = KIND_SCHEMAS[rt.kind]
      if (ct === 'application/merge-patch+json') {
        patched = applyMergePatch(old, patchDoc) as JsonObject
        const unknown = unknownFields(patched, rt.kind)
        if (unknown.length && strict)
          throw S.invalidPatch(JSON.stringify(patched), strictDecodingMessage(unknown))
      } else {
        const unknown = unknownFields(stripDirectives(patchDoc) as JsonObject, rt.kind)
        if (unknown.length && strict)
          throw S.invalidPatch(consumedPatchString(patchDoc, schema), strictDecodingMessage(unknown))
        patched = applyStrategicMergePatch(old, patchDoc, schema) as JsonObject
      }
    } else throw S.unsupportedMediaType(contentType)
    const pm = meta(patched)
    if (pm.resourceVersion !== undefined && pm.resourceVersion !== meta(old).resourceVersion)
      throw S.conflictModified(rt, name)
    dropUnknown(
      patched,
      unknownFields(patched, rt.kind).map(u => u.decodePath)
    )
    return [200, this.commitUpdate(rt, old, patched, { manager, dryRun, subresource })]
  }

  private applyPatch(
    rt: ResourceType,
    ns: string,
    name: string,
    body: Buffer,
    q: URLSearchParams,
    dryRun: boolean,
    subresource?: string
  ): [number, JsonObject] {
    const manager = q.get('fieldManager')
    if (!manager)
      throw S.badRequest(
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
      )
    const applied = decodeYamlOrJson(body)
    checkTypeMeta(rt, applied)
    if (!applied.apiVersion || !applied.kind) throw S.badRequest('apiVersion and kind must be set for apply')
    const am = meta(applied)
    if (am.name !== undefined && am.name !== name)
      throw S.badRequest(
        `the name of the object (${String(am.name)}) does not match the name on the URL (${name})`
      )
    const unknown = unknownFields(applied, rt.kind)
    const where = `${rt.namespaced ? `${ns}/` : ''}${name}; ${groupVersionKind(rt)}`
    if (unknown.length)
      throw S.internalNoReason(
        `failed to create typed patch object (${where}): ${unknown[0].smdPath}: field not declared in schema`
      )
    const wrongType = firstTypeMismatch(applied, rt.kind)
    if (wrongType?.smdMessage)
      throw S.internalNoReason(
        `failed to create typed patch object (${where}): ${wrongType.smdPath}: ${wrongType.smdMessage}`
      )
    if (wrongType?.conversionMessage)
      throw S.internalNoReason(
        `failed to convert new object (${where}) to proper version: unable to convert unstructured object to ${groupVersionKind(rt)}: ${wrongType.conversionMessage}`
      )
    const force = q.get('force') === 'true'
    const old = this.store.get(rt, ns, name)
    const merged = serverSideApply(old, applied, {
      kind: rt.kind,
      manager,
      force,
      apiVersion: apiVersionOf(rt)
    })
    const mm = meta(merged)
    mm.name = name
    if (rt.namespaced) mm.namespace = ns
    if (!old) {
      if (subresource) throw S.notFound(rt, name)
      return [201, this.finishCreate(rt, ns, merged, manager, dryRun, true)]
    }
    if (am.resourceVersion !== undefined && am.resourceVersion !== meta(old).resourceVersion)
      throw S.conflictModified(rt, name)
    return [200, this.commitUpdate(rt, old, merged, { manager, dryRun, subresource, applied: true })]
  }

  delete(
    rt: ResourceType,
    ns: string,
    name: string,
    body: Buffer,
    q: URLSearchParams,
    dryRun: boolean
  ): [number, JsonObject] {
    const old = this.store.get(rt, ns, name)
    if (!old) throw S.notFound(rt, name)
    if (dryRun) return [200, old]
    let propagation = q.get('propagationPolicy') ?? ''
    if (body.length) {
      try {
        const opts = JSON.parse(body.toString()) as JsonObject
        if (typeof opts.propagationPolicy === 'string') propagation = opts.propagationPolicy
      } catch {
        // DeleteOptions are optional
      }
    }
    const m = meta(old)
    if (rt.kind === 'Pod' || rt.kind === 'Namespace') {
      if (m.deletionTimestamp) return [200, old]
      m.deletionTimestamp = nowSeconds()
      if (rt.kind === 'Pod') m.deletionGracePeriodSeconds = Number(getPodGrace(old))
      else old.status = { ...(isObject(old.status) ? old.status : {}), phase: 'Terminating' }
      const stored = this.store.put(rt, old)
      this.ctx.wake()
      return [200, stored]
    }
    this.store.remove(rt, ns, name)
    if (propagation === 'Orphan') this.orphanDependents(String(m.uid))
    this.ctx.wake()
    return [
      200,
      {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        details: { name, ...(rt.group ? { group: rt.group } : {}), kind: rt.resource, uid: m.uid ?? null }
      }
    ]
  }

  private orphanDependents(uid: string): void {
    for (const rt of RESOURCES) {
      if (rt.virtual) continue
      for (const o of this.store.list(rt)) {
        const refs = meta(o).ownerReferences
        if (!Array.isArray(refs) || !refs.some(r => isObject(r) && r.uid === uid)) continue
        meta(o).ownerReferences = refs.filter(r => !(isObject(r) && r.uid === uid))
        this.store.put(rt, o)
      }
    }
  }

  private deleteCollection(rt: ResourceType, ns: string, q: URLSearchParams, dryRun: boolean): JsonObject {
    const listed = this.list(rt, rt.namespaced ? ns : undefined, q)
    const items = listed.items as JsonObject[]
    for (const i of items)
      this.delete(rt, ns, String(meta(i).name), Buffer.alloc(0), new URLSearchParams(), dryRun)
    return listed
  }

  private scale(
    req: IncomingMessage,
    res: ServerResponse,
    rt: ResourceType,
    ns: string,
    name: string,
    body: Buffer,
    dryRun: boolean,
    manager: string
  ): void {
    const obj = this.get(rt, ns, name)
    const toScale = (o: JsonObject): JsonObject => ({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name,
        namespace: ns,
        uid: meta(o).uid ?? null,
        resourceVersion: meta(o).resourceVersion ?? null,
        creationTimestamp: meta(o).creationTimestamp ?? null
      },
      spec: { replicas: (o.spec as JsonObject).replicas ?? 1 },
      status: {
        replicas: ((o.status as JsonObject | undefined)?.replicas as number) ?? 0,
        selector: selectorToString((o.spec as JsonObject).selector)
      }
    })
    const current = toScale(obj)
    if (req.method === 'GET') return send(res, 200, current)
    let next: JsonObject
    const ct = String(req.headers['content-type'] ?? '').split(';')[0]
    if (req.method === 'PUT') next = decodeJson(body)
    else if (req.method === 'PATCH' && ct === 'application/json-patch+json')
      next = applyJsonPatch(current, decodeJsonAny(body))
    else if (req.method === 'PATCH') next = applyMergePatch(current, decodeJson(body)) as JsonObject
    else throw S.methodNotAllowed()
    const replicas = (next.spec as JsonObject | undefined)?.replicas
    if (typeof replicas !== 'number' || replicas < 0)
      throw S.invalid({ ...rt, kind: 'Scale', group: 'autoscaling' }, name, [
        {
          type: 'FieldValueInvalid',
          field: 'spec.replicas',
          detail: `Invalid value: ${String(replicas)}: must be greater than or equal to 0`
        }
      ])
    const candidate = clone(obj)
    ;(candidate.spec as JsonObject).replicas = replicas
    const updated = this.commitUpdate(rt, obj, candidate, { manager, dryRun })
    send(res, 200, toScale(updated))
  }

  // Everything is allowed unless denied: as RBAC rules, one rule for everything; with a deny rule the rules
  // cannot say it, so the review is incomplete (as a real one is beside a webhook authorizer) and clients ask
  // SelfSubjectAccessReviews instead.
  private rulesReview(res: ServerResponse, body: Buffer): void {
    const review = decodeJson(body)
    const incomplete = this.ctx.authz.hasDenials()
    send(res, 201, {
      kind: 'SelfSubjectRulesReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {},
      spec: review.spec ?? {},
      status: {
        resourceRules: incomplete ? [] : [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
        nonResourceRules: [],
        incomplete
      }
    })
  }

  private accessReview(req: IncomingMessage, res: ServerResponse, body: Buffer, manager: string): void {
    const ct = String(req.headers['content-type'] ?? '')
    let review: Record<string, unknown>
    try {
      review = ct.includes('protobuf') ? decodeSelfSubjectAccessReview(body) : decodeJson(body)
    } catch (e) {
      if (e instanceof S.ApiError) throw e
      throw S.badRequest(`unable to decode SelfSubjectAccessReview: ${(e as Error).message}`)
    }
    const spec = isObject(review.spec as Json) ? (review.spec as JsonObject) : {}
    const ra = isObject(spec.resourceAttributes) ? spec.resourceAttributes : undefined
    const user = req.headers['impersonate-user'] ? String(req.headers['impersonate-user']) : undefined
    const allowed = ra
      ? this.ctx.authz.allowed({
          verb: String(ra.verb ?? ''),
          resource: String(ra.resource ?? ''),
          namespace: ra.namespace ? String(ra.namespace) : undefined,
          group: String(ra.group ?? ''),
          user
        })
      : true
    const fields: JsonObject = {}
    if (ra) for (const k of Object.keys(ra)) fields[`f:${k}`] = {}
    send(res, 201, {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: {
        managedFields: [
          {
            manager,
            operation: 'Update',
            apiVersion: 'authorization.k8s.io/v1',
            time: nowSeconds(),
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:spec': { 'f:resourceAttributes': { '.': {}, ...fields } } }
          }
        ]
      },
      spec,
      status: { allowed }
    })
  }

  private podLog(res: ServerResponse, rt: ResourceType, ns: string, name: string, q: URLSearchParams): void {
    const pod = this.get(rt, ns, name)
    const text = this.ctx.readLog(ns, pod, q)
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(text) })
    res.end(text)
  }
}

function withoutNulls(o: JsonObject): JsonObject {
  const { status, ...rest } = o
  const out = dropNulls(rest) as JsonObject
  if (status !== undefined) out.status = clone(status)
  return out
}

function getPodGrace(pod: JsonObject): number {
  const g = (pod.spec as JsonObject | undefined)?.terminationGracePeriodSeconds
  return typeof g === 'number' ? g : 30
}

function decodeJsonAny(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (e) {
    throw S.badRequest(`json parse error: ${(e as Error).message}`)
  }
}

function randomSuffix(): string {
  const chars = 'bcdfghjklmnpqrstvwxz2456789'
  let s = ''
  for (let i = 0; i < 5; i++) s += chars[Math.floor(Math.random() * chars.length)]
  return s
}

// Unknown fields are dropped when fieldValidation is Warn/Ignore, as the decoder does.
function dropUnknown(obj: JsonObject, paths: string[]): void {
  for (const p of paths) {
    const parts = p.split('.').flatMap(seg => {
      const m = /^([^[]+)((\[\d+\])*)$/.exec(seg)
      if (!m) return [seg]
      const idx = [...(m[2] ?? '').matchAll(/\[(\d+)\]/g)].map(x => x[1])
      return [m[1], ...idx]
    })
    let cur: Json = obj
    for (const part of parts.slice(0, -1)) {
      if (Array.isArray(cur)) cur = cur[Number(part)]
      else if (isObject(cur)) cur = cur[part]
      if (cur === undefined) break
    }
    if (isObject(cur)) delete cur[parts[parts.length - 1]]
  }
}

const META_ORDER = [
  'name',
  'generateName',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields'
]

// metadata keys in the apiserver's order, so JSON looks like the golden record
function orderMeta(obj: JsonObject): JsonObject {
  const m = meta(obj)
  const out: JsonObject = {}
  for (const k of META_ORDER) if (m[k] !== undefined) out[k] = m[k]
  for (const k of Object.keys(m)) if (!(k in out)) out[k] = m[k]
  obj.metadata = out
  return obj
}

function withTypeFirst(obj: JsonObject): JsonObject {
  const { kind, apiVersion, metadata, ...rest } = obj
  return { kind, apiVersion, metadata, ...rest }
}
