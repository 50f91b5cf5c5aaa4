// KEDA's own CRDs (all six of config/crd/bases, from the KEDA Go module scripts/build-keda.sh builds, at the
// pinned release), installed into a real control plane so that its apiserver validates ScaledObjects and
// TriggerAuthentications against KEDA's schemas. For KEDA's operator and metrics adapter as well, see
// ./keda-operator.ts.

import type { ControlPlaneRig } from './rig.js'
import { installKedaCrdsFromModule } from '../rig/keda/index.js'

// Applies the CRDs and waits until the apiserver serves them (Established), as kubectl wait would.
export async function installKedaCrds(rig: ControlPlaneRig): Promise<void> {
  await installKedaCrdsFromModule(rig.controlPlane)
}
