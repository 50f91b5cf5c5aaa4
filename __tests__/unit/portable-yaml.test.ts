// What the action writes as YAML (the rendered-manifests file users may `kubectl apply`, the plan) must mean to
// kubectl exactly what it means to the action. kubectl reads YAML 1.1 through sigs.k8s.io/yaml; the
// yaml-to-json program of the test control plane is that reader, so these tests ask it, not a guess of it.

import { describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { controlPlaneBinDir } from '../rig/control-plane/binaries.js'
import { loadTemplates } from '../../src/render/load-templates.js'
import { renderManifests } from '../../src/render/render-manifests.js'
import { parseInputs } from '../../src/inputs.js'
import { toKubectlInput, toPortableYaml, toYamlDocuments } from '../../src/k8s/serialize.js'
import { EXAMPLE_INPUTS } from '../support/example-inputs.js'
import { REPO_ROOT } from '../support/run-action.js'

const run = promisify(execFile)

// The Go reader's view of YAML (or JSON) documents: one JSON value per document.
async function asKubectlReadsIt(text: string): Promise<unknown[]> {
  const reader = path.join(await controlPlaneBinDir(), 'yaml-to-json')
  const child = run(reader, [], { maxBuffer: 64 * 1024 * 1024 })
  child.child.stdin?.end(text)
  const { stdout } = await child
  return stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(line => JSON.parse(line) as unknown)
}

// Strings YAML 1.1 or 1.2 read as something else when plain: booleans, nulls, numbers in every base and
// notation, sexagesimals, timestamps, special floats, indicators and comments.
const TRICKY = [
  'on',
  'On',
  'ON',
  'off',
  'yes',
  'Yes',
  'no',
  'NO',
  'y',
  'Y',
  'n',
  'N',
  'true',
  'False',
  'null',
  'Null',
  '~',
  '',
  '1_000',
  '0o17',
  '017',
  '0x1F',
  '0b101',
  '+12',
  '-12',
  '1e3',
  '1E-3',
  '.5',
  '-.5',
  '+.inf',
  '.inf',
  '-.Inf',
  '.nan',
  '.NaN',
  '10:30',
  '190:20:30',
  '2001-12-14',
  '2001-12-14t21:59:43.10-05:00',
  '3f2a9c1',
  '0123',
  '- item',
  '? key',
  ': value',
  'a: b',
  'a #b',
  '#comment',
  '&anchor',
  '*alias',
  '!tag',
  '%directive',
  '@at',
  '`tick',
  '|',
  '>',
  "'single'",
  '"double"',
  '{a: 1}',
  '[1, 2]',
  'a,b',
  'trailing:',
  'tab\there',
  ' lead',
  'trail ',
  'line\nbreak',
  'line\nbreak\n',
  '\u00e9t\u00e9',
  'emoji \u{1F680}',
  '\\backslash',
  'key=value',
  '--port=5432',
  '-A',
  '-',
  '--',
  '---',
  '...',
  '<<',
  '=',
  'celery.*worker',
  '/startup',
  'https://x/y?z=1'
]

describe('portable YAML: kubectl reads what the action means', () => {
  test('every tricky string, as a value and as a key, comes back the same string', async () => {
    const documents = TRICKY.map(text => ({ value: text, list: [text], map: { [text || 'empty']: text } }))
    const yaml = documents.map(d => `---\n${toPortableYaml(d)}`).join('')
    assert.deepEqual(await asKubectlReadsIt(yaml), documents)
  })

  // Every C0 and C1 control, DEL, the line and paragraph separators, the byte-order mark and the two
  // non-characters: alone, between letters, at either end, beside a newline (a block scalar would write them
  // raw) and in a key. YAML 1.1 takes NEL, U+2028 and U+2029 for line breaks and folds them into a space.
  const CONTROLS = [
    ...Array.from({ length: 0x20 }, (_, code) => String.fromCharCode(code)),
    ...Array.from({ length: 0x21 }, (_, i) => String.fromCharCode(0x7f + i)),
    '\u2028',
    '\u2029',
    '\ufeff',
    '\ufffe',
    '\uffff'
  ]
  const controlCases = CONTROLS.flatMap(ch => [
    { name: `U+${ch.charCodeAt(0).toString(16).padStart(4, '0')} between letters`, text: `c${ch}d` },
    { name: `U+${ch.charCodeAt(0).toString(16).padStart(4, '0')} alone`, text: ch },
    {
      name: `U+${ch.charCodeAt(0).toString(16).padStart(4, '0')} in a multi-line value`,
      text: `a\nb${ch}\nc\n`
    },
    { name: `U+${ch.charCodeAt(0).toString(16).padStart(4, '0')} at both ends`, text: `${ch}x${ch}` }
  ])
  test('every control character and line separator comes back the same, as a value and as a key', async () => {
    const documents = controlCases.map(c => ({ value: c.text, map: { [`k${c.text}`]: c.text } }))
    const yaml = documents.map(d => `---\n${toPortableYaml(d)}`).join('')
    const read = await asKubectlReadsIt(yaml)
    controlCases.forEach((c, i) => assert.deepEqual(read[i], documents[i], c.name))
    // None is written raw: a person reading the file sees an escape, not an invisible character.
    // eslint-disable-next-line no-control-regex
    assert.doesNotMatch(yaml, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/)
  })

  test('seeded random strings of YAML-significant characters come back the same', async () => {
    let seed = 20261201
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed / 2 ** 31
    }
    const alphabet = 'aZ09_-.:#&*!|>\'"%@`{}[],?~+ eEoOxXbB\t\n/=<'
    const documents = Array.from({ length: 400 }, () => {
      const length = 1 + Math.floor(random() * 8)
      const text = Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('')
      return { [text]: text }
    })
    const yaml = documents.map(d => `---\n${toPortableYaml(d)}`).join('')
    assert.deepEqual(await asKubectlReadsIt(yaml), documents)
  })

  test('the rendered default manifests mean the same as YAML and as the JSON kubectl is sent', async () => {
    const config = parseInputs(
      {
        ...EXAMPLE_INPUTS,
        env: 'FEATURE_FLAG=on\nDEBUG=no\nCOUNT=1_000',
        worker_queues: 'on',
        celery_app: 'yes'
      },
      { eventName: 'push' }
    )
    const templates = await loadTemplates(path.join(REPO_ROOT, 'manifests'))
    const objects = renderManifests(templates, config, {
      actor: 'yes',
      commitSha: '1e3'.padEnd(40, '0')
    }).objects.map(o => o.object)
    // As JSON holds them: a field set to undefined is no field at all.
    const meant = JSON.parse(JSON.stringify(objects)) as unknown[]
    assert.deepEqual(await asKubectlReadsIt(toYamlDocuments(objects, { redact: false })), meant)
    assert.deepEqual(await asKubectlReadsIt(toKubectlInput(objects)), meant)
  })
})
