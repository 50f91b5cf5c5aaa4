import type { PodFailure } from '../deploy/pod-failures.js'
import { summarizeFailure } from '../deploy/pod-failures.js'
import { eventLastSeen, eventOccurrences } from '../k8s/types.js'
import type { Event } from '../k8s/types.js'
import { collapseLineBreaks } from '../untrusted-text.js'
import { codeBlock, details, inline, table } from './markdown.js'

export interface ContainerLog {
  pod: string
  container: string
  /** The log of the previous (crashed) instance, `kubectl logs --previous`. */
  previous: boolean
  text: string
}

export interface DiagnosticsInput {
  failures: PodFailure[]
  events: Event[]
  logs: ContainerLog[]
  /** Replaces secret values; applied to every string taken from the cluster before it is rendered. */
  redact: (text: string) => string
  /** Lines kept from the end of each log (default 40). */
  maxLogLines?: number
}

const DEFAULT_LOG_LINES = 40
// Keeps one noisy line (a stack trace on one line, a JSON dump) from filling the 1 MiB summary.
const MAX_LINE_CHARS = 1000
const MAX_MESSAGE_CHARS = 2000
// eslint-disable-next-line no-control-regex
export const TERMINAL_ESCAPES = /\x1b\[[0-9;?]*[A-Za-z]/g
// Everything below space except tab and newline (a carriage return would let a line overwrite itself).
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\x00-\x08\x0b-\x1f\x7f]/g

const PULL_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff'])

interface EventRow {
  type: string
  lastSeen: number
  object: string
  reason: string
  count: number
  message: string
}

/**
 * Events merged by object, reason and message (the same message repeats for every retry), newest first,
 * counts summed. Messages are redacted before merging so two events differing only by a secret merge too.
 */
function eventRows(events: Event[], redact: (text: string) => string): EventRow[] {
  const rows = new Map<string, EventRow>()
  for (const event of events) {
    const ref = event.involvedObject
    const row: EventRow = {
      type: event.type ?? 'Normal',
      lastSeen: eventLastSeen(event),
      object: redact(`${ref.kind ?? 'Object'}/${ref.name ?? ''}`),
      reason: redact(event.reason ?? ''),
      count: eventOccurrences(event),
      message: clip(redact(event.message ?? '').trim(), MAX_MESSAGE_CHARS)
    }
    const key = JSON.stringify([row.type, row.object, row.reason, row.message])
    const seen = rows.get(key)
    if (seen) {
      seen.count += row.count
      seen.lastSeen = Math.max(seen.lastSeen, row.lastSeen)
    } else {
      rows.set(key, row)
    }
  }
  return [...rows.values()].sort((a, b) => b.lastSeen - a.lastSeen)
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text
}

function formatTime(ms: number): string {
  return ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : '–'
}

/** The last lines of a log, redacted, without terminal colour codes or other control characters. */
function logTail(
  text: string,
  redact: (text: string) => string,
  maxLines: number
): { lines: string[]; dropped: number } {
  // Stripped before redacting, so a secret printed in colour is still found.
  const clean = redact(text.replace(TERMINAL_ESCAPES, '').replace(CONTROL_CHARACTERS, ''))
  let end = clean.length
  while (end > 0 && clean[end - 1] === '\n') end--
  const lines = clean.slice(0, end).split('\n')
  if (lines.length === 1 && lines[0] === '') return { lines: [], dropped: 0 }
  const kept = lines.slice(-maxLines).map(line => clip(line, MAX_LINE_CHARS))
  return { lines: kept, dropped: lines.length - kept.length }
}

function logTitle(log: ContainerLog): string {
  return `pod ${log.pod} container ${log.container}${log.previous ? ' (previous instance)' : ''}`
}

function failureRows(failures: PodFailure[], redact: (text: string) => string): string[][] {
  // Fatal first: they are why the rollout stopped; the rest is context.
  const ordered = [...failures.filter(f => f.fatal), ...failures.filter(f => !f.fatal)]
  return ordered.map(f => [
    redact(f.pod),
    f.container ? redact(f.container) + (f.sidecar ? ' (sidecar)' : '') : '–',
    redact(f.reason) + (f.fatal ? '' : ' (not fatal yet)'),
    f.restartCount !== undefined ? String(f.restartCount) : '',
    clip(redact(f.message), MAX_MESSAGE_CHARS)
  ])
}

// Events that only repeat a failing pod's row: the kubelet's `Error: ImagePullBackOff` restates the reason,
// `Back-off pulling image …` / `Back-off restarting failed container …` the back-off, and the pull error the
// row already quotes. Said once, in the row.
function repeatsAFailure(event: EventRow, failures: PodFailure[], redact: (text: string) => string): boolean {
  const ofPod = failures.filter(f => event.object === redact(`Pod/${f.pod}`))
  if (ofPod.length === 0) return false
  // ErrImagePull and ImagePullBackOff are two moments of one failed pull.
  const reasons = ofPod.flatMap(f => (PULL_REASONS.has(f.reason) ? [...PULL_REASONS] : [f.reason]))
  if (reasons.some(reason => event.message === `Error: ${redact(reason)}`)) return true
  if (/^Back-off (pulling image|restarting failed container)/.test(event.message)) return true
  // The same words either way round: a row quoting the event, or an event wrapping the row's message
  // (`Failed to pull image "…": ` + what ErrImagePull says).
  return ofPod.some(f => {
    const row = redact(f.message).trim()
    return (
      (event.message !== '' && row.includes(event.message)) ||
      (row.length >= 20 && event.message.includes(row))
    )
  })
}

/**
 * Failure diagnostics for the job summary (Markdown with HTML blocks), each part folded: the failing pods,
 * the Warning events they do not already say, the rest of this run's events, and each failing container's
 * log tail. The headline above them says why the run failed; these are the evidence.
 */
export function renderDiagnostics(input: DiagnosticsInput): string {
  const { redact } = input
  const maxLines = input.maxLogLines ?? DEFAULT_LOG_LINES
  const sections: string[] = ['### Diagnostics']

  if (input.failures.length > 0) {
    sections.push(
      details(
        `Failing pods (${input.failures.length})`,
        table(['Pod', 'Container', 'Reason', 'Restarts', 'Message'], failureRows(input.failures, redact))
      )
    )
  } else {
    sections.push('No failing pods were found.')
  }

  const rows = eventRows(input.events, redact)
  const eventTable = (list: EventRow[]) =>
    table(
      ['Last seen', 'Object', 'Reason', 'Count', 'Message'],
      list.map(e => [formatTime(e.lastSeen), e.object, e.reason, String(e.count), e.message])
    )
  const warnings = rows.filter(e => e.type === 'Warning' && !repeatsAFailure(e, input.failures, redact))
  const others = rows.filter(e => e.type !== 'Warning' && !repeatsAFailure(e, input.failures, redact))
  if (warnings.length > 0)
    sections.push(details(`Other warning events (${warnings.length})`, eventTable(warnings)))
  if (others.length > 0)
    sections.push(details(`Normal events of this run (${others.length})`, eventTable(others)))

  for (const log of input.logs) sections.push(logDetails(log, redact, maxLines))
  return `${sections.join('\n\n')}\n`
}

/** One container's log tail as a folded block: redacted, then cut to its last lines, escaped in a code block. */
export function logDetails(
  log: ContainerLog,
  redact: (text: string) => string,
  maxLines = DEFAULT_LOG_LINES
): string {
  const { lines, dropped } = logTail(log.text, redact, maxLines)
  const title = redact(logTitle(log))
  const summary =
    lines.length === 0 ? `Log of ${title}: no output` : `Log of ${title}: last ${lines.length} lines`
  const note = dropped > 0 ? `${inline(`(${dropped} earlier lines not shown)`)}\n\n` : ''
  return details(
    summary,
    lines.length === 0 ? '_(empty log)_' : `${note}${codeBlock(lines.join('\n'), 'text')}`
  )
}

/**
 * The same diagnostics as plain text for the step log. Every line of cluster text is indented behind `| `
 * so a log line such as `::add-mask::` or `::stop-commands::` cannot act as a workflow command.
 */
export function renderDiagnosticsText(input: DiagnosticsInput): string {
  const { redact } = input
  const maxLines = input.maxLogLines ?? DEFAULT_LOG_LINES
  const out: string[] = ['Rollout diagnostics']
  const quote = (text: string) => `  | ${neutralizeCommands(text)}`

  out.push(input.failures.length > 0 ? 'Failing pods:' : 'No failing pods were found.')
  for (const f of [...input.failures.filter(f => f.fatal), ...input.failures.filter(f => !f.fatal)]) {
    const line = redact(summarizeFailure(f)) + (f.fatal ? '' : ' (not fatal yet)')
    out.push(quote(clip(line, MAX_MESSAGE_CHARS)))
  }

  const rows = eventRows(input.events, redact)
  const eventLine = (e: EventRow) =>
    quote(
      `${formatTime(e.lastSeen)} ${e.object} ${e.reason}${e.count > 1 ? ` (x${e.count})` : ''}: ${oneLine(e.message)}`
    )
  const warnings = rows.filter(e => e.type === 'Warning' && !repeatsAFailure(e, input.failures, redact))
  const others = rows.filter(e => e.type !== 'Warning' && !repeatsAFailure(e, input.failures, redact))
  out.push(warnings.length > 0 ? 'Other warning events (newest first):' : 'No other warning events.')
  out.push(...warnings.map(eventLine))
  if (others.length > 0) out.push('Normal events (newest first):', ...others.map(eventLine))

  for (const log of input.logs) {
    const { lines, dropped } = logTail(log.text, redact, maxLines)
    const title = redact(logTitle(log))
    if (lines.length === 0) {
      out.push(`Log of ${title}: no output`)
      continue
    }
    const more = dropped > 0 ? `, ${dropped} earlier lines not shown` : ''
    out.push(`Log of ${title}, last ${lines.length} lines${more}:`, ...lines.map(quote))
  }
  return `${out.join('\n')}\n`
}

function oneLine(text: string): string {
  return collapseLineBreaks(text, ' ⏎ ')
}

// The runner also honours the old `##[command]` form anywhere in a line.
function neutralizeCommands(line: string): string {
  return line.replace(/##\[/g, '## [')
}
