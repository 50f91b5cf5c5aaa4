// WWW-Authenticate challenges (RFC 9110 §11.6.1) as registries send them on 401:
//   Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/redis:pull"
// The header comes from the registry, so it is untrusted: capped in length, read in one pass by hand (no
// pattern that could backtrack), and only the parameters the token flow needs are kept.

export interface Challenge {
  // Lower-case: "bearer", "basic".
  scheme: string
  params: Record<string, string>
}

export const MAX_CHALLENGE_HEADER_LENGTH = 4096
const KEPT_PARAMS = new Set(['realm', 'service', 'scope', 'error'])
const MAX_CHALLENGES = 8

function isTokenChar(ch: string): boolean {
  return /^[A-Za-z0-9!#$%&'*+.^_`|~-]$/.test(ch)
}

function isSpace(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t'
}

export function parseChallenges(header: string): Challenge[] {
  const text = header.slice(0, MAX_CHALLENGE_HEADER_LENGTH)
  const challenges: Challenge[] = []
  let i = 0
  const skipSpaceAndCommas = (): void => {
    while (i < text.length && (isSpace(text[i]) || text[i] === ',')) i++
  }
  const readToken = (): string => {
    const start = i
    while (i < text.length && isTokenChar(text[i])) i++
    return text.slice(start, i)
  }
  // Unquoted values should be tokens; servers also send bare URLs, so read to the next comma or space.
  const readUnquoted = (): string => {
    const start = i
    while (i < text.length && text[i] !== ',' && !isSpace(text[i])) i++
    return text.slice(start, i)
  }
  const readQuoted = (): string => {
    // at the opening quote
    i++
    let value = ''
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\' && i + 1 < text.length) i++
      value += text[i]
      i++
    }
    i++ // the closing quote (or past the end)
    return value
  }

  let current: Challenge | undefined
  while (i < text.length && challenges.length <= MAX_CHALLENGES) {
    skipSpaceAndCommas()
    const start = i
    const token = readToken()
    if (token === '') {
      // Not a token: skip the character, so the loop always advances.
      i = Math.max(i + 1, start + 1)
      continue
    }
    let j = i
    while (isSpace(text[j])) j++
    if (text[j] === '=' && current) {
      i = j + 1
      while (isSpace(text[i])) i++
      const value = text[i] === '"' ? readQuoted() : readUnquoted()
      const key = token.toLowerCase()
      if (KEPT_PARAMS.has(key) && !(key in current.params)) current.params[key] = value
    } else {
      current = { scheme: token.toLowerCase(), params: {} }
      challenges.push(current)
    }
  }
  return challenges.slice(0, MAX_CHALLENGES)
}

export function bearerChallengeOf(header: string | undefined): Challenge | undefined {
  if (!header) return undefined
  return parseChallenges(header).find(c => c.scheme === 'bearer' && c.params.realm)
}
