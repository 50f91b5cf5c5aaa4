// Reading a job summary as a person reads it: the headline block right under the heading, the Mermaid
// timeline parsed by Mermaid itself, and the Markdown escapes taken out so a test can quote plain text.

import assert from 'node:assert/strict'

/** The summary's text with Markdown escapes and the character references the report writes decoded. */
export function plain(markdown: string): string {
  return markdown
    .replace(/\\([\\`*_[\]~|#!])/g, '$1')
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
}

export interface HeadlineEntry {
  subjects: string
  cause: string
  fix: string
  links?: string
}

/** The findings under the heading: `- **subjects**: cause`, `  - **Fix:** remedy`, `  - links`. */
export function headline(summary: string): HeadlineEntry[] {
  const lines = summary.split('\n')
  assert.match(lines[0], /^## /, 'the summary starts with its heading')
  assert.equal(lines[1], '', 'a blank line after the heading')
  const entries: HeadlineEntry[] = []
  for (let i = 2; i < lines.length && lines[i].startsWith('- **'); i++) {
    const top = /^- \*\*(.+?)\*\*: (.*)$/.exec(lines[i])
    assert.ok(top, `a finding line: ${lines[i]}`)
    const fix = /^ {2}- \*\*Fix:\*\* (.*)$/.exec(lines[i + 1] ?? '')
    assert.ok(fix, `a remedy line after ${lines[i]}: ${lines[i + 1]}`)
    const entry: HeadlineEntry = { subjects: plain(top[1]), cause: plain(top[2]), fix: plain(fix[1]) }
    i++
    if (/^ {2}- \*\*(Logs|GKE):\*\*/.test(lines[i + 1] ?? '')) {
      entry.links = lines[i + 1]
      i++
    }
    entries.push(entry)
  }
  assert.ok(entries.length > 0, `no headline under the heading:\n${summary.slice(0, 600)}`)
  return entries
}

/** How often `text` occurs in `haystack`. */
export function occurrences(haystack: string, text: string): number {
  return haystack.split(text).length - 1
}

export interface GanttTask {
  section: string
  name: string
  startMs: number
  endMs: number
  critical: boolean
}

let mermaidReady: Promise<typeof import('mermaid').default> | undefined

// Mermaid runs in a browser; jsdom gives it the window and document its parser touches (DOMPurify).
async function loadMermaid(): Promise<typeof import('mermaid').default> {
  mermaidReady ??= (async () => {
    const { JSDOM } = await import('jsdom')
    const dom = new JSDOM('<!doctype html><html><body></body></html>')
    Object.assign(globalThis, { window: dom.window, document: dom.window.document })
    return (await import('mermaid')).default
  })()
  return mermaidReady
}

/**
 * The ```mermaid block of a summary, parsed by Mermaid (a syntax error throws) and its Gantt tasks read back
 * from Mermaid's own model: each with a start and end it understood.
 */
export async function ganttOf(summary: string): Promise<GanttTask[]> {
  const match = /```mermaid\n([\s\S]*?)\n```/.exec(summary)
  assert.ok(match, 'a mermaid block in the summary')
  const mermaid = await loadMermaid()
  await mermaid.parse(match[1])
  const diagram = await mermaid.mermaidAPI.getDiagramFromText(match[1])
  assert.equal(diagram.type, 'gantt')
  const db = diagram.db as unknown as {
    getTasks(): Array<{ section: string; task: string; startTime: Date; endTime: Date; crit?: boolean }>
  }
  return db.getTasks().map(t => ({
    section: t.section,
    name: t.task.trim(),
    startMs: t.startTime.valueOf(),
    endMs: t.endTime.valueOf(),
    critical: t.crit === true
  }))
}
