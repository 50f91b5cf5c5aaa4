// The rig for people (`npm run cluster`): the real control plane with its app services and the Google stand-ins,
// started as the tests start them, with the variables a person exports to run the action or kubectl against it,
// and a control endpoint (plain HTTP on 127.0.0.1, never faulted) to make pods of an image go a given way,
// change what runs in them, and read back the API requests the action made.
//
//   POST /scenario {"image", "scenario", "log"?}   scenario: healthy, pending (never scheduled), scale-up
//        (pending until a node is added a moment later), pull-failure, pull-denied, crash-loop ("log": what
//        the crashed instance logged), never-ready, oom, slow-start; pods of the image created from then on
//   POST /exec {"image", "env"?, "python"?, "main"?, "path"?}   what the image's containers run exec'd commands
//        with: more variables, Python run first by every python3, another main process, directories on PATH
//   POST /faults {"seed", "errorRate"?, "statuses"?, "resetRate"?, "latencyMs"?}   seeded API faults ({} clears)
//   GET /requests   [{"method", "path", "status"}] of every request through the API's front (the action's)

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { ContainerStandIn } from '../rig/control-plane/pod-runtime.js'
import type { PodScenario } from '../rig/control-plane/pod-scenarios.js'
import { SCENARIO_MARKERS, SCHEDULING_MARKERS } from '../rig/scenario-images.js'
import type { FaultOptions } from '../rig/shared/faults.js'
import { startControlPlaneRig, type ControlPlaneRig } from './rig.js'

// The scenarios by the names people use, and the markers the rig knows them by.
const SCENARIOS: Record<string, PodScenario> = {
  healthy: 'healthy',
  pending: SCHEDULING_MARKERS.unschedulable,
  'scale-up': SCHEDULING_MARKERS.scaleUp,
  'pull-failure': SCENARIO_MARKERS.imageNotFound,
  'pull-denied': SCENARIO_MARKERS.imageDenied,
  'crash-loop': SCENARIO_MARKERS.crashLoop,
  'never-ready': SCENARIO_MARKERS.neverReady,
  oom: SCENARIO_MARKERS.oomKilled,
  'slow-start': SCENARIO_MARKERS.slowStart
}

export interface Cluster {
  rig: ControlPlaneRig
  // NAME=value, in the order printed.
  variables: Array<[string, string]>
  controlUrl: string
  stop(): Promise<void>
}

function route(
  rig: ControlPlaneRig,
  method: string,
  pathname: string,
  body: Record<string, unknown>
): unknown {
  const image = typeof body.image === 'string' ? body.image : undefined
  switch (`${method} ${pathname}`) {
    case 'POST /scenario': {
      const scenario = SCENARIOS[String(body.scenario)]
      if (!image || !scenario) {
        throw new Error(`give "image" and a "scenario" of ${Object.keys(SCENARIOS).join(', ')}`)
      }
      rig.controlPlane.scenarios.set(image, scenario)
      if (typeof body.log === 'string') {
        rig.controlPlane.pods.set({ image }, { logs: { '*': { previous: body.log, current: body.log } } })
      }
      return { image, scenario }
    }
    case 'POST /exec': {
      if (!image) throw new Error('give "image"')
      const standIn: ContainerStandIn = {}
      if (body.env) standIn.env = body.env as Record<string, string>
      if (typeof body.python === 'string') standIn.python = body.python
      if (Array.isArray(body.main)) standIn.main = body.main.map(String)
      if (Array.isArray(body.path)) standIn.path = body.path.map(String)
      rig.controlPlane.pods.set({ image }, standIn)
      return { image, ...standIn }
    }
    case 'POST /faults':
      rig.controlPlane.faults.set(
        Object.keys(body).length > 0 ? (body as unknown as FaultOptions) : undefined
      )
      return { faults: Object.keys(body).length > 0 ? body : 'none' }
    case 'GET /requests':
      return rig.requestLog()
    default:
      throw Object.assign(new Error(`no route ${method} ${pathname}`), { status: 404 })
  }
}

export async function startCluster(): Promise<Cluster> {
  const rig = await startControlPlaneRig()
  try {
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const reply = (status: number, answer: unknown): void => {
          res.writeHead(status, { 'Content-Type': 'application/json' })
          res.end(`${JSON.stringify(answer, null, 2)}\n`)
        }
        try {
          const text = Buffer.concat(chunks).toString('utf8')
          const body = text.trim() ? (JSON.parse(text) as Record<string, unknown>) : {}
          const url = new URL(req.url ?? '/', 'http://127.0.0.1')
          reply(200, route(rig, req.method ?? 'GET', url.pathname, body))
        } catch (error) {
          reply((error as { status?: number }).status ?? 400, { error: (error as Error).message })
        }
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()))
    const controlUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const kubeconfig = path.join(rig.directory, 'kubeconfig')
    // An administrator's, straight to the apiserver: kubectl by hand is not in the action's request log.
    await rig.controlPlane.writeKubeconfig(kubeconfig, { direct: true })
    // What google-github-actions/auth leaves (the stand-ins' credentials file, project, OIDC token request),
    // the GKE API's address, the runner's network (the proxy), then the control URL and the services.
    const variables: Array<[string, string]> = [
      ['KUBECONFIG', kubeconfig],
      ...Object.entries(rig.env),
      ['CLUSTER_CONTROL_URL', controlUrl],
      ...Object.entries(rig.services.variables)
    ]
    await writeFile(
      path.join(rig.directory, 'env'),
      variables.map(([name, value]) => `${name}=${value}`).join('\n') + '\n'
    )
    return {
      rig,
      variables,
      controlUrl,
      async stop() {
        await new Promise<void>(resolve => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await rig.stop()
      }
    }
  } catch (error) {
    await rig.stop()
    throw error
  }
}
