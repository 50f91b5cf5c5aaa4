// Dry run against the cluster: what a deploy would do to each object, a diff of the non-Secret objects, and
// the Secret keys it would add or remove. Nothing is persisted, and no Secret value is ever read: Secrets are
// left out of the server-side dry run (its answer would carry them) and their key names are read alone.
//
// Two ways to plan, by what the identity may do. One that may patch gets a server-side dry run (admission,
// validation and defaults consulted) and `kubectl diff`. A pull-request planner with get/list only gets the
// rendered objects compared with the live ones, and the plan says admission was not consulted.

import { behaviourChanges, type BehaviourChange } from './behaviour-changes.js'
import { dryRunCompare, unifiedDiff } from './plan-compare.js'
import type { Kubectl } from '../kube/kubectl.js'
import type { DeployConfig } from '../inputs.js'
import { serverSideApply, FIELD_MANAGER, type AppliedObject } from '../kube/apply.js'
import { getLiveObjects, namespaceExists, type LiveObjectMeta } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { KubeObject } from '../k8s/kube-object.js'
import type { RenderedManifests, RetiredObject } from '../render/render-manifests.js'
import { findRetiring } from '../deploy/retire-autoscalers.js'
import { redactSecrets, toKubectlInput, toPortableYaml } from '../k8s/serialize.js'
import { canI } from '../deploy/preflight.js'
import { whoNeeds } from '../render/checks.js'
import { keepLiveTraceAnnotations } from '../deploy/trace-annotations.js'
import { keysPodsRead, podsRead } from '../deploy/secret-readers.js'
import type { ImageCheck } from '../deploy/image-preflight.js'
import { planImage, type PlanImage } from './plan-image.js'

export interface SecretKeyChange {
  secret: string
  key: string
  change: 'added' | 'removed' | 'written'
  // Whether a pod reads it (env, envFrom, a volume): a key only KEDA reads restarts no pod.
  readByPods?: boolean
}

export type PlanMethod = 'server-side dry run' | 'compared with the live objects'

export interface ClusterPlan {
  namespaceExists: boolean
  method?: PlanMethod
  actions: AppliedObject[]
  // Unified diff of live vs. would-be objects, Secrets left out; empty when nothing would change.
  diff: string
  // Keys of the Secrets the deploy writes: added, removed, or written again (values are not compared).
  secretChanges: SecretKeyChange[]
  // What would change in the workers' behaviour, for reviewers first.
  behaviour: BehaviourChange[]
  // Autoscalers of another `autoscaling` choice that the deploy would delete.
  retired: RetiredObject[]
  // The image in its registry, as a deploy would resolve and pin it (absent: not asked).
  image?: PlanImage
  warnings: string[]
  problems: string[]
  notes: string[]
}

const NOT_READ =
  'A dry run never reads Secret values: which values changed is known only on deploy, which then restarts the pods if one did'

export async function planAgainstCluster(
  kubectl: Kubectl,
  rendered: RenderedManifests,
  config: DeployConfig,
  redact: Redact,
  // The registry check, started by the caller so that it runs beside the reads below.
  options: { image?: Promise<ImageCheck> } = {}
): Promise<ClusterPlan> {
  const namespace = config.namespace
  const rawObjects = rendered.objects.map(o => o.object)
  const secrets = rawObjects.filter(o => o.kind === 'Secret')
  const notes: string[] = []
  const problems: string[] = []
  // The objects as a deploy would send them: the image pinned as the registry check decides.
  const pin = async (
    live: Map<string, LiveObjectMeta>
  ): Promise<{ objects: KubeObject[]; image?: PlanImage }> => {
    const check = await options.image
    if (!check) return { objects: rawObjects }
    const planned = planImage(rawObjects, config, check, live)
    if (planned.plan.problem) problems.push(planned.plan.problem)
    if (planned.plan.note) notes.push(planned.plan.note)
    return { objects: planned.objects, image: planned.plan }
  }
  const exists = await namespaceExists(kubectl, namespace)
  if (!exists) {
    const { objects, image } = await pin(new Map())
    const others = objects.filter(o => o.kind !== 'Secret')
    // A dry-run create inside a namespace that exists only in the same dry run fails on a real server, so the
    // objects in it can only be listed, not diffed.
    notes.push(`Namespace ${namespace} does not exist yet: every object would be created`)
    if (rendered.liveSecretKeys.length + rendered.liveSecrets.length > 0) {
      problems.push(
        `the Secret the Deployments need does not exist (namespace ${namespace} is new); give secret_data`
      )
    }
    const secretChanges = secrets.flatMap(s =>
      secretKeysOf(s).map(key => ({ secret: s.metadata.name, key, change: 'added' as const }))
    )
    return {
      namespaceExists: false,
      behaviour: behaviourChanges(others, new Map(), secretChanges),
      retired: [],
      ...(image ? { image } : {}),
      actions: objects.map(o => ({
        kind: o.kind,
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        action: 'created' as const,
        podTemplateChanged: true,
        applied: redactSecrets(o) as unknown as LiveObjectMeta
      })),
      diff: '',
      secretChanges,
      warnings: [],
      problems,
      notes
    }
  }

  const liveKeys = await readSecretKeys(kubectl, namespace, [
    ...new Set([
      ...secrets.map(s => s.metadata.name),
      ...rendered.liveSecretKeys.map(k => k.secret),
      ...rendered.liveSecrets.map(s => s.secret)
    ])
  ])
  const deployments = rawObjects.filter(o => o.kind === 'Deployment')
  const secretChanges = secrets.flatMap(secret =>
    secretKeyChanges(secret, liveKeys.get(secret.metadata.name)).map(change => ({
      ...change,
      readByPods: podsRead(keysPodsRead(deployments, change.secret), change.key)
    }))
  )
  for (const [name, keys] of liveKeys) {
    if (keys === 'forbidden') {
      notes.push(
        `Secret ${name}: the plan identity may not read it, so its keys were not checked (the deploy's pre-flight checks them)`
      )
    }
  }
  problems.push(...missingLiveKeys(rendered, liveKeys, namespace))
  if (secrets.length > 0) notes.push(NOT_READ)

  const before = await getLiveObjects(kubectl, toKubectlInput(rawObjects.filter(o => o.kind !== 'Secret')))
  const { objects, image } = await pin(before)
  const others = objects.filter(o => o.kind !== 'Secret')
  // After that read: its discovery, cached for the run, says whether KEDA's kinds are served.
  const retirePlan = await findRetiring(kubectl, rendered, config)
  problems.push(...retirePlan.conflicts)
  notes.push(...retirePlan.warnings)
  const retiredLive = retirePlan.retiring.map(r => r.live)
  const mayPatch = await canI(kubectl, { verb: 'patch', resource: 'deployments.apps', namespace })
  const secretWritten = secretChanges.some(c => c.readByPods !== false)
  const plan = mayPatch.allowed
    ? await serverSidePlan(kubectl, others, before, redact, secretWritten)
    : comparedPlan(others, before, redact, secretWritten)
  if (!mayPatch.allowed) {
    notes.push(
      `The plan identity may not patch deployments.apps in namespace ${namespace}${mayPatch.reason ? ` (${mayPatch.reason})` : ''}: ` +
        'the plan compares the rendered objects with the live ones (get/list only); admission and validation were not consulted'
    )
  }
  return {
    namespaceExists: true,
    method: mayPatch.allowed ? 'server-side dry run' : 'compared with the live objects',
    ...plan,
    secretChanges,
    behaviour: behaviourChanges(others, before, secretChanges, retiredLive),
    retired: retirePlan.retiring.map(({ live: _live, ...retired }) => retired),
    ...(image ? { image } : {}),
    problems,
    notes
  }
}

async function serverSidePlan(
  kubectl: Kubectl,
  objects: KubeObject[],
  before: Map<string, LiveObjectMeta>,
  redact: Redact,
  secretWritten: boolean
): Promise<Pick<ClusterPlan, 'actions' | 'diff' | 'warnings'>> {
  const dryRun = await serverSideApply(kubectl, objects, before, { dryRun: true })
  const rolls = new Set(
    dryRun.objects.filter(a => a.kind === 'Deployment' && a.podTemplateChanged).map(a => a.name)
  )
  // As a deploy would: Deployments that do not roll keep their live trace annotations (no diff noise).
  const comparable = keepLiveTraceAnnotations(objects, before, name => rolls.has(name) || secretWritten)
  const diff = await kubectl.run(
    ['diff', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
    { stdin: toKubectlInput(comparable), okExitCodes: [0, 1] }
  )
  // What each object would see from the apply a deploy would really send (trace annotations kept).
  const actions = comparable.some((o, i) => o !== objects[i])
    ? (await serverSideApply(kubectl, comparable, before, { dryRun: true })).objects
    : dryRun.objects
  return { actions, diff: redact(diff.stdout), warnings: dryRun.warnings }
}

// The read-only plan: each rendered object against the live one, field by field for the fields the action
// sets (the live object also has the server's defaults and other managers' fields, which no apply touches).
function comparedPlan(
  objects: KubeObject[],
  before: Map<string, LiveObjectMeta>,
  redact: Redact,
  secretWritten: boolean
): Pick<ClusterPlan, 'actions' | 'diff' | 'warnings'> {
  const first = objects.map(object => dryRunCompare(object, before))
  const rolls = new Set(first.filter(c => c.podTemplateChanged).map(c => c.object.metadata.name))
  const comparable = keepLiveTraceAnnotations(objects, before, name => rolls.has(name) || secretWritten)
  const compared = comparable.map(object => dryRunCompare(object, before))
  const diff = compared
    .filter(c => c.action === 'configured')
    .map(c =>
      unifiedDiff(
        toPortableYaml(c.liveProjection),
        toPortableYaml(c.object),
        `live/${c.object.kind}/${c.object.metadata.name}`,
        `rendered/${c.object.kind}/${c.object.metadata.name}`
      )
    )
    .join('')
  return {
    actions: compared.map(c => ({
      kind: c.object.kind,
      name: c.object.metadata.name,
      namespace: c.object.metadata.namespace,
      action: c.action,
      podTemplateChanged: c.podTemplateChanged,
      applied: c.object as unknown as LiveObjectMeta
    })),
    diff: redact(diff),
    warnings: []
  }
}

function secretKeysOf(secret: KubeObject): string[] {
  return Object.keys({
    ...((secret.data as Record<string, string> | undefined) ?? {}),
    ...((secret.stringData as Record<string, string> | undefined) ?? {})
  }).sort()
}

function secretKeyChanges(secret: KubeObject, live: string[] | 'forbidden' | undefined): SecretKeyChange[] {
  const name = secret.metadata.name
  const keys = secretKeysOf(secret)
  if (live === 'forbidden') return keys.map(key => ({ secret: name, key, change: 'written' }))
  const liveKeys = new Set(live ?? [])
  return [
    ...keys.map(key => ({
      secret: name,
      key,
      change: liveKeys.has(key) ? ('written' as const) : ('added' as const)
    })),
    // The action owns the Secret's data (server-side apply): a key it no longer writes is removed.
    ...[...liveKeys]
      .filter(key => !keys.includes(key))
      .sort()
      .map(key => ({ secret: name, key, change: 'removed' as const }))
  ]
}

// The key names of each Secret, never its values: kubectl fetches the Secret and prints only the keys, so no
// value reaches this process. undefined: the Secret does not exist; 'forbidden': the identity may not read it.
async function readSecretKeys(
  kubectl: Kubectl,
  namespace: string,
  names: string[]
): Promise<Map<string, string[] | 'forbidden' | undefined>> {
  const keys = new Map<string, string[] | 'forbidden' | undefined>()
  for (const name of names) {
    const allowed = await canI(kubectl, { verb: 'get', resource: 'secrets', namespace })
    if (!allowed.allowed) {
      keys.set(name, 'forbidden')
      continue
    }
    const result = await kubectl.run([
      'get',
      'secret',
      name,
      '-n',
      namespace,
      '--ignore-not-found',
      '-o',
      'go-template={{range $key, $value := .data}}{{$key}}{{"\\n"}}{{end}}'
    ])
    const text = result.stdout.trim()
    keys.set(name, text === '' ? undefined : text.split('\n'))
  }
  return keys
}

function missingLiveKeys(
  rendered: RenderedManifests,
  liveKeys: Map<string, string[] | 'forbidden' | undefined>,
  namespace: string
): string[] {
  const problems: string[] = []
  for (const secret of new Set([
    ...rendered.liveSecretKeys.map(k => k.secret),
    ...rendered.liveSecrets.map(s => s.secret)
  ])) {
    const keys = liveKeys.get(secret)
    if (keys === 'forbidden') continue
    if (keys === undefined) {
      problems.push(
        `Secret ${secret} does not exist in namespace ${namespace}; give secret_data (and db_*) so the action writes it, or create it first`
      )
      continue
    }
    for (const reference of rendered.liveSecretKeys.filter(
      k => k.secret === secret && !keys.includes(k.key)
    )) {
      problems.push(
        `${whoNeeds(reference)} needs key ${reference.key} of Secret ${secret}, which the Secret in the cluster lacks`
      )
    }
  }
  return problems
}
