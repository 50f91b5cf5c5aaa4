// The one path for text the action did not write itself (from a pod, an event, the cluster, a template, a
// library's error): every log line, job summary and PR comment takes it through here.
//
// - forLog: the runner reads each output line for workflow commands (`::add-mask::`, `::set-output`, ...,
//   and the old `##[warning]` anywhere in a line); a line of such text that would be one is quoted instead.
// - inline: one line of Markdown that shows exactly the text: HTML and Markdown punctuation escaped, line
//   breaks collapsed (a blank line would end a <details> block and let headings and images through), and
//   nothing that GitHub turns live: no @mention (a notification to that user), no autolinked URL or e-mail.
// - fenced: a code block nothing in the text can close, its fence at most MAX_FENCE long whatever the text.
// - boundLines: the first thing done to such text when it is read: at most so many characters, cut only
//   between lines (a secret is on one line: a cut inside a line could leave part of one that no redaction
//   recognises any more).
//
// Every pattern here, and every one applied to such text anywhere, is linear in the length of the text: a
// regular expression that backtracks over a long line (400,000 characters from a pod) would freeze the run
// (__tests__/unit/linear-patterns.test.ts checks every pattern in src/).

const HTML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;'
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, ch => HTML_ENTITIES[ch])
}

const COMMAND_LINE = /^\s*::/
const OLD_COMMAND = /##(vso)?\[/gi

export function forLog(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map(line => {
      const quoted = line.replace(OLD_COMMAND, match => match.replace('[', ' ['))
      return COMMAND_LINE.test(quoted) ? `| ${quoted}` : quoted
    })
    .join('\n')
}

export function oneLine(text: string): string {
  return collapseLineBreaks(text, ' ⏎ ')
}

// Every run of white space that holds a line break becomes `joiner`, as the pattern \s*(?:\r\n|\r|\n)+\s*
// would replace it, but in one pass: that pattern retries its leading \s* from every space of a long run of
// spaces (quadratic).
export function collapseLineBreaks(text: string, joiner: string): string {
  const pieces = text.split(/\r\n|\r|\n/)
  if (pieces.length === 1) return text
  const last = pieces.length - 1
  const kept: string[] = []
  pieces.forEach((piece, i) => {
    const trimmed = i === 0 ? piece.trimEnd() : i === last ? piece.trimStart() : piece.trim()
    // A line of white space only is part of the run between its neighbours.
    if (trimmed !== '' || i === 0 || i === last) kept.push(trimmed)
  })
  return kept.join(joiner)
}

export function inline(text: string): string {
  return escapeHtml(oneLine(text).replace(/[\\`*_[\]~|#!]/g, ch => `\\${ch}`))
    .replace(/@/g, '&#64;')
    .replace(/:(?=\/\/)/g, '&#58;')
    .replace(/\bwww\./gi, match => `${match.slice(0, 3)}&#46;`)
}

// Longer fences are never needed for text people wrote; text that holds a longer closing line is made unable
// to close this one instead (below), so the fence, and the block, stay the size of the text plus a constant.
export const MAX_FENCE = 16
// A line that opens nothing and shows nothing: put before a line of the text that would close the fence.
const ZERO_WIDTH_SPACE = '\u200b'

/**
 * A line that CommonMark reads as a closing code fence (up to three spaces, a run of only ` or only ~, then
 * spaces or tabs): its character and run length; undefined for any other line.
 */
export function closingFenceRun(line: string): { char: '`' | '~'; length: number } | undefined {
  let i = 0
  while (i < 3 && line[i] === ' ') i++
  const char = line[i]
  if (char !== '`' && char !== '~') return undefined
  let end = i
  while (line[end] === char) end++
  for (let j = end; j < line.length; j++) if (line[j] !== ' ' && line[j] !== '\t') return undefined
  return end - i >= 3 ? { char, length: end - i } : undefined
}

export function fenced(text: string, lang = ''): string {
  const lines = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n')
  const longest = { '`': 0, '~': 0 }
  for (const line of lines) {
    const run = closingFenceRun(line)
    if (run) longest[run.char] = Math.max(longest[run.char], run.length)
  }
  // Backticks when a bounded fence of them fits, else tildes; when neither does, backticks, and each line
  // that would close them starts with a zero-width space (shown the same, no longer a fence).
  const char = longest['`'] < MAX_FENCE || longest['~'] >= MAX_FENCE ? '`' : '~'
  const fence = char.repeat(Math.min(MAX_FENCE, Math.max(3, longest[char] + 1)))
  const body = lines.map(line => {
    const run = closingFenceRun(line)
    return run && run.char === char && run.length >= fence.length ? `${ZERO_WIDTH_SPACE}${line}` : line
  })
  const info = lang.replace(/[^\w+.-]/g, '')
  return `${fence}${info}\n${body.join('\n')}\n${fence}`
}

/**
 * Untrusted text as it is first read: unchanged when it has at most `maxChars` characters, else the last
 * (`keep: 'tail'`, for logs and output, whose end says why something failed) or first whole lines that fit,
 * with a line saying how much was left out. Never part of a line: a line longer than `maxChars` is left out
 * whole. Linear, and the only processing before the text is bounded.
 */
export function boundLines(text: string, maxChars: number, keep: 'head' | 'tail' = 'tail'): string {
  if (text.length <= maxChars) return text
  if (keep === 'tail') {
    const from = text.length - maxChars
    const window = text.slice(from)
    // The window starts a line, or the rest of the line it cuts into is dropped.
    const start = text[from - 1] === '\n' ? -1 : window.indexOf('\n')
    const kept = start < 0 && text[from - 1] !== '\n' ? '' : window.slice(start + 1)
    return `[${text.length - kept.length} earlier characters not shown]\n${kept}`
  }
  const window = text.slice(0, maxChars)
  const end = text[maxChars - 1] === '\n' ? maxChars - 1 : window.lastIndexOf('\n')
  const kept = end < 0 ? '' : window.slice(0, end + 1)
  return `${kept}[${text.length - kept.length} more characters not shown]\n`
}
