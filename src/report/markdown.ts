// core.summary writes what it is given verbatim, so every piece of text that reaches the job summary or a PR
// comment goes through these, built on the one path for untrusted text (../untrusted-text.ts).

import { escapeHtml, inline, oneLine } from '../untrusted-text.js'

export { fenced as codeBlock, inline } from '../untrusted-text.js'

/**
 * A collapsible block. `summary` is plain text made safe here: on one line it cannot end the HTML block, and
 * what GitHub would still make live in it (a mention, a link or image) is written as character references;
 * `body` is Markdown/HTML the caller has already made safe. The blank lines let GitHub render Markdown inside.
 */
export function details(summary: string, body: string): string {
  const safe = escapeHtml(oneLine(summary)).replace(/[@![\]]|:(?=\/\/)/g, ch => `&#${ch.charCodeAt(0)};`)
  return `<details><summary>${safe}</summary>\n\n${body}\n\n</details>`
}

/** A Markdown table from plain-text cells, each one safe inline text that cannot break the row. */
export function table(headers: string[], rows: string[][]): string {
  const width = headers.length
  const line = (cells: string[]) =>
    `| ${Array.from({ length: width }, (_, i) => inline(cells[i] ?? '')).join(' | ')} |`
  return [line(headers), `|${' --- |'.repeat(width)}`, ...rows.map(line)].join('\n')
}

/**
 * Markdown cut to at most `maxBytes` (GitHub keeps a job summary up to 1 MiB and a comment up to 65536
 * characters) at a line boundary, with an open code fence and any open <details> closed so the rest of the page
 * is not swallowed, and `note` (plain text) saying where the rest is.
 */
export function truncateMarkdown(markdown: string, maxBytes: number, note: string): string {
  if (Buffer.byteLength(markdown, 'utf8') <= maxBytes) return markdown
  const tail = `\n\n…(cut: ${inline(note)})\n`
  const budget = maxBytes - Buffer.byteLength(tail, 'utf8') - 64
  const kept: string[] = []
  let size = 0
  let fence: string | undefined
  let openDetails = 0
  for (const line of markdown.split('\n')) {
    size += Buffer.byteLength(line, 'utf8') + 1
    if (size > budget) break
    kept.push(line)
    const marker = /^(`{3,})/.exec(line)?.[1]
    if (fence === undefined && marker) fence = marker
    else if (
      fence !== undefined &&
      line.startsWith(fence) &&
      line.trim() === line.trim().replace(/[^`]/g, '')
    )
      fence = undefined
    if (fence === undefined) {
      openDetails += (line.match(/<details>/g) ?? []).length - (line.match(/<\/details>/g) ?? []).length
    }
  }
  if (fence !== undefined) kept.push(fence)
  for (; openDetails > 0; openDetails--) kept.push('', '</details>')
  return `${kept.join('\n')}${tail}`
}

// The run's URL comes from the runner's environment; only a plain http(s) URL becomes a link.
export function runLink(url: string | undefined): string | undefined {
  if (!url || !/^https?:\/\/[^\s<>()[\]"'`]+$/.test(url)) return undefined
  return `[this workflow run](${url})`
}
