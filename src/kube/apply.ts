// Server-side apply of one phase of objects in one kubectl call, and what it did to each object.

import { stringify } from 'yaml'
import type { KubeObject } from '../render/kube-object.js'
import type { Kubectl } from './kubectl.js'
import { identityKey, parseObjects, type LiveObjectMeta } from './objects.js'

export const FIELD_MANAGER = 'deploy-gke-workers'

export type ApplyAction = 'created' | 'configured' | 'unchanged'

export interface AppliedObject {
  kind: string
  name: string
  namespace?: string
  action: ApplyAction
  // The spec changed (generation moved). For the Deployments this renders, that is the pod template: the
  // worker's replicas belong to the HPA and beat's are fixed, so a moved generation means the pods roll.
  specChanged: boolean
  generationBefore?: number
  generationAfter?: number
  resourceVersion?: string
  applied: LiveObjectMeta
}

export function objectsToYaml(objects: KubeObject[]): string {
  return objects.map(o => `---\n${stringify(o, { lineWidth: 0 })}`).join('')
}

// --force-conflicts: this action owns the fields it sets (a hand edit with `kubectl set image` or the old
// client-side-apply job must not block a deploy); fields it does not set stay with their owners.
export function serverSideApplyArgs(options: { dryRun: boolean }): string[] {
  const args = ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-']
  if (options.dryRun) args.push('--dry-run=server')
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
  options: { dryRun: boolean }
): Promise<ApplyResult> {
  // The YAML (Secret values included) travels on stdin only: never a file, never an argument.
  const result = await kubectl.run([...serverSideApplyArgs(options), '-o', 'json'], {
    stdin: objectsToYaml(objects)
  })
  return {
    objects: parseObjects(result.stdout).map(applied => describeApply(applied, before, options)),
    warnings: result.stderr
      .split('\n')
      .filter(line => line.startsWith('Warning:'))
      .map(line => line.replace(/^Warning:\s*/, ''))
  }
}

export function describeApply(
  applied: LiveObjectMeta,
  before: Map<string, LiveObjectMeta>,
  options: { dryRun: boolean } = { dryRun: false }
): AppliedObject {
  const key = identityKey({
    kind: applied.kind,
    name: applied.metadata.name,
    namespace: applied.metadata.namespace
  })
  const previous = before.get(key)
  // A real no-op apply keeps the resourceVersion; a dry run never moves it, so there the content decides.
  const same = options.dryRun
    ? previous !== undefined && JSON.stringify(comparable(previous)) === JSON.stringify(comparable(applied))
    : previous?.metadata.resourceVersion === applied.metadata.resourceVersion
  const action: ApplyAction = !previous ? 'created' : same ? 'unchanged' : 'configured'
  const generationBefore = previous?.metadata.generation
  const generationAfter = applied.metadata.generation
  return {
    kind: applied.kind,
    name: applied.metadata.name,
    namespace: applied.metadata.namespace,
    action,
    specChanged:
      previous === undefined || (generationAfter !== undefined && generationAfter !== generationBefore),
    generationBefore,
    generationAfter,
    resourceVersion: applied.metadata.resourceVersion,
    applied
  }
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
