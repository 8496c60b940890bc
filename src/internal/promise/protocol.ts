/**
 * dflockd-client 1.11's low-level protocol functions, for callers that manage
 * the socket themselves: one request, one reply line, over a connected
 * `net.Socket` (or `tls.TLSSocket`) the caller owns. Same arguments, results,
 * validation and errors as 1.11.
 *
 * Each socket gets one line reader on first use (kept in a `WeakMap`, so it
 * goes with the socket): a `data` listener that decodes UTF-8 across chunk
 * boundaries, splits lines (a trailing `\r` is dropped), and hands each to the
 * waiting read. Lines nobody waits for are kept for the next read.
 */
import type * as Net from "node:net"
import { StringDecoder } from "node:string_decoder"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Codec from "../protocol/codec.ts"
import { AcquireTimeoutError, LockError } from "./errors.ts"

/** A 1.11 error in the Effect world; `runToPromise` rejects with `error`. */
export class Failed extends Data.TaggedError("Failed")<{ readonly error: LockError }> {}

const fail = (error: LockError): Effect.Effect<never, Failed> => Effect.fail(new Failed({ error }))

/** Longest reply line accepted, as in 1.11. */
const MAX_LINE_LENGTH = 1024 * 1024

interface Reader {
  readonly decoder: StringDecoder
  readonly lines: Array<string>
  /** Touched only by the socket's listeners and by `readLine`. */
  readonly io: {
    partial: string
    ended: LockError | undefined
    waiter: (() => void) | undefined
  }
}

const readers = new WeakMap<Net.Socket, Reader>()

const readerOf = (socket: Net.Socket): Reader => {
  const existing = readers.get(socket)
  if (existing !== undefined) return existing
  const reader: Reader = {
    decoder: new StringDecoder("utf8"),
    lines: [],
    io: { partial: "", ended: undefined, waiter: undefined }
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
    let text = io.partial + (typeof chunk === "string" ? chunk : reader.decoder.write(chunk))
    let newline = text.indexOf("\n")
    while (newline !== -1) {
      const line = text.slice(0, newline)
      reader.lines.push(line.endsWith("\r") ? line.slice(0, -1) : line)
      text = text.slice(newline + 1)
      newline = text.indexOf("\n")
    }
    io.partial = text
    if (text.length > MAX_LINE_LENGTH) end(new LockError("server response exceeded maximum line length"))
    if (reader.lines.length > 0) wake()
  })
  socket.on("end", () => end(new LockError("server closed connection")))
  socket.on("close", () => end(new LockError("server closed connection")))
  socket.on("error", (error) => end(new LockError(`socket error: ${error.message}`, { cause: error })))
  readers.set(socket, reader)
  return reader
}

const readLine = (socket: Net.Socket): Effect.Effect<string, Failed> =>
  Effect.callback<string, Failed>((resume) => {
    const reader = readerOf(socket)
    const attempt = (): boolean => {
      const line = reader.lines.shift()
      if (line !== undefined) {
        resume(Effect.succeed(line))
        return true
      }
      if (reader.io.ended !== undefined) {
        resume(fail(reader.io.ended))
        return true
      }
      return false
    }
    if (attempt()) return
    const waiter = () => {
      attempt()
    }
    reader.io.waiter = waiter
    return Effect.sync(() => {
      if (reader.io.waiter === waiter) reader.io.waiter = undefined
    })
  })

const write = (socket: Net.Socket, command: string, key: string, arg: string): Effect.Effect<void, Failed> =>
  Effect.callback<void, Failed>((resume) => {
    readerOf(socket) // listen before the reply can arrive
    socket.write(`${command}\n${key}\n${arg}\n`, "utf8", (error) => {
      resume(
        error === undefined || error === null
          ? Effect.void
          : fail(new LockError(`write failed: ${error.message}`, { cause: error }))
      )
    })
  })

const exchange = (socket: Net.Socket, command: string, key: string, arg: string) =>
  Effect.andThen(write(socket, command, key, arg), readLine(socket))

// ---------------------------------------------------------------------------
// validation (1.11's rules and messages)
// ---------------------------------------------------------------------------

const check = (ok: boolean, message: string): Effect.Effect<void, Failed> =>
  ok ? Effect.void : fail(new LockError(message))

const checkKey = (key: string) =>
  Effect.andThen(
    check(typeof key === "string" && key !== "", "key must not be empty"),
    check(!/[\0\n\r]/.test(key), "key must not contain NUL, newline, or carriage return characters")
  )

const checkToken = (token: string) =>
  Effect.andThen(
    check(typeof token === "string" && token !== "", "token must not be empty"),
    check(!/[\0\n\r]/.test(token), "token must not contain NUL, newline, or carriage return characters")
  )

const isInteger = (n: unknown, min: number) => typeof n === "number" && Number.isInteger(n) && n >= min

const checkLease = (leaseTtlS: number | undefined) =>
  check(leaseTtlS === undefined || leaseTtlS === null || isInteger(leaseTtlS, 1), "leaseTtlS must be an integer >= 1")

const checkLimit = (limit: number | undefined) =>
  check(limit === undefined || isInteger(limit, 1), "limit must be an integer >= 1")

const hasLease = (leaseTtlS: number | undefined | null): leaseTtlS is number =>
  leaseTtlS !== undefined && leaseTtlS !== null

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

/** A reply to an acquire or wait, the 1.x way (the codec reads it; here it becomes 1.11's result or error). */
const blockingGrant = (label: string, key: string, reply: string): Effect.Effect<Grant, Failed> => {
  const decoded = Codec.decodeLegacy("grant", reply)
  switch (decoded._tag) {
    case "Granted":
      return Effect.succeed({ token: decoded.token, lease: decoded.lease })
    case "TimedOut":
      return fail(new AcquireTimeoutError(key))
    case "NoToken":
      return fail(new LockError(`${label}: server returned no token: '${reply}'`))
    default:
      return fail(new LockError(`${label} failed: '${reply}'`))
  }
}

export const protoAcquire = (
  socket: Net.Socket,
  command: "l" | "sl",
  key: string,
  acquireTimeoutS: number,
  leaseTtlS: number | undefined,
  limit: number | undefined
): Effect.Effect<Grant, Failed> =>
  Effect.gen(function*() {
    yield* checkKey(key)
    yield* check(isInteger(acquireTimeoutS, 0), "acquireTimeoutS must be an integer >= 0")
    yield* checkLimit(limit)
    yield* checkLease(leaseTtlS)
    const args: Array<number> = [acquireTimeoutS]
    if (limit !== undefined) args.push(limit)
    if (hasLease(leaseTtlS)) args.push(leaseTtlS)
    const reply = yield* exchange(socket, command, key, args.join(" "))
    return yield* blockingGrant(command === "l" ? "acquire" : "sem_acquire", key, reply)
  })

export const protoRenew = (
  socket: Net.Socket,
  command: "n" | "sn",
  key: string,
  token: string,
  leaseTtlS: number | undefined
): Effect.Effect<number, Failed> =>
  Effect.gen(function*() {
    yield* checkKey(key)
    yield* checkToken(token)
    yield* checkLease(leaseTtlS)
    const reply = yield* exchange(socket, command, key, hasLease(leaseTtlS) ? `${token} ${leaseTtlS}` : token)
    const decoded = Codec.decodeLegacy("renew", reply)
    if (decoded._tag !== "Ok") {
      return yield* fail(new LockError(`${command === "n" ? "renew" : "sem_renew"} failed: '${reply}'`))
    }
    return decoded.lease ?? (hasLease(leaseTtlS) ? leaseTtlS : Codec.LEGACY_FALLBACK_LEASE_SECONDS)
  })

export const protoEnqueue = (
  socket: Net.Socket,
  command: "e" | "se",
  key: string,
  leaseTtlS: number | undefined,
  limit: number | undefined
): Effect.Effect<EnqueueResult, Failed> =>
  Effect.gen(function*() {
    yield* checkKey(key)
    yield* checkLimit(limit)
    yield* checkLease(leaseTtlS)
    const args: Array<number> = []
    if (limit !== undefined) args.push(limit)
    if (hasLease(leaseTtlS)) args.push(leaseTtlS)
    const reply = yield* exchange(socket, command, key, args.join(" "))
    const label = command === "e" ? "enqueue" : "sem_enqueue"
    const decoded = Codec.decodeLegacy("enqueue", reply)
    switch (decoded._tag) {
      case "Granted":
        return { status: "acquired", token: decoded.token, lease: decoded.lease } satisfies EnqueueResult
      case "Queued":
        return { status: "queued", token: null, lease: null } satisfies EnqueueResult
      case "NoToken":
        return yield* fail(new LockError(`${label}: server returned no token: '${reply}'`))
      default:
        return yield* fail(new LockError(`${label} failed: '${reply}'`))
    }
  })

export const protoWait = (
  socket: Net.Socket,
  command: "w" | "sw",
  key: string,
  waitTimeoutS: number
): Effect.Effect<Grant, Failed> =>
  Effect.gen(function*() {
    yield* checkKey(key)
    yield* check(isInteger(waitTimeoutS, 0), "waitTimeoutS must be an integer >= 0")
    const reply = yield* exchange(socket, command, key, String(waitTimeoutS))
    return yield* blockingGrant(command === "w" ? "wait" : "sem_wait", key, reply)
  })

export const protoRelease = (
  socket: Net.Socket,
  command: "r" | "sr",
  key: string,
  token: string
): Effect.Effect<void, Failed> =>
  Effect.gen(function*() {
    yield* checkKey(key)
    yield* checkToken(token)
    const reply = yield* exchange(socket, command, key, token)
    if (Codec.decodeLegacy("release", reply)._tag !== "Ok") {
      return yield* fail(new LockError(`${command === "r" ? "release" : "sem_release"} failed: '${reply}'`))
    }
  })

/** Runs one of the above for a Promise caller: resolves its value, rejects with its `LockError`. */
export const runToPromise = async <A>(effect: Effect.Effect<A, Failed>): Promise<A> => {
  const exit = await Effect.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  const failure = Cause.findErrorOption(exit.cause)
  if (failure._tag === "Some") throw failure.value.error
  throw new LockError(`unexpected failure: ${Cause.pretty(exit.cause)}`, { cause: Cause.squash(exit.cause) })
}
