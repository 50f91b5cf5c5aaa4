// The rendered manifests as a file for people (the `manifests` output): every object, Secret values redacted.

import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { toYamlDocuments } from '../k8s/serialize.js'
import type { RenderedManifests } from '../render/render-manifests.js'

export async function writeRenderedManifests(
  directory: string,
  rendered: RenderedManifests
): Promise<string> {
  const file = path.join(directory, 'manifests.yaml')
  const header =
    '# Rendered by deploy-gke-workers. Secret values are redacted (***): this file is a record, not for kubectl apply.\n'
  await writeFile(
    file,
    header +
      toYamlDocuments(
        rendered.objects.map(o => o.object),
        { redact: true }
      ),
    { mode: 0o600 }
  )
  return file
}
