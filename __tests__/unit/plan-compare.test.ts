import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { dryRunCompare, project, unifiedDiff } from '../../src/plan/plan-compare.js'
import type { LiveObjectMeta } from '../../src/kube/objects.js'
import type { KubeObject } from '../../src/k8s/kube-object.js'

function deployment(image: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'celery-worker', namespace: 'ns', labels: { app: 'w' } },
    spec: {
      selector: { matchLabels: { app: 'w' } },
      template: {
        metadata: { labels: { app: 'w' } },
        spec: { containers: [{ name: 'app', image, env: [{ name: 'A', value: '1' }] }] }
      },
      ...extra
    }
  }
}

// What the server holds: the same, plus defaults, bookkeeping and status.
function live(object: KubeObject): Map<string, LiveObjectMeta> {
  const stored = structuredClone(object) as unknown as Record<string, unknown> & LiveObjectMeta
  stored.metadata = { ...stored.metadata, uid: 'u1', resourceVersion: '7', generation: 3 }
  const spec = stored.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }
  spec.template.spec.containers[0].imagePullPolicy = 'IfNotPresent'
  spec.template.spec.containers.unshift({ name: 'injected-by-a-webhook', image: 'x' })
  ;(stored.spec as Record<string, unknown>).revisionHistoryLimit = 10
  stored.status = { replicas: 1 }
  return new Map([['Deployment/ns/celery-worker', stored]])
}

describe('comparing a rendered object with its live version (read-only plan)', () => {
  const cases = [
    {
      name: 'the same fields: unchanged, though the server added defaults',
      rendered: deployment('r/a:v1'),
      action: 'unchanged',
      rolls: false
    },
    {
      name: 'a new image: configured, the pods roll',
      rendered: deployment('r/a:v2'),
      action: 'configured',
      rolls: true
    },
    {
      name: 'replicas only: configured, no roll',
      rendered: deployment('r/a:v1', { replicas: 3 }),
      action: 'configured',
      rolls: false
    }
  ] as const
  for (const c of cases) {
    test(c.name, () => {
      const comparison = dryRunCompare(c.rendered, live(deployment('r/a:v1')))
      assert.equal(comparison.action, c.action)
      assert.equal(comparison.podTemplateChanged, c.rolls)
    })
  }

  test('an object that does not exist would be created', () => {
    assert.equal(dryRunCompare(deployment('r/a:v1'), new Map()).action, 'created')
  })

  test('lists of named items are matched by name, not position', () => {
    const projected = project(
      {
        containers: [
          { name: 'sidecar', image: 's' },
          { name: 'app', image: 'a', extra: 1 }
        ]
      },
      { containers: [{ name: 'app', image: 'a' }] }
    )
    assert.deepEqual(projected, { containers: [{ name: 'app', image: 'a' }] })
  })
})

describe('unifiedDiff', () => {
  test('equal texts give no diff', () => {
    assert.equal(unifiedDiff('a\nb\n', 'a\nb\n', 'x', 'y'), '')
  })

  test('GNU patch applies it: the diff turns the one text into the other', () => {
    const before = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n'
    const after = before
      .replace('line 3\n', 'line three\n')
      .replace('line 20\n', '')
      .replace('line 28\n', 'line 28\nnew\n')
    const diff = unifiedDiff(before, after, 'a/file', 'b/file')
    assert.match(diff, /^--- a\/file\n\+\+\+ b\/file\n@@ -1,7 \+1,7 @@/)
    const dir = mkdtempSync(path.join(os.tmpdir(), 'diff-'))
    try {
      writeFileSync(path.join(dir, 'file'), before)
      writeFileSync(path.join(dir, 'change.diff'), diff)
      execFileSync('patch', ['-s', path.join(dir, 'file'), path.join(dir, 'change.diff')])
      assert.equal(execFileSync('cat', [path.join(dir, 'file')]).toString(), after)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
