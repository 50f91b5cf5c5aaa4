// The one path for untrusted text (pod output, events, cluster messages, template text): what it must make of
// hostile input in a log, inline in Markdown, in a fenced block, a <details> summary and a table cell.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { details, table } from '../../src/report/markdown.js'
import { escapeHtml, fenced, forLog, inline } from '../../src/untrusted-text.js'

describe('forLog: no line of the text can be a workflow command', () => {
  const cases: Array<[string, string]> = [
    ['plain progress', 'plain progress'],
    ['ok\n::add-mask::hunter2', 'ok\n| ::add-mask::hunter2'],
    ['  ::set-output name=status::deployed', '|   ::set-output name=status::deployed'],
    ['x\r\n::stop-commands::tok', 'x\n| ::stop-commands::tok'],
    ['ready ##[warning]fake', 'ready ## [warning]fake'],
    ['##vso[task.setvariable variable=x]1', '##vso [task.setvariable variable=x]1'],
    ['a :: b is not a command', 'a :: b is not a command']
  ]
  for (const [input, output] of cases) test(JSON.stringify(input), () => assert.equal(forLog(input), output))

  test('after it, no line starts with :: and no ##[ remains', () => {
    const hostile = '::error::x\n\t::warning::y\r##[group]z\n::add-mask::::\n'
    for (const line of forLog(hostile).split('\n')) {
      assert.ok(!/^\s*::/.test(line), line)
      assert.ok(!/##\[/.test(line), line)
    }
  })
})

describe('inline: one line of Markdown that shows the text and nothing live', () => {
  const cases: Array<[string, string]> = [
    ['a | b', 'a \\| b'],
    ['`code` and *bold* _it_', '\\`code\\` and \\*bold\\* \\_it\\_'],
    ['<img src=x onerror=alert(1)>', '&lt;img src=x onerror=alert(1)&gt;'],
    ['back\\slash', 'back\\\\slash'],
    ['ping @octocat and @org/team', 'ping &#64;octocat and &#64;org/team'],
    ['see https://evil.example/x', 'see https&#58;//evil.example/x'],
    ['www.evil.example', 'www&#46;evil.example'],
    ['![img](https://x/y.png)', '\\!\\[img\\](https&#58;//x/y.png)'],
    ['name\n\n## Heading\n\n<b>x</b>', 'name ⏎ \\#\\# Heading ⏎ &lt;b&gt;x&lt;/b&gt;']
  ]
  for (const [input, output] of cases) test(JSON.stringify(input), () => assert.equal(inline(input), output))

  test('never a line break, never a raw < or @', () => {
    const out = inline('a\r\nb\rc\n\n\nd <x> e@f')
    assert.ok(!/[\r\n<@]/.test(out), out)
  })
})

describe('fenced', () => {
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
  for (const c of cases) test(c.name, () => assert.equal(fenced(c.text, c.lang), c.expected))
})

describe('details and table', () => {
  test('a summary with blank lines and HTML cannot end the block early', () => {
    const block = details('Deployment/x\n\n</details>\n# owned @you', '```\nlog\n```')
    assert.equal(block.split('</details>').length, 2, 'only the block\u2019s own closing tag')
    assert.match(
      block,
      /^<details><summary>Deployment\/x ⏎ &lt;\/details&gt; ⏎ # owned &#64;you<\/summary>\n\n/
    )
  })

  test('cells cannot break the row: pipes escaped, line breaks collapsed', () => {
    assert.equal(
      table(['Pod', 'Message'], [['celery-worker-abc', 'a | b\nsecond line <script>'], ['x']]),
      [
        '| Pod | Message |',
        '| --- | --- |',
        '| celery-worker-abc | a \\| b ⏎ second line &lt;script&gt; |',
        '| x |  |'
      ].join('\n')
    )
    const pipes = (line: string) => (line.match(/(?<!\\)\|/g) ?? []).length
    for (const line of table(['a', 'b', 'c'], [['|||', 'x\r\ny', '\\|']]).split('\n'))
      assert.equal(pipes(line), 4, line)
  })

  test('escapeHtml', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
  })
})
