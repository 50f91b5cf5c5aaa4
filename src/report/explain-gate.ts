// Why the pre-deploy gate stopped the deploy, as findings: the command's own exit (code, its meaning, the last
// log line), the Job's deadline, a pod the Job may not create, and, for a pod that could not run the command at
// all (an image pull, a missing Secret key, the Cloud SQL proxy, memory, no node), the same finding a rollout's
// pod gets (explain-rollout.ts), said about the gate's Job.

import type { GateRecord } from '../deploy/gate.js'
import type { RolloutResult } from '../deploy/wait-rollouts.js'
import { APP_CONTAINER_NAME } from '../render/workload.js'
import { collapseLineBreaks } from '../untrusted-text.js'
import { EXIT_MEANINGS, explainRollouts, lastLogLine, type RolloutFacts } from './explain-rollout.js'
import type { Finding } from './finding.js'

// Exits that are the command's own answer; any other terminal reason is a container that could not run it.
const NOT_THE_COMMANDS_OWN = new Set(['OOMKilled', 'StartError', 'ContainerCannotRun'])

export function explainGate(gate: GateRecord, facts: RolloutFacts): Finding[] {
  if (gate.result === 'passed' || gate.result === 'cancelled' || gate.result === 'lock-lost') return []
  const subjects = [`pre-deploy Job ${gate.job}`]
  const pods = gate.pod ? [gate.pod.metadata.name] : []
  const kept = `Nothing was deployed (no Deployment was written). The Job stays a day: kubectl logs -n ${facts.namespace} job/${gate.job}.`
  const last = lastLogLine(gate.logs, { pod: pods[0] ?? '', container: APP_CONTAINER_NAME })
  const tail = last ? { tail: `; last log line: ${last}` } : {}

  if (gate.result === 'error') {
    return [
      {
        class: 'pre-deploy',
        subjects,
        title: 'pre-deploy gate could not run',
        cause: oneLine(gate.message),
        pods,
        remedy:
          'Nothing was deployed. Check that the deploy credentials may create, watch and delete Jobs (docs/rbac.yaml, the batch group) and that the cluster API answers, then run the deploy again.'
      }
    ]
  }
  if (gate.result === 'timeout' || gate.reason === 'DeadlineExceeded') {
    return [
      {
        class: 'pre-deploy',
        subjects,
        title: 'pre-deploy command timed out',
        cause: `the pre-deploy command did not end within pre_deploy_timeout (${gate.timeoutSeconds}s): ${oneLine(gate.message)}`,
        evidence: gate.reason ?? 'timeout',
        pods,
        ...tail,
        remedy: `If it only needs longer (a long migration), raise pre_deploy_timeout; if it waits for something (the database through the Cloud SQL proxy, a lock another migration holds), its log says on what. ${kept}`
      }
    ]
  }
  if (gate.reason === 'FailedCreate') {
    return [
      {
        class: 'pre-deploy',
        subjects,
        title: 'pre-deploy pod cannot be created',
        cause: `the Job may not create its pod: ${oneLine(gate.message)}`,
        evidence: 'FailedCreate',
        pods,
        remedy: /exceeded quota/i.test(gate.message)
          ? `A ResourceQuota in namespace ${facts.namespace} is used up: raise it, or lower the worker's requests (the Job's pod has the same). ${kept}`
          : `An admission policy (on Autopilot, GKE Warden) or the service account refused the pod: fix what the message names in the worker's template, which the Job's pod copies. ${kept}`
      }
    ]
  }
  if (gate.reason === 'JobDeleted') {
    return [
      {
        class: 'pre-deploy',
        subjects,
        title: 'pre-deploy Job deleted',
        cause: oneLine(gate.message),
        pods,
        remedy: 'Nothing was deployed: run the deploy again, and leave its Job alone while it runs.'
      }
    ]
  }
  const failure = gate.failure
  const exited =
    failure !== undefined &&
    failure.container === APP_CONTAINER_NAME &&
    gate.pod?.status?.phase === 'Failed' &&
    !NOT_THE_COMMANDS_OWN.has(failure.reason)
  if (exited || !failure) {
    const code = failure?.lastExitCode
    const meaning = code !== undefined && EXIT_MEANINGS[code] ? `, ${EXIT_MEANINGS[code]}` : ''
    return [
      {
        class: 'pre-deploy',
        subjects,
        title: 'pre-deploy command failed',
        cause:
          code !== undefined
            ? `the pre-deploy command exited with code ${code}${meaning}`
            : `the pre-deploy command failed: ${oneLine(gate.message)}`,
        evidence: gate.reason ?? 'Failed',
        pods,
        ...tail,
        remedy: `${commandRemedy(code, gate.command)} ${kept}`
      }
    ]
  }
  // The pod could not run the command: what stopped it is what would have stopped the workers' pods.
  const rollout: RolloutResult = {
    deployment: subjects[0],
    outcome: 'failed',
    message: gate.message,
    ...(gate.reason ? { reason: gate.reason } : {}),
    durationMs: gate.durationMs,
    failures: [failure],
    pods: gate.pod ? [gate.pod] : []
  }
  return explainRollouts({ rollouts: [rollout], events: gate.events, logs: gate.logs }, facts).map(f => ({
    ...f,
    remedy: `${f.remedy} ${kept}`
  }))
}

function commandRemedy(code: number | undefined, command: string): string {
  const ran = `it runs as /bin/sh -c '${oneLine(command)}'`
  if (code === 127)
    return `The command's program is not in the image (${ran}): check its name and the image's PATH.`
  if (code === 126)
    return `The command's program is not executable in the image (${ran}): check its file mode.`
  if (code === 137) return `It was killed (SIGKILL) without OOMKilled (${ran}); see the events.`
  return `The command said no (${ran}): fix what its log shows (below), e.g. apply the pending migrations, then deploy again.`
}

function oneLine(text: string): string {
  return collapseLineBreaks(text, ' ').trim()
}
