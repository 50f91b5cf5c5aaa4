// The deploy itself: pre-flight, the deploy lock, a server-side dry run of everything, ordered server-side
// apply, a real roll when asked, both rollouts watched at once, beat guard, smoke checks; on failure
// diagnostics and rollback. Returns what happened. It throws only while nothing but the Namespace and the lock
// was written (pre-flight, lock, dry run); any later error becomes a failed outcome, rolled back and reported.
// A cancellation (the runner's SIGINT, then SIGTERM 7.5 s later) stops the wait at once; what this run changed
// is then read back from the cluster and its rollback started, the lock released, and the outcome reported as
// cancelled, all well inside those 7.5 s.

import type { DeployConfig } from '../inputs.js'
import { CancelledError, KubectlError, type Kubectl } from '../kube/kubectl.js'
import {
  podTemplateChangedBetween,
  serverSideApply,
  FIELD_MANAGER,
  type AppliedObject
} from '../kube/apply.js'
import { getLiveObjects, identityKey, type LiveObjectMeta, type NamespaceSnapshot } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { KubeObject } from '../render/kube-object.js'
import type { RenderedManifests } from '../render/render-manifests.js'
import { redactSecrets, toKubectlInput } from '../render/serialize.js'
import { renderDiagnosticsText, type ContainerLog } from '../report/diagnostics.js'
import type { Timeline } from '../report/timeline.js'
import type { Event } from '../kube/types.js'
import { checkBeatGuard } from './beat-guard.js'
import { dryRunCompare } from './plan-compare.js'
import { collectLogs, eventsOfThisRun } from './collect-diagnostics.js'
import { acquireDeployLock, LEASE_SECONDS, LOCK_NAME, type LockOwner } from './deploy-lock.js'
import type { PodFailure } from './pod-failures.js'
import {
  checkLiveSecrets,
  checkPermissions,
  permissionsFor,
  resourceOf,
  type PreflightProblem
} from './preflight.js'
import { rollBack, type RollbackStep } from './rollback.js'
import { REVISION_ANNOTATION } from './rollout-state.js'
import { runSmokeChecks } from './run-smoke-checks.js'
import type { SmokeCheckResult } from './smoke-checks.js'
import { keepLiveTraceAnnotations } from './trace-annotations.js'
import { changedKeys, keysPodsRead, podsRead } from './secret-readers.js'
import { isAtZero } from './keda-hold.js'
import { guardKedaRollout } from './keda-rollout.js'
import { kedaFailureHeadline, kedaRefuses, type KedaVerdict } from './keda-verdict.js'
import {
  findRetiring,
  handOverReplicas,
  retireAutoscalers,
  type RetirePlan,
  type RetireStep
} from './retire-autoscalers.js'
import { AUTOSCALING_ANNOTATION } from '../render/render-manifests.js'
import { REDIS_KEYS } from '../render/redis-connection.js'
import { readAutoscaler, type AutoscalerReport } from './autoscaler-status.js'
import { waitForRollouts, type RolloutResult, type WaitOptions } from './wait-rollouts.js'

export type DeployStatus = 'deployed' | 'unchanged' | 'rolled-back' | 'cancelled' | 'failed'

export interface DeployOutcome {
  status: DeployStatus
  headline: string
  // The Deployments by role, for the worker_revision and beat_revision outputs.
  roles: { worker?: string; beat?: string }
  applied: AppliedObject[]
  // Autoscaler objects of an earlier `autoscaling` choice, deleted before the apply.
  retired: RetireStep[]
  // The worker's autoscaler after the deploy, as the cluster reports it.
  autoscaler?: AutoscalerReport
  // KEDA's verdict on the worker's ScaledObject after a good rollout (autoscaling: keda).
  keda?: KedaVerdict[]
  restarted: Array<{ deployment: string; reason: string }>
  rollouts: RolloutResult[]
  rollbackRollouts: RolloutResult[]
  smoke: SmokeCheckResult[]
  beatProblems: string[]
  rollback: RollbackStep[]
  notes: string[]
  // The API server's warnings on apply (GKE Autopilot adjusting resources, deprecations).
  warnings: string[]
  error?: string
  // Set when the run was cancelled: the signal, and the step it was in.
  cancelled?: { reason: string; during: string }
  // What explains a failed rollout: the events of this run's ReplicaSets and pods, failing containers' logs.
  diagnostics?: { events: Event[]; logs: ContainerLog[] }
  // Set when the diagnostics could not be collected.
  diagnosticsError?: string
  failures: PodFailure[]
  revisionsBefore: Record<string, string | undefined>
  revisionsAfter: Record<string, string | undefined>
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

export interface DeployContext {
  kubectl: Kubectl
  config: DeployConfig
  rendered: RenderedManifests
  redact: Redact
  // Secret values learnt from the cluster (the live Secret), for masking and redaction.
  learnSecrets: (values: string[]) => void
  // workflow_dispatch: roll the pods even when the pod template did not change.
  forceRestart: boolean
  // Who holds the deploy lock while this run deploys (shown to a run that finds it taken).
  lockOwner: Omit<LockOwner, 'image'>
  // Aborted when the run is cancelled.
  signal?: AbortSignal
  // The resource (for access checks) of a kind the built-in list does not know, from the cluster's discovery.
  resourceOfKind?: (kind: string, apiVersion: string) => string | undefined
  // Told when this run takes or gives up the deploy lock (the post step releases one left behind).
  onLockHeld?: (held: boolean) => void
  // Each step's start and end, for the run's picture in the job summary.
  timeline?: Timeline
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  log: (line: string) => void
  warn: (line: string) => void
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  pollMs?: number
}

// The order of the apply, one call: each phase's objects exist before the next one refers to them. A new
// Namespace already exists by then (created bare with the deploy lock, which lives in it).
const PHASES: Array<{ name: string; kinds: (kind: string) => boolean }> = [
  { name: 'Namespace', kinds: k => k === 'Namespace' },
  { name: 'ServiceAccount', kinds: k => k === 'ServiceAccount' },
  {
    name: 'Secret and configuration',
    kinds: k => !['Namespace', 'ServiceAccount', 'Deployment', ...AUTOSCALING_KINDS].includes(k)
  },
  { name: 'Deployments', kinds: k => k === 'Deployment' },
  // After the Deployment they scale (KEDA's webhook looks the target up).
  { name: 'Autoscaling', kinds: k => AUTOSCALING_KINDS.includes(k) }
]

const AUTOSCALING_KINDS = ['HorizontalPodAutoscaler', 'ScaledObject', 'PodDisruptionBudget']

// A log group that is also a bar of the run's timeline.
function timedGroup(context: DeployContext, section: string) {
  return <T>(name: string, fn: () => Promise<T>): Promise<T> =>
    context.timeline
      ? context.timeline.time(section, name, () => context.group(name, fn))
      : context.group(name, fn)
}

export async function deploy(context: DeployContext): Promise<DeployOutcome> {
  const { config, rendered, log } = context
  const group = timedGroup(context, 'Before any change')
  // The deploy's own calls stop when the run is cancelled; the clean-up after it (context.kubectl) does not.
  const kubectl = context.signal ? context.kubectl.withSignal(context.signal) : context.kubectl
  const namespace = config.namespace
  const objects = rendered.objects.map(o => o.object)

  const whileIn = (what: string) => (error: unknown) => {
    if (error instanceof CancelledError) error.during ??= what
    throw error
  }
  // Everything as it is now, in one read (before any write: a forbidden read is one more pre-flight problem);
  // read again after the lock only if another deploy held it.
  let readProblem: PreflightProblem | undefined
  const live = await getLiveObjects(kubectl, identityInput(objects)).catch((error: unknown) => {
    if (!(error instanceof KubectlError) || !/forbidden/i.test(error.stderr)) throw error
    readProblem = {
      kind: 'unreadable',
      text: `the deploy credentials may not read the objects it deploys: ${context.redact(error.stderr.trim())}`
    }
    return new Map<string, LiveObjectMeta>()
  })
  // The autoscalers of another `autoscaling` choice. After that read: its discovery (cached for the run)
  // tells whether the cluster serves KEDA's kinds at all, with no call of its own.
  const retirePlan = await findRetiring(kubectl, rendered, config)
  const workerName = rendered.objects.find(r => r.role === 'worker')?.object.metadata.name
  await group('Pre-flight checks', async () => {
    const retiring = retirePlan.retiring
    const problems = [
      ...retirePlan.conflicts.map(text => ({ kind: 'autoscaler-conflict' as const, text })),
      ...(await checkPermissions(kubectl, [
        ...retiring.flatMap(r =>
          ['delete', 'watch'].map(verb => ({ verb, resource: resourceOf(r.kind)!, namespace }))
        ),
        // kubectl scale: a worker KEDA left at zero gets replicas back (switching away), or is held at one.
        ...(retiring.some(r => r.kind === 'ScaledObject') ||
        (config.autoscaling === 'keda' &&
          workerName !== undefined &&
          isAtZero(liveDeployment(live, workerName, namespace)))
          ? [
              { verb: 'get', resource: 'deployments.apps/scale', namespace },
              { verb: 'update', resource: 'deployments.apps/scale', namespace }
            ]
          : []),
        ...permissionsFor(objects, namespace, {
          smokeChecks: config.smokeChecks.length > 0,
          resourceOfKind: context.resourceOfKind,
          exists: object =>
            live.has(
              identityKey({
                kind: object.kind,
                name: object.metadata.name,
                namespace: object.metadata.namespace
              })
            )
        })
      ])),
      ...(await checkLiveSecrets(
        kubectl,
        namespace,
        rendered.liveSecretKeys,
        rendered.liveSecrets,
        context.learnSecrets
      ))
    ]
    if (readProblem) problems.unshift(readProblem)
    if (problems.length > 0) throw new PreflightError(problems)
    log('Permissions and Secret keys are in place.')
  }).catch(whileIn('the pre-flight checks, before any change'))

  // The Namespace holds the lock, and a dry run of the rest needs it to exist: a new one is created bare in the
  // same call that takes the lock, and its fields are set by the apply, with the rest, after the dry run. One
  // that already holds every field the action sets is not applied again.
  const namespacePhase = objects.filter(o => PHASES[0].kinds(o.kind))
  const namespaceIsNew = namespacePhase.some(
    o => o.metadata.name === namespace && !live.has(identityKey({ kind: 'Namespace', name: namespace }))
  )
  const namespaceUnchanged = namespacePhase.filter(o => dryRunCompare(o, live).action === 'unchanged')
  const lock = await group('Deploy lock', async () => {
    const held = await acquireDeployLock(context.kubectl, {
      namespace,
      owner: { ...context.lockOwner, image: config.image },
      timeoutSeconds: config.lockTimeoutSeconds,
      createNamespace: namespaceIsNew,
      signal: context.signal,
      log,
      onHeld: context.onLockHeld
    })
    log(`Holding lease ${LOCK_NAME} in namespace ${namespace} (renewed every ${LEASE_SECONDS / 3}s).`)
    return held
  }).catch(whileIn('the wait for the deploy lock, before any change'))
  try {
    return await deployHoldingLock(
      { ...context, kubectl, cleanup: context.kubectl },
      // After a wait for another deploy's lock the Namespace is judged again, with the rest.
      lock.waited() ? [] : namespaceUnchanged.map(o => unchangedObject(o, live)),
      lock.waited() ? undefined : { live, retirePlan },
      () => lock.lost()
    )
  } finally {
    // A lock that cannot be released lapses within a minute; that must not turn a good deploy into a failure.
    await lock.release().catch((error: unknown) => {
      context.warn(`could not release the deploy lock (it lapses by itself): ${(error as Error).message}`)
    })
  }
}

function identityInput(objects: KubeObject[]): string {
  return toKubectlInput(objects.map(redactSecrets))
}

// context.kubectl here is the cancellable runner; `cleanup` is the one that keeps working after a cancellation.
async function deployHoldingLock(
  context: DeployContext & { cleanup?: Kubectl },
  // The Namespace, when it already holds every field the action sets (it is not applied again).
  namespaceUnchanged: AppliedObject[],
  // The state read before the lock, when no other deploy held the lock in between.
  read: { live: Map<string, LiveObjectMeta>; retirePlan: RetirePlan } | undefined,
  lockLost: () => string | undefined
): Promise<DeployOutcome> {
  const { kubectl, config, rendered, redact, log } = context
  const group = timedGroup(context, 'Before any change')
  const deployGroup = timedGroup(context, 'Deploy')
  const namespace = config.namespace
  const roles = {
    worker: rendered.objects.find(o => o.role === 'worker')?.object.metadata.name,
    beat: rendered.objects.find(o => o.role === 'beat')?.object.metadata.name
  }
  const skipped = new Set(namespaceUnchanged.map(a => identityKey(a)))
  const rest = rendered.objects
    .map(o => o.object)
    .filter(
      o =>
        !PHASES[0].kinds(o.kind) ||
        !skipped.has(identityKey({ kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace }))
    )
  const deployments = rest.filter(o => o.kind === 'Deployment').map(o => o.metadata.name)

  // After waiting for another deploy's lock, what it did counts as "before": read again.
  const before = read?.live ?? (await getLiveObjects(kubectl, identityInput(rest)))
  const retirePlan = read?.retirePlan ?? (await findRetiring(kubectl, rendered, config))
  const retiring = retirePlan.retiring
  for (const warning of retirePlan.warnings) context.warn(`deploy-gke-workers: ${warning}`)
  const retiringHpas = retiring.filter(r => r.kind === 'HorizontalPodAutoscaler').map(r => r.name)
  const revisionsBefore: Record<string, string | undefined> = {}
  for (const name of deployments) {
    revisionsBefore[name] = liveDeployment(before, name, namespace)?.metadata.annotations?.[
      REVISION_ANNOTATION
    ]
  }

  // A server-side dry run of everything: admission (e.g. Autopilot's policies), validation and RBAC say no
  // here, before the first write, rather than half-way through the apply.
  const dryRun = await group('Server-side dry run', async () => {
    try {
      return await dryRunAll(kubectl, rest, before, retiringHpas, log)
    } catch (error) {
      if (error instanceof CancelledError) {
        error.during ??= 'the server-side dry run, before any change'
        throw error
      }
      const reason =
        error instanceof KubectlError
          ? redact(error.stderr.trim() || error.message)
          : (error as Error).message
      throw new PreflightError(
        [{ kind: 'rejected', text: reason }],
        'The cluster rejected the manifests in a server-side dry run'
      )
    }
  })
  const lost = lockLost()
  if (lost)
    throw new PreflightError(
      [{ kind: 'lock-lost', text: lost }],
      'The deploy lock was lost before the first write'
    )
  // A Secret change restarts the pods only if they read a key that changed (envFrom or a volume: any key).
  const renderedDeployments = rest.filter(o => o.kind === 'Deployment')
  const secretWillChange = dryRun.objects.some(
    a =>
      a.kind === 'Secret' &&
      a.action !== 'unchanged' &&
      changedKeys(before.get(identityKey(a)), a.applied).some(key =>
        podsRead(keysPodsRead(renderedDeployments, a.name), key)
      )
  )
  const templateChanges = new Set(
    dryRun.objects.filter(a => a.kind === 'Deployment' && a.podTemplateChanged).map(a => a.name)
  )
  const restartReason = (name: string): string | undefined =>
    templateChanges.has(name)
      ? undefined
      : context.forceRestart
        ? 'redeploy requested (workflow_dispatch): the pod template did not change, so the pods are restarted'
        : secretWillChange
          ? `Secret ${config.secretName} changed: pods read it only at start, so they are restarted`
          : undefined
  const liveWorker = roles.worker ? liveDeployment(before, roles.worker, namespace) : undefined
  const traced = keepLiveTraceAnnotations(
    rest,
    before,
    name => templateChanges.has(name) || restartReason(name) !== undefined
  )
  // Under KEDA the worker is held while its new pods are verified, and KEDA's verdict read after (keda-rollout.ts).
  const keda = guardKedaRollout(kubectl, context.cleanup ?? kubectl, {
    autoscaling: config.autoscaling,
    namespace,
    worker: roles.worker,
    objects: traced,
    before,
    dryRun: dryRun.objects,
    workerRolls:
      roles.worker !== undefined &&
      (templateChanges.has(roles.worker) || restartReason(roles.worker) !== undefined),
    redact,
    note: text => outcome.notes.push(text),
    warn: context.warn,
    log,
    now: context.now,
    sleep: context.sleep
  })
  const toApply = keda.toApply(traced)

  const outcome: DeployOutcome = {
    status: 'deployed',
    headline: '',
    roles,
    applied: [...namespaceUnchanged],
    retired: [],
    restarted: [],
    rollouts: [],
    rollbackRollouts: [],
    smoke: [],
    beatProblems: [],
    rollback: [],
    notes: [...rendered.notes, ...retirePlan.warnings],
    warnings: [...dryRun.warnings],
    failures: [],
    revisionsBefore,
    revisionsAfter: {}
  }
  let snapshot: NamespaceSnapshot | undefined
  const watchOptions = (names: string[], prefix = ''): WaitOptions => ({
    namespace,
    deployments: names,
    timeoutMs: config.rolloutTimeoutSeconds * 1000,
    pendingGraceSeconds: config.schedulingGraceSeconds,
    pollMs: context.pollMs,
    now: context.now,
    sleep: context.sleep,
    onProgress: line => log(`${prefix}${redact(line)}`)
  })
  // Where a cancellation found the run, for the summary.
  let step = 'the apply'

  try {
    const fromFixed =
      config.autoscaling !== 'none' && liveWorker?.metadata.annotations?.[AUTOSCALING_ANNOTATION] === 'none'
    if (retiring.length > 0 || fromFixed) {
      step = 'the autoscaler switch'
      outcome.retired = await deployGroup('Autoscaler switch', async () => {
        const steps: RetireStep[] = []
        if (fromFixed && liveWorker) {
          const kept = await handOverReplicas(kubectl, liveWorker)
          if (kept !== undefined) {
            steps.push({
              kind: 'Deployment',
              name: liveWorker.metadata.name,
              reason: 'autoscaling was none',
              done: true,
              message: `replicas kept at ${kept} for the autoscaler to take over (autoscaling was none)`
            })
          }
        }
        steps.push(
          ...(await retireAutoscalers(kubectl, retiring, {
            namespace,
            worker: roles.worker,
            replicasAfterKeda: config.workerMinReplicas
          }))
        )
        for (const s of steps) log(`${s.kind}/${s.name} ${redact(s.message)}`)
        return steps
      })
      step = 'the apply'
    }
    await keda.beforeApply()
    await deployGroup('Apply (server-side)', async () => {
      for (const item of outcome.applied) log(`${item.kind}/${item.name} ${item.action}`)
      // One kubectl call: it applies the objects one after another in the order given, which is the order
      // they depend on (Namespace, ServiceAccount, Secret and configuration, Deployments, autoscaling).
      const ordered = PHASES.flatMap(phase => toApply.filter(o => phase.kinds(o.kind)))
      const result = await serverSideApply(kubectl, ordered, before, { dryRun: false, trusted: true })
      for (const item of result.objects) log(`${item.kind}/${item.name} ${item.action}`)
      outcome.applied.push(...result.objects)
    })
    for (const name of deployments) {
      const reason = restartReason(name)
      if (!reason) continue
      await kubectl.run(['rollout', 'restart', `deployment/${name}`, '-n', namespace])
      outcome.restarted.push({ deployment: name, reason })
      log(`deployment/${name} restarted: ${reason}`)
    }
    await keda.afterApply()

    step = 'the rollouts'
    const rolloutsStarted = Date.now()
    const watch = await context.group('Rollouts', () =>
      waitForRollouts(kubectl, {
        ...watchOptions(deployments),
        replicasAtStart: keda.replicasAtStart,
        signal: context.signal
      })
    )
    outcome.rollouts = watch.results
    addRolloutSteps(context.timeline, 'Rollouts', rolloutsStarted, watch.results)
    snapshot = watch.snapshot
    const podsOf = (name: string | undefined) => watch.results.find(r => r.deployment === name)?.pods ?? []
    if (watch.results.every(r => r.outcome === 'complete')) {
      if (roles.beat) {
        const guardStarted = Date.now()
        outcome.beatProblems = await checkBeatGuard(kubectl, {
          namespace,
          beatDeployment: roles.beat,
          beatPods: podsOf(roles.beat),
          autoscalers: watch.snapshot.autoscalers
        })
        context.timeline?.add({
          section: 'Checks',
          name: 'beat guard',
          startMs: guardStarted,
          endMs: Date.now(),
          state: outcome.beatProblems.length > 0 ? 'failed' : 'done'
        })
      }
      if (outcome.beatProblems.length === 0 && config.smokeChecks.length > 0) {
        step = 'the smoke checks'
        const smokeStarted = Date.now()
        outcome.smoke = await context.group('Smoke checks', async () => {
          const results = await runSmokeChecks(kubectl, {
            namespace,
            celeryApp: config.celeryApp,
            choices: config.smokeChecks,
            podsByTarget: { worker: podsOf(roles.worker), beat: podsOf(roles.beat) },
            workerScaledToZero:
              config.autoscaling === 'keda' &&
              watch.snapshot.deployments.find(d => d.metadata.name === roles.worker)?.spec?.replicas === 0
          })
          for (const r of results) {
            log(
              `${r.skipped ? 'skip' : r.ok ? 'pass' : 'FAIL'} ${r.name}${r.pod ? ` (${r.pod})` : ''}: ${redact(r.detail)} [${r.durationMs} ms]`
            )
          }
          return results
        })
        // The checks run side by side: each bar starts with the group.
        for (const r of outcome.smoke) {
          context.timeline?.add({
            section: 'Checks',
            name: r.name,
            startMs: smokeStarted,
            endMs: smokeStarted + r.durationMs,
            state: r.ok ? 'done' : 'failed'
          })
        }
      }
    }
    if (
      config.autoscaling === 'keda' &&
      outcome.rollouts.every(r => r.outcome === 'complete') &&
      outcome.beatProblems.length === 0 &&
      outcome.smoke.every(r => r.ok)
    ) {
      step = "KEDA's check of the ScaledObject"
      outcome.keda = await deployGroup('KEDA', () => keda.verify())
    }
  } catch (error) {
    if (error instanceof CancelledError) {
      outcome.cancelled = { reason: error.reason, during: step }
      log(`Cancelled (${error.reason}) during ${step}.`)
    } else {
      // After the first write, an error is one more way for the deploy to fail: roll back and report it.
      outcome.error = redact(error instanceof Error ? error.message : String(error))
      context.warn(`deploy-gke-workers: ${outcome.error}`)
    }
  }
  // The hold ends last, after diagnostics, rollback or the cancelled run's undo: once the annotation goes,
  // KEDA scales the idle worker to zero at its next poll, and the failed pod's logs or the rollback's rollout
  // would go with it. Whatever happened, KEDA gets the worker back (with the clean-up runner after a cancel).
  const releaseIfHeld = () => keda.release()
  if (outcome.cancelled) {
    const cancelled = await finishCancelled(context, outcome, { before, objects: rest, deployments })
    await releaseIfHeld()
    return cancelled
  }

  const secretChanged = outcome.applied.some(a => a.kind === 'Secret' && a.action !== 'unchanged')
  const rolled = new Set([
    ...outcome.applied.filter(a => a.kind === 'Deployment' && a.podTemplateChanged).map(a => a.name),
    ...outcome.restarted.map(r => r.deployment)
  ])
  const succeeded =
    outcome.error === undefined &&
    outcome.rollouts.length === deployments.length &&
    outcome.rollouts.every(r => r.outcome === 'complete') &&
    outcome.beatProblems.length === 0 &&
    outcome.smoke.every(r => r.ok) &&
    !kedaRefuses(outcome.keda)

  if (succeeded) {
    const changed =
      outcome.applied.some(a => a.action !== 'unchanged') || rolled.size > 0 || outcome.retired.length > 0
    outcome.status = changed ? 'deployed' : 'unchanged'
    outcome.headline = changed
      ? `Deployed ${config.image}`
      : `No change: the cluster already runs ${config.image} with these settings`
  } else {
    outcome.failures = outcome.rollouts.flatMap(r => r.failures)
    outcome.headline = failureHeadline(outcome, redact)
    if (snapshot) {
      const seen = snapshot
      try {
        outcome.diagnostics = await timedGroup(context, 'After the failure')('Diagnostics', () =>
          diagnose(context, seen, outcome.failures, outcome.rollouts)
        )
      } catch (error) {
        outcome.diagnosticsError = `Diagnostics could not be collected: ${redact((error as Error).message)}`
      }
    }
    const rollbackSnapshot = await rollBackThisRun(context, outcome, {
      before,
      rolled: deployments.filter(d => rolled.has(d)),
      secretChanged,
      watchOptions
    })
    snapshot = rollbackSnapshot ?? snapshot
    // Rolled back means every undo went through and was watched to completion, not merely sent.
    const rolledBack =
      outcome.rollback.length > 0 &&
      outcome.rollback.every(s => s.done) &&
      outcome.rollbackRollouts.length === outcome.rollback.length &&
      outcome.rollbackRollouts.every(r => r.outcome === 'complete')
    outcome.status = rolledBack ? 'rolled-back' : 'failed'
  }

  const final = snapshot ?? (await readDeploymentsQuietly(kubectl, namespace))
  for (const name of deployments) {
    outcome.revisionsAfter[name] = final?.deployments.find(d => d.metadata.name === name)?.metadata
      .annotations?.[REVISION_ANNOTATION]
  }
  await releaseIfHeld()
  outcome.autoscaler = await readAutoscaler(kubectl, {
    config,
    applied: outcome.applied,
    worker: final?.deployments.find(d => d.metadata.name === roles.worker)
  }).catch(() => undefined)
  return outcome
}

// The server-side dry run of everything. While a CPU HPA that this deploy deletes still scales the worker,
// KEDA's admission webhook (consulted by a dry run too) refuses the ScaledObject that replaces it; so when
// switching, the ScaledObject is dry-run on its own, and a refusal naming that HPA is the switch itself.
async function dryRunAll(
  kubectl: Kubectl,
  objects: KubeObject[],
  before: Map<string, LiveObjectMeta>,
  retiringHpas: string[],
  log: (line: string) => void
): Promise<Awaited<ReturnType<typeof serverSideApply>>> {
  const scaledObjects = objects.filter(o => o.kind === 'ScaledObject')
  if (retiringHpas.length === 0 || scaledObjects.length === 0) {
    return serverSideApply(kubectl, objects, before, { dryRun: true })
  }
  const rest = await serverSideApply(
    kubectl,
    objects.filter(o => o.kind !== 'ScaledObject'),
    before,
    { dryRun: true }
  )
  try {
    const own = await serverSideApply(kubectl, scaledObjects, before, { dryRun: true })
    return {
      ...rest,
      objects: [...rest.objects, ...own.objects],
      warnings: [...rest.warnings, ...own.warnings]
    }
  } catch (error) {
    const text = error instanceof KubectlError ? error.stderr : ''
    if (!retiringHpas.some(name => text.includes(name))) throw error
    log(
      `ScaledObject dry run refused while HorizontalPodAutoscaler ${retiringHpas.join(', ')} still scales the worker (KEDA's webhook); it is deleted before the apply`
    )
    return rest
  }
}

// A cancelled run: start undoing what it changed, judged by the cluster itself (a cancelled apply or restart
// may or may not have reached the server), release nothing here (the caller releases the lock), and report.
// The undo is not watched: the runner kills the step 7.5 s after its first signal.
async function finishCancelled(
  context: DeployContext & { cleanup?: Kubectl },
  outcome: DeployOutcome,
  run: { before: Map<string, LiveObjectMeta>; objects: KubeObject[]; deployments: string[] }
): Promise<DeployOutcome> {
  const { config, group, log, redact } = context
  const kubectl = context.cleanup ?? context.kubectl
  const namespace = config.namespace
  outcome.status = 'cancelled'
  const cancelled = outcome.cancelled!
  const live = await getLiveObjects(kubectl, identityInput(run.objects)).catch(() => undefined)
  if (!live) {
    outcome.notes.push('The cluster could not be read after the cancellation: nothing was rolled back')
  } else if (!config.rollbackOnFailure) {
    outcome.notes.push('rollback_on_failure is false: nothing was rolled back')
  } else {
    await group('Cancelled: rolling back what this run changed', async () => {
      const secretKey = identityKey({ kind: 'Secret', name: config.secretName, namespace })
      const secretBefore = run.before.get(secretKey)
      const secretNow = live.get(secretKey)
      if (
        secretBefore &&
        secretNow &&
        JSON.stringify(dataOf(secretBefore)) !== JSON.stringify(dataOf(secretNow))
      ) {
        try {
          await restoreSecret(kubectl, secretBefore, kedaKeysOf(context.rendered))
          outcome.notes.push(`Secret ${config.secretName}: its previous values were restored`)
        } catch (error) {
          outcome.notes.push(
            `Secret ${config.secretName}: restoring its previous values failed: ${redact((error as Error).message)}`
          )
        }
      }
      const moved = run.deployments.filter(name => {
        const was = liveDeployment(run.before, name, namespace)
        const is = liveDeployment(live, name, namespace)
        return is !== undefined && podTemplateChangedBetween(was, is)
      })
      outcome.rollback = (
        await rollBack(
          kubectl,
          namespace,
          moved.map(deployment => ({ deployment, revisionBefore: outcome.revisionsBefore[deployment] }))
        )
      ).map(step =>
        step.done
          ? { ...step, message: `${step.message} (started; not watched, the run was cancelled)` }
          : step
      )
      for (const step of outcome.rollback) log(`${step.deployment}: ${redact(step.message)}`)
      if (moved.length === 0) outcome.notes.push('No Deployment had changed yet: nothing to roll back')
    })
  }
  const undone = outcome.rollback.filter(s => s.done).map(s => s.deployment)
  outcome.headline = `Cancelled (${cancelled.reason}) during ${cancelled.during}${
    undone.length > 0
      ? `; rollback started for ${undone.join(', ')}`
      : outcome.rollback.length > 0
        ? '; the rollback could not be started'
        : ''
  }`
  const final = await readDeploymentsQuietly(kubectl, namespace)
  for (const name of run.deployments) {
    outcome.revisionsAfter[name] = final?.deployments.find(d => d.metadata.name === name)?.metadata
      .annotations?.[REVISION_ANNOTATION]
  }
  return outcome
}

// An object found as the action would leave it, reported as an apply that changed nothing.
function unchangedObject(object: KubeObject, live: Map<string, LiveObjectMeta>): AppliedObject {
  const current = live.get(
    identityKey({ kind: object.kind, name: object.metadata.name, namespace: object.metadata.namespace })
  )!
  return {
    kind: object.kind,
    name: object.metadata.name,
    namespace: object.metadata.namespace,
    action: 'unchanged',
    podTemplateChanged: false,
    resourceVersion: current.metadata.resourceVersion,
    applied: current
  }
}

function dataOf(secret: LiveObjectMeta): Record<string, string> {
  return ((secret as { data?: Record<string, string> }).data ?? {}) as Record<string, string>
}

function liveDeployment(
  live: Map<string, LiveObjectMeta>,
  name: string,
  namespace: string
): LiveObjectMeta | undefined {
  return live.get(identityKey({ kind: 'Deployment', name, namespace }))
}

// Puts back what this run changed: the Secret's previous values first (the pods of the old template must read
// the old values, or a bad Secret survives the rollback), then each Deployment's previous template.
async function rollBackThisRun(
  context: DeployContext,
  outcome: DeployOutcome,
  changed: {
    before: Map<string, LiveObjectMeta>
    rolled: string[]
    secretChanged: boolean
    watchOptions: (names: string[], prefix?: string) => WaitOptions
  }
): Promise<NamespaceSnapshot | undefined> {
  const { kubectl, config, log, redact, rendered } = context
  if (outcome.retired.some(r => r.done)) {
    // The new autoscaler is not what failed; bringing the old one back would make two fight again.
    outcome.notes.push(
      `The autoscaler switch stays (autoscaling ${config.autoscaling}): ${outcome.retired
        .filter(r => r.done)
        .map(r => `${r.kind}/${r.name}`)
        .join(', ')} ${outcome.retired.length === 1 ? 'is' : 'are'} not restored`
    )
  }
  if (!config.rollbackOnFailure) {
    outcome.notes.push('rollback_on_failure is false: nothing was rolled back')
    return undefined
  }
  if (changed.rolled.length === 0 && !changed.secretChanged) {
    outcome.notes.push('This run changed no Deployment and no Secret: nothing to roll back')
    return undefined
  }
  return context.group('Rollback', async () => {
    if (changed.secretChanged) {
      const previous = changed.before.get(
        identityKey({ kind: 'Secret', name: config.secretName, namespace: config.namespace })
      )
      if (!previous) {
        outcome.notes.push(`Secret ${config.secretName} was created by this run; it is left in place`)
      } else {
        try {
          await restoreSecret(kubectl, previous, kedaKeysOf(rendered))
          outcome.notes.push(`Secret ${config.secretName}: its previous values were restored`)
        } catch (error) {
          outcome.notes.push(
            `Secret ${config.secretName}: restoring its previous values failed: ${redact((error as Error).message)}`
          )
        }
      }
    }
    outcome.rollback = await rollBack(
      kubectl,
      config.namespace,
      changed.rolled.map(deployment => ({ deployment, revisionBefore: outcome.revisionsBefore[deployment] }))
    )
    for (const step of outcome.rollback) log(`${step.deployment}: ${redact(step.message)}`)
    const undone = outcome.rollback.filter(s => s.done).map(s => s.deployment)
    if (undone.length === 0) return undefined
    try {
      const started = Date.now()
      const watch = await waitForRollouts(kubectl, changed.watchOptions(undone, 'rollback '))
      outcome.rollbackRollouts = watch.results
      addRolloutSteps(context.timeline, 'Rollback', started, watch.results)
      return watch.snapshot
    } catch (error) {
      outcome.notes.push(`Watching the rollback failed: ${redact((error as Error).message)}`)
      return undefined
    }
  })
}

// Server-side apply of the previous `data` under the action's field manager: keys this run added are pruned,
// the old values come back. Through stdin, like every Secret.
// `keep`: keys no pod reads that stay as this run wrote them where the previous Secret lacked them (KEDA's
// Redis keys after a switch to keda: the switch is not undone, and its TriggerAuthentication reads them).
async function restoreSecret(
  kubectl: Kubectl,
  previous: LiveObjectMeta,
  keep: Record<string, string> = {}
): Promise<void> {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: previous.metadata.name, namespace: previous.metadata.namespace },
    type: (previous as { type?: string }).type ?? 'Opaque',
    // Keys the previous Secret had get their previous values back, KEDA's too (a wrong Redis password must
    // not outlive the rollback); only keys it lacked keep this run's value.
    data: { ...keep, ...((previous as { data?: Record<string, string> }).data ?? {}) }
  }
  await kubectl.run(
    ['apply', '--server-side', `--field-manager=${FIELD_MANAGER}`, '--force-conflicts', '-f', '-'],
    {
      stdin: JSON.stringify(secret)
    }
  )
}

// The Secret keys only KEDA reads, as this run writes them (base64), when it splits REDIS_URL for KEDA.
function kedaKeysOf(rendered: RenderedManifests): Record<string, string> {
  const secret = rendered.objects.find(o => o.role === 'secret')?.object
  const data = (secret?.data ?? {}) as Record<string, string>
  return Object.fromEntries(
    Object.entries(data).filter(([key]) => (Object.values(REDIS_KEYS) as string[]).includes(key))
  )
}

async function readDeploymentsQuietly(
  kubectl: Kubectl,
  namespace: string
): Promise<NamespaceSnapshot | undefined> {
  try {
    const list = await kubectl.json<{ items: NamespaceSnapshot['deployments'] }>([
      'get',
      'deployments.apps',
      '-n',
      namespace
    ])
    return { deployments: list.items, replicaSets: [], pods: [], events: [] }
  } catch {
    return undefined
  }
}

function failureHeadline(outcome: DeployOutcome, redact: Redact): string {
  if (outcome.error !== undefined) return redact(`Deploy failed: ${outcome.error}`)
  const failedRollout = outcome.rollouts.find(r => r.outcome !== 'complete')
  if (failedRollout) {
    const fatal = failedRollout.failures.find(f => f.fatal)
    const cause = fatal
      ? `pod ${fatal.pod}${fatal.container ? ` container ${fatal.container}` : ''}: ${fatal.reason}`
      : (failedRollout.reason ?? failedRollout.outcome)
    return redact(
      `Rollout of ${failedRollout.deployment} ${failedRollout.outcome === 'timeout' ? 'timed out' : 'failed'} (${cause})`
    )
  }
  if (outcome.beatProblems.length > 0) return redact(`Beat guard: ${outcome.beatProblems[0]}`)
  const keda = kedaFailureHeadline(outcome.keda)
  if (keda) return redact(keda)
  const smoke = outcome.smoke.find(s => !s.ok)
  return redact(`Smoke check ${smoke?.name ?? ''} failed: ${smoke?.detail ?? ''}`)
}

async function diagnose(
  context: DeployContext,
  snapshot: NamespaceSnapshot,
  failures: PodFailure[],
  rollouts: RolloutResult[]
): Promise<{ events: Event[]; logs: ContainerLog[] }> {
  const logs = await collectLogs(
    context.kubectl,
    context.config.namespace,
    failures.filter(f => f.fatal || (f.restartCount ?? 0) > 0)
  )
  const events = eventsOfThisRun(
    snapshot,
    rollouts.map(r => r.deployment)
  )
  context.log(renderDiagnosticsText({ failures, events, logs, redact: context.redact }))
  return { events, logs }
}

// One bar per watched Deployment: they are watched together, so each starts with the watch.
function addRolloutSteps(
  timeline: Timeline | undefined,
  section: string,
  startMs: number,
  results: RolloutResult[]
): void {
  for (const r of results) {
    timeline?.add({
      section,
      name: r.deployment,
      startMs,
      endMs: startMs + r.durationMs,
      state: r.outcome === 'complete' ? 'done' : 'failed'
    })
  }
}
