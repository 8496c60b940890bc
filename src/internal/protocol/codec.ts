/**
 * The dflockd wire protocol, pure: argument validation, request frames and reply
 * decoding. No I/O here; the connection sends `frame` and feeds the reply line
 * to `decode`.
 *
 * A request is three lines `CMD\nKEY\nARG\n`; a reply is one line
 * `STATUS[ FIELD...]`, dispatched on its first word.
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import { InvalidArgumentError, ProtocolError, ServerError, type ServerErrorReason } from "../errors/errors.ts"
import { REDACTED, show, showDuration } from "../util/show.ts"
import type { Command, ReplyFailure } from "../../Transport.ts"

/** Longest request line the client sends, in UTF-8 bytes, excluding `\n` (every server version accepts it). */
export const MAX_LINE_BYTES = 255
/** Largest seconds value the server's int64-nanosecond durations can hold. */
export const MAX_SECONDS = 9_223_372_036
/** Largest semaphore limit (cluster servers cap it here). */
export const MAX_LIMIT = 1_048_576
/**
 * Longest reply to any command but `stats`, in bytes: `ok TOKEN L`, `timeout`,
 * a status, or `error_not_leader HOST:PORT` (a host name is at most 253 bytes).
 * A longer reply is a protocol error the moment its bytes pass this bound.
 */
export const MAX_SHORT_REPLY_BYTES = 512

const encoder = new TextEncoder()
export const byteLength = (s: string): number => encoder.encode(s).length

const invalid = (argument: string, value: string, detail: string) =>
  Result.fail(new InvalidArgumentError({ argument, value, detail }))

// ---------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------

// Space, tab, CR, LF and NUL would split or corrupt the three-line frame (the
// server's rule, plus NUL); other Unicode whitespace is a valid key character.
const forbiddenInKey = /[ \t\r\n\u0000]/u
// A lone surrogate encodes as U+FFFD: "\ud800" and "\ufffd" would be the same lock.
const loneSurrogate = /\p{Cs}/u

/** A key the server accepts: non-empty, no whitespace or NUL, at most {@link MAX_LINE_BYTES} bytes. */
export const validateKey = (key: string): Result.Result<string, InvalidArgumentError> => {
  if (typeof key !== "string" || key.length === 0) return invalid("key", show(key), "must be a non-empty string")
  if (forbiddenInKey.test(key)) return invalid("key", show(key), "must not contain space, tab, CR, LF or NUL")
  if (loneSurrogate.test(key)) return invalid("key", show(key), "must be well-formed Unicode (no lone surrogates)")
  // a UTF-16 code unit is at most 3 UTF-8 bytes: short keys need no count
  const bytes = key.length * 3 <= MAX_LINE_BYTES ? 0 : byteLength(key)
  if (bytes > MAX_LINE_BYTES) {
    return invalid("key", show(key), `is ${bytes} bytes long, at most ${MAX_LINE_BYTES} are allowed`)
  }
  return Result.succeed(key)
}

const toDuration = (argument: string, input: Duration.Input): Result.Result<Duration.Duration, InvalidArgumentError> =>
  typeof input === "number" && Number.isNaN(input)
    ? invalid(argument, "NaN", "is not a duration")
    : Option.match(Duration.fromInput(input), {
      onNone: () => invalid(argument, show(input), "is not a duration"),
      onSome: (d) => Result.succeed(d)
    })

/** A lease: a whole number of seconds, at least 1. */
export const validateLease = (input: Duration.Input): Result.Result<number, InvalidArgumentError> =>
  Result.flatMap(toDuration("leaseTtl", input), (d) => {
    const millis = Duration.toMillis(d)
    const value = showDuration(input)
    if (!Number.isFinite(millis) || millis < 1000) return invalid("leaseTtl", value, "must be at least 1 second")
    if (millis % 1000 !== 0) return invalid("leaseTtl", value, "must be a whole number of seconds")
    const seconds = millis / 1000
    if (seconds > MAX_SECONDS) return invalid("leaseTtl", value, `must be at most ${MAX_SECONDS} seconds`)
    return Result.succeed(seconds)
  })

/**
 * A wait, exact to the millisecond: 0 or more (0 = try once), finite. The
 * server waits in whole seconds, so it is asked for the whole seconds at or
 * above the wait ({@link Wait.seconds}); a wait with a sub-second part is kept
 * exact by the client ({@link Wait.clientMillis}): it gives up at that instant
 * and drops the waiter by closing its connection.
 */
export interface Wait {
  /** What the server is asked to wait, in whole seconds. */
  readonly seconds: number
  /** The exact wait in milliseconds when the server's whole seconds would overshoot it. */
  readonly clientMillis: number | undefined
}

export const validateTimeout = (
  argument: string,
  input: Duration.Input
): Result.Result<Wait, InvalidArgumentError> =>
  Result.flatMap(toDuration(argument, input), (d) => {
    const millis = Duration.toMillis(d)
    if (Number.isNaN(millis) || millis < 0) return invalid(argument, showDuration(input), "must not be negative")
    if (!Number.isFinite(millis)) return invalid(argument, showDuration(input), "must be finite")
    const seconds = Math.min(Math.ceil(millis / 1000), MAX_SECONDS)
    // past the server's limit the server's own wait is the bound
    const exact = seconds * 1000 === millis || seconds === MAX_SECONDS
    return Result.succeed({ seconds, clientMillis: exact ? undefined : millis })
  })

/** A positive, finite duration (timeouts and intervals of the client itself). */
export const validatePositiveDuration = (
  argument: string,
  input: Duration.Input
): Result.Result<Duration.Duration, InvalidArgumentError> =>
  Result.flatMap(toDuration(argument, input), (d) =>
    Duration.isFinite(d) && Duration.toMillis(d) > 0
      ? Result.succeed(d)
      : invalid(argument, showDuration(input), "must be a positive finite duration"))

/**
 * A heartbeat interval: positive, and below the server's read timeout (a holder
 * silent for the read timeout has its connection closed and its locks freed).
 */
export const validateHeartbeat = (
  input: Duration.Input,
  serverReadTimeout: Duration.Duration
): Result.Result<Duration.Duration, InvalidArgumentError> =>
  Result.flatMap(validatePositiveDuration("heartbeatInterval", input), (d) =>
    Duration.isLessThan(d, serverReadTimeout)
      ? Result.succeed(d)
      : invalid(
        "heartbeatInterval",
        showDuration(input),
        `must be less than serverReadTimeout (${Duration.format(serverReadTimeout)}): ` +
          "the server closes a connection silent that long and frees its locks"
      ))

/** The fraction of the lease after which to renew: strictly between 0 and 1. */
export const validateRenewRatio = (ratio: number): Result.Result<number, InvalidArgumentError> =>
  ratio > 0 && ratio < 1
    ? Result.succeed(ratio)
    : invalid("renewRatio", show(ratio), "must be between 0 and 1 (exclusive)")

/** A semaphore limit: an integer from 1 to {@link MAX_LIMIT}. */
export const validateLimit = (limit: number): Result.Result<number, InvalidArgumentError> =>
  Number.isInteger(limit) && limit >= 1 && limit <= MAX_LIMIT
    ? Result.succeed(limit)
    : invalid("limit", show(limit), `must be an integer from 1 to ${MAX_LIMIT}`)

const tokenPattern = /^[0-9a-f]{32}$/

/**
 * An opaque token, as dflockd-client 1.x accepts it from servers and test doubles
 * (`ok tok1 20`): non-empty, no whitespace or control characters, and short
 * enough ({@link MAX_OPAQUE_TOKEN_BYTES}) that `n KEY TOKEN L` still fits a line.
 * Only a client with `acceptOpaqueTokens` accepts these (through each command's
 * `decodeOpaque`); by default a grant must carry a 32-hex token.
 */
export const MAX_OPAQUE_TOKEN_BYTES = 200
const opaqueTokenPattern = /^[^\s\p{Cc}]+$/u
const isOpaqueToken = (token: string): boolean =>
  // the server's own tokens (32 hex digits) first: the common case, one cheap test
  tokenPattern.test(token) ||
  opaqueTokenPattern.test(token) && !loneSurrogate.test(token) &&
    (token.length * 3 <= MAX_OPAQUE_TOKEN_BYTES || byteLength(token) <= MAX_OPAQUE_TOKEN_BYTES)
/** A token as the server issues it: 32 lowercase hex digits (`Token.isToken` is this rule). */
export const isHexToken = (token: string): boolean => tokenPattern.test(token)

/** A token as the server issues it: 32 lowercase hex digits. */
export const validateToken = (token: string): Result.Result<string, InvalidArgumentError> =>
  typeof token === "string" && tokenPattern.test(token)
    ? Result.succeed(token)
    : invalid("token", show(token), "must be 32 lowercase hex digits")

/** An auth token: one line, no CR or LF, within the auth line limit. */
export const validateAuthToken = (token: string): Result.Result<string, InvalidArgumentError> => {
  // never shown: the value is a secret
  if (token.length === 0) return invalid("auth", REDACTED, "must not be empty")
  if (/[\r\n\u0000]/u.test(token)) return invalid("auth", REDACTED, "must not contain CR, LF or NUL")
  if (loneSurrogate.test(token)) return invalid("auth", REDACTED, "must be well-formed Unicode (no lone surrogates)")
  if (byteLength(token) > MAX_LINE_BYTES) return invalid("auth", REDACTED, `must be at most ${MAX_LINE_BYTES} bytes`)
  return Result.succeed(token)
}

// ---------------------------------------------------------------------------
// replies
// ---------------------------------------------------------------------------

/** The lock or permit was granted. `leaseSeconds` is the lease the server set. */
export interface Granted {
  readonly _tag: "Granted"
  readonly token: string
  readonly leaseSeconds: number
}
export interface TimedOut {
  readonly _tag: "TimedOut"
}
export interface Queued {
  readonly _tag: "Queued"
}
export interface Ok {
  readonly _tag: "Ok"
}
export interface StatsReply {
  readonly _tag: "Stats"
  readonly json: string
}

export type { AuthRejected, Command, ReplyFailure } from "../../Transport.ts"

export const granted = (token: string, leaseSeconds: number): Granted => ({ _tag: "Granted", token, leaseSeconds })
export const timedOut: TimedOut = { _tag: "TimedOut" }
const queued: Queued = { _tag: "Queued" }
const ok: Ok = { _tag: "Ok" }

const serverReasons: Readonly<Record<string, ServerErrorReason>> = {
  error: "error",
  error_max_locks: "max_locks",
  error_max_waiters: "max_waiters",
  error_limit_mismatch: "limit_mismatch",
  error_not_enqueued: "not_enqueued",
  error_already_enqueued: "already_enqueued",
  error_lease_expired: "lease_expired",
  error_draining: "draining",
  error_not_leader: "not_leader"
}

const protocolError = (reply: string, detail: string) => Result.fail(new ProtocolError({ reply, detail }))

/** Error statuses every command can receive; `undefined` when the reply is not an error. */
const errorStatus = (word: string, line: string): Result.Result<never, ReplyFailure> | undefined => {
  if (word === "error_auth") return Result.fail({ _tag: "AuthRejected", reply: line })
  if (word === "error" || word.startsWith("error_")) {
    // An unknown error_* word is a generic server error: newer servers add statuses.
    return Result.fail(new ServerError({ reason: serverReasons[word] ?? "error", reply: line }))
  }
  return undefined
}

const positiveInt = /^[1-9][0-9]{0,18}$/
const nonNegativeInt = /^(0|[1-9][0-9]{0,18})$/

/**
 * A protocol integer: plain decimal, no sign or leading zero, from `min` (0 or
 * 1) to `max`; `undefined` otherwise. Both directions read integers with it.
 */
export const parseInteger = (text: string | undefined, min: 0 | 1, max: number): number | undefined =>
  text !== undefined && (min === 0 ? nonNegativeInt : positiveInt).test(text) && Number(text) <= max
    ? Number(text)
    : undefined

const parseGrant = (
  line: string,
  words: ReadonlyArray<string>,
  opaque: boolean
): Result.Result<Granted, ReplyFailure> => {
  const [, token, lease] = words
  if (token === undefined || !(opaque ? isOpaqueToken(token) : isHexToken(token))) {
    return protocolError(line, opaque ? "expected a token" : "expected a 32-hex token")
  }
  if (lease === undefined || !positiveInt.test(lease)) return protocolError(line, "expected a lease in seconds")
  const seconds = Number(lease)
  // beyond the protocol's range, and past 2^53 not even exact as a number
  if (seconds > MAX_SECONDS) return protocolError(line, `lease exceeds ${MAX_SECONDS} seconds`)
  return Result.succeed(granted(token, seconds))
}

const acquireDecoder = (opaque: boolean) => (line: string): Result.Result<Granted | TimedOut, ReplyFailure> => {
  const words = line.split(" ")
  const word = words[0] ?? ""
  if (word === "ok") return parseGrant(line, words, opaque)
  if (word === "timeout" && words.length === 1) return Result.succeed(timedOut)
  return errorStatus(word, line) ?? protocolError(line, "unexpected reply to an acquire")
}

const enqueueDecoder = (opaque: boolean) => (line: string): Result.Result<Granted | Queued, ReplyFailure> => {
  const words = line.split(" ")
  const word = words[0] ?? ""
  if (word === "acquired") return parseGrant(line, words, opaque)
  if (word === "queued" && words.length === 1) return Result.succeed(queued)
  return errorStatus(word, line) ?? protocolError(line, "unexpected reply to an enqueue")
}

/** Replies to `l`, `sl`, `w`, `sw`: `ok TOKEN L` or `timeout`. */
export const decodeAcquire: (line: string) => Result.Result<Granted | TimedOut, ReplyFailure> = acquireDecoder(false)

/** Replies to `e`, `se`: `acquired TOKEN L` or `queued`. */
export const decodeEnqueue: (line: string) => Result.Result<Granted | Queued, ReplyFailure> = enqueueDecoder(false)

/** {@link decodeAcquire}, accepting any opaque token (see {@link MAX_OPAQUE_TOKEN_BYTES}). */
export const decodeAcquireOpaque: (line: string) => Result.Result<Granted | TimedOut, ReplyFailure> = acquireDecoder(
  true
)

/** {@link decodeEnqueue}, accepting any opaque token (see {@link MAX_OPAQUE_TOKEN_BYTES}). */
export const decodeEnqueueOpaque: (line: string) => Result.Result<Granted | Queued, ReplyFailure> = enqueueDecoder(
  true
)

/** Replies to `n`, `sn`: `ok L` (old servers send the whole seconds remaining, possibly 0). */
export const decodeRenew = (line: string): Result.Result<Ok, ReplyFailure> => {
  const words = line.split(" ")
  const word = words[0] ?? ""
  if (word === "ok") {
    const lease = words[1]
    return lease === undefined || nonNegativeInt.test(lease)
      ? Result.succeed(ok)
      : protocolError(line, "expected the renewed lease in seconds")
  }
  return errorStatus(word, line) ?? protocolError(line, "unexpected reply to a renew")
}

/** Replies to `r`, `sr`, `auth`, `ping`: a bare `ok`. */
export const decodeOk = (line: string): Result.Result<Ok, ReplyFailure> => {
  if (line === "ok") return Result.succeed(ok)
  const word = line.split(" ")[0] ?? ""
  return errorStatus(word, line) ?? protocolError(line, "expected ok")
}

/** Replies to `stats`: `ok <json>`. */
export const decodeStats = (line: string): Result.Result<StatsReply, ReplyFailure> => {
  if (line.startsWith("ok ")) return Result.succeed({ _tag: "Stats", json: line.slice(3) })
  const word = line.split(" ")[0] ?? ""
  return errorStatus(word, line) ?? protocolError(line, "expected ok <json>")
}

// ---------------------------------------------------------------------------
// requests
// ---------------------------------------------------------------------------

/** Locks and semaphores use the same commands, the semaphore ones prefixed with `s`. */
export type Kind = "lock" | "semaphore"

const short = MAX_SHORT_REPLY_BYTES
const prefix = (kind: Kind, cmd: string) => kind === "lock" ? cmd : `s${cmd}`
const frame = (cmd: string, key: string, arg: string) => `${cmd}\n${key}\n${arg}\n`
const withLease = (head: string, leaseSeconds: number | undefined) =>
  leaseSeconds === undefined ? head : `${head} ${leaseSeconds}`

/** The arguments an acquire or enqueue takes; `limit` only for semaphores. */
export interface Target {
  readonly kind: Kind
  readonly key: string
  readonly limit?: number | undefined
}

const limitArg = (target: Target) => target.kind === "semaphore" ? `${target.limit ?? 1}` : undefined

export const acquire = (
  target: Target,
  timeoutSeconds: number,
  leaseSeconds: number | undefined
): Command<Granted | TimedOut> => {
  const limit = limitArg(target)
  const head = limit === undefined ? `${timeoutSeconds}` : `${timeoutSeconds} ${limit}`
  const cmd = prefix(target.kind, "l")
  return {
    name: cmd,
    frame: frame(cmd, target.key, withLease(head, leaseSeconds)),
    blocking: timeoutSeconds > 0,
    maxReplyBytes: short,
    decode: decodeAcquire,
    decodeOpaque: decodeAcquireOpaque
  }
}

export const enqueue = (target: Target, leaseSeconds: number | undefined): Command<Granted | Queued> => {
  const limit = limitArg(target)
  const cmd = prefix(target.kind, "e")
  const arg = limit === undefined
    ? (leaseSeconds === undefined ? "" : `${leaseSeconds}`)
    : withLease(limit, leaseSeconds)
  return {
    name: cmd,
    frame: frame(cmd, target.key, arg),
    blocking: false,
    maxReplyBytes: short,
    decode: decodeEnqueue,
    decodeOpaque: decodeEnqueueOpaque
  }
}

export const wait = (kind: Kind, key: string, timeoutSeconds: number): Command<Granted | TimedOut> => {
  const cmd = prefix(kind, "w")
  return {
    name: cmd,
    frame: frame(cmd, key, `${timeoutSeconds}`),
    blocking: timeoutSeconds > 0,
    maxReplyBytes: short,
    decode: decodeAcquire,
    decodeOpaque: decodeAcquireOpaque
  }
}

export const release = (kind: Kind, key: string, token: string): Command<Ok> => {
  const cmd = prefix(kind, "r")
  return { name: cmd, frame: frame(cmd, key, token), blocking: false, maxReplyBytes: short, decode: decodeOk }
}

export const renew = (kind: Kind, key: string, token: string, leaseSeconds: number | undefined): Command<Ok> => {
  const cmd = prefix(kind, "n")
  return {
    name: cmd,
    frame: frame(cmd, key, withLease(token, leaseSeconds)),
    blocking: false,
    maxReplyBytes: short,
    decode: decodeRenew
  }
}

export const stats: Command<StatsReply> = {
  name: "stats",
  frame: frame("stats", "_", "_"),
  blocking: false,
  maxReplyBytes: undefined,
  decode: decodeStats
}

export const ping: Command<Ok> = {
  name: "ping",
  frame: frame("ping", "_", "_"),
  blocking: false,
  maxReplyBytes: short,
  decode: decodeOk
}

/** `auth` with the secret in the argument line. Never log this command's frame. */
export const auth = (token: string): Command<Ok> => ({
  name: "auth",
  frame: frame("auth", "_", token),
  blocking: false,
  maxReplyBytes: short,
  decode: decodeOk
})

// ---------------------------------------------------------------------------
// dflockd-client 1.x's lenient reading, for the Promise API's low-level functions
// ---------------------------------------------------------------------------

/** The lease dflockd-client 1.x assumes when a reply carries none (or a bad one), in seconds. */
export const LEGACY_FALLBACK_LEASE_SECONDS = 30

/**
 * A reply as dflockd-client 1.x reads it: a grant (`ok` or `acquired`, any
 * non-empty token, the lease or 30 s), `timeout`, `queued`, a bare `ok` (or
 * `ok L` to a renewal), or anything else, kept as the server's words.
 */
export type LegacyReply =
  | { readonly _tag: "Granted"; readonly token: string; readonly lease: number }
  | { readonly _tag: "NoToken" }
  | { readonly _tag: "TimedOut" }
  | { readonly _tag: "Queued" }
  | { readonly _tag: "Ok"; readonly lease: number | undefined }
  | { readonly _tag: "Other" }

const legacyLease = (value: string | undefined): number => {
  if (value === undefined || value === "") return LEGACY_FALLBACK_LEASE_SECONDS
  const n = Number(value)
  return Number.isFinite(n) && n >= 0 ? n : LEGACY_FALLBACK_LEASE_SECONDS
}

/**
 * Reads a reply the 1.x way, for the command it answers: `grant` (`l`, `sl`,
 * `w`, `sw`: `ok TOKEN [L]` or `timeout`), `enqueue` (`acquired TOKEN [L]` or
 * `queued`), `renew` (`ok` or `ok L`), `release` (`ok`). Pure and total.
 */
export const decodeLegacy = (command: "grant" | "enqueue" | "renew" | "release", line: string): LegacyReply => {
  const words = line.split(" ")
  const grant = (): LegacyReply => {
    const token = words[1]
    return token === undefined || token === ""
      ? { _tag: "NoToken" }
      : { _tag: "Granted", token, lease: legacyLease(words[2]) }
  }
  switch (command) {
    case "grant":
      if (line === "timeout") return { _tag: "TimedOut" }
      return line.startsWith("ok ") ? grant() : { _tag: "Other" }
    case "enqueue":
      if (line === "queued") return { _tag: "Queued" }
      return line.startsWith("acquired ") ? grant() : { _tag: "Other" }
    case "renew":
      if (line === "ok") return { _tag: "Ok", lease: undefined }
      return line.startsWith("ok ") ? { _tag: "Ok", lease: legacyLease(words[1]) } : { _tag: "Other" }
    case "release":
      return line === "ok" ? { _tag: "Ok", lease: undefined } : { _tag: "Other" }
  }
}
