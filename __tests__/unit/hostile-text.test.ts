// The pure pieces that keep hostile text from leaking a secret, freezing the run or breaking GitHub's limits:
// redaction before any cut, bounded reads in whole lines, linear replacements for quadratic patterns, a
// bounded code fence, and a Markdown cut that fits with everything it adds.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { redactUrlCredentials } from '../../src/deploy/smoke-checks.js'
import { createRedactor, redactAndClip } from '../../src/redact.js'
import { truncateMarkdown } from '../../src/report/markdown.js'
import { commentText, MAX_COMMENT_BYTES, writtenBy, GITHUB_ACTIONS_BOT } from '../../src/report/pr-comment.js'
import {
  boundLines,
  closingFenceRun,
  collapseLineBreaks,
  fenced,
  MAX_FENCE
} from '../../src/untrusted-text.js'

const SECRET = 'sk-live-4f9a8b7c6d5e4f3a2b1c0d9e8f7a'

// A small deterministic generator, so a failure names its seed and can be replayed.
function randomStrings(seed: number, alphabet: string, count: number, maxLength: number): string[] {
  let state = seed
  const next = (): number => {
    state = (state * 1103515245 + 12345) % 2 ** 31
    return state / 2 ** 31
  }
  return Array.from({ length: count }, () =>
    Array.from(
      { length: Math.floor(next() * maxLength) },
      () => alphabet[Math.floor(next() * alphabet.length)]
    ).join('')
  )
}

describe('redactAndClip: redacted before the cut, and no secret\u2019s start left at it', () => {
  const redact = createRedactor([SECRET, 'hunter2'])
  const cases: Array<{ name: string; text: string; max: number; expected: string }> = [
    { name: 'short text: only redacted', text: `key ${SECRET} end`, max: 100, expected: 'key *** end' },
    {
      name: 'the cut falls inside the secret: redaction first makes it ***',
      text: `${'x'.repeat(286)}${SECRET}`,
      max: 300,
      expected: `${'x'.repeat(286)}***`
    },
    {
      name: 'a secret\u2019s first characters already alone in the text end at the cut: dropped',
      text: `${'x'.repeat(10)}sk-live-4f9a and more text after`,
      max: 23,
      expected: `${'x'.repeat(10)}…`
    },
    {
      name: 'text that merely ends like a secret starts, at the cut: that part dropped too',
      text: 'a hunt for the cause',
      max: 7,
      expected: 'a …'
    },
    { name: 'nothing secret at the cut: an ellipsis', text: 'abcdefghij', max: 5, expected: 'abcd…' }
  ]
  for (const c of cases) test(c.name, () => assert.equal(redactAndClip(redact, c.text, c.max), c.expected))

  test('every cut of a text that holds the secret: no 3 characters of it remain', () => {
    const text = `before ${SECRET} after ${SECRET}`
    for (let max = 1; max <= text.length + 2; max++) {
      const out = redactAndClip(redact, text, max)
      assert.ok(out.length <= max, `${max}: ${out}`)
      for (let i = 0; i + 3 <= SECRET.length; i++) assert.ok(!out.includes(SECRET.slice(i, i + 3)), out)
    }
  })

  test('each line of a multi-line secret is a secret of its own (text cut between lines may hold some)', () => {
    const key =
      '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END KEY-----'
    const lineRedactor = createRedactor([key])
    assert.equal(lineRedactor('tail: BKcwggSjAgEAAoIBAQC7\n-----END KEY-----'), 'tail: ***\n***')
  })
})

describe('boundLines: bounded in whole lines, never part of one', () => {
  const cases: Array<{ name: string; text: string; max: number; keep?: 'head' | 'tail'; expected: string }> =
    [
      { name: 'within the bound: unchanged', text: 'a\nb\n', max: 10, expected: 'a\nb\n' },
      {
        name: 'tail: the last whole lines',
        text: 'first\nsecond\nthird\n',
        max: 13,
        expected: '[6 earlier characters not shown]\nsecond\nthird\n'
      },
      {
        name: 'tail: a line the bound cuts into is left out',
        text: 'first\nsecond\nthird\n',
        max: 12,
        expected: '[13 earlier characters not shown]\nthird\n'
      },
      {
        name: 'tail: one line longer than the bound is left out whole',
        text: `${'a'.repeat(50)}`,
        max: 10,
        expected: '[50 earlier characters not shown]\n'
      },
      {
        name: 'head: the first whole lines',
        text: 'first\nsecond\nthird\n',
        max: 13,
        expected: 'first\nsecond\n[6 more characters not shown]\n'
      },
      {
        name: 'head: one long line left out whole',
        text: `${SECRET}${SECRET}`,
        max: 40,
        keep: 'head',
        expected: '[72 more characters not shown]\n'
      }
    ]
  for (const c of cases) {
    test(c.name, () =>
      assert.equal(
        boundLines(c.text, c.max, c.keep ?? (c.name.startsWith('head') ? 'head' : 'tail')),
        c.expected
      )
    )
  }

  test('a secret on a line is either all there or not at all, wherever the bound falls', () => {
    const text = `one\n${'x'.repeat(20)}${SECRET}\nthree\n`
    for (let max = 1; max < text.length; max++) {
      for (const keep of ['head', 'tail'] as const) {
        const out = boundLines(text, max, keep)
        assert.ok(out.includes(SECRET) || !out.includes(SECRET.slice(0, 4)), `${keep} ${max}: ${out}`)
        assert.ok(out.includes(SECRET) || !out.includes(SECRET.slice(-4)), `${keep} ${max}: ${out}`)
      }
    }
  })
})

describe('linear replacements mean what the quadratic patterns meant', () => {
  const OLD_URL = /([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/gi
  const oldRedactUrlCredentials = (text: string): string =>
    text.replace(OLD_URL, (_m, scheme: string, userinfo: string) =>
      userinfo.includes(':') ? `${scheme}${userinfo.split(':')[0]}:***@` : `${scheme}***@`
    )
  const urlCases = [
    'redis://:pass@10.0.0.5:6379/0',
    'postgresql://app:s3cret@127.0.0.1:5432/db and https://user@host/x',
    'a://b://c@d',
    '1x+y://u:p@h',
    '://nobody@x',
    'no url here',
    'HTTPS://USER:PW@HOST',
    'x://a b@c'
  ]
  for (const text of urlCases) {
    test(`redactUrlCredentials ${JSON.stringify(text)}`, () =>
      assert.equal(redactUrlCredentials(text), oldRedactUrlCredentials(text)))
  }
  test('redactUrlCredentials agrees with the old pattern on 3,000 random strings', () => {
    for (const text of randomStrings(7, 'ab1+.-:/@ \tA', 3000, 24))
      assert.equal(redactUrlCredentials(text), oldRedactUrlCredentials(text), JSON.stringify(text))
  })

  const OLD_BREAKS = /\s*(?:\r\n|\r|\n)+\s*/g
  test('collapseLineBreaks agrees with the old pattern on 3,000 random strings', () => {
    for (const text of randomStrings(11, 'a \t\r\n\u00a0b', 3000, 16))
      assert.equal(collapseLineBreaks(text, ' ⏎ '), text.replace(OLD_BREAKS, ' ⏎ '), JSON.stringify(text))
  })

  // The inputs that made the old patterns quadratic, 400,000 characters each (the old URL pattern took 81 s on
  // the first); a linear pass takes milliseconds, so a second is room enough on a loaded machine.
  const hostile: Array<[string, (text: string) => string, string]> = [
    ['a long word, no ://', redactUrlCredentials, 'a'.repeat(400_000)],
    ['many schemes, no @', redactUrlCredentials, 'a://'.repeat(100_000)],
    ['a long run of spaces, no line break', t => collapseLineBreaks(t, ' '), ' '.repeat(400_000) + 'x']
  ]
  for (const [name, fn, text] of hostile) {
    test(`linear on ${name}`, () => {
      const started = process.hrtime.bigint()
      fn(text)
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      assert.ok(ms < 1000, `${ms} ms`)
    })
  }
})

describe('fenced: the fence is bounded and nothing in the text closes it', () => {
  const cases: Array<{ name: string; text: string; fence: string; body?: string }> = [
    {
      name: 'backticks inside a line do not lengthen the fence',
      text: `a ${'`'.repeat(40_000)} b`,
      fence: '```'
    },
    { name: 'a fence-like line: one longer fence', text: 'x\n````\ny', fence: '`````' },
    { name: 'a line of 300,000 backticks: tildes', text: `a\n${'`'.repeat(300_000)}\nb`, fence: '~~~' },
    {
      name: 'long lines of both: a bounded fence, and those lines cannot close it',
      text: `${'`'.repeat(30)}\n${'~'.repeat(30)}`,
      fence: '`'.repeat(MAX_FENCE),
      body: `\u200b${'`'.repeat(30)}\n${'~'.repeat(30)}`
    },
    { name: 'indented four spaces is not a fence', text: `    ${'`'.repeat(30)}`, fence: '```' }
  ]
  for (const c of cases) {
    test(c.name, () => {
      const out = fenced(c.text)
      const lines = out.split('\n')
      assert.equal(lines[0], c.fence)
      assert.equal(lines[lines.length - 1], c.fence)
      if (c.body !== undefined) assert.equal(lines.slice(1, -1).join('\n'), c.body)
      // No line of the body closes the block.
      for (const line of lines.slice(1, -1)) {
        const run = closingFenceRun(line)
        assert.ok(!run || run.char !== c.fence[0] || run.length < c.fence.length, line.slice(0, 40))
      }
      assert.ok(out.length <= c.text.length + 2 * MAX_FENCE + 8, `${out.length}`)
    })
  }
})

describe('truncateMarkdown: within the limit with everything it adds, for any input', () => {
  const shapes: Array<[string, string]> = [
    ['plain lines', 'line of text\n'.repeat(20_000)],
    ['one open code block', `\`\`\`\n${'code\n'.repeat(20_000)}\`\`\`\n`],
    ['a block of backticks', fenced(`x\n${'`'.repeat(300_000)}\ny`)],
    ['nested details', `${'<details><summary>s</summary>\n\n'.repeat(500)}${'body\n'.repeat(20_000)}`],
    ['one huge line', 'x'.repeat(500_000)],
    [
      'a tilde block in details',
      `<details><summary>d</summary>\n\n${fenced('`'.repeat(100) + '\n' + 'y\n'.repeat(30_000), 'text')}\n\n</details>`
    ]
  ]
  for (const max of [1000, 65_000, 200_000]) {
    for (const [name, markdown] of shapes) {
      test(`${name}, ${max} bytes`, () => {
        const out = truncateMarkdown(markdown, max, 'the rest is elsewhere')
        assert.ok(Buffer.byteLength(out, 'utf8') <= max, `${Buffer.byteLength(out, 'utf8')} > ${max}`)
        if (Buffer.byteLength(markdown, 'utf8') > max) assert.match(out, /…\(cut: the rest is elsewhere\)\n$/)
      })
    }
  }

  test('an open fence and open details are closed at the cut', () => {
    const markdown = `<details><summary>s</summary>\n\n~~~text\n${'line\n'.repeat(1000)}~~~\n\n</details>\n`
    const out = truncateMarkdown(markdown, 500, 'cut')
    assert.match(out, /\nline\n~~~\n\n<\/details>\n\n…\(cut: cut\)\n$/)
  })
})

describe('the plan comment', () => {
  const cases: Array<{
    name: string
    user: { login?: string; type?: string; id?: number } | null
    me: { login: string; type?: string; id?: number }
    expected: boolean
  }> = [
    {
      name: 'GITHUB_TOKEN: github-actions[bot], a Bot',
      user: { login: 'github-actions[bot]', type: 'Bot', id: 41898282 },
      me: GITHUB_ACTIONS_BOT,
      expected: true
    },
    {
      name: 'GITHUB_TOKEN: a user who took the name without [bot]',
      user: { login: 'github-actions', type: 'User', id: 1 },
      me: GITHUB_ACTIONS_BOT,
      expected: false
    },
    {
      name: 'GITHUB_TOKEN: the login but not a Bot',
      user: { login: 'github-actions[bot]', type: 'User', id: 2 },
      me: GITHUB_ACTIONS_BOT,
      expected: false
    },
    {
      name: 'personal token: its user by id',
      user: { login: 'renamed', type: 'User', id: 7 },
      me: { login: 'release', type: 'User', id: 7 },
      expected: true
    },
    {
      name: 'personal token: another user with the same login is not it',
      user: { login: 'release', type: 'User', id: 8 },
      me: { login: 'release', type: 'User', id: 7 },
      expected: false
    },
    {
      name: 'a comment with no author (a deleted account)',
      user: null,
      me: GITHUB_ACTIONS_BOT,
      expected: false
    }
  ]
  for (const c of cases) test(c.name, () => assert.equal(writtenBy(c.user, c.me), c.expected))

  test('the comment with its marker stays within 65536 characters', () => {
    const marker = `<!-- deploy-gke-workers:plan --><!-- namespace:${'n'.repeat(63)} -->`
    const text = commentText(marker, fenced(`${'`'.repeat(40_000)}\n${'é'.repeat(100_000)}`))
    assert.ok(text.startsWith(`${marker}\n`))
    assert.ok(Buffer.byteLength(text, 'utf8') <= MAX_COMMENT_BYTES)
    assert.ok([...text].length <= 65536)
  })
})
