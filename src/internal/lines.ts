/**
 * Splits a byte stream into `\n`-terminated lines with a bounded buffer. Lines
 * are split on bytes and decoded whole, so a multi-byte UTF-8 character split
 * across chunks decodes correctly; invalid UTF-8 or a line over the cap fails.
 * A trailing `\r` is stripped.
 *
 * The splitter owns a little mutable state and belongs to exactly one connection.
 */
import * as Result from "effect/Result"
import { ProtocolError } from "../Errors.ts"

export interface LineSplitter {
  /**
   * Feeds a chunk; returns the lines it completed, or a ProtocolError. A line
   * longer than `maxLineBytes` (default: the splitter's cap) fails as soon as
   * its bytes exceed it, complete or not.
   */
  readonly push: (chunk: Uint8Array, maxLineBytes?: number) => Result.Result<ReadonlyArray<string>, ProtocolError>
  /** Bytes of an incomplete line held since the last newline. */
  readonly pending: () => number
}

const NEWLINE = 0x0a

export const makeLineSplitter = (capBytes: number): LineSplitter => {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
  let partial: Array<Uint8Array> = []
  let partialBytes = 0

  const decodeLine = (bytes: Uint8Array): Result.Result<string, ProtocolError> => {
    let end = bytes.length
    if (end > 0 && bytes[end - 1] === 0x0d) end--
    try {
      return Result.succeed(decoder.decode(bytes.subarray(0, end)))
    } catch {
      return Result.fail(new ProtocolError({ reply: "", detail: "reply is not valid UTF-8" }))
    }
  }

  const tooLong = (maxLineBytes: number) =>
    Result.fail(new ProtocolError({ reply: "", detail: `reply line exceeds ${maxLineBytes} bytes` }))

  const join = (tail: Uint8Array): Uint8Array => {
    if (partial.length === 0) return tail
    const out = new Uint8Array(partialBytes + tail.length)
    let offset = 0
    for (const p of partial) {
      out.set(p, offset)
      offset += p.length
    }
    out.set(tail, offset)
    partial = []
    partialBytes = 0
    return out
  }

  const push = (chunk: Uint8Array, maxLineBytes = capBytes): Result.Result<ReadonlyArray<string>, ProtocolError> => {
    const lines: Array<string> = []
    let start = 0
    let nl = chunk.indexOf(NEWLINE, start)
    while (nl !== -1) {
      if (partialBytes + (nl - start) > maxLineBytes) return tooLong(maxLineBytes)
      const decoded = decodeLine(join(chunk.subarray(start, nl)))
      if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
      lines.push(decoded.success)
      start = nl + 1
      nl = chunk.indexOf(NEWLINE, start)
    }
    if (start < chunk.length) {
      partialBytes += chunk.length - start
      if (partialBytes > maxLineBytes) return tooLong(maxLineBytes)
      // copy: the socket may reuse the chunk's buffer
      partial.push(chunk.slice(start))
    }
    return Result.succeed(lines)
  }

  return { push, pending: () => partialBytes }
}
