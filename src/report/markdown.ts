// core.summary writes what it is given verbatim, so every piece of text that reaches the job summary or a PR
// comment (cluster messages, logs, user input) goes through one of these.

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;'
}

/** Text safe inside HTML elements and attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, ch => HTML_ENTITIES[ch])
}

/**
 * Text safe as inline Markdown: HTML escaped and Markdown punctuation backslash-escaped, so a message with
 * `*`, `_`, backticks or `[x](y)` shows as written instead of formatting or linking.
 */
export function escapeMarkdownInline(text: string): string {
  return escapeHtml(text.replace(/[\\`*_[\]~|#]/g, ch => `\\${ch}`))
}

/**
 * A fenced code block whose fence is longer than any backtick run in the text, so nothing in the text can
 * close it. Content in a fence is shown literally (no HTML, no Markdown), hence no escaping.
 */
export function codeBlock(text: string, lang = ''): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map(run => run.length))
  const fence = '`'.repeat(Math.max(3, longestRun + 1))
  const info = lang.replace(/[^\w+.-]/g, '')
  const body = text.endsWith('\n') ? text : `${text}\n`
  return `${fence}${info}\n${body}${fence}`
}

/**
 * A collapsible block. `summary` is plain text (escaped here); `body` is Markdown/HTML the caller has
 * already made safe. The blank lines let GitHub render Markdown inside the block.
 */
export function details(summary: string, body: string): string {
  return `<details><summary>${escapeHtml(summary)}</summary>\n\n${body}\n\n</details>`
}

/** A Markdown table from plain-text cells: escaped, with pipes and line breaks that cannot break the row. */
export function table(headers: string[], rows: string[][]): string {
  const cell = (text: string) => escapeMarkdownInline(text).replace(/\r?\n|\r/g, '<br>')
  const width = headers.length
  const line = (cells: string[]) =>
    `| ${Array.from({ length: width }, (_, i) => cell(cells[i] ?? '')).join(' | ')} |`
  return [line(headers), `|${' --- |'.repeat(width)}`, ...rows.map(line)].join('\n')
}
