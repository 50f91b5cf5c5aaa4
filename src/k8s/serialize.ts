// Rendered objects -> text, in the two forms the action hands out. kubectl gets JSON: it reads YAML as YAML 1.1,
// where a plain `on`, `no`, `0o17` or `1_000` is not a string, so JSON is the only form that cannot be misread.
// People get YAML (the manifests file, the plan): every scalar that is not plainly a string in YAML 1.1 and
// 1.2 alike is double-quoted, so the file means the same to kubectl as it does to a reader. The YAML default is
// redacted: Secret values become "***", so the file can be kept, uploaded or shown without ever holding a secret.

import { Document, visit } from 'yaml'
import type { KubeObject } from './kube-object.js'

export const REDACTED = '***'

export function redactSecrets(object: KubeObject): KubeObject {
  if (object.kind !== 'Secret') return object
  const copy = structuredClone(object)
  for (const field of ['stringData', 'data'] as const) {
    const values = copy[field]
    if (values && typeof values === 'object') {
      copy[field] = Object.fromEntries(Object.keys(values).map(key => [key, REDACTED]))
    }
  }
  return copy
}

// For kubectl's stdin (`apply -f -`, `diff -f -`, `get -f -`): one JSON object per line, which kubectl reads as
// a stream of objects.
export function toKubectlInput(objects: object[]): string {
  return objects.map(object => JSON.stringify(object)).join('\n') + '\n'
}

// A plain scalar is a string to every YAML reader when it starts with a letter or "/" (or is a command-line flag,
// `-A`, `--port=5432`), holds only these characters (no space, so never `: ` or ` #`), does not end in `:`, and
// is not one of YAML 1.1's words for booleans and null. Anything else is quoted (a leading digit, sign or dot
// may be a number in one YAML version or the other): over-quoting costs nothing.
const PLAIN_SAFE = /^(?:[A-Za-z/]|--?[A-Za-z])[A-Za-z0-9_./@:=+*-]*$/
const YAML_11_WORDS = /^(y|n|yes|no|on|off|true|false|null)$/i

export function needsQuotes(text: string): boolean {
  return !PLAIN_SAFE.test(text) || text.endsWith(':') || YAML_11_WORDS.test(text)
}

// Characters the yaml package writes raw inside a double-quoted scalar that YAML 1.1 does not read back as
// themselves: DEL and the C1 controls (not printable in YAML 1.1; NEL, U+0085, is a line break there, so
// `c<NEL>d` reads as `c d`), the line and paragraph separators (line breaks in YAML 1.1), the byte-order mark
// (escaped, not left for each reader to decide about) and the two non-characters. C0 controls it escapes itself.
const UNSAFE_IN_YAML_11 = /[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]/g

function yamlEscape(ch: string): string {
  const code = ch.charCodeAt(0)
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`
}

// One object as YAML that YAML 1.1 (kubectl, client-go) and YAML 1.2 readers both read back as the same JSON.
export function toPortableYaml(value: unknown): string {
  const document = new Document(value)
  visit(document, {
    Scalar(_key, node) {
      if (typeof node.value !== 'string') return
      // A block scalar is a string in every YAML version (and keeps scripts readable). Not with tabs or lines
      // that start with a space: readers disagree on those (go-yaml v2 takes a tab for indentation). Not with
      // a character that must be escaped either: only a double-quoted scalar has escapes.
      UNSAFE_IN_YAML_11.lastIndex = 0
      const mustEscape = UNSAFE_IN_YAML_11.test(node.value)
      if (node.value.includes('\n') && !mustEscape && !/\t|^ |\n /.test(node.value))
        node.type = 'BLOCK_LITERAL'
      else if (mustEscape || needsQuotes(node.value)) node.type = 'QUOTE_DOUBLE'
    }
  })
  // Keys are scalars too, and visit() reaches them; a map key like `on` or `1_000` is quoted the same way.
  // Every scalar holding one of UNSAFE_IN_YAML_11 is double-quoted above and nothing else in the text can
  // hold one, so each raw occurrence in the text sits inside a double-quoted scalar: written as its escape.
  return document.toString({ lineWidth: 0 }).replace(UNSAFE_IN_YAML_11, yamlEscape)
}

export function toYamlDocuments(
  objects: KubeObject[],
  options: { redact: boolean } = { redact: true }
): string {
  return objects
    .map(object => toPortableYaml(options.redact ? redactSecrets(object) : object))
    .map(text => `---\n${text}`)
    .join('')
}
