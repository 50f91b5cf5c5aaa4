// `npm run cluster` (alias `npm run emulator`): the tests' real control plane, its app services (PostgreSQL,
// Redis) and the Google stand-ins, standalone, for running the action or kubectl by hand. Prints the variables to
// export (NAME=value, also written to a file), then runs until SIGINT/SIGTERM. The control endpoint
// (CLUSTER_CONTROL_URL) is described in __tests__/support/cluster.ts.

import path from 'node:path'
import { controlPlaneBinDir } from '../__tests__/rig/control-plane/binaries.js'
import { startCluster } from '../__tests__/support/cluster.js'

// Built first with its progress shown: a first build takes minutes.
const binDir = await controlPlaneBinDir({ showBuild: true })
const cluster = await startCluster()
const { clusterInputs } = cluster.rig
process.stdout.write(
  [
    ...cluster.variables.map(([name, value]) => `${name}=${value}`),
    `# cluster_name=${clusterInputs.cluster_name} location=${clusterInputs.location}; these variables are in ${path.join(cluster.rig.directory, 'env')}`,
    `# kubectl of this cluster: ${path.join(binDir, 'kubectl')}; inputs that reach the services: db_host=$DB_HOST, db_user, db_password, db_name, secret_data REDIS_URL=$REDIS_URL, no cloud_sql_instance`,
    `# pods of an image go another way: curl -d '{"image":"…","scenario":"crash-loop","log":"boom"}' $CLUSTER_CONTROL_URL/scenario`,
    ''
  ].join('\n')
)

let stopping = false
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  await cluster.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
