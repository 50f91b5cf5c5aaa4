// Reads a manifests directory: every *.yaml / *.yml file in name order, every YAML document in it, every item
// of a List document. A template directory is user input, so it is read with bounds: regular files only (no
// symbolic link out of the directory, no FIFO to hang on), at most MAX_FILE_BYTES a file and MAX_TOTAL_BYTES in
// all, and a List's items are checked as the objects they are (kubectl applies each on its own).

import { constants } from 'node:fs'
import { open, readdir, realpath } from 'node:fs/promises'
import path from 'node:path'
import { parseAllDocuments } from 'yaml'
import { canonicalKind } from '../k8s/kinds.js'
import { isRecord, type KubeObject, type TemplateObject } from '../k8s/kube-object.js'

export const MAX_FILE_BYTES = 512 * 1024
export const MAX_TOTAL_BYTES = 2 * 1024 * 1024
export const MAX_FILES = 200

export class TemplateError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid manifest template${problems.length === 1 ? '' : 's'}:\n${problems.map(p => `  - ${p}`).join('\n')}`
    )
    this.name = 'TemplateError'
  }
}

export async function loadTemplates(directory: string): Promise<TemplateObject[]> {
  let root: string
  let entries: string[]
  try {
    root = await realpath(directory)
    entries = await readdir(root)
  } catch (error) {
    throw new TemplateError([
      `manifests: cannot read directory ${JSON.stringify(directory)}: ${(error as Error).message}`
    ])
  }
  const files = entries.filter(name => /\.ya?ml$/.test(name)).sort()
  if (files.length === 0) {
    throw new TemplateError([`manifests: ${JSON.stringify(directory)} holds no .yaml or .yml files`])
  }
  if (files.length > MAX_FILES) {
    throw new TemplateError([`manifests: ${files.length} template files; at most ${MAX_FILES} are read`])
  }
  const problems: string[] = []
  const templates: TemplateObject[] = []
  let total = 0
  for (const file of files) {
    const read = await readBounded(path.join(root, file), MAX_TOTAL_BYTES - total)
    if (typeof read !== 'string') {
      problems.push(`${file}: ${read.problem}`)
      continue
    }
    total += Buffer.byteLength(read)
    parseAllDocuments(read).forEach((document, documentIndex) => {
      if (!('errors' in document)) return
      for (const error of document.errors) {
        const line = error.linePos?.[0]
        problems.push(`${file}${line ? `:${line.line}` : ''}: ${error.message.split('\n')[0]}`)
      }
      if (document.errors.length > 0) return
      const value: unknown = document.toJS()
      if (value === null || value === undefined) return
      const where = `${file} (document ${documentIndex + 1})`
      for (const item of expandList(value, where, problems)) {
        const shapeProblem = checkObjectShape(item.value)
        if (shapeProblem) {
          problems.push(`${item.where}: ${shapeProblem}`)
          continue
        }
        const object = item.value as KubeObject
        object.kind = canonicalKind(object.kind)
        templates.push({ file, documentIndex, object })
      }
    })
  }
  if (problems.length > 0) throw new TemplateError(problems)
  return templates
}

// A regular file's text, read through a descriptor opened without following links and without blocking (a
// FIFO would otherwise wait for a writer forever); what it is, when it is not one.
async function readBounded(file: string, budget: number): Promise<string | { problem: string }> {
  let handle
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    return {
      problem:
        code === 'ELOOP'
          ? 'is a symbolic link; templates must be regular files inside the manifests directory'
          : `cannot be read (${code ?? (error as Error).message})`
    }
  }
  try {
    const info = await handle.stat()
    if (!info.isFile()) return { problem: 'is not a regular file (a FIFO, a socket or a device)' }
    if (info.size > MAX_FILE_BYTES) {
      return { problem: `is ${info.size} bytes; a template may be at most ${MAX_FILE_BYTES / 1024} KiB` }
    }
    if (info.size > budget) {
      return { problem: `would take the templates past ${MAX_TOTAL_BYTES / 1024 / 1024} MiB in all` }
    }
    return (await handle.readFile()).toString('utf8')
  } finally {
    await handle.close()
  }
}

// A List (kind List, or any *List with items) stands for its items. A List inside a List is refused:
// kubectl would apply its items too, and nothing in this action's contract needs one.
function expandList(
  value: unknown,
  where: string,
  problems: string[]
): Array<{ value: unknown; where: string }> {
  if (!isList(value)) return [{ value, where }]
  const items = (value as { items: unknown[] }).items
  const out: Array<{ value: unknown; where: string }> = []
  items.forEach((item, index) => {
    const at = `${where} item ${index + 1}`
    if (isList(item)) problems.push(`${at}: a List inside a List is not supported; list the objects directly`)
    else out.push({ value: item, where: at })
  })
  return out
}

function isList(value: unknown): boolean {
  return (
    isRecord(value) &&
    typeof value.kind === 'string' &&
    /List$/i.test(value.kind) &&
    Array.isArray(value.items)
  )
}

function checkObjectShape(value: unknown): string | undefined {
  if (!isRecord(value)) return 'is not a Kubernetes object (a mapping)'
  if (typeof value.apiVersion !== 'string' || typeof value.kind !== 'string')
    return 'has no apiVersion or kind'
  if (!isRecord(value.metadata) || typeof value.metadata.name !== 'string') return 'has no metadata.name'
  return undefined
}
