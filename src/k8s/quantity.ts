// Kubernetes resource quantities (`500m`, `1.5`, `512Mi`, `2G`, `1e3`) as numbers and back, for adding up
// what a pod requests when a report explains why it does not fit.

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60
}
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18
}

/** The quantity's value (CPU in cores, memory in bytes); undefined if it is not a quantity. */
export function parseQuantity(text: string | undefined): number | undefined {
  const match = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$/.exec(
    (text ?? '').trim()
  )
  if (!match) return undefined
  const suffix = match[2] ?? ''
  return Number(match[1]) * (BINARY[suffix] ?? DECIMAL[suffix])
}

/** CPU cores as Kubernetes writes them: `250m`, `1`, `1.5`. */
export function formatCpu(cores: number): string {
  const millis = Math.round(cores * 1000)
  return millis % 1000 === 0 ? String(millis / 1000) : millis < 1000 ? `${millis}m` : String(millis / 1000)
}

/** Bytes in the largest binary unit that keeps one decimal: `512Mi`, `1.5Gi`. */
export function formatMemory(bytes: number): string {
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki']) {
    const value = bytes / BINARY[unit]
    if (value >= 1) return `${Number(value.toFixed(1))}${unit}`
  }
  return `${bytes}`
}
