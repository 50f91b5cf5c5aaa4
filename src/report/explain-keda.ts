// Why KEDA cannot use the worker's ScaledObject, from KEDA's own Ready=False message, and what to do: its
// Redis password (the Secret key the TriggerAuthentication reads), its trust in the server's certificate
// (redis_server_ca), or the network between KEDA's operator and Redis. KEDA's message is already redacted and
// clipped (deploy/keda-verdict.ts); the summary escapes it.

import type { KedaVerdict } from '../deploy/keda-verdict.js'
import { REDIS_KEYS } from '../render/redis-connection.js'
import type { Finding } from './finding.js'
import type { RolloutFacts } from './explain-rollout.js'

const CA_COMMAND =
  'gcloud redis instances describe INSTANCE --region REGION --format="value(serverCaCerts[0].cert)"'

export function explainKeda(verdicts: KedaVerdict[] | undefined, facts: RolloutFacts): Finding[] {
  return (verdicts ?? [])
    .filter(v => v.state === 'not-ready' && v.problem)
    .map(verdict => {
      const problem = verdict.problem!
      const auth = verdict.authentications.length > 0 ? verdict.authentications.join(', ') : undefined
      const reads = `the TriggerAuthentication${auth ? ` ${auth}` : ''} reads`
      const remedy = {
        auth: facts.writesSecret
          ? `KEDA could not log in to Redis: the password in REDIS_URL of secret_data (the action writes it to key ${REDIS_KEYS.password} of Secret ${facts.secretName}, which ${reads}) is not the server's. Put the right one in REDIS_URL (Memorystore's AUTH string: gcloud redis instances get-auth-string INSTANCE --region REGION) and deploy again.`
          : `KEDA could not log in to Redis: the password in the Secret key ${reads} (${REDIS_KEYS.password} of Secret ${facts.secretName} when the action splits REDIS_URL) is not the server's; correct that key and deploy again.`,
        tls: `KEDA does not trust the Redis server's certificate: give the server's CA in redis_server_ca (Memorystore: ${CA_COMMAND}), which the action writes to key ${REDIS_KEYS.ca} for ${reads}; or add ?ssl_cert_reqs=none to REDIS_URL to turn the check off for KEDA as for the app.`,
        network: `KEDA's operator cannot reach Redis: it runs in its own namespace (keda), not beside the worker, so the network must let its pods reach the address in REDIS_URL (VPC and firewall rules, a NetworkPolicy, Memorystore's authorized network), and the address must be the one the app uses.`,
        other: `Read KEDA's message above; kubectl describe scaledobject -n ${facts.namespace} ${verdict.scaledObject} shows KEDA's events for it.`
      }[problem.kind]
      const undone =
        ' KEDA runs no scale loop for a ScaledObject it marks not Ready: until this is fixed the worker keeps its replica count and never scales on the queues.'
      return {
        class: 'keda-not-ready',
        subjects: [`ScaledObject ${verdict.scaledObject}`],
        title: 'KEDA cannot use the ScaledObject',
        cause: `KEDA marks ScaledObject ${verdict.scaledObject} not Ready: ${problem.message}`,
        evidence: `Ready False${problem.reason ? `, ${problem.reason}` : ''}`,
        pods: [],
        remedy: `${remedy}${undone}`
      } satisfies Finding
    })
}
