// The image in its registry, checked before any write, beside the access checks: the tag resolved to the digest
// the nodes will pull, for every platform the pods may be scheduled on. What the check ends in decides the run:
// an image that is missing, unreadable by the deployer or built for other nodes stops it before any write (a
// pre-flight problem with cause and remedy); a registry the runner cannot ask is a warning, and the run goes
// on (the pods will tell). Never throws: resolveImage never does.

import type { DeployConfig } from '../inputs.js'
import type { KubeObject } from '../k8s/kube-object.js'
import { isRecord } from '../k8s/kube-object.js'
import { resolveImage, type ImageResolution } from '../registry/resolve-image.js'
import { nodePlatformsOfPodSpec, platformText, type Platform } from '../registry/platform.js'
import type { RegistryTransport } from '../registry/transport.js'
import type { PreflightProblem } from './preflight.js'

// How the run reaches the registry: the transport (with the environment's proxy), the run's Google access
// token for Artifact Registry and gcr.io (none with cluster_name empty: anonymous), and whom it stands for.
export interface RegistryAccess {
  transport?: RegistryTransport
  googleAccessToken?: () => Promise<string>
  deployer?: string
}

export interface ImageCheck {
  resolution: ImageResolution
  // The node platforms the image was checked for.
  platforms: Platform[]
  startMs: number
  endMs: number
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'])

function podSpecOf(object: KubeObject): unknown {
  const spec = isRecord(object.spec) ? object.spec : undefined
  const template =
    object.kind === 'CronJob'
      ? isRecord(spec?.jobTemplate) && isRecord(spec.jobTemplate.spec)
        ? spec.jobTemplate.spec.template
        : undefined
      : spec?.template
  return isRecord(template) ? template.spec : undefined
}

function runsImage(podSpec: unknown, image: string): boolean {
  if (!isRecord(podSpec)) return false
  return [podSpec.initContainers, podSpec.containers].some(
    list => Array.isArray(list) && list.some(c => isRecord(c) && c.image === image)
  )
}

// Every platform a pod that runs the image may land on, over all the rendered workloads (worker and beat may
// select different nodes): the image needs a manifest for each.
export function nodePlatformsOfImage(objects: readonly KubeObject[], image: string): Platform[] {
  const platforms = new Map<string, Platform>()
  for (const object of objects) {
    if (!WORKLOAD_KINDS.has(object.kind)) continue
    const podSpec = podSpecOf(object)
    if (!runsImage(podSpec, image)) continue
    for (const platform of nodePlatformsOfPodSpec(podSpec)) platforms.set(platformText(platform), platform)
  }
  const all = [...platforms.values()]
  return all.length > 0 ? all : nodePlatformsOfPodSpec(undefined)
}

export async function checkImage(
  config: Pick<DeployConfig, 'image'>,
  objects: readonly KubeObject[],
  registry: RegistryAccess,
  options: { now?: () => number; signal?: AbortSignal } = {}
): Promise<ImageCheck> {
  const now = options.now ?? Date.now
  const platforms = nodePlatformsOfImage(objects, config.image)
  const startMs = now()
  const resolution = await resolveImage({
    image: config.image,
    platforms,
    ...(registry.transport ? { transport: registry.transport } : {}),
    ...(registry.googleAccessToken ? { googleAccessToken: registry.googleAccessToken } : {}),
    ...(registry.deployer ? { deployer: registry.deployer } : {}),
    ...(options.signal ? { signal: options.signal } : {})
  })
  return { resolution, platforms, startMs, endMs: now() }
}

// The pre-flight problem of an image the run must not deploy; undefined when the run may go on.
export function imagePreflightProblem(resolution: ImageResolution): PreflightProblem | undefined {
  if (resolution.outcome === 'resolved' || resolution.severity !== 'error') return undefined
  return {
    kind: 'image',
    text: resolution.cause,
    image: {
      outcome: resolution.outcome,
      cause: resolution.cause,
      remedy: resolution.remedy,
      ...(resolution.registryMessage ? { registryMessage: resolution.registryMessage } : {})
    }
  }
}

// The warning of a check that could not be made (or was refused to an anonymous client): the run goes on.
// The registry's own words are untrusted text: the caller's log path escapes them.
export function imageCheckWarning(resolution: ImageResolution): string | undefined {
  if (resolution.outcome === 'resolved' || resolution.severity !== 'warning') return undefined
  const said = resolution.registryMessage ? ` The registry said: ${resolution.registryMessage}` : ''
  return `${resolution.cause} ${resolution.remedy}${said}`
}

export function describeResolution(check: ImageCheck): string {
  const r = check.resolution
  const timing = `${r.requests} request${r.requests === 1 ? '' : 's'}, ${Math.round(r.durationMs)} ms`
  if (r.outcome !== 'resolved') return `${r.image}: ${r.outcome} (${timing})`
  return `${r.image} is ${r.digest} (${r.platforms.map(platformText).join(', ') || 'no platform named'}; checked for ${check.platforms.map(platformText).join(', ')}; ${timing})`
}
