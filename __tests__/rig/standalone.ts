// `npm run emulator`: the Kubernetes API emulator and the Google stand-ins, standalone, for kubectl by hand and
// for trying the action locally. Prints the variables to export, then runs until SIGINT/SIGTERM.

import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { programSmokeExec } from '../support/smoke-exec.js'
import { startRig } from '../support/rig.js'

const rig = await startRig()
programSmokeExec(rig.kube)
const kubeconfig = path.join(rig.directory, 'kubeconfig')
await rig.kube.writeKubeconfig(kubeconfig)
await writeFile(
  path.join(rig.directory, 'env'),
  Object.entries(rig.env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n') + '\n'
)

process.stdout.write(
  [
    `KUBECONFIG=${kubeconfig}`,
    `GOOGLE_APPLICATION_CREDENTIALS=${rig.credentialsFile}`,
    `CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER=${rig.env.CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER}`,
    `ACTIONS_ID_TOKEN_REQUEST_URL=${rig.env.ACTIONS_ID_TOKEN_REQUEST_URL}`,
    `ACTIONS_ID_TOKEN_REQUEST_TOKEN=${rig.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN}`,
    `EMULATOR_CONTROL_URL=${rig.kube.controlUrl}`,
    `# cluster: cluster_name=${rig.clusterInputs.cluster_name} location=${rig.clusterInputs.location}; all variables in ${path.join(rig.directory, 'env')}`,
    ''
  ].join('\n')
)

let stopping = false
const stop = async (): Promise<void> => {
  if (stopping) return
  stopping = true
  await rig.stop()
  process.exit(0)
}
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
