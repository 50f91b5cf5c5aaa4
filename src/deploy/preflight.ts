// Checks before any write, so an apply never stops half-way: the live Secret has every key the Deployments
// need (when the action does not write it), and the credentials may do every verb the apply needs.

import { PLAIN_SECRET_KEYS } from '../inputs.js'
import { whoNeeds, type SecretKeyReference } from '../render/checks.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { Kubectl } from '../kube/kubectl.js'
import { getOptionalObject, parseObjects } from '../kube/objects.js'
import { toKubectlInput } from '../k8s/serialize.js'
import { UNDO_SECRET_NAME } from './journal.js'

// One reason the deploy cannot start, with what a report needs to say what to do about it.
export interface PreflightProblem {
  kind:
    | 'forbidden'
    | 'unreadable'
    | 'missing-secret'
    | 'missing-secret-key'
    | 'rejected'
    | 'lock-lost'
    | 'keda-missing'
    | 'autoscaler-conflict'
    | 'api-unavailable'
    | 'image'
  text: string
  // forbidden: the access the deploy credentials lack, and the authorizer's reason if it gave one.
  permission?: Permission & { reason?: string }
  secret?: string
  key?: string
  // missing-secret-key: who needs the key (`Deployment/celery-worker container app`).
  needs?: string
  // image: what the registry check found (image-preflight.ts); registryMessage is the registry's own words.
  image?: {
    outcome: 'not-found' | 'denied' | 'wrong-platform' | 'unreachable'
    cause: string
    remedy: string
    registryMessage?: string
  }
}

export class PreflightError extends Error {
  constructor(
    readonly problems: PreflightProblem[],
    what = 'Pre-flight checks failed'
  ) {
    super(`${what}; nothing was changed:\n${problems.map(p => `  - ${p.text}`).join('\n')}`)
    this.name = 'PreflightError'
  }
}

interface LiveSecret {
  metadata: { name: string }
  data?: Record<string, string>
}

const CORE_KINDS: Record<string, string> = {
  Namespace: 'namespaces',
  ServiceAccount: 'serviceaccounts',
  Secret: 'secrets',
  ConfigMap: 'configmaps',
  Deployment: 'deployments.apps',
  HorizontalPodAutoscaler: 'horizontalpodautoscalers.autoscaling',
  ScaledObject: 'scaledobjects.keda.sh',
  TriggerAuthentication: 'triggerauthentications.keda.sh',
  PodDisruptionBudget: 'poddisruptionbudgets.policy'
}

// Unknown kinds (from users' own templates) get no can-i: their resource name cannot be guessed from the kind
// (NetworkPolicy is networkpolicies), and the server-side dry run before the apply checks their RBAC anyway.
export function resourceOf(kind: string): string | undefined {
  return CORE_KINDS[kind]
}

export async function checkLiveSecrets(
  kubectl: Kubectl,
  namespace: string,
  keys: SecretKeyReference[],
  wholeSecrets: Array<{ object: string; container: string; secret: string }>,
  // The live values reach the pods (and so their logs and errors): the caller masks and redacts them.
  learnSecrets: (values: string[]) => void
): Promise<PreflightProblem[]> {
  const problems: PreflightProblem[] = []
  const secretNames = [...new Set([...keys.map(k => k.secret), ...wholeSecrets.map(s => s.secret)])]
  for (const name of secretNames) {
    // The values are never printed: -o json is parsed here, the values go to the masker, the text is dropped.
    const secret = await getOptionalObject<LiveSecret>(kubectl, 'secret', name, namespace)
    if (secret?.data) {
      learnSecrets(
        Object.entries(secret.data)
          .filter(([key]) => !PLAIN_SECRET_KEYS.includes(key))
          .map(([, value]) => Buffer.from(value, 'base64').toString('utf8'))
      )
    }
    if (!secret) {
      problems.push({
        kind: 'missing-secret',
        secret: name,
        text: `Secret ${name} does not exist in namespace ${namespace}; give secret_data (and db_*) so the action writes it, or create it first`
      })
      continue
    }
    const present = new Set(Object.keys(secret.data ?? {}))
    for (const reference of keys.filter(k => k.secret === name && !present.has(k.key))) {
      problems.push({
        kind: 'missing-secret-key',
        secret: name,
        key: reference.key,
        needs: whoNeeds(reference),
        text: `${whoNeeds(reference)} needs key ${reference.key} of Secret ${name}, which the Secret in the cluster lacks`
      })
    }
  }
  return problems
}

export interface Permission {
  verb: string
  resource: string
  namespace?: string
  // One object only (RBAC's resourceNames).
  name?: string
}

// What a server-side apply of these objects needs, plus what the rollout watch, rollback and smoke checks use.
// Kinds of users' templates are resolved through the cluster's discovery when main.ts read it.
// `get` is not asked: the read of the live objects before any write needs it and says so itself. `create` is
// asked only for the objects that do not exist yet (`exists`, from that read).
export function permissionsFor(
  objects: KubeObject[],
  namespace: string,
  options: {
    smokeChecks: boolean
    // The run writes the Secret: it keeps a copy of the previous values until the release is verified.
    writesSecret?: boolean
    resourceOfKind?: (kind: string, apiVersion: string) => string | undefined
    exists?: (object: KubeObject) => boolean
  }
): Permission[] {
  const wanted: Permission[] = []
  for (const object of objects) {
    const resource = resourceOf(object.kind) ?? options.resourceOfKind?.(object.kind, object.apiVersion)
    if (!resource) continue
    const scope = object.kind === 'Namespace' ? undefined : namespace
    if (!options.exists?.(object)) wanted.push({ verb: 'create', resource, namespace: scope })
    wanted.push({ verb: 'patch', resource, namespace: scope })
  }
  // The rollout watch reads these; the beat guard lists the HorizontalPodAutoscalers. `watch` on replicasets and
  // pods is not required: without it the rollout is followed by lists (slower, more calls), as with an older
  // docs/rbac.yaml.
  wanted.push(
    { verb: 'list', resource: 'deployments.apps', namespace },
    { verb: 'watch', resource: 'deployments.apps', namespace },
    { verb: 'list', resource: 'pods', namespace },
    { verb: 'list', resource: 'replicasets.apps', namespace },
    { verb: 'list', resource: 'events', namespace },
    { verb: 'list', resource: 'horizontalpodautoscalers.autoscaling', namespace }
  )
  if (options.smokeChecks) wanted.push({ verb: 'create', resource: 'pods/exec', namespace })
  // The deploy lock (deploy-lock.ts).
  for (const verb of ['get', 'create', 'update', 'delete']) {
    wanted.push({ verb, resource: 'leases.coordination.k8s.io', namespace })
  }
  // The copy of the Secret's previous values (journal.ts): created before the apply, deleted once verified.
  if (options.writesSecret) {
    wanted.push(
      { verb: 'create', resource: 'secrets', namespace },
      { verb: 'delete', resource: 'secrets', namespace, name: UNDO_SECRET_NAME }
    )
  }
  // rollout undo reads the ReplicaSets (listed above) and patches the Deployment (as the apply does).
  const seen = new Set<string>()
  return wanted.filter(p => {
    const key = `${p.verb} ${p.resource} ${p.namespace ?? ''} ${p.name ?? ''}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

// One access check: `kubectl auth can-i` exits 1 for "no" (an answer) and for a failed request (an error,
// maybe worth retrying), so the output decides. "no - <reason>" when the authorizer gave one (GKE's does).
export async function canI(
  kubectl: Kubectl,
  permission: Permission
): Promise<{ allowed: boolean; reason: string }> {
  const args = ['auth', 'can-i', permission.verb, permission.resource]
  if (permission.namespace) args.push('-n', permission.namespace)
  const result = await kubectl.run(args, {
    okExitCodes: [0, 1],
    accept: r => /^(yes|no)\b/.test(r.stdout.trim())
  })
  const answer = result.stdout.trim()
  return { allowed: /^yes\b/.test(answer), reason: answer.replace(/^(yes|no)\s*-?\s*/, '') }
}

// The access checks, in as few requests as the authorizer allows. One SelfSubjectRulesReview lists what the
// identity may do in the namespace (RBAC states it completely); every namespaced permission its rules grant
// is settled by it. The rest (cluster-scoped ones, whose rules a namespace's review cannot tell apart, and any
// the rules do not grant while the review says it is incomplete, as beside GKE's IAM authorizer) are asked
// one SelfSubjectAccessReview each, in the same kubectl call (kubectl posts each object of the List) and, if
// the rules review leaves some open, one more.
export async function checkPermissions(
  kubectl: Kubectl,
  permissions: Permission[]
): Promise<PreflightProblem[]> {
  if (permissions.length === 0) return []
  const namespaces = [...new Set(permissions.flatMap(p => (p.namespace ? [p.namespace] : [])))]
  // One namespace in practice (the deploy's); with several, access reviews for all.
  const ruled = namespaces.length === 1 ? namespaces[0] : undefined
  const inReview = (p: Permission) => ruled !== undefined && p.namespace === ruled
  const first = await createReviews(kubectl, [
    ...(ruled ? [{ rules: ruled }] : []),
    ...permissions.filter(p => !inReview(p)).map(p => ({ access: p }))
  ])
  const rules = ruled ? (first.shift() as RulesReview | undefined) : undefined
  const answers = new Map<Permission, AccessAnswer | undefined>()
  permissions
    .filter(p => !inReview(p))
    .forEach((p, i) => answers.set(p, first[i] as AccessAnswer | undefined))
  const complete = rules?.status?.incomplete === false && !rules.status.evaluationError
  const open: Permission[] = []
  for (const p of permissions.filter(inReview)) {
    if (rulesGrant(rules, p)) answers.set(p, { status: { allowed: true } })
    else if (complete) answers.set(p, { status: { allowed: false } })
    else open.push(p)
  }
  if (open.length > 0) {
    const asked = await createReviews(
      kubectl,
      open.map(p => ({ access: p }))
    )
    open.forEach((p, i) => answers.set(p, asked[i] as AccessAnswer | undefined))
  }
  const problems: PreflightProblem[] = []
  for (const p of permissions) {
    const answer = answers.get(p)
    if (answer?.status?.allowed) continue
    const reason = answer?.status?.reason?.trim() || undefined
    problems.push({
      kind: 'forbidden',
      permission: { ...p, ...(reason ? { reason } : {}) },
      text: `the deploy credentials may not ${p.verb} ${p.resource}${p.name ? ` ${p.name}` : ''}${p.namespace ? ` in namespace ${p.namespace}` : ' (cluster-wide)'}${reason ? ` (${reason})` : ''}`
    })
  }
  return problems
}

interface AccessAnswer {
  status?: { allowed?: boolean; reason?: string }
}

interface ResourceRule {
  verbs?: string[]
  apiGroups?: string[]
  resources?: string[]
  resourceNames?: string[]
}

interface RulesReview {
  status?: { resourceRules?: ResourceRule[]; incomplete?: boolean; evaluationError?: string }
}

// Whether a rule grants the permission (RBAC's matching: `*` for any verb, group or resource and subresource,
// `*/scale` for any resource's subresource; a rule limited to resourceNames counts only for a permission on one
// of those names).
export function rulesGrant(review: RulesReview | undefined, p: Permission): boolean {
  const attributes = resourceAttributes(p)
  const resource = attributes.subresource
    ? `${attributes.resource}/${attributes.subresource}`
    : attributes.resource
  return (review?.status?.resourceRules ?? []).some(rule => {
    const names = rule.resourceNames ?? []
    if (names.length > 0 && (p.name === undefined || !names.includes(p.name))) return false
    const verbs = rule.verbs ?? []
    const groups = rule.apiGroups ?? []
    const resources = rule.resources ?? []
    return (
      (verbs.includes('*') || verbs.includes(p.verb)) &&
      (groups.includes('*') || groups.includes(attributes.group)) &&
      (resources.includes('*') ||
        resources.includes(resource) ||
        (attributes.subresource !== undefined && resources.includes(`*/${attributes.subresource}`)))
    )
  })
}

// One `kubectl create` of a List of reviews; their answers in the order given.
// --validate=false: a review cannot be validated by the server (it is never stored), and kubectl's own
// validation would list CRDs first, which a deployer may not do (found against a real apiserver).
async function createReviews(
  kubectl: Kubectl,
  reviews: Array<{ rules: string } | { access: Permission }>
): Promise<unknown[]> {
  if (reviews.length === 0) return []
  const objects = reviews.map(r =>
    'rules' in r
      ? {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectRulesReview',
          spec: { namespace: r.rules }
        }
      : {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: resourceAttributes(r.access) }
        }
  )
  const result = await kubectl.run(['create', '--validate=false', '-f', '-', '-o', 'json'], {
    stdin: toKubectlInput(objects)
  })
  return parseObjects(result.stdout)
}

// `deployments.apps`, `pods/exec`, `leases.coordination.k8s.io` as a review's resource attributes.
function resourceAttributes(p: Permission): Record<string, string> {
  const [resourceAndGroup, subresource] = p.resource.split('/')
  const dot = resourceAndGroup.indexOf('.')
  const attributes: Record<string, string> = {
    verb: p.verb,
    resource: dot < 0 ? resourceAndGroup : resourceAndGroup.slice(0, dot),
    group: dot < 0 ? '' : resourceAndGroup.slice(dot + 1)
  }
  if (subresource) attributes.subresource = subresource
  if (p.namespace) attributes.namespace = p.namespace
  if (p.name) attributes.name = p.name
  return attributes
}
