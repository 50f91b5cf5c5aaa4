// Parses the multi-line KEY=VALUE inputs (`env`, `secret_data`). Blank lines and lines starting with # are
// skipped; the value is everything after the first "=", exactly as written (it may itself contain "="). A value
// that starts or ends with white space is refused, naming the key: trimming it would change a password
// silently, keeping it would keep a stray space nobody sees; neither is what the user can check.

import { checkEnvName } from './input-rules.js'

export interface KeyValue {
  name: string
  value: string
}

export interface KeyValueParse {
  entries: KeyValue[]
  // Problems, each phrased to follow the input's name; never containing a value (values may be secret).
  problems: string[]
}

// `secret`: the text is secret_data, so a malformed line is described without quoting any of it (what stands
// before the first "=" may be part of a value, e.g. a pasted JSON key).
export function parseKeyValueLines(text: string, options: { secret?: boolean } = {}): KeyValueParse {
  const entries: KeyValue[] = []
  const problems: string[] = []
  const seen = new Set<string>()
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim()
    if (line === '' || line.startsWith('#')) return
    const lineNumber = index + 1
    const equals = line.indexOf('=')
    if (equals <= 0) {
      problems.push(`line ${lineNumber} is not KEY=VALUE`)
      return
    }
    const name = line.slice(0, equals).trim()
    const nameProblem = checkEnvName(name)
    if (nameProblem) {
      problems.push(
        options.secret
          ? `line ${lineNumber}: the text before the first "=" ${nameProblem} (one KEY=VALUE per line; multi-line values are not supported)`
          : `line ${lineNumber}: "${name}" ${nameProblem}`
      )
      return
    }
    if (seen.has(name)) {
      problems.push(`line ${lineNumber}: ${name} is given more than once`)
      return
    }
    seen.add(name)
    const value = rawLine.slice(rawLine.indexOf('=') + 1)
    if (value !== value.trim()) {
      problems.push(
        `line ${lineNumber}: the value of ${name} starts or ends with white space (a space after "=" or at the end of the line); values are used exactly as written, so remove it`
      )
      return
    }
    entries.push({ name, value })
  })
  return { entries, problems }
}
