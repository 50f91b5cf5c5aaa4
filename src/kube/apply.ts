// Server-side apply of one phase of objects in one kubectl call, and what it did to each object.

import type { KubeObject } from '../k8s/kube-object.js'
import { toKubectlInput } from '../k8s/serialize.js'
import type { Kubectl } from './kubectl.js'
import { identityKey, parseObjects, type LiveObjectMeta } from './objects.js'

export const FIELD_MANAGER = 'deploy-gke-workers'

export type ApplyAction = 'created' | 'configured' | 'unchanged'

export interface AppliedObject {
  kind: string
  name: string
  namespace?: string
  action: ApplyAction
  // A Deployment's pod template changed, so its pods roll. Not the generation: a real apiserver moves a
  // Deployment's generation on an annotation change too (the trace annotations, say), which rolls nothing.
  podTemplateChanged: boolean
  resourceVersion?: string
  applied: LiveObjectMeta
}

// --force-conflicts: this action owns the fields it sets (a hand edit with `kubectl set image` or the old
// client-side-apply job must not block a deploy); fields it does not set stay with their owners.
// `trusted`: these very objects just passed a server-side dry run with strict field validation, so kubectl need
// not fetch the OpenAPI documents again to ask for it (half the requests of an apply).
export function serverSideApplyArgs(options: { dryRun: boolean; trusted?: boolean }): string[] {
  const args = ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-']
  if (options.dryRun) args.push('--dry-run=server')
  if (options.trusted) args.push('--validate=false')
  return args
}

export interface ApplyResult {
  objects: AppliedObject[]
  // The API server's warnings (e.g. GKE Autopilot adjusting resources), for the summary.
  warnings: string[]
}

export async function serverSideApply(
  kubectl: Kubectl,
  objects: KubeObject[],
  before: Map<string, LiveObjectMeta>,
  options: { dryRun: boolean; trusted?: boolean }
): Promise<ApplyResult> {
  // The objects (Secret values included) travel on stdin only: never a file, never an argument.
  const result = await kubectl.run([...serverSideApplyArgs(options), '-o', 'json'], {
    stdin: toKubectlInput(objects)
  })
  return {
    objects: parseObjects(result.stdout).map(applied => describeApply(applied, before)),
    warnings: result.stderr
      .split('\n')
      .filter(line => line.startsWith('Warning:'))
      .map(line => line.replace(/^Warning:\s*/, ''))
  }
}

export function describeApply(applied: LiveObjectMeta, before: Map<string, LiveObjectMeta>): AppliedObject {
  const key = identityKey({
    kind: applied.kind,
    name: applied.metadata.name,
    namespace: applied.metadata.namespace
  })
  const previous = before.get(key)
  // The content decides, not the resourceVersion: a controller's status write (the HPA's every sync) between
  // the read and the apply moves it though the apply changed nothing; a dry run never moves it at all.
  const same =
    previous !== undefined &&
    JSON.stringify(sortedKeys(comparable(previous))) === JSON.stringify(sortedKeys(comparable(applied)))
  const action: ApplyAction = !previous ? 'created' : same ? 'unchanged' : 'configured'
  return {
    kind: applied.kind,
    name: applied.metadata.name,
    namespace: applied.metadata.namespace,
    action,
    podTemplateChanged: applied.kind === 'Deployment' && podTemplateChangedBetween(previous, applied),
    resourceVersion: applied.metadata.resourceVersion,
    applied
  }
}

// Whether a Deployment's pods roll between two versions of it (undefined: it did not exist).
export function podTemplateChangedBetween(
  before: LiveObjectMeta | undefined,
  after: LiveObjectMeta | undefined
): boolean {
  return podTemplateOf(before) !== podTemplateOf(after)
}

// The pod template as the server holds it (defaults filled in), comparable as text whatever the key order;
// undefined when absent.
function podTemplateOf(object: LiveObjectMeta | undefined): string | undefined {
  const spec = object?.spec as { template?: unknown } | undefined
  return spec?.template === undefined ? undefined : JSON.stringify(sortedKeys(spec.template))
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map(key => [key, sortedKeys((value as Record<string, unknown>)[key])])
  )
}

// The object without what the server rewrites on every write (bookkeeping, status).
export function comparable(object: LiveObjectMeta): unknown {
  const { metadata, status: _status, ...rest } = object
  const {
    managedFields: _managed,
    resourceVersion: _rv,
    generation: _generation,
    ...meta
  } = metadata as Record<string, unknown>
  return { ...rest, metadata: meta }
}
