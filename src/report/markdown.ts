// core.summary writes what it is given verbatim, so every piece of text that reaches the job summary or a PR
// comment goes through these, built on the one path for untrusted text (../untrusted-text.ts).

import { closingFenceRun, escapeHtml, inline, oneLine } from '../untrusted-text.js'

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
 * is not swallowed, and `note` (plain text) saying where the rest is. The size is checked with everything that
 * is added to the kept lines (the closing fence, the closing tags, the note), whatever the input.
 */
export function truncateMarkdown(markdown: string, maxBytes: number, note: string): string {
  if (Buffer.byteLength(markdown, 'utf8') <= maxBytes) return markdown
  const tail = `\n\n…(cut: ${inline(note)})\n`
  const tailBytes = Buffer.byteLength(tail, 'utf8')
  const lines = markdown.split('\n')
  let size = 0
  let fence: { char: string; length: number } | undefined
  let openDetails = 0
  // The longest prefix of whole lines that still fits once closed.
  let keep = 0
  let closing = ''
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    size += Buffer.byteLength(line, 'utf8') + (i > 0 ? 1 : 0)
    if (size + tailBytes > maxBytes) break
    if (fence === undefined) {
      const opening = openingFence(line)
      if (opening) fence = opening
      else openDetails += countOf(line, '<details>') - countOf(line, '</details>')
    } else {
      const run = closingFenceRun(line)
      if (run && run.char === fence.char && run.length >= fence.length) fence = undefined
    }
    const close = `${fence ? `\n${fence.char.repeat(fence.length)}` : ''}${'\n\n</details>'.repeat(Math.max(0, openDetails))}`
    if (size + Buffer.byteLength(close, 'utf8') + tailBytes <= maxBytes) {
      keep = i + 1
      closing = close
    }
  }
  const cut = `${lines.slice(0, keep).join('\n')}${closing}${tail}`
  // Nothing above can make it longer than the limit; should that ever change, the note alone still fits.
  return Buffer.byteLength(cut, 'utf8') <= maxBytes ? cut : tail.trimStart()
}

// A line that opens a code block (three or more ` or ~ at its start, then an info string).
function openingFence(line: string): { char: string; length: number } | undefined {
  const char = line[0]
  if (char !== '`' && char !== '~') return undefined
  let length = 0
  while (line[length] === char) length++
  if (length < 3 || (char === '`' && line.includes('`', length))) return undefined
  return { char, length }
}

function countOf(line: string, tag: string): number {
  let count = 0
  for (let at = line.indexOf(tag); at >= 0; at = line.indexOf(tag, at + tag.length)) count++
  return count
}

// The run's URL comes from the runner's environment; only a plain http(s) URL becomes a link.
export function runLink(url: string | undefined): string | undefined {
  if (!url || !/^https?:\/\/[^\s<>()[\]"'`]+$/.test(url)) return undefined
  return `[this workflow run](${url})`
}
