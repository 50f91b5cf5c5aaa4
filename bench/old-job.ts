// The job this action replaces, as its shell steps ran it: `kubectl apply -f` of the namespace and the service
// account, the Secret through `kubectl create secret generic ... --dry-run=client -o yaml | kubectl apply -f -`,
// `sed` of the image and the Cloud SQL instance into each Deployment piped to `kubectl apply -f -`, the HPA,
// then `kubectl rollout status` of the worker and then of the beat. Same manifests as the action's (rendered
// by it, with the old job's placeholders put back for sed to fill), same cluster, a fresh discovery cache as
// on a new runner.

import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import type { KubeObject } from '../src/k8s/kube-object.js'

const run = promisify(execFile)

export interface OldJobResult {
  ms: number
  kubectlProcesses: number
}

export async function runOldJob(options: {
  kubeconfig: string
  namespace: string
  objects: KubeObject[]
  image: string
  instance: string
  secret: Record<string, string>
  env: NodeJS.ProcessEnv
}): Promise<OldJobResult> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'old-job-'))
  try {
    const byKind = (kind: string): KubeObject[] => options.objects.filter(o => o.kind === kind)
    const placeholders = (text: string): string =>
      text
        .split(options.image)
        .join('IMAGE_PLACEHOLDER')
        .split(options.instance)
        .join('PROJECT:REGION:INSTANCE')
    await writeFile(path.join(dir, 'namespace.yaml'), stringify(byKind('Namespace')[0]))
    await writeFile(path.join(dir, 'serviceaccount.yaml'), stringify(byKind('ServiceAccount')[0]))
    for (const deployment of byKind('Deployment')) {
      await writeFile(path.join(dir, `${deployment.metadata.name}.yaml`), placeholders(stringify(deployment)))
    }
    await writeFile(path.join(dir, 'hpa.yaml'), stringify(byKind('HorizontalPodAutoscaler')[0]))
    const ns = options.namespace
    const literals = Object.entries(options.secret)
      .map(([key, value]) => `--from-literal=${key}=${shellQuote(value)}`)
      .join(' ')
    const k = `kubectl --kubeconfig ${shellQuote(options.kubeconfig)}`
    const steps = [
      `${k} apply -f namespace.yaml`,
      `${k} apply -f serviceaccount.yaml`,
      `${k} create secret generic app-secrets -n ${ns} ${literals} --dry-run=client -o yaml | ${k} apply -f -`,
      ...byKind('Deployment').map(
        d =>
          `sed -e 's#IMAGE_PLACEHOLDER#${options.image}#g' -e 's#PROJECT:REGION:INSTANCE#${options.instance}#g' ${d.metadata.name}.yaml | ${k} apply -f -`
      ),
      `${k} apply -f hpa.yaml`,
      ...byKind('Deployment').map(
        d => `${k} rollout status deployment/${d.metadata.name} -n ${ns} --timeout=300s`
      )
    ]
    const env = { ...options.env, KUBECACHEDIR: path.join(dir, 'kube-cache') }
    const started = performance.now()
    for (const step of steps) await run('bash', ['-euo', 'pipefail', '-c', step], { cwd: dir, env })
    return {
      ms: performance.now() - started,
      kubectlProcesses: steps.reduce(
        (count, step) => count + (step.match(/kubectl --kubeconfig/g) ?? []).length,
        0
      )
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`
}
