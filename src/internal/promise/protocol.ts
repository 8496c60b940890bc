/**
 * dflockd-client 1.11's low-level protocol functions, for callers that manage
 * the socket themselves: one request, one reply line, over a connected
 * `net.Socket` (or `tls.TLSSocket`) the caller owns. Same arguments, results,
 * validation (`options.ts`) and errors as 1.11.
 *
 * The frames are the codec's, and the replies are read by its 1.x-lenient
 * `decodeLegacy`. Each socket gets one line reader on first use (kept in a
 * `WeakMap`, so it goes with the socket): a `data` listener that splits lines
 * with `lines.ts` and hands each to the waiting read. Lines nobody waits for
 * are kept for the next read.
 */
import type * as Net from "node:net"
import * as Result from "effect/Result"
import type { ProtocolError } from "../errors/errors.ts"
import * as Codec from "../protocol/codec.ts"
import { type LineBuffer, makeLineBuffer, pushLines } from "../protocol/lines.ts"
import { AcquireTimeoutError, LockError } from "./errors.ts"
import * as Options from "./options.ts"

/** Longest reply line accepted, as in 1.11. */
const MAX_LINE_BYTES = 1024 * 1024

interface Reader {
  readonly buffer: LineBuffer
  readonly lines: Array<string>
  /** Touched only by the socket's listeners and by `readLine`. */
  readonly io: {
    ended: LockError | undefined
    waiter: (() => void) | undefined
  }
}

const readers = new WeakMap<Net.Socket, Reader>()

/** A reply the line splitter refused: too long (1.11's words), or not UTF-8. */
const refused = (error: ProtocolError): LockError =>
  error.detail.startsWith("reply line exceeds")
    ? new LockError("server response exceeded maximum line length")
    : new LockError(`server response refused: ${error.detail}`, { cause: error })

const readerOf = (socket: Net.Socket): Reader => {
  const existing = readers.get(socket)
  if (existing !== undefined) return existing
  const reader: Reader = {
    buffer: makeLineBuffer(MAX_LINE_BYTES),
    lines: [],
    io: { ended: undefined, waiter: undefined }
  }
  const { io } = reader
  const wake = () => {
    const waiter = io.waiter
    io.waiter = undefined
    waiter?.()
  }
  const end = (error: LockError) => {
    if (io.ended === undefined) io.ended = error
    wake()
  }
  if (socket.readableEnded || socket.destroyed) io.ended = new LockError("server closed connection")
  socket.on("data", (chunk: Buffer | string) => {
    if (io.ended !== undefined) return
    const pushed = pushLines(reader.buffer, typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk)
    if (Result.isFailure(pushed)) return end(refused(pushed.failure))
    if (pushed.success.length === 0) return
    reader.lines.push(...pushed.success)
    wake()
  })
  socket.on("end", () => end(new LockError("server closed connection")))
  socket.on("close", () => end(new LockError("server closed connection")))
  socket.on("error", (error) => end(new LockError(`socket error: ${error.message}`, { cause: error })))
  readers.set(socket, reader)
  return reader
}

const readLine = (reader: Reader): Promise<string> =>
  new Promise((resolve, reject) => {
    const attempt = (): void => {
      const line = reader.lines.shift()
      if (line !== undefined) return resolve(line)
      if (reader.io.ended !== undefined) return reject(reader.io.ended)
      reader.io.waiter = attempt
    }
    attempt()
  })

/** Sends `command` and reads one reply line. */
const exchange = async (socket: Net.Socket, command: Codec.Command<unknown>): Promise<string> => {
  let reader: Reader
  try {
    reader = readerOf(socket) // listen before the reply can arrive
    await new Promise<void>((resolve, reject) => {
      socket.write(command.frame, "utf8", (error) => {
        if (error === undefined || error === null) resolve()
        else reject(new LockError(`write failed: ${error.message}`, { cause: error }))
      })
    })
  } catch (error) {
    // not a socket, or one that throws
    if (error instanceof LockError) throw error
    throw new LockError(`unexpected failure: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error
    })
  }
  return readLine(reader)
}

// ---------------------------------------------------------------------------
// the commands
// ---------------------------------------------------------------------------

/** A grant: the token and the lease in seconds. */
export interface Grant {
  readonly token: string
  readonly lease: number
}

/** The reply to an enqueue: granted at once, or queued. */
export interface EnqueueResult {
  readonly status: "acquired" | "queued"
  readonly token: string | null
  readonly lease: number | null
}

/** 1.11's name of an operation in its errors: `acquire`, or `sem_acquire` for a semaphore. */
const labelOf = (kind: Codec.Kind, operation: string) => kind === "lock" ? operation : `sem_${operation}`

/** A reply to an acquire or wait, the 1.x way (the codec reads it; here it becomes 1.11's result or error). */
const blockingGrant = (label: string, key: string, reply: string): Grant => {
  const decoded = Codec.decodeLegacy("grant", reply)
  switch (decoded._tag) {
    case "Granted":
      return { token: decoded.token, lease: decoded.lease }
    case "TimedOut":
      throw new AcquireTimeoutError(key)
    case "NoToken":
      throw new LockError(`${label}: server returned no token: '${reply}'`)
    default:
      throw new LockError(`${label} failed: '${reply}'`)
  }
}

/** `l`, or `sl` with `limit` (required for a semaphore). */
export const protoAcquire = async (
  socket: Net.Socket,
  kind: Codec.Kind,
  key: string,
  acquireTimeoutS: number,
  leaseTtlS: number | undefined,
  limit: number | undefined
): Promise<Grant> => {
  Options.validateKey(key)
  Options.validateWholeSeconds("acquireTimeoutS", acquireTimeoutS)
  const checked = kind === "semaphore" ? Options.validateLimit(limit) : undefined
  const lease = Options.validateLeaseTtl(leaseTtlS)
  const reply = await exchange(socket, Codec.acquire({ kind, key, limit: checked }, acquireTimeoutS, lease))
  return blockingGrant(labelOf(kind, "acquire"), key, reply)
}

/** `n` or `sn`: the lease the server reports, or `leaseTtlS` (else 30) when it reports none. */
export const protoRenew = async (
  socket: Net.Socket,
  kind: Codec.Kind,
  key: string,
  token: string,
  leaseTtlS: number | undefined
): Promise<number> => {
  Options.validateKey(key)
  Options.validateToken(token)
  const lease = Options.validateLeaseTtl(leaseTtlS)
  const reply = await exchange(socket, Codec.renew(kind, key, token, lease))
  const decoded = Codec.decodeLegacy("renew", reply)
  if (decoded._tag !== "Ok") throw new LockError(`${labelOf(kind, "renew")} failed: '${reply}'`)
  return decoded.lease ?? lease ?? Codec.LEGACY_FALLBACK_LEASE_SECONDS
}

/** `e`, or `se` with `limit` (required for a semaphore). */
export const protoEnqueue = async (
  socket: Net.Socket,
  kind: Codec.Kind,
  key: string,
  leaseTtlS: number | undefined,
  limit: number | undefined
): Promise<EnqueueResult> => {
  Options.validateKey(key)
  const checked = kind === "semaphore" ? Options.validateLimit(limit) : undefined
  const lease = Options.validateLeaseTtl(leaseTtlS)
  const reply = await exchange(socket, Codec.enqueue({ kind, key, limit: checked }, lease))
  const label = labelOf(kind, "enqueue")
  const decoded = Codec.decodeLegacy("enqueue", reply)
  switch (decoded._tag) {
    case "Granted":
      return { status: "acquired", token: decoded.token, lease: decoded.lease }
    case "Queued":
      return { status: "queued", token: null, lease: null }
    case "NoToken":
      throw new LockError(`${label}: server returned no token: '${reply}'`)
    default:
      throw new LockError(`${label} failed: '${reply}'`)
  }
}

/** `w` or `sw`. */
export const protoWait = async (
  socket: Net.Socket,
  kind: Codec.Kind,
  key: string,
  waitTimeoutS: number
): Promise<Grant> => {
  Options.validateKey(key)
  Options.validateWholeSeconds("waitTimeoutS", waitTimeoutS)
  const reply = await exchange(socket, Codec.wait(kind, key, waitTimeoutS))
  return blockingGrant(labelOf(kind, "wait"), key, reply)
}

/** `r` or `sr`. */
export const protoRelease = async (
  socket: Net.Socket,
  kind: Codec.Kind,
  key: string,
  token: string
): Promise<void> => {
  Options.validateKey(key)
  Options.validateToken(token)
  const reply = await exchange(socket, Codec.release(kind, key, token))
  if (Codec.decodeLegacy("release", reply)._tag !== "Ok") {
    throw new LockError(`${labelOf(kind, "release")} failed: '${reply}'`)
  }
}
