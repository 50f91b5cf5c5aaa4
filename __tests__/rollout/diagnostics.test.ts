import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { renderDiagnostics, renderDiagnosticsText } from '../../src/report/diagnostics.js'
import type { DiagnosticsInput } from '../../src/report/diagnostics.js'
import type { PodFailure } from '../../src/deploy/pod-failures.js'
import { podEvent } from './fixtures/pods.js'

// A made-up value standing in for a secret; the redactor is what the action builds from its masked inputs.
const SECRET = 'hunter2-Zq9xW'
const redact = (text: string) => text.split(SECRET).join('***')

const POD = 'celery-worker-6599b86997-x7k2p'
// A pod of this run without a failure row: its warnings are not said anywhere else.
const OTHER = 'celery-worker-6599b86997-slow1'
const failures: PodFailure[] = [
  {
    pod: 'celery-worker-6599b86997-pend1',
    container: '',
    reason: 'Unschedulable',
    message:
      '0/2 nodes are available: 2 Insufficient cpu.; pending for 45s of a 300s grace for node scale-up',
    fatal: false,
    sidecar: false
  },
  {
    pod: POD,
    container: 'app',
    reason: 'CrashLoopBackOff',
    message: `last exit code 1 (Error): could not connect to postgresql://worker:${SECRET}@127.0.0.1:5432/noesis2; back-off 40s`,
    fatal: true,
    sidecar: false,
    restartCount: 4,
    lastExitCode: 1
  },
  {
    pod: POD,
    container: 'cloud-sql-proxy',
    reason: 'CrashLoopBackOff',
    message: 'last exit code 1 (Error) | pipe `tick` <script>alert(1)</script>',
    fatal: true,
    sidecar: true,
    restartCount: 2
  }
]
const events = [
  podEvent(POD, 'Pulled', `Successfully pulled image "x:v9" in 1.2s`, {
    type: 'Normal',
    at: '2026-11-27T10:01:00Z'
  }),
  podEvent(POD, 'BackOff', 'Back-off restarting failed container app in pod x', {
    at: '2026-11-27T10:05:00Z',
    count: 3
  }),
  podEvent(POD, 'BackOff', 'Back-off restarting failed container app in pod x', {
    at: '2026-11-27T10:07:00Z',
    count: 2
  }),
  podEvent(POD, 'Failed', `Error: password ${SECRET} rejected`, { at: '2026-11-27T10:06:00Z' }),
  podEvent(POD, 'Failed', 'Error: CrashLoopBackOff', { at: '2026-11-27T10:06:30Z' }),
  podEvent(OTHER, 'Unhealthy', 'Readiness probe failed: timeout', { at: '2026-11-27T10:04:00Z', count: 2 }),
  podEvent(OTHER, 'Unhealthy', 'Readiness probe failed: timeout', { at: '2026-11-27T10:09:00Z', count: 3 }),
  podEvent(
    'celery-worker-6599b86997-pend1',
    'FailedScheduling',
    '0/2 nodes are available: 2 Insufficient cpu.',
    {
      newStyle: true,
      component: 'default-scheduler',
      at: '2026-11-27T10:08:00Z'
    }
  )
]
const appLog = [
  ...Array.from(
    { length: 60 },
    (_, i) => `[2026-11-27 10:0${i % 10}:00,000: INFO/MainProcess] line ${i + 1}`
  ),
  `django.db.utils.OperationalError: password authentication failed for user "worker" (${SECRET})`,
  '\x1b[31mred text\x1b[0m with ```backticks``` and </details><script>alert(1)</script>',
  '::add-mask::nothing ##[set-output name=x]y'
].join('\n')
const input: DiagnosticsInput = {
  failures,
  events,
  logs: [
    { pod: POD, container: 'app', previous: true, text: appLog },
    { pod: POD, container: 'cloud-sql-proxy', previous: false, text: '' }
  ],
  redact
}

describe('renderDiagnostics (job summary)', () => {
  const md = renderDiagnostics(input)

  test('no secret anywhere, in failures, events or logs', () => {
    assert.ok(!md.includes(SECRET))
    assert.ok(
      md.includes('postgresql&#58;//worker:\\*\\*\\*&#64;127.0.0.1'),
      'failure message redacted, then escaped'
    )
    assert.ok(md.includes('password \\*\\*\\* rejected'), 'event message redacted')
    assert.ok(md.includes('(***)'), 'log line redacted')
  })

  test('section order: heading, failures, warning events, normal events, logs, each folded', () => {
    const at = (s: string) => {
      const i = md.indexOf(s)
      assert.ok(i >= 0, `missing ${s}`)
      return i
    }
    const order = [
      at('### Diagnostics'),
      at('<details><summary>Failing pods (3)</summary>'),
      at('| Pod | Container | Reason | Restarts | Message |'),
      at('<details><summary>Other warning events (2)</summary>'),
      at('<details><summary>Normal events of this run (1)</summary>'),
      at(`<details><summary>Log of pod ${POD} container app (previous instance): last 40 lines</summary>`),
      at(`<details><summary>Log of pod ${POD} container cloud-sql-proxy: no output</summary>`)
    ]
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b)
    )
  })

  test('fatal failures first, sidecar marked, not-fatal flagged', () => {
    const rows = md.split('\n').filter(l => l.startsWith('| celery-worker'))
    assert.deepEqual(
      rows.slice(0, 3).map(r => r.split(' | ').slice(0, 4)),
      [
        [`| ${POD}`, 'app', 'CrashLoopBackOff', '4'],
        [`| ${POD}`, 'cloud-sql-proxy (sidecar)', 'CrashLoopBackOff', '2'],
        ['| celery-worker-6599b86997-pend1', '–', 'Unschedulable (not fatal yet)', '']
      ]
    )
  })

  test('warning events newest first, duplicates merged with summed counts, none that repeats a failing pod', () => {
    const warningSection = md.slice(
      md.indexOf('Other warning events'),
      md.indexOf('<details><summary>Normal')
    )
    const rows = warningSection.split('\n').filter(l => l.startsWith('| 2026'))
    // Left out, said in the failing pods' rows: the scheduler's message (quoted in the Unschedulable row),
    // the crash back-off and `Error: CrashLoopBackOff` (the row's reason).
    assert.deepEqual(
      rows.map(r => r.split(' | ').slice(0, 4)),
      [
        ['| 2026-11-27T10:09:00Z', `Pod/${OTHER}`, 'Unhealthy', '5'],
        ['| 2026-11-27T10:06:00Z', `Pod/${POD}`, 'Failed', '1']
      ]
    )
    assert.ok(!md.includes('Back-off restarting failed container'))
    assert.ok(!md.includes('Error: CrashLoopBackOff'))
  })

  test('log tail: last 40 lines, earlier ones counted, colour codes stripped', () => {
    assert.ok(md.includes('(23 earlier lines not shown)'))
    assert.ok(!md.includes('line 23\n'))
    assert.ok(md.includes('line 24\n'))
    assert.ok(!md.includes('\x1b'))
    assert.ok(md.includes('red text with'))
  })

  test('hostile text cannot escape: no raw <script> outside a code fence, fences survive backticks', () => {
    const fenced = /(`{3,})text\n[\s\S]*?\n\1(?!`)/g
    const outside = md.replace(fenced, '')
    assert.ok(!/<script/i.test(outside), outside)
    assert.ok(outside.includes('&lt;script&gt;'), 'failure message escaped in the table')
    // A run of backticks inside a line cannot close a fence (only a line of fence characters can): the log keeps
    // its ``` and stays inside its block.
    assert.ok(md.includes('```text\n'), 'the log is fenced')
    assert.ok(!outside.includes('```backticks```'), 'the backticks of the log stay inside the fence')
    assert.equal((outside.match(/<details>/g) ?? []).length, (outside.match(/<\/details>/g) ?? []).length)
    assert.ok(md.includes('pipe \\`tick\\`'), 'backticks in a cell escaped')
    assert.ok(md.includes('(Error) \\| pipe'), 'pipe in a cell escaped')
  })

  test('maxLogLines and the empty case', () => {
    const out = renderDiagnostics({ ...input, failures: [], events: [], maxLogLines: 2 })
    assert.ok(out.includes('No failing pods were found.'))
    assert.ok(!out.includes('warning events'))
    assert.ok(!out.includes('Normal events'))
    assert.ok(out.includes('last 2 lines'))
    assert.ok(out.includes('(61 earlier lines not shown)'))
  })
})

describe('renderDiagnosticsText (step log)', () => {
  const text = renderDiagnosticsText(input)

  test('no secret, failures summarized, events with counts', () => {
    assert.ok(!text.includes(SECRET))
    assert.ok(
      text.includes(
        `  | pod ${POD} container cloud-sql-proxy (sidecar): CrashLoopBackOff — last exit code 1 (Error) | pipe \`tick\` <script>alert(1)</script>`
      )
    )
    assert.ok(text.includes(`Pod/${OTHER} Unhealthy (x5): Readiness probe failed: timeout`))
    assert.ok(!text.includes('Back-off restarting failed container'))
    assert.ok(text.includes('Normal events (newest first):'))
    assert.ok(
      text.includes(
        `Log of pod ${POD} container app (previous instance), last 40 lines, 23 earlier lines not shown:`
      )
    )
    assert.ok(text.includes(`Log of pod ${POD} container cloud-sql-proxy: no output`))
  })

  test('no line can be taken for a workflow command', () => {
    for (const line of text.split('\n')) {
      assert.ok(!line.trimStart().startsWith('::'), line)
      assert.ok(!line.includes('##['), line)
    }
    assert.ok(text.includes('  | ::add-mask::nothing ## [set-output name=x]y'))
  })
})
