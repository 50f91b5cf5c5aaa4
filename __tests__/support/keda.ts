// KEDA's own CRDs (v2.20.2) from the shared reference data, installed into a real control plane so that its
// apiserver validates ScaledObjects and TriggerAuthentications against KEDA's schemas. The data lives beside the
// repository (../shared/reference/keda), never inside it.

import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import path from 'node:path'
import type { ControlPlaneRig } from './rig.js'
import { REPO_ROOT } from './run-action.js'

export const KEDA_CRDS = ['scaledobjects.keda.sh', 'triggerauthentications.keda.sh']

export function kedaReference(): string {
  const candidates = [
    process.env.DEPLOY_GKE_WORKERS_REFERENCE,
    path.join(REPO_ROOT, '..', 'shared', 'reference'),
    '/work/shared/reference'
  ].filter((c): c is string => Boolean(c))
  const found = candidates.find(c => existsSync(path.join(c, 'keda', 'keda.sh_scaledobjects.yaml')))
  assert.ok(found, `KEDA's CRDs not found in ${candidates.join(', ')} (set DEPLOY_GKE_WORKERS_REFERENCE)`)
  return path.join(found, 'keda')
}

// Applies both CRDs and waits until the apiserver serves them (Established), as kubectl wait would.
export async function installKedaCrds(rig: ControlPlaneRig): Promise<void> {
  const dir = kedaReference()
  for (const crd of KEDA_CRDS) {
    // Server-side: the CRDs are too large for client-side apply's last-applied annotation.
    const file = path.join(dir, `keda.sh_${crd.split('.')[0]}.yaml`)
    const applied = await rig.kubectl('apply', '--server-side', '-f', file)
    assert.equal(applied.code, 0, applied.stderr)
  }
  for (const crd of KEDA_CRDS) {
    const ready = await rig.kubectl('wait', '--for=condition=Established', `crd/${crd}`, '--timeout=30s')
    assert.equal(ready.code, 0, ready.stderr)
  }
}
