// kwok reports an exec'd command that exits non-zero as an internal error ("Internal error occurred: error
// executing command in container: cmd wait: <the whole command line>: exit status 3"), where a kubelet reports
// its exit code (reason NonZeroExitCode, the code in the ExitCode cause), which kubectl exits with. This rewrites
// that one message in kwok's answer to the API server as a kubelet writes it, so that `kubectl exec` behaves as
// on a real node.
//
// The answer is an HTTP 101 head, then SPDY/3.1 frames: control frames (the first bit set) pass as they are;
// a data frame (stream id, flags, 24-bit length, payload) whose payload is kwok's Status of a non-zero exit is
// replaced, its length with it. A stream's payload is never anything else that reads as that Status: the
// command's own output travels on stdout and stderr, and a frame is rewritten only when it is the whole Status.

import { Transform, type TransformCallback } from 'node:stream'

const NON_ZERO_EXIT =
  /^Internal error occurred: error executing command in container: cmd wait: .*: exit status (\d+)$/s

// The kubelet's Status for a non-zero exit (k8s.io/cri-streaming remotecommand.ServeExec), or undefined when the
// payload is not kwok's Status of one.
export function kubeletStatusOf(payload: Buffer): Buffer | undefined {
  if (payload.length > 64 * 1024 || payload[0] !== 0x7b) return undefined
  let status: { status?: string; reason?: string; message?: string }
  try {
    status = JSON.parse(payload.toString('utf8')) as typeof status
  } catch {
    return undefined
  }
  const exit = status.status === 'Failure' && status.reason === 'InternalError' && status.message
  const code = exit ? NON_ZERO_EXIT.exec(exit)?.[1] : undefined
  if (code === undefined) return undefined
  return Buffer.from(
    JSON.stringify({
      metadata: {},
      status: 'Failure',
      message: `command terminated with non-zero exit code: exit status ${code}`,
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: code }] }
    })
  )
}

export function execExitStatus(): Transform {
  let pending = Buffer.alloc(0)
  let inHead = true
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      pending = Buffer.concat([pending, chunk])
      if (inHead) {
        const end = pending.indexOf('\r\n\r\n')
        if (end < 0) return callback()
        this.push(pending.subarray(0, end + 4))
        pending = pending.subarray(end + 4)
        inHead = false
      }
      while (pending.length >= 8) {
        const length = pending.readUIntBE(5, 3)
        if (pending.length < 8 + length) break
        const frame = pending.subarray(0, 8 + length)
        pending = pending.subarray(8 + length)
        const isData = (frame[0] & 0x80) === 0
        const replaced = isData ? kubeletStatusOf(frame.subarray(8)) : undefined
        if (!replaced) {
          this.push(frame)
          continue
        }
        const header = Buffer.from(frame.subarray(0, 8))
        header.writeUIntBE(replaced.length, 5, 3)
        this.push(Buffer.concat([header, replaced]))
      }
      callback()
    },
    flush(callback: TransformCallback) {
      if (pending.length > 0) this.push(pending)
      callback()
    }
  })
}
