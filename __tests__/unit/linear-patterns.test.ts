// No pattern in src/ may take super-linear time: text from pods, events and the cluster reaches many of them,
// and one quadratic pattern over one long line from a pod held a run for 81 s. Every regular-expression
// literal is checked by recheck (a ReDoS checker that finds exponential and polynomial backtracking); a
// pattern built at run time must be listed here with why it is safe.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { checkSync } from 'recheck'
import ts from 'typescript'
import { findUnapplicableCharacters } from '../../src/render/checks.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'
import { REPO_ROOT } from '../support/run-action.js'

// Super-linear patterns that only ever see bounded text the action controls, each with the reason.
const ALLOWED: Record<string, string> = {
  'src/render/render-manifests.ts /^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g':
    'trims at most 63 characters of the image input, cut to 63 just before'
}
// Files that build a RegExp at run time, and why that is safe.
const DYNAMIC_ALLOWED: Record<string, string> = {}

interface Pattern {
  where: string
  source: string
  flags: string
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const full = path.join(dir, entry.name)
    return entry.isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : []
  })
}

function patternsOf(file: string): { literals: Pattern[]; dynamic: number } {
  const text = readFileSync(file, 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
  const literals: Pattern[] = []
  let dynamic = 0
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) {
      const literal = node.getText(source)
      const end = literal.lastIndexOf('/')
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1
      literals.push({
        where: `${path.relative(REPO_ROOT, file)}:${line}`,
        source: literal.slice(1, end),
        flags: literal.slice(end + 1)
      })
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'RegExp')
      dynamic++
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'RegExp')
      dynamic++
    ts.forEachChild(node, visit)
  }
  visit(source)
  return { literals, dynamic }
}

describe('every pattern in src/ is linear', () => {
  const files = sourceFiles(path.join(REPO_ROOT, 'src'))
  test('regular-expression literals', () => {
    const unsafe: string[] = []
    let count = 0
    for (const file of files) {
      for (const p of patternsOf(file).literals) {
        count++
        const key = `${p.where.replace(/:\d+$/, '')} /${p.source}/${p.flags}`
        const result = checkSync(p.source, p.flags)
        if (result.status !== 'safe' && !(key in ALLOWED)) {
          unsafe.push(
            `${p.where} /${p.source}/${p.flags}: ${result.status}${result.status === 'vulnerable' ? ` (${result.complexity.type})` : ''}`
          )
        }
      }
    }
    assert.ok(count > 100, `only ${count} patterns found: the scan is broken`)
    assert.deepEqual(unsafe, [])
  })

  test('no pattern is built at run time (image references are parsed by registry/image-name.ts)', () => {
    for (const file of files) {
      const relative = path.relative(REPO_ROOT, file)
      if (patternsOf(file).dynamic > 0)
        assert.ok(relative in DYNAMIC_ALLOWED, `${relative} builds a RegExp at run time`)
    }
  })
})

describe('characters kubectl\u2019s server-side apply cannot carry are found in any field', () => {
  const object = (data: Record<string, string>): KubeObject =>
    ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data }) as KubeObject
  const cases: Array<{
    name: string
    data: Record<string, string>
    found: Array<{ path: string; code: number }>
  }> = [
    { name: 'NEL, stored as a space', data: { v: 'c\u0085d' }, found: [{ path: 'data.v', code: 0x85 }] },
    { name: 'DEL, refused', data: { v: 'c\u007fd' }, found: [{ path: 'data.v', code: 0x7f }] },
    { name: 'a C1 control, refused', data: { v: '\u009b[31m' }, found: [{ path: 'data.v', code: 0x9b }] },
    { name: 'U+FFFF, refused', data: { v: '\uffff' }, found: [{ path: 'data.v', code: 0xffff }] },
    { name: 'in a key', data: { 'k\u0080': 'v' }, found: [{ path: 'data.k\u0080 (key)', code: 0x80 }] },
    {
      name: 'the separators, the BOM, C0 and NBSP come through',
      data: { v: '\u2028\u2029\ufeff\u0001\u00a0' },
      found: []
    }
  ]
  for (const c of cases)
    test(c.name, () => assert.deepEqual(findUnapplicableCharacters(object(c.data)), c.found))
})
