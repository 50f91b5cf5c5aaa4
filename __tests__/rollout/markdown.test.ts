import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { codeBlock, details, escapeHtml, escapeMarkdownInline, table } from '../../src/report/markdown.js'

describe('escapeHtml', () => {
  const cases: Array<[string, string]> = [
    ['<script>alert("x")</script>', '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;'],
    ["a & b's", 'a &amp; b&#39;s'],
    ['&lt; already escaped', '&amp;lt; already escaped'],
    ['plain', 'plain']
  ]
  for (const [input, output] of cases)
    test(JSON.stringify(input), () => assert.equal(escapeHtml(input), output))
})

describe('escapeMarkdownInline', () => {
  const cases: Array<[string, string]> = [
    ['a | b', 'a \\| b'],
    ['`code` and *bold* _it_', '\\`code\\` and \\*bold\\* \\_it\\_'],
    ['[link](https://evil.example)', '\\[link\\](https://evil.example)'],
    ['<img src=x onerror=alert(1)>', '&lt;img src=x onerror=alert(1)&gt;'],
    ['back\\slash', 'back\\\\slash']
  ]
  for (const [input, output] of cases)
    test(JSON.stringify(input), () => assert.equal(escapeMarkdownInline(input), output))
})

describe('codeBlock', () => {
  const cases: Array<{ name: string; text: string; lang?: string; expected: string }> = [
    { name: 'plain', text: 'hello', lang: 'yaml', expected: '```yaml\nhello\n```' },
    { name: 'keeps a trailing newline single', text: 'a\nb\n', expected: '```\na\nb\n```' },
    {
      name: 'a fence in the text gets a longer fence around it',
      text: 'before\n```\nnot the end\n````\nafter',
      expected: '`````\nbefore\n```\nnot the end\n````\nafter\n`````'
    },
    {
      name: 'HTML stays literal inside the fence',
      text: '<script>x</script>',
      expected: '```\n<script>x</script>\n```'
    },
    { name: 'lang cannot inject', text: 'x', lang: 'js\n<b>', expected: '```jsb\nx\n```' }
  ]
  for (const c of cases) test(c.name, () => assert.equal(codeBlock(c.text, c.lang), c.expected))

  test('no line of the text can close the fence', () => {
    const text = 'x\n' + '`'.repeat(7) + '\n``` ```'
    const block = codeBlock(text)
    const fence = block.split('\n')[0]
    assert.equal(fence, '`'.repeat(8))
    const inner = block.split('\n').slice(1, -1)
    assert.ok(inner.every(line => !line.trim().startsWith(fence)))
  })
})

describe('details', () => {
  test('escapes the summary and leaves blank lines around the body', () => {
    assert.equal(
      details('pod <b>x</b>', '```\nlog\n```'),
      '<details><summary>pod &lt;b&gt;x&lt;/b&gt;</summary>\n\n```\nlog\n```\n\n</details>'
    )
  })
})

describe('table', () => {
  test('cells are escaped: pipes, newlines, HTML, Markdown', () => {
    assert.equal(
      table(['Pod', 'Message'], [['celery-worker-abc', 'a | b\nsecond line <script>'], ['x']]),
      [
        '| Pod | Message |',
        '| --- | --- |',
        '| celery-worker-abc | a \\| b<br>second line &lt;script&gt; |',
        '| x |  |'
      ].join('\n')
    )
  })

  test('a header-only table', () => {
    assert.equal(table(['A'], []), '| A |\n| --- |')
  })

  test('every row has exactly as many unescaped pipes as the header', () => {
    const out = table(
      ['a', 'b', 'c'],
      [
        ['|||', 'x\r\ny', '\\|'],
        ['', '', '']
      ]
    )
    const pipes = (line: string) => (line.match(/(?<!\\)\|/g) ?? []).length
    for (const line of out.split('\n')) assert.equal(pipes(line), 4, line)
  })
})
