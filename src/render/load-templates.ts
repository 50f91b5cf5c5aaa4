// Reads a manifests directory: every *.yaml / *.yml file in name order, every YAML document in it.

import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { isRecord, type KubeObject, type TemplateObject } from './kube-object.js'

export class TemplateError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid manifest template${problems.length === 1 ? '' : 's'}:\n${problems.map(p => `  - ${p}`).join('\n')}`
    )
    this.name = 'TemplateError'
  }
}

export async function loadTemplates(directory: string): Promise<TemplateObject[]> {
  let names: string[]
  try {
    names = await readdir(directory)
  } catch (error) {
    throw new TemplateError([
      `manifests: cannot read directory ${JSON.stringify(directory)}: ${(error as Error).message}`
    ])
  }
  const files = names.filter(name => /\.ya?ml$/.test(name)).sort()
  if (files.length === 0) {
    throw new TemplateError([`manifests: ${JSON.stringify(directory)} holds no .yaml or .yml files`])
  }
  const problems: string[] = []
  const templates: TemplateObject[] = []
  for (const file of files) {
    const text = await readFile(path.join(directory, file), 'utf8')
    parseAllDocuments(text).forEach((document, documentIndex) => {
      if (!('errors' in document)) return
      for (const error of document.errors) {
        const line = error.linePos?.[0]
        problems.push(`${file}${line ? `:${line.line}` : ''}: ${error.message.split('\n')[0]}`)
      }
      if (document.errors.length > 0) return
      const value: unknown = document.toJS()
      if (value === null || value === undefined) return
      const shapeProblem = checkObjectShape(value)
      if (shapeProblem) {
        problems.push(`${file} (document ${documentIndex + 1}): ${shapeProblem}`)
        return
      }
      templates.push({ file, documentIndex, object: value as KubeObject })
    })
  }
  if (problems.length > 0) throw new TemplateError(problems)
  return templates
}

function checkObjectShape(value: unknown): string | undefined {
  if (!isRecord(value)) return 'is not a Kubernetes object (a mapping)'
  if (typeof value.apiVersion !== 'string' || typeof value.kind !== 'string')
    return 'has no apiVersion or kind'
  if (!isRecord(value.metadata) || typeof value.metadata.name !== 'string') return 'has no metadata.name'
  return undefined
}
