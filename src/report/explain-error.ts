// Why a run stopped before (or outside) the rollouts, as findings: invalid inputs or templates, the Google
// credentials, the pre-flight checks (RBAC, the Secret), the deploy lock, the server-side dry run, or an error
// of the cluster API. Every one of these stops before the first write, except the last.

import { PreflightError } from '../deploy/preflight.js'
import { DeployLockBusyError, LEASE_SECONDS, LOCK_NAME } from '../deploy/deploy-lock.js'
import type { PreflightProblem } from '../deploy/preflight.js'
import { GkeError, type GkeErrorCode } from '../gke/errors.js'
import { InputError } from '../inputs.js'
import { KubectlError } from '../kube/kubectl.js'
import { TemplateError } from '../render/load-templates.js'
import { RenderError } from '../render/render-manifests.js'
import type { Finding } from './finding.js'
import { explainImagePreflight } from './explain-image.js'

export interface ErrorFacts {
  namespace: string
  secretName: string
  writesSecret: boolean
  /** The identity the cluster sees (a service account's email), when known. */
  identity?: string
}

/** The findings for an error that ended the run, and the lines that list every problem (shown under them). */
export function explainError(error: unknown, facts: ErrorFacts): { findings: Finding[]; problems: string[] } {
  if (error instanceof InputError) {
    return {
      findings: [
        listed(
          'input',
          'inputs',
          'invalid input',
          error.problems,
          'Fix the inputs listed below (every problem is listed at once); nothing touched the cluster.'
        )
      ],
      problems: error.problems
    }
  }
  if (error instanceof RenderError || error instanceof TemplateError) {
    return {
      findings: [
        listed(
          'input',
          'templates',
          'templates cannot be rendered',
          error.problems,
          'Fix the templates (the manifests input) as listed below; nothing touched the cluster.'
        )
      ],
      problems: error.problems
    }
  }
  if (error instanceof PreflightError) {
    // Each problem is a finding (the refused permissions merged into one): nothing more to list.
    return { findings: explainPreflight(error.problems, facts), problems: [] }
  }
  if (error instanceof DeployLockBusyError) {
    const { lock } = error
    return {
      findings: [
        {
          class: 'lock-held',
          subjects: ['deploy lock'],
          title: 'another deploy holds the lock',
          cause: `${lock.holder}; this run waited ${lock.waitedSeconds}s`,
          evidence: `lock_timeout ${lock.timeoutSeconds}s`,
          pods: [],
          remedy:
            `Let that deploy finish and run again, raise lock_timeout, or serialise the deploys with a workflow concurrency group; if that run is gone, its lock lapses within ${LEASE_SECONDS}s ` +
            `(kubectl delete lease ${LOCK_NAME} -n ${lock.namespace} removes it now).`
        }
      ],
      problems: []
    }
  }
  if (error instanceof GkeError) {
    return {
      findings: [
        {
          class: 'credentials',
          subjects: ['cluster credentials'],
          title: GKE_TITLES[error.code],
          cause: firstLine(error.message),
          pods: [],
          // Lines after the first are the connection step's own advice: said there, not twice.
          remedy: restOf(error.message) || GKE_REMEDIES[error.code]()
        }
      ],
      problems: []
    }
  }
  const message = error instanceof Error ? error.message : String(error)
  const apiDown = error instanceof KubectlError && (error.transient || error.timedOut)
  return {
    findings: [
      {
        class: 'error',
        subjects: ['deploy'],
        title: apiDown ? 'cluster API unreachable' : 'error',
        cause: firstLine(message),
        pods: [],
        remedy: apiDown
          ? 'The cluster API did not answer (network, a control-plane upgrade): run the deploy again; nothing was changed.'
          : 'Nothing was changed; the log of this step has the whole message.'
      }
    ],
    problems: message.split('\n').slice(1).filter(Boolean)
  }
}

function listed(
  cls: Finding['class'],
  subject: string,
  title: string,
  problems: string[],
  remedy: string
): Finding {
  const more =
    problems.length > 1
      ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''} below)`
      : ''
  return { class: cls, subjects: [subject], title, cause: `${problems[0] ?? title}${more}`, pods: [], remedy }
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim()
}

function restOf(text: string): string {
  return text
    .split('\n')
    .slice(1)
    .map(l => l.trim())
    .filter(Boolean)
    .join(' ')
}

const GKE_TITLES: Record<GkeErrorCode, string> = {
  NO_CREDENTIALS: 'no Google credentials',
  BAD_CREDENTIALS_FILE: 'unusable Google credentials',
  AUTH_FAILED: 'Google authentication failed',
  NO_PROJECT: 'no project',
  CLUSTER_NOT_FOUND: 'cluster not found',
  PERMISSION_DENIED: 'may not read the cluster',
  CLUSTER_NOT_RUNNING: 'cluster not running',
  ENDPOINT_NOT_ENABLED: 'cluster endpoint not enabled',
  GKE_API_ERROR: 'GKE API error',
  KUBECONFIG: 'kubeconfig'
}

// The GKE errors already say what Google answered and often what to grant; the remedy says where to do it.
const GKE_REMEDIES: Record<GkeErrorCode, () => string> = {
  NO_CREDENTIALS: () =>
    'Run google-github-actions/auth in this job before this step, with permissions: id-token: write.',
  BAD_CREDENTIALS_FILE: () =>
    'Run google-github-actions/auth in this job, right before this step, and leave the file it writes in place.',
  AUTH_FAILED: () =>
    "Check the auth step's workload_identity_provider and service_account, and that the service account lets the repository's principal act as it (roles/iam.workloadIdentityUser).",
  NO_PROJECT: () => 'Set the project_id input.',
  CLUSTER_NOT_FOUND: () =>
    'Correct cluster_name, location or project_id (gcloud container clusters list shows them).',
  PERMISSION_DENIED: () =>
    'Grant the deploy service account the role the message names on the project, then run again.',
  CLUSTER_NOT_RUNNING: () =>
    'Wait until the cluster is RUNNING (an upgrade or repair is in progress), then run again.',
  ENDPOINT_NOT_ENABLED: () =>
    'Enable that endpoint on the cluster, or choose another with the cluster_endpoint input.',
  GKE_API_ERROR: () => 'Run again; if it persists, check the GKE API status and the runner network.',
  KUBECONFIG: () => 'Report this as a bug of the action, with this log.'
}

// KEDA's own chart; on Autopilot it runs as it is (its operator and metrics server are ordinary Deployments).
export const KEDA_INSTALL =
  'helm repo add kedacore https://kedacore.github.io/charts && helm install keda kedacore/keda --namespace keda --create-namespace'

function explainPreflight(problems: PreflightProblem[], facts: ErrorFacts): Finding[] {
  const findings: Finding[] = []
  const forbidden = problems.filter(p => p.kind === 'forbidden' && p.permission)
  if (forbidden.length > 0) {
    const denied = forbidden.map(p => `${p.permission!.verb} ${p.permission!.resource}`)
    const reason = forbidden.map(p => p.permission!.reason).find(Boolean)
    findings.push({
      class: 'rbac',
      subjects: ['pre-flight'],
      title: 'RBAC refuses the deploy',
      cause: `the deploy credentials may not ${denied.join(', ')} in namespace ${facts.namespace}`,
      ...(reason ? { evidence: reason } : {}),
      pods: [],
      remedy:
        'Bind the deploy identity to the deploy-gke-workers-deployer role of docs/rbac.yaml (kubectl apply -f docs/rbac.yaml; ' +
        `kubectl create clusterrolebinding deploy-gke-workers-deployer --clusterrole=deploy-gke-workers-deployer --user=${facts.identity ?? 'SERVICE_ACCOUNT_EMAIL'}), ` +
        'or grant it roles/container.developer; nothing was changed.'
    })
  }
  for (const problem of problems) {
    switch (problem.kind) {
      case 'forbidden':
        break
      case 'unreadable':
        findings.push({
          class: 'rbac',
          subjects: ['pre-flight'],
          title: 'may not read the objects',
          cause: problem.text,
          pods: [],
          remedy: `Grant get and list on the deployed kinds in namespace ${facts.namespace} (the deployer role of docs/rbac.yaml has them); nothing was changed.`
        })
        break
      case 'missing-secret':
        findings.push({
          class: 'missing-secret',
          subjects: ['pre-flight'],
          title: `Secret ${problem.secret} missing`,
          cause: `Secret ${problem.secret} does not exist in namespace ${facts.namespace}`,
          pods: [],
          remedy: `Give secret_data (and the db_* inputs) so the action writes it, or create Secret ${problem.secret} first; nothing was changed.`
        })
        break
      case 'missing-secret-key': {
        // One finding per missing key, naming every container that needs it.
        const alike = problems.filter(
          p => p.kind === 'missing-secret-key' && p.secret === problem.secret && p.key === problem.key
        )
        if (alike[0] !== problem) break
        findings.push({
          class: 'missing-secret',
          subjects: ['pre-flight'],
          title: `Secret key ${problem.key} missing`,
          cause: `Secret ${problem.secret} in namespace ${facts.namespace} has no key ${problem.key}, which ${alike.map(p => p.needs ?? 'a container').join(' and ')} ${alike.length > 1 ? 'need' : 'needs'}`,
          pods: [],
          remedy:
            problem.secret === facts.secretName && !facts.writesSecret
              ? `Add ${problem.key} to Secret ${problem.secret} in namespace ${facts.namespace}, or give secret_data so the action writes the Secret; nothing was changed.`
              : `Add ${problem.key} to Secret ${problem.secret} in namespace ${facts.namespace}, or remove the reference from the templates; nothing was changed.`
        })
        break
      }
      case 'rejected':
        findings.push({
          class: 'rejected',
          subjects: ['server-side dry run'],
          title: 'the API server rejected the manifests',
          cause: firstLine(problem.text),
          pods: [],
          remedy: /autopilot|GKE Warden|admission webhook/i.test(problem.text)
            ? 'An admission policy (on Autopilot, GKE Warden) refuses a field: change the one the message names in the templates; nothing was changed.'
            : 'Fix the field the message names in the templates (the manifests input); nothing was changed.'
        })
        break
      case 'keda-missing':
        findings.push({
          class: 'keda-missing',
          subjects: ['pre-flight'],
          title: 'KEDA is not installed',
          cause: problem.text,
          pods: [],
          remedy: `Install KEDA in the cluster (on GKE Autopilot too, from its Helm chart: ${KEDA_INSTALL}), or set autoscaling: cpu; nothing was changed.`
        })
        break
      case 'autoscaler-conflict':
        findings.push({
          class: 'autoscaler-conflict',
          subjects: ['pre-flight'],
          title: 'another autoscaler scales the worker',
          cause: problem.text,
          pods: [],
          remedy:
            'Delete that autoscaler (kubectl delete), or label it app.kubernetes.io/managed-by: deploy-gke-workers so the action removes it; nothing was changed.'
        })
        break
      case 'api-unavailable':
        findings.push({
          class: 'api-unavailable',
          subjects: ['server-side dry run'],
          title: 'the cluster API was unavailable',
          cause: firstLine(problem.text),
          pods: [],
          remedy:
            'The API server did not answer (a restart, an upgrade of the control plane, an overloaded server) for a minute: nothing was changed; run the deploy again.'
        })
        break
      case 'image':
        findings.push(explainImagePreflight(problem))
        break
      case 'lock-lost':
        findings.push({
          class: 'lock-lost',
          subjects: ['deploy lock'],
          title: 'deploy lock lost',
          cause: problem.text,
          pods: [],
          remedy:
            'Another run took the lock over while this one was stalled: run again once it has finished; nothing was changed.'
        })
        break
    }
  }
  return findings
}
