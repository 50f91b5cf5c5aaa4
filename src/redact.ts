// Replaces every known secret value in a text with ***: the last line of defence for text that came from the
// cluster (logs, events, kubectl's stderr) before it reaches a log, the job summary or a PR comment.

export type Redact = (text: string) => string

export function createRedactor(secretValues: Iterable<string>): Redact {
  // Longest first, so a value that contains another is replaced whole.
  const values = [...new Set(secretValues)].filter(v => v.length >= 3).sort((a, b) => b.length - a.length)
  if (values.length === 0) return text => text
  return text => {
    let out = text
    for (const value of values) out = out.split(value).join('***')
    return out
  }
}
