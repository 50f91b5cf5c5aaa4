// Replaces known secret values in a text with ***: the last line of defence for text that came from the
// cluster (logs, events, kubectl's stderr) or from a library's error before it reaches a log, the job summary
// or a PR comment.

export type Redact = (text: string) => string

export interface Redactor extends Redact {
  // Secrets learnt later (a live Secret's values, a renewed token) are redacted from then on.
  add(values: Iterable<string | undefined>): void
  // How many characters at the end of `text` are the start of a secret (0 when none): what a cut that ends
  // there must drop, so that it never leaves a secret's first characters behind.
  secretPrefixAtEnd(text: string): number
}

// Shorter values would blank ordinary words out of every text; they are no protection worth that.
const MIN_SECRET_LENGTH = 3

export function createRedactor(initial: Iterable<string | undefined> = []): Redactor {
  let values: string[] = []
  const redactor = ((text: string) => {
    let out = text
    for (const value of values) out = out.split(value).join('***')
    return out
  }) as Redactor
  redactor.add = more => {
    const next = new Set(values)
    for (const value of more) {
      if (value === undefined) continue
      // Each line of a multi-line secret (a key file) on its own too: text cut between lines (a log tail)
      // may hold some of its lines and not the whole.
      for (const part of [value, ...(value.includes('\n') ? value.split(/\r?\n/) : [])])
        if (part.length >= MIN_SECRET_LENGTH) next.add(part)
    }
    // Longest first, so a value that contains another is replaced whole.
    values = [...next].sort((a, b) => b.length - a.length)
  }
  redactor.secretPrefixAtEnd = text => Math.max(0, ...values.map(value => overlapAtEnd(text, value)))
  redactor.add(initial)
  return redactor
}

/**
 * Redacted, then cut to at most `max` characters (an ellipsis marks the cut): the one order in which a cut
 * cannot leave part of a secret behind. With a Redactor, a secret's first characters that happen to end the
 * kept part are dropped as well.
 */
export function redactAndClip(redact: Redact, text: string, max: number): string {
  const redacted = redact(text)
  if (redacted.length <= max) return redacted
  let kept = redacted.slice(0, Math.max(0, max - 1))
  const partial = (redact as Partial<Redactor>).secretPrefixAtEnd?.(kept) ?? 0
  if (partial > 0) kept = kept.slice(0, kept.length - partial)
  return `${kept}…`
}

// The length of the longest end of `text` that is a start of `value` (Knuth-Morris-Pratt over the last
// value.length characters of the text: linear in the value's length, whatever the text's).
function overlapAtEnd(text: string, value: string): number {
  const failure = new Array<number>(value.length).fill(0)
  for (let i = 1, k = 0; i < value.length; i++) {
    while (k > 0 && value[i] !== value[k]) k = failure[k - 1]
    if (value[i] === value[k]) k++
    failure[i] = k
  }
  let matched = 0
  for (let i = Math.max(0, text.length - value.length); i < text.length; i++) {
    while (matched > 0 && (matched === value.length || text[i] !== value[matched]))
      matched = failure[matched - 1]
    if (text[i] === value[matched]) matched++
  }
  // The whole value at the very end (never after redaction) is dropped whole.
  return matched
}

// Bearer credentials nobody told us about (e.g. a request token a library quotes in its error).
export function redactBearerTokens(text: string): string {
  return text.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1***')
}

// A secret as it may appear elsewhere: raw, base64 (Secret data), URL-encoded (inside a URL) and JSON-escaped
// (inside a JSON log line or error); for a connection URL (DATABASE_URL, REDIS_URL), its password alone, raw
// and decoded, in each of those encodings too (a driver's error quotes it; a Secret may hold it on its own).
export function secretForms(value: string): string[] {
  const bases = new Set([value])
  const password = urlPassword(value)
  if (password) {
    bases.add(password)
    bases.add(safeDecode(password))
  }
  const forms = new Set<string>()
  for (const base of bases) {
    forms.add(base)
    forms.add(Buffer.from(base, 'utf8').toString('base64'))
    forms.add(encodeURIComponent(base))
    forms.add(JSON.stringify(base).slice(1, -1))
  }
  return [...forms].filter(form => form.length >= MIN_SECRET_LENGTH)
}

function urlPassword(value: string): string | undefined {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return undefined
  try {
    return new URL(value).password || undefined
  } catch {
    return undefined
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}
