// A picture of the run: each step's start and end (credentials, pre-flight, dry run, apply, each rollout and
// smoke check, the rollback), drawn as a Mermaid Gantt chart in the job summary. GitHub renders Mermaid
// blocks in summaries and comments; a failed step is drawn in the critical colour.

import { fenced } from '../untrusted-text.js'

export type StepState = 'done' | 'failed'

export interface TimelineStep {
  section: string
  name: string
  startMs: number
  endMs: number
  state: StepState
}

export class Timeline {
  readonly steps: TimelineStep[] = []

  constructor(private readonly now: () => number = Date.now) {}

  /** Times `fn` as one step: failed when it throws (and the error goes on). */
  async time<T>(section: string, name: string, fn: () => Promise<T>): Promise<T> {
    const startMs = this.now()
    try {
      const result = await fn()
      this.add({ section, name, startMs, endMs: this.now(), state: 'done' })
      return result
    } catch (error) {
      this.add({ section, name, startMs, endMs: this.now(), state: 'failed' })
      throw error
    }
  }

  add(step: TimelineStep): void {
    this.steps.push(step)
  }

  startedAt(): number | undefined {
    return this.steps.length > 0 ? Math.min(...this.steps.map(s => s.startMs)) : undefined
  }
}

// What Mermaid's Gantt grammar reads as syntax in a task or section name (`:` ends the name, `#` and `;` start
// comments or end a statement); the names are ours or Kubernetes names, but nothing outside this set passes.
function label(text: string): string {
  const safe = text
    .replace(/[^\w .()/+-]/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
  return (safe || 'step').slice(0, 60)
}

/**
 * The Mermaid source: one section per phase in the order first seen, one bar per step. Epoch milliseconds
 * (`dateFormat x`) keep sub-second steps exact; a step shorter than the chart can show gets one millisecond.
 */
export function timelineMermaid(steps: TimelineStep[], title = 'deploy-gke-workers run'): string {
  if (steps.length === 0) return ''
  const lines = ['gantt', `  title ${label(title)}`, '  dateFormat x', `  axisFormat %H:%M:%S`]
  // Ticks a few apart whatever the run's length (Mermaid's own choice labels a 2 s run 01:31:20 nine times).
  const span = Math.max(...steps.map(s => s.endMs)) - Math.min(...steps.map(s => s.startMs))
  lines.push(
    `  tickInterval ${span <= 10_000 ? '1second' : span <= 60_000 ? '10second' : span <= 600_000 ? '1minute' : '10minute'}`
  )
  const sections = [...new Set(steps.map(s => s.section))]
  let id = 0
  for (const section of sections) {
    lines.push(`  section ${label(section)}`)
    for (const step of steps.filter(s => s.section === section)) {
      const tag = step.state === 'failed' ? 'crit' : 'done'
      const end = Math.max(step.endMs, step.startMs + 1)
      lines.push(`  ${label(step.name)} :${tag}, s${++id}, ${Math.round(step.startMs)}, ${Math.round(end)}`)
    }
  }
  return lines.join('\n')
}

/** The chart as a Markdown block; empty when nothing was timed. */
export function timelineBlock(steps: TimelineStep[]): string {
  const source = timelineMermaid(steps)
  return source ? fenced(source, 'mermaid') : ''
}
