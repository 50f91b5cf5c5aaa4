// Just enough of the protobuf wire format to read the SelfSubjectAccessReview kubectl `auth can-i` POSTs
// (k8s envelope "k8s\0" + runtime.Unknown{typeMeta, raw}).
type Fields = Map<number, Array<Buffer | number>>

function readVarint(buf: Buffer, pos: number): [number, number] {
  let result = 0
  let shift = 0
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint')
    const b = buf[pos++]
    result += (b & 0x7f) * 2 ** shift
    if ((b & 0x80) === 0) return [result, pos]
    shift += 7
  }
}

export function decodeMessage(buf: Buffer): Fields {
  const fields: Fields = new Map()
  let pos = 0
  while (pos < buf.length) {
    const [tag, p1] = readVarint(buf, pos)
    pos = p1
    const field = Math.floor(tag / 8)
    const wire = tag & 7
    let value: Buffer | number
    if (wire === 0) {
      ;[value, pos] = readVarint(buf, pos)
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos)
      value = buf.subarray(p2, p2 + len)
      pos = p2 + len
    } else if (wire === 1) {
      value = buf.subarray(pos, pos + 8)
      pos += 8
    } else if (wire === 5) {
      value = buf.subarray(pos, pos + 4)
      pos += 4
    } else throw new Error(`unsupported wire type ${wire}`)
    const list = fields.get(field) ?? []
    list.push(value)
    fields.set(field, list)
  }
  return fields
}

const str = (f: Fields, n: number): string => {
  const v = f.get(n)?.[0]
  return Buffer.isBuffer(v) ? v.toString('utf8') : ''
}
const sub = (f: Fields, n: number): Fields | undefined => {
  const v = f.get(n)?.[0]
  return Buffer.isBuffer(v) ? decodeMessage(v) : undefined
}

export interface DecodedEnvelope {
  apiVersion: string
  kind: string
  raw: Buffer
}

export function decodeEnvelope(body: Buffer): DecodedEnvelope {
  if (body.subarray(0, 4).toString('binary') !== 'k8s\0') throw new Error('missing k8s protobuf magic')
  const unknown = decodeMessage(body.subarray(4))
  const typeMeta = sub(unknown, 1)
  const raw = unknown.get(2)?.[0]
  return {
    apiVersion: typeMeta ? str(typeMeta, 1) : '',
    kind: typeMeta ? str(typeMeta, 2) : '',
    raw: Buffer.isBuffer(raw) ? raw : Buffer.alloc(0)
  }
}

// SelfSubjectAccessReview{1 metadata, 2 spec{1 resourceAttributes{1 ns,2 verb,3 group,4 version,5 resource,6 sub,7 name},
// 2 nonResourceAttributes{1 path, 2 verb}}}
export function decodeSelfSubjectAccessReview(body: Buffer): Record<string, unknown> {
  const env = decodeEnvelope(body)
  const msg = decodeMessage(env.raw)
  const spec = sub(msg, 2)
  const out: Record<string, unknown> = { apiVersion: env.apiVersion, kind: env.kind, metadata: {}, spec: {} }
  const ra = spec ? sub(spec, 1) : undefined
  if (ra) {
    const names = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name']
    const attrs: Record<string, string> = {}
    names.forEach((n, i) => {
      const v = str(ra, i + 1)
      if (v) attrs[n] = v
    })
    ;(out.spec as Record<string, unknown>).resourceAttributes = attrs
  }
  const nra = spec ? sub(spec, 2) : undefined
  if (nra)
    (out.spec as Record<string, unknown>).nonResourceAttributes = { path: str(nra, 1), verb: str(nra, 2) }
  return out
}
