// Replaces known secret values in a text with ***: the last line of defence for text that came from the
// cluster (logs, events, kubectl's stderr) or from a library's error before it reaches a log, the job summary
// or a PR comment.

export type Redact = (text: string) => string

export interface Redactor extends Redact {
  // Secrets learnt later (a live Secret's values, a renewed token) are redacted from then on.
  add(values: Iterable<string | undefined>): void
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
    for (const value of more) if (value !== undefined && value.length >= MIN_SECRET_LENGTH) next.add(value)
    // Longest first, so a value that contains another is replaced whole.
    values = [...next].sort((a, b) => b.length - a.length)
  }
  redactor.add(initial)
  return redactor
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
