// Hostile templates, through dist/ as a runner runs it, in an offline dry run (no cluster): nothing outside the
// namespace from any template shape, no secret from a List's Secret, no live Markdown from template text, and no
// hang or unbounded read from the manifests directory. (Hostile pod output, which needs pods, is in
// ../control-plane/pod-output.test.ts.)

import { after, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFile, symlink, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import { createWorkspace, runAction, type ActionRun, type ActionWorkspace } from '../support/run-action.js'
import { templatesWith } from '../support/templates.js'

const OFFLINE = { ...EXAMPLE_INPUTS, dry_run: 'true' }
const workspaces: ActionWorkspace[] = []
after(async () => {
  await Promise.all(workspaces.map(w => w.remove()))
})

function templates(extra: Record<string, string>): Promise<string> {
  return templatesWith(extra, workspaces)
}

async function offline(inputs: Record<string, string>): Promise<ActionRun> {
  const workspace = await createWorkspace()
  workspaces.push(workspace)
  return runAction({ inputs: { ...OFFLINE, ...inputs }, workspace, timeoutMs: 30_000 })
}

describe('templates: nothing outside the namespace, whatever the shape', () => {
  test('a List of a ClusterRoleBinding and a ConfigMap in kube-system: each item refused by name', async () => {
    const dir = await templates({
      '60-list.yaml': [
        'apiVersion: v1',
        'kind: List',
        'items:',
        '  - apiVersion: rbac.authorization.k8s.io/v1',
        '    kind: ClusterRoleBinding',
        '    metadata: {name: grant-me}',
        '    roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}',
        '    subjects: [{kind: ServiceAccount, name: noesis2-worker-sa, namespace: noesis2}]',
        '  - apiVersion: v1',
        '    kind: ConfigMap',
        '    metadata: {name: sneaky, namespace: kube-system}',
        '    data: {a: b}',
        '  - apiVersion: v1',
        '    kind: List',
        '    items: []'
      ].join('\n')
    })
    const run = await offline({ manifests: dir })
    assert.equal(run.exitCode, 1, run.stdout)
    assert.match(run.stdout, /60-list\.yaml \(document 1\) item 3: a List inside a List is not supported/)
    assert.equal(run.outputs.manifests, undefined, 'nothing rendered')
  })

  test('a List item is checked as the object it is: cluster-scoped and foreign-namespace items refused', async () => {
    const dir = await templates({
      '60-list.yaml':
        'apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: grant-me}, roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: sneaky, namespace: kube-system}, data: {a: b}}\n'
    })
    const run = await offline({ manifests: dir })
    assert.equal(run.exitCode, 1)
    assert.match(
      run.stdout,
      /60-list\.yaml: ClusterRoleBinding\/grant-me: cluster-scoped ClusterRoleBinding objects are not deployed/
    )
    assert.match(
      run.stdout,
      /60-list\.yaml: ConfigMap\/sneaky: metadata\.namespace is "kube-system", but this deploy targets namespace "noesis2"/
    )
  })

  test('a Secret inside a List is redacted like any Secret', async () => {
    const dir = await templates({
      '60-list.yaml':
        'apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: Secret, metadata: {name: extra}, stringData: {TOKEN: list-secret-value-123}}\n'
    })
    const run = await offline({ manifests: dir })
    assert.equal(run.exitCode, 0, run.stdout)
    const file = await readFile(run.outputs.manifests, 'utf8')
    assert.match(file, /name: extra/)
    for (const text of [file, run.summary]) assert.ok(!text.includes('list-secret-value-123'))
  })

  const refused: Array<[string, string, RegExp]> = [
    [
      'lowercase kind',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: clusterrolebinding\nmetadata: {name: x}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\n',
      /cluster-scoped ClusterRoleBinding objects are not deployed/
    ],
    [
      'ValidatingAdmissionPolicy',
      'apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingAdmissionPolicy\nmetadata: {name: x}\nspec: {}\n',
      /cluster-scoped ValidatingAdmissionPolicy objects/
    ],
    [
      'RuntimeClass',
      'apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: x}\nhandler: runc\n',
      /cluster-scoped RuntimeClass objects/
    ],
    [
      'an unknown custom resource offline',
      'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n',
      /Widget\.example\.com is not a kind this action knows to be namespaced, and an offline dry run has no cluster to ask/
    ]
  ]
  for (const [name, text, message] of refused) {
    test(`refused: ${name}`, async () => {
      const run = await offline({ manifests: await templates({ '60-extra.yaml': text }) })
      assert.equal(run.exitCode, 1, run.stdout)
      assert.match(run.stdout, message)
    })
  }

  test('a namespaced custom resource named in namespaced_kinds passes offline', async () => {
    const dir = await templates({
      '60-extra.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n'
    })
    const run = await offline({ manifests: dir, namespaced_kinds: 'Widget.example.com' })
    assert.equal(run.exitCode, 0, run.stdout)
    assert.match(await readFile(run.outputs.manifests, 'utf8'), /kind: Widget/)
  })
})

describe('templates: bounded reads', () => {
  test('a symbolic link out of the directory is refused, its target not read', async () => {
    const dir = await templates({})
    const outside = path.join(path.dirname(dir), 'outside.yaml')
    await writeFile(
      outside,
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: leaked}\ndata: {k: outside-content}\n'
    )
    await symlink(outside, path.join(dir, '60-link.yaml'))
    const run = await offline({ manifests: dir })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /60-link\.yaml: is a symbolic link; templates must be regular files/)
    assert.ok(!run.stdout.includes('outside-content') && !run.summary.includes('outside-content'))
  })

  test('a FIFO does not hang the run', async () => {
    const dir = await templates({})
    execFileSync('mkfifo', [path.join(dir, '60-fifo.yaml')])
    const started = Date.now()
    const run = await offline({ manifests: dir })
    assert.ok(Date.now() - started < 20_000)
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /60-fifo\.yaml: is not a regular file/)
  })

  test('a very large template is refused before it is read', async () => {
    const dir = await templates({ '60-big.yaml': `# ${'x'.repeat(600 * 1024)}\n` })
    const run = await offline({ manifests: dir })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /60-big\.yaml: is \d+ bytes; a template may be at most 512 KiB/)
  })

  test('an input error quotes a long value by its start only', async () => {
    const run = await offline({ namespace: `bad_${'n'.repeat(100_000)}` })
    assert.equal(run.exitCode, 1)
    assert.match(run.stdout, /namespace: "bad_n{76}"… \(100004 characters\)/)
    assert.ok(run.stdout.length < 20_000, `the log holds ${run.stdout.length} characters`)
  })

  test('a plan too large for a job summary is cut, pointing at the manifests file', async () => {
    // Four files of 400 KiB each: within the bounds for templates, beyond a job summary's 1 MiB.
    const file = (n: number): string =>
      Array.from(
        { length: 4 },
        (_, i) =>
          `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big-${n}-${i}}\ndata: {v: "${'y'.repeat(100 * 1024)}"}\n`
      ).join('---\n')
    const dir = await templates({
      '60-a.yaml': file(1),
      '61-b.yaml': file(2),
      '62-c.yaml': file(3),
      '63-d.yaml': file(4)
    })
    const run = await offline({ manifests: dir })
    assert.equal(run.exitCode, 0, run.stdout.slice(-2000))
    assert.ok(Buffer.byteLength(run.summary) <= 1024 * 1024, `${Buffer.byteLength(run.summary)} bytes`)
    assert.match(run.summary, /a job summary holds 1 MiB; every object is in the rendered manifests file/)
    assert.equal((run.summary.match(/```/g) ?? []).length % 2, 0, 'every fence is closed')
  })
})

describe('template text in the summary: no live Markdown', () => {
  test('a hostile object name shows as text: no heading, image, link, mention or broken <details>', async () => {
    const hostile =
      'x\n\n# Owned\n\n![i](https://evil.example/i.png) @octocat [click](https://evil.example) <img src=x>'
    const dir = await templates({
      '60-extra.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${JSON.stringify(hostile)}\ndata: {a: b}\n`
    })
    const run = await offline({ manifests: dir })
    const outsideFences = run.summary
      .split(/^`{3,}.*$/m)
      .filter((_, i) => i % 2 === 0)
      .join('\n')
    assert.ok(!/^#+ Owned/m.test(outsideFences), 'no heading')
    assert.ok(!outsideFences.includes('@octocat'), 'no mention')
    assert.ok(!/!\[i\]\(/.test(outsideFences), 'no image')
    assert.ok(!/\[click\]\(/.test(outsideFences), 'no link')
    assert.ok(!outsideFences.includes('<img'), 'no HTML')
    assert.equal(
      (run.summary.match(/<details>/g) ?? []).length,
      (run.summary.match(/<\/details>/g) ?? []).length
    )
  })
})
