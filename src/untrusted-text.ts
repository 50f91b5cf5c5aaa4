// The one path for text the action did not write itself (from a pod, an event, the cluster, a template, a
// library's error): every log line, job summary and PR comment takes it through here.
//
// - forLog: the runner reads each output line for workflow commands (`::add-mask::`, `::set-output`, ...,
//   and the old `##[warning]` anywhere in a line); a line of such text that would be one is quoted instead.
// - inline: one line of Markdown that shows exactly the text: HTML and Markdown punctuation escaped, line
//   breaks collapsed (a blank line would end a <details> block and let headings and images through), and
//   nothing that GitHub turns live: no @mention (a notification to that user), no autolinked URL or e-mail.
// - fenced: a code block nothing in the text can close.

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
  return text.replace(/\s*(?:\r\n|\r|\n)+\s*/g, ' ⏎ ')
}

export function inline(text: string): string {
  return escapeHtml(oneLine(text).replace(/[\\`*_[\]~|#!]/g, ch => `\\${ch}`))
    .replace(/@/g, '&#64;')
    .replace(/:(?=\/\/)/g, '&#58;')
    .replace(/\bwww\./gi, match => `${match.slice(0, 3)}&#46;`)
}

export function fenced(text: string, lang = ''): string {
  const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map(run => run.length))
  const fence = '`'.repeat(Math.max(3, longestRun + 1))
  const info = lang.replace(/[^\w+.-]/g, '')
  const body = text.endsWith('\n') ? text : `${text}\n`
  return `${fence}${info}\n${body}${fence}`
}
