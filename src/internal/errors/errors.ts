/**
 * The typed errors of effect-dflockd, declared once: the public `Errors` module
 * re-exports them, and every room of the client fails with them.
 */
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

/**
 * The lock (or permit) could not be acquired within the acquire timeout.
 *
 * **Example** (Falling back when the lock is busy)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Effect.succeed("done").pipe(
 *   Lock.withLock("orders", { acquireTimeout: "1 second" }),
 *   Effect.catchTag("AcquireTimeoutError", (e) => Effect.succeed(`busy: ${e.key}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AcquireTimeoutError extends Schema.TaggedError<AcquireTimeoutError>()("AcquireTimeoutError", {
  key: Schema.String
}) {
  override get message(): string {
    return `timed out acquiring "${this.key}"`
  }
}

/**
 * Why authentication failed.
 *
 * - `Rejected`: the server requires a token and refused this one (wrong, or
 *   missing: the server answered `error_auth` and closed the connection).
 * - `NotEnabled`: the client sent a token to a server that has no auth
 *   configured (it answered plain `error` to `auth`): remove the client's token,
 *   or start the server with `--auth-token`. Servers older than dflockd 1.6 answer
 *   the same way.
 *
 * **Example** (Telling the two apart)
 *
 * ```ts
 * import type { AuthErrorReason } from "effect-dflockd"
 *
 * const advice = (reason: AuthErrorReason): string =>
 *   reason === "Rejected" ? "check the token" : "the server has no auth: drop the token"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const AuthErrorReason = Schema.Literals(["Rejected", "NotEnabled"])

/**
 * One of the reasons in {@link AuthErrorReason}, as found in `AuthError`'s `reason`.
 *
 * @since 0.1.0
 * @category errors
 */
export type AuthErrorReason = typeof AuthErrorReason.Type

/**
 * Authentication failed: the server rejected the auth token (`reason: "Rejected"`:
 * wrong, or missing where the server requires one), or the client sent a token to
 * a server without auth (`reason: "NotEnabled"`). The token itself never appears
 * in this error.
 *
 * **Example** (Turning a rejected token into a defect)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Lock.withLock(Effect.log("working"), "orders").pipe(
 *   Effect.catchTag("AuthError", (e) =>
 *     e.reason === "Rejected"
 *       ? Effect.die(`check DFLOCKD_AUTH_TOKEN: rejected by ${e.server}`)
 *       : Effect.die(`${e.server} has no auth configured: unset DFLOCKD_AUTH_TOKEN`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends Schema.TaggedError<AuthError>()("AuthError", {
  server: Schema.String,
  reason: AuthErrorReason
}) {
  override get message(): string {
    return this.reason === "NotEnabled"
      ? `${this.server} has no authentication configured (it refused the auth command): ` +
        "remove the client's auth token, or start the server with --auth-token (dflockd 1.6 or newer)"
      : `authentication rejected by ${this.server}: the auth token is wrong, or missing where the server ` +
        "requires one (--auth-token)"
  }
}

/**
 * The lease of a held lock or permit was lost: a renewal failed, the connection
 * holding it died, or the local watchdog saw the lease deadline pass without a
 * confirmed renewal. A region run by `withLock` / `withPermit` is interrupted and
 * fails with this error.
 *
 * **Example** (Noting that a region lost its lease)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Effect.sleep("1 minute").pipe(
 *   Lock.withLock("orders"),
 *   Effect.catchTag("LockLostError", (e) => Effect.logWarning(`lost "${e.key}": ${e.reason}; rolling back`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LockLostError extends Schema.TaggedError<LockLostError>()("LockLostError", {
  key: Schema.String,
  token: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `lease on "${this.key}" lost: ${this.reason}`
  }
}

/** What a system error code means, in words (the code follows in parentheses). */
const systemErrors: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset by the peer",
  ECONNABORTED: "connection aborted",
  EPIPE: "connection broken while writing",
  ETIMEDOUT: "timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EADDRNOTAVAIL: "address not available",
  ENOTFOUND: "host name not found",
  EAI_AGAIN: "host name lookup failed for now",
  EAI_FAIL: "host name lookup failed"
}

/** OpenSSL's own text: `<hex>:error:<hex>:SSL routines:<function>:<reason>:<file>:<line>:`. */
const openSsl = /SSL routines:[^:]*:([^:]+):/

/**
 * The cause in one short line: a system error by its meaning and code (its
 * message repeats the address the error already names), OpenSSL's text by its
 * reason, anything else by its first line.
 */
const describeCause = (cause: unknown): string => {
  const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined
  const known = code === undefined ? undefined : systemErrors[code]
  if (known !== undefined) return `${known} (${code})`
  const text = Predicate.hasProperty(cause, "message") && typeof cause.message === "string"
    ? cause.message
    : typeof cause === "string"
    ? cause
    : String(cause)
  const ssl = openSsl.exec(text)
  if (ssl !== null) return `TLS handshake failed (${ssl[1]})`
  return text.split("\n").map((line) => line.trim()).filter((line) => line.length > 0).join(" ")
}

/**
 * Why a connection failed, as far as the client can tell:
 *
 * - `Refused`: nothing listens at the address (`ECONNREFUSED`, or no in-memory
 *   server by that name).
 * - `Unreachable`: the host name does not resolve or the network cannot reach it.
 * - `Timeout`: the connect (and TLS handshake) or a reply took longer than its bound.
 * - `Closed`: the peer closed the connection (including after `error_auth`).
 * - `Reset`: the connection was reset or broke mid-write (`ECONNRESET`, `EPIPE`).
 * - `Tls`: the TLS layer failed: certificate verification, or a peer that does
 *   not speak TLS. Never retried by the client: retrying cannot fix it.
 * - `Busy`: the connection was already carrying an exchange (or abandoned one).
 * - `Unknown`: anything else; the `cause` has the details.
 *
 * **Example** (Retrying only what may pass)
 *
 * ```ts
 * import type { ConnectionErrorReason } from "effect-dflockd"
 *
 * const transient = (reason: ConnectionErrorReason): boolean =>
 *   reason === "Refused" || reason === "Timeout" || reason === "Closed" || reason === "Reset"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const ConnectionErrorReason = Schema.Literals([
  "Refused",
  "Unreachable",
  "Timeout",
  "Closed",
  "Reset",
  "Tls",
  "Busy",
  "Unknown"
])

/**
 * One of the reasons in {@link ConnectionErrorReason}, as found in `ConnectionError`'s `reason`.
 *
 * @since 0.1.0
 * @category errors
 */
export type ConnectionErrorReason = typeof ConnectionErrorReason.Type

/**
 * The connection to a server could not be opened, or broke during an exchange.
 * `reason` says how (see {@link ConnectionErrorReason}); `cause` is the underlying
 * error as plain data; `hint`, when present, says what to check (for example
 * whether TLS is configured on both sides).
 *
 * **Example** (Retrying the whole region when the connection fails)
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Lock.withLock(Effect.log("working"), "orders").pipe(
 *   Effect.retry({
 *     while: (e) => e._tag === "ConnectionError" && e.reason !== "Tls",
 *     schedule: Schedule.spaced("1 second"),
 *     times: 3
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ConnectionError extends Schema.TaggedError<ConnectionError>()("ConnectionError", {
  server: Schema.String,
  reason: ConnectionErrorReason,
  cause: Schema.Defect(),
  hint: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const hint = this.hint === undefined ? "" : ` (${this.hint})`
    return `connection to ${this.server} failed: ${describeCause(this.cause)}${hint}`
  }
}

/**
 * The server sent a reply that is malformed or unexpected for the command sent.
 * The connection it came over is closed, never reused.
 *
 * **Example** (Stats from a server too old to send them)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const program = DflockdClient.stats().pipe(
 *   Effect.catchTag("ProtocolError", (e) =>
 *     Effect.logWarning(`no stats (${e.detail}); stats need dflockd 1.4+`).pipe(Effect.as([])))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ProtocolError extends Schema.TaggedError<ProtocolError>()("ProtocolError", {
  reply: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `protocol error: ${this.detail} (reply: ${JSON.stringify(this.reply.slice(0, 120))})`
  }
}

/**
 * Why the server refused a command. `error` is the server's generic failure
 * (token not held, bad request, internal error, or a status this client does
 * not know yet).
 *
 * **Example** (Checking and deciding on a reason)
 *
 * ```ts
 * import { Schema } from "effect"
 * import { ServerErrorReason } from "effect-dflockd"
 *
 * const worthRetrying = (reason: ServerErrorReason): boolean => reason === "draining" || reason === "not_leader"
 *
 * Schema.is(ServerErrorReason)("max_waiters") // true
 * Schema.is(ServerErrorReason)("busy") // false
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const ServerErrorReason = Schema.Literals([
  "max_locks",
  "max_waiters",
  "limit_mismatch",
  "not_enqueued",
  "already_enqueued",
  "lease_expired",
  "draining",
  "not_leader",
  "error"
])

/**
 * One of the reasons in {@link ServerErrorReason}, as found in `ServerError`'s `reason`.
 *
 * @since 0.1.0
 * @category errors
 */
export type ServerErrorReason = typeof ServerErrorReason.Type

/**
 * The server answered with an error status.
 *
 * **Example** (Reacting to a limit mismatch)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const program = Effect.succeed(1).pipe(
 *   Semaphore.withPermit("pool", { limit: 3 }),
 *   Effect.catchTag("ServerError", (e) =>
 *     e.reason === "limit_mismatch" ? Effect.succeed(0) : Effect.fail(e))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerError extends Schema.TaggedError<ServerError>()("ServerError", {
  reason: ServerErrorReason,
  reply: Schema.String
}) {
  override get message(): string {
    return `server refused the command: ${this.reason} (reply: ${JSON.stringify(this.reply.slice(0, 120))})`
  }
}

/**
 * An argument was rejected before any I/O: empty key, control characters in a
 * key, a key over the line limit, a non-integer lease, a limit below 1, ...
 * `value` shows the offending value as text: strings JSON-quoted and cut at 64
 * characters, durations as written (with their meaning when given as a number);
 * an auth token is never shown (`<redacted>`).
 *
 * **Example** (Rejecting a key that came from user input)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const lockFor = (userInput: string) =>
 *   Lock.withLock(Effect.log("working"), userInput).pipe(
 *     Effect.catchTag("InvalidArgumentError", (e) => Effect.fail(`bad ${e.argument} ${e.value}: ${e.detail}`))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgumentError extends Schema.TaggedError<InvalidArgumentError>()("InvalidArgumentError", {
  argument: Schema.String,
  value: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.argument} ${this.value}: ${this.detail}`
  }
}

/**
 * Every error effect-dflockd reports.
 *
 * **Example** (Deciding what is worth retrying)
 *
 * ```ts
 * import type { DflockdError } from "effect-dflockd"
 *
 * const transient = (error: DflockdError): boolean =>
 *   error._tag === "ConnectionError" || error._tag === "AcquireTimeoutError" || error._tag === "LockLostError"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type DflockdError =
  | AcquireTimeoutError
  | AuthError
  | LockLostError
  | ConnectionError
  | ProtocolError
  | ServerError
  | InvalidArgumentError

/**
 * Schema of {@link DflockdError}, e.g. to send errors across a worker boundary.
 *
 * **Example** (Encoding an error and decoding it on the other side)
 *
 * ```ts
 * import { Schema } from "effect"
 * import { AcquireTimeoutError, DflockdError } from "effect-dflockd"
 *
 * const encoded = Schema.encodeSync(DflockdError)(new AcquireTimeoutError({ key: "orders" }))
 * const decoded = Schema.decodeUnknownSync(DflockdError)(encoded) // an AcquireTimeoutError again
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const DflockdError = Schema.Union([
  AcquireTimeoutError,
  AuthError,
  LockLostError,
  ConnectionError,
  ProtocolError,
  ServerError,
  InvalidArgumentError
])

/**
 * Whether a value is one of effect-dflockd's errors.
 *
 * **Example** (Describing any failure)
 *
 * ```ts
 * import { isDflockdError } from "effect-dflockd"
 *
 * const describe = (error: unknown): string =>
 *   isDflockdError(error) ? `dflockd ${error._tag}: ${error.message}` : String(error)
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isDflockdError = (u: unknown): u is DflockdError =>
  Predicate.isTagged(u, "AcquireTimeoutError") ||
  Predicate.isTagged(u, "AuthError") ||
  Predicate.isTagged(u, "LockLostError") ||
  Predicate.isTagged(u, "ConnectionError") ||
  Predicate.isTagged(u, "ProtocolError") ||
  Predicate.isTagged(u, "ServerError") ||
  Predicate.isTagged(u, "InvalidArgumentError")
