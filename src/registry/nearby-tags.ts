// The tags of a repository closest to one that is missing: a typo (`v1.2.O`), the release before (`v1.2.2`
// for `v1.2.3`), the same commit under another prefix. Tags come from the registry: only those that are valid
// tag names are considered (so each is safe to print), at most MAX_CONSIDERED of them, each at most 128
// characters, so the edit distances stay cheap whatever the registry sends.

const TAG = /^[\w][\w.-]{0,127}$/
export const MAX_CONSIDERED_TAGS = 1000

function commonPrefixLength(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  return i
}

// Levenshtein distance, two rows: O(|a|·|b|) time with both at most 128.
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1)
      )
    }
    previous = current
  }
  return previous[b.length]
}

export function nearbyTags(tags: readonly unknown[], wanted: string, limit = 5): string[] {
  const candidates = tags
    .slice(0, MAX_CONSIDERED_TAGS)
    .filter((tag): tag is string => typeof tag === 'string' && TAG.test(tag) && tag !== wanted)
  const scored = candidates.map(tag => ({
    tag,
    prefix: commonPrefixLength(tag, wanted),
    distance: editDistance(tag, wanted)
  }))
  scored.sort(
    (a, b) => a.distance - b.distance || b.prefix - a.prefix || (a.tag < b.tag ? 1 : a.tag > b.tag ? -1 : 0)
  )
  return scored.slice(0, limit).map(s => s.tag)
}
