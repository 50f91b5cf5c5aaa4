// The deploy itself: pre-flight, ordered server-side apply, a real roll when asked, both rollouts watched at
// once, beat guard, smoke checks; on failure diagnostics and rollback. Returns what happened; never throws for
// a failed rollout (that is an outcome to report), only for errors before anything was written.

import type { DeployConfig } from '../inputs.js'
import type { Kubectl } from '../kube/kubectl.js'
import { objectsToYaml, serverSideApply, type AppliedObject } from '../kube/apply.js'
import { getLiveObjects, identityKey, type NamespaceSnapshot } from '../kube/objects.js'
import type { Redact } from '../redact.js'
import type { RenderedManifests } from '../render/render-manifests.js'
import { redactSecrets } from '../render/serialize.js'
import { renderDiagnostics, renderDiagnosticsText } from '../report/diagnostics.js'
import { checkBeatGuard } from './beat-guard.js'
import { collectLogs, eventsFor } from './collect-diagnostics.js'
import type { PodFailure } from './pod-failures.js'
import { checkLiveSecrets, checkPermissions, permissionsFor } from './preflight.js'
import { rollBack, type RollbackStep } from './rollback.js'
import { REVISION_ANNOTATION } from './rollout-state.js'
import { acquireDeployLock, LOCK_NAME, type LockOwner } from './deploy-lock.js'
import type { KubeObject } from '../render/kube-object.js'
import { runSmokeChecks } from './run-smoke-checks.js'
import type { SmokeCheckResult } from './smoke-checks.js'
import { waitForRollouts, type RolloutResult } from './wait-rollouts.js'

export type DeployStatus = 'deployed' | 'unchanged' | 'rolled-back' | 'failed'

export interface DeployOutcome {
  status: DeployStatus
  headline: string
  applied: AppliedObject[]
  restarted: Array<{ deployment: string; reason: string }>
  rollouts: RolloutResult[]
  rollbackRollouts: RolloutResult[]
  smoke: SmokeCheckResult[]
  beatProblems: string[]
  rollback: RollbackStep[]
  notes: string[]
  diagnosticsMarkdown?: string
  failures: PodFailure[]
  revisionsBefore: Record<string, string | undefined>
  revisionsAfter: Record<string, string | undefined>
}

export class PreflightError extends Error {
  constructor(readonly problems: string[]) {
    super(`Pre-flight checks failed; nothing was changed:\n${problems.map(p => `  - ${p}`).join('\n')}`)
    this.name = 'PreflightError'
  }
}

export interface DeployContext {
  kubectl: Kubectl
  config: DeployConfig
  rendered: RenderedManifests
  redact: Redact
  // workflow_dispatch: roll the pods even when the pod template did not change.
  forceRestart: boolean
  // Who holds the deploy lock while this run deploys (shown to a run that finds it taken).
  lockOwner: Omit<LockOwner, 'image'>
  group: <T>(name: string, fn: () => Promise<T>) => Promise<T>
  log: (line: string) => void
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  pollMs?: number
}

// One kubectl call per phase, in this order: each phase's objects exist before the next one refers to them.
const PHASES: Array<{ name: string; kinds: (kind: string) => boolean }> = [
  { name: 'Namespace', kinds: k => k === 'Namespace' },
  { name: 'ServiceAccount', kinds: k => k === 'ServiceAccount' },
  {
    name: 'Secret and configuration',
    kinds: k =>
      ![
        'Namespace',
        'ServiceAccount',
        'Deployment',
        'HorizontalPodAutoscaler',
        'PodDisruptionBudget'
      ].includes(k)
  },
  { name: 'Deployments', kinds: k => k === 'Deployment' },
  {
    name: 'HorizontalPodAutoscaler',
    kinds: k => k === 'HorizontalPodAutoscaler' || k === 'PodDisruptionBudget'
  }
]

export async function deploy(context: DeployContext): Promise<DeployOutcome> {
  const { kubectl, config, rendered, group, log } = context
  const namespace = config.namespace
  const objects = rendered.objects.map(o => o.object)
  const deployments = objects.filter(o => o.kind === 'Deployment').map(o => o.metadata.name)
  const beatName = rendered.objects.find(o => o.role === 'beat')?.object.metadata.name
  const workerName = rendered.objects.find(o => o.role === 'worker')?.object.metadata.name

  await group('Pre-flight checks', async () => {
    const problems = [
      ...(await checkPermissions(
        kubectl,
        permissionsFor(objects, namespace, { smokeChecks: config.smokeChecks.length > 0 })
      )),
      ...(await checkLiveSecrets(kubectl, namespace, rendered.liveSecretKeys, rendered.liveSecrets))
    ]
    if (problems.length > 0) throw new PreflightError(problems)
    log('Permissions and Secret keys are in place.')
  })

  const identityYaml = objectsToYaml(objects.map(redactSecrets))
  const applied: AppliedObject[] = []
  // The Namespace first: the lock lives in it.
  const namespacePhase = objects.filter(o => PHASES[0].kinds(o.kind))
  if (namespacePhase.length > 0) {
    applied.push(
      ...(await serverSideApply(
        kubectl,
        namespacePhase,
        await getLiveObjects(kubectl, objectsToYaml(namespacePhase.map(redactSecrets))),
        { dryRun: false }
      ))
    )
  }
  const lock = await group('Deploy lock', async () => {
    const held = await acquireDeployLock(kubectl, {
      namespace,
      owner: { ...context.lockOwner, image: config.image },
      // Long enough for both rollouts, smoke checks and a rollback; a run that dies leaves it to expire.
      durationSeconds: config.rolloutTimeoutSeconds * 3 + 600
    })
    log(`Holding lease ${LOCK_NAME} in namespace ${namespace}.`)
    return held
  })
  try {
    return await deployHoldingLock(context, {
      objects,
      deployments,
      beatName,
      workerName,
      applied,
      identityYaml
    })
  } finally {
    await lock.release()
  }
}

async function deployHoldingLock(
  context: DeployContext,
  plan: {
    objects: KubeObject[]
    deployments: string[]
    beatName?: string
    workerName?: string
    applied: AppliedObject[]
    identityYaml: string
  }
): Promise<DeployOutcome> {
  const { kubectl, config, rendered, redact, group, log } = context
  const namespace = config.namespace
  const { objects, deployments, beatName, workerName } = plan
  // Read after taking the lock: what another deploy did a moment ago counts as "before".
  const before = await getLiveObjects(kubectl, plan.identityYaml)
  const revisionsBefore: Record<string, string | undefined> = {}
  for (const name of deployments) {
    revisionsBefore[name] = before.get(identityKey({ kind: 'Deployment', name, namespace }))?.metadata
      .annotations?.[REVISION_ANNOTATION]
  }

  const outcome: DeployOutcome = {
    status: 'deployed',
    headline: '',
    applied: [...plan.applied],
    restarted: [],
    rollouts: [],
    rollbackRollouts: [],
    smoke: [],
    beatProblems: [],
    rollback: [],
    notes: [...rendered.notes],
    failures: [],
    revisionsBefore,
    revisionsAfter: {}
  }

  await group('Apply (server-side)', async () => {
    for (const item of outcome.applied) log(`${item.kind}/${item.name} ${item.action}`)
    for (const phase of PHASES.slice(1)) {
      const phaseObjects = objects.filter(o => phase.kinds(o.kind))
      if (phaseObjects.length === 0) continue
      const applied = await serverSideApply(kubectl, phaseObjects, before, { dryRun: false })
      for (const item of applied) log(`${item.kind}/${item.name} ${item.action}`)
      outcome.applied.push(...applied)
    }
  })

  const changedDeployments = new Set(
    outcome.applied.filter(a => a.kind === 'Deployment' && a.specChanged).map(a => a.name)
  )
  const secretChanged = outcome.applied.some(a => a.kind === 'Secret' && a.action !== 'unchanged')
  for (const name of deployments) {
    if (changedDeployments.has(name)) continue
    const reason = context.forceRestart
      ? 'redeploy requested (workflow_dispatch): the pod template did not change, so the pods are restarted'
      : secretChanged
        ? `Secret ${config.secretName} changed: pods read it only at start, so they are restarted`
        : undefined
    if (!reason) continue
    await kubectl.run(['rollout', 'restart', `deployment/${name}`, '-n', namespace])
    outcome.restarted.push({ deployment: name, reason })
    log(`deployment/${name} restarted: ${reason}`)
  }
  const rolled = new Set([...changedDeployments, ...outcome.restarted.map(r => r.deployment)])
  const anythingChanged = outcome.applied.some(a => a.action !== 'unchanged') || rolled.size > 0

  const watch = await group('Rollouts', () =>
    waitForRollouts(kubectl, {
      namespace,
      deployments,
      timeoutMs: config.rolloutTimeoutSeconds * 1000,
      pendingGraceSeconds: config.schedulingGraceSeconds,
      pollMs: context.pollMs,
      now: context.now,
      sleep: context.sleep,
      onProgress: line => log(redact(line))
    })
  )
  outcome.rollouts = watch.results
  let snapshot = watch.snapshot
  const rolloutsOk = watch.results.every(r => r.outcome === 'complete')

  if (rolloutsOk && beatName) {
    outcome.beatProblems = await checkBeatGuard(kubectl, {
      namespace,
      beatDeployment: beatName,
      beatPods: watch.results.find(r => r.deployment === beatName)?.pods ?? []
    })
  }
  if (rolloutsOk && outcome.beatProblems.length === 0 && config.smokeChecks.length > 0) {
    outcome.smoke = await group('Smoke checks', async () => {
      const results = await runSmokeChecks(kubectl, {
        namespace,
        celeryApp: config.celeryApp,
        choices: config.smokeChecks,
        podsByTarget: {
          worker: watch.results.find(r => r.deployment === workerName)?.pods ?? [],
          beat: watch.results.find(r => r.deployment === beatName)?.pods ?? []
        }
      })
      for (const r of results)
        log(
          `${r.ok ? 'pass' : 'FAIL'} ${r.name}${r.pod ? ` (${r.pod})` : ''}: ${redact(r.detail)} [${r.durationMs} ms]`
        )
      return results
    })
  }

  const smokeOk = outcome.smoke.every(r => r.ok)
  const succeeded = rolloutsOk && outcome.beatProblems.length === 0 && smokeOk
  if (succeeded) {
    outcome.status = anythingChanged ? 'deployed' : 'unchanged'
    outcome.headline = anythingChanged
      ? `Deployed ${config.image}`
      : `No change: the cluster already runs ${config.image} with these settings`
  } else {
    outcome.failures = watch.results.flatMap(r => r.failures)
    outcome.headline = failureHeadline(outcome, redact)
    outcome.diagnosticsMarkdown = await group('Diagnostics', () =>
      diagnose(context, snapshot, outcome.failures)
    )

    const targets = deployments
      .filter(d => rolled.has(d))
      .map(d => ({ deployment: d, revisionBefore: revisionsBefore[d] }))
    if (!config.rollbackOnFailure) {
      outcome.notes.push('rollback_on_failure is false: nothing was rolled back')
    } else if (targets.length === 0) {
      outcome.notes.push('No Deployment was changed by this run: nothing to roll back')
    } else {
      await group('Rollback', async () => {
        outcome.rollback = await rollBack(kubectl, namespace, targets)
        for (const step of outcome.rollback) log(`${step.deployment}: ${step.message}`)
        const undone = outcome.rollback.filter(s => s.done).map(s => s.deployment)
        if (undone.length > 0) {
          const rollbackWatch = await waitForRollouts(kubectl, {
            namespace,
            deployments: undone,
            timeoutMs: config.rolloutTimeoutSeconds * 1000,
            pendingGraceSeconds: config.schedulingGraceSeconds,
            pollMs: context.pollMs,
            now: context.now,
            sleep: context.sleep,
            onProgress: line => log(`rollback ${redact(line)}`)
          })
          outcome.rollbackRollouts = rollbackWatch.results
          snapshot = rollbackWatch.snapshot
        }
      })
      if (secretChanged) {
        outcome.notes.push(
          `Secret ${config.secretName} was changed by this run; a rollback restores the Deployments, not the Secret's values`
        )
      }
    }
    const rolledBack =
      outcome.rollback.length > 0 &&
      outcome.rollback.every(s => s.done) &&
      outcome.rollbackRollouts.every(r => r.outcome === 'complete')
    outcome.status = rolledBack ? 'rolled-back' : 'failed'
  }

  for (const name of deployments) {
    outcome.revisionsAfter[name] = snapshot.deployments.find(d => d.metadata.name === name)?.metadata
      .annotations?.[REVISION_ANNOTATION]
  }
  return outcome
}

function failureHeadline(outcome: DeployOutcome, redact: Redact): string {
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
  const smoke = outcome.smoke.find(s => !s.ok)
  return redact(`Smoke check ${smoke?.name ?? ''} failed: ${smoke?.detail ?? ''}`)
}

async function diagnose(
  context: DeployContext,
  snapshot: NamespaceSnapshot,
  failures: PodFailure[]
): Promise<string> {
  const names = new Set<string>()
  for (const d of snapshot.deployments) names.add(d.metadata.name)
  for (const rs of snapshot.replicaSets) names.add(rs.metadata.name)
  for (const p of snapshot.pods) names.add(p.metadata.name)
  const logs = await collectLogs(
    context.kubectl,
    context.config.namespace,
    failures.filter(f => f.fatal || (f.restartCount ?? 0) > 0)
  )
  const input = { failures, events: eventsFor(snapshot, names), logs, redact: context.redact }
  context.log(renderDiagnosticsText(input))
  return renderDiagnostics(input)
}
