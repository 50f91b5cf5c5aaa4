import { createHash } from 'node:crypto'
import { groupVersions } from './resources.js'

// Just enough OpenAPI v3 for kubectl to see that the server validates fields itself: every kind has a PATCH
// operation carrying x-kubernetes-group-version-kind and a `fieldValidation` query parameter. No component
// schemas, so kubectl falls back to its compiled-in types for strategic-merge patches.
function gvPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`
}

const QUERY = ['dryRun', 'fieldManager', 'fieldValidation', 'force'].map(name => ({
  name,
  in: 'query',
  schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true }
}))

export function openapiDocument(group: string, version: string): Record<string, unknown> | undefined {
  const gv = groupVersions().find(g => g.group === group && g.version === version)
  if (!gv) return undefined
  const paths: Record<string, unknown> = {}
  for (const r of gv.resources) {
    const base = `/${gvPath(group, version)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`
    const gvk = { group, version, kind: r.kind }
    const op = (verb: string): Record<string, unknown> => ({
      operationId: `${verb}${r.kind}`,
      'x-kubernetes-action': verb,
      'x-kubernetes-group-version-kind': gvk,
      parameters: QUERY,
      responses: { '200': { description: 'OK' } }
    })
    if (r.verbs.includes('create')) paths[base] = { post: op('post'), get: op('list') }
    if (r.verbs.includes('patch'))
      paths[`${base}/{name}`] = { get: op('get'), put: op('put'), patch: op('patch'), delete: op('delete') }
    // Deviation: create-only kinds (SelfSubjectAccessReview) get a PATCH entry too. A real server has none, so
    // kubectl would validate client-side with protobuf /openapi/v2, which the emulator does not serve.
    else paths[`${base}/{name}`] = { patch: op('patch') }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.4-emulator' },
    paths,
    components: { schemas: {} }
  }
}

export function openapiIndex(): { paths: Record<string, { serverRelativeURL: string }> } {
  const paths: Record<string, { serverRelativeURL: string }> = {}
  for (const gv of groupVersions()) {
    const p = gvPath(gv.group, gv.version)
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${documentHash(gv.group, gv.version)}` }
  }
  return { paths }
}

export function documentHash(group: string, version: string): string {
  return createHash('sha512')
    .update(JSON.stringify(openapiDocument(group, version)))
    .digest('hex')
    .toUpperCase()
}
