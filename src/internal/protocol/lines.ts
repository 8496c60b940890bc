/**
 * Splits a byte stream into `\n`-terminated lines with a bounded buffer. Lines
 * are split on bytes and decoded whole, so a multi-byte UTF-8 character split
 * across chunks decodes correctly; invalid UTF-8 or a line over the cap fails.
 * A trailing `\r` is stripped.
 *
 * A line buffer is a little plain mutable state that belongs to exactly one connection.
 */
import * as Result from "effect/Result"
import { ProtocolError } from "../errors/errors.ts"

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

/**
 * The state of one connection's line splitting, as plain data (one per
 * connection, changed only by {@link pushLines}).
 */
export interface LineBuffer {
  readonly capBytes: number
  readonly decoder: InstanceType<typeof TextDecoder>
  /** The bytes of the incomplete line, in chunks. */
  partial: Array<Uint8Array>
  partialBytes: number
}

export const makeLineBuffer = (capBytes: number): LineBuffer => ({
  capBytes,
  decoder: new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }),
  partial: [],
  partialBytes: 0
})

const decodeLine = (buffer: LineBuffer, bytes: Uint8Array): Result.Result<string, ProtocolError> => {
  let end = bytes.length
  if (end > 0 && bytes[end - 1] === 0x0d) end--
  try {
    return Result.succeed(buffer.decoder.decode(bytes.subarray(0, end)))
  } catch {
    return Result.fail(new ProtocolError({ reply: "", detail: "reply is not valid UTF-8" }))
  }
}

const tooLong = (maxLineBytes: number) =>
  Result.fail(new ProtocolError({ reply: "", detail: `reply line exceeds ${maxLineBytes} bytes` }))

/** The incomplete line's bytes followed by `tail`, as one array; the buffer is then empty. */
const join = (buffer: LineBuffer, tail: Uint8Array): Uint8Array => {
  if (buffer.partial.length === 0) return tail
  const out = new Uint8Array(buffer.partialBytes + tail.length)
  let offset = 0
  for (const p of buffer.partial) {
    out.set(p, offset)
    offset += p.length
  }
  out.set(tail, offset)
  buffer.partial = []
  buffer.partialBytes = 0
  return out
}

/** Feeds a chunk to `buffer`: the lines it completed, or a ProtocolError (see {@link LineSplitter}). */
export const pushLines = (
  buffer: LineBuffer,
  chunk: Uint8Array,
  maxLineBytes = buffer.capBytes
): Result.Result<ReadonlyArray<string>, ProtocolError> => {
  const lines: Array<string> = []
  let start = 0
  let nl = chunk.indexOf(NEWLINE, start)
  while (nl !== -1) {
    if (buffer.partialBytes + (nl - start) > maxLineBytes) return tooLong(maxLineBytes)
    const decoded = decodeLine(buffer, join(buffer, chunk.subarray(start, nl)))
    if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
    lines.push(decoded.success)
    start = nl + 1
    nl = chunk.indexOf(NEWLINE, start)
  }
  if (start < chunk.length) {
    buffer.partialBytes += chunk.length - start
    if (buffer.partialBytes > maxLineBytes) return tooLong(maxLineBytes)
    // copy: the socket may reuse the chunk's buffer
    buffer.partial.push(chunk.slice(start))
  }
  return Result.succeed(lines)
}

/** A line splitter over its own {@link LineBuffer}. */
export const makeLineSplitter = (capBytes: number): LineSplitter => {
  const buffer = makeLineBuffer(capBytes)
  return {
    push: (chunk, maxLineBytes) => pushLines(buffer, chunk, maxLineBytes),
    pending: () => buffer.partialBytes
  }
}
