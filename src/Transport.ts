/**
 * The seam between the client and the network: a `Transport` carries one
 * request frame out and one reply line back, and says when it breaks. The
 * client runs its connection state machine over any transport (a socket, or
 * `Memory`'s in-process server); `DflockdClient.makeWith` takes a dialer that
 * returns one. Also the types of the connections the client builds on top.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Result from "effect/Result"
import type { AuthError, ConnectionError, ProtocolError, ServerError } from "./Errors.ts"

/**
 * A byte transport to one server: one request/reply exchange at a time, and
 * what it knows about input nobody asked for.
 *
 * - `exchange(frame, timeoutMillis, maxReplyBytes?)` sends a frame and reads
 *   the one reply line. It fails with `ConnectionError` when no line comes
 *   within `timeoutMillis`, even when run uninterruptibly, and with
 *   `ProtocolError` as soon as the reply exceeds `maxReplyBytes` or a second
 *   line follows it.
 * - `probe()`, for an idle transport: why it is dead (closed by the peer,
 *   unasked input), or `undefined`. Never waits.
 * - `hangup` completes the moment the transport breaks: the peer hangs up, the
 *   socket fails, or a byte arrives that nobody asked for. A lease on the
 *   connection ends then, as the server frees a holder's locks at once.
 * - `onHangup(listener)` (optional) calls `listener` synchronously, once, when
 *   the transport breaks (at once if it is broken already). A transport that
 *   offers it spares each of its connections a fiber waiting on `hangup`.
 * - `post(frame, timeoutMillis, read)` (optional) writes a frame without
 *   waiting for its reply, which is then *owed*: the reply is handed to `read`
 *   before any later reply on the transport (an `exchange` sent meanwhile gets
 *   the line after it), or the break that ended the wait is; a `ProtocolError`
 *   returned by `read` breaks the transport. With no reply within
 *   `timeoutMillis` the transport breaks. A transport without it gets its
 *   releases sent as ordinary exchanges.
 * - `request(frame, timeoutMillis, maxReplyBytes, onReply)` and `abandon()`
 *   (optional, together): `exchange` without an effect of its own, for the
 *   connection's hot path. `onReply` gets the reply line, the deadline's
 *   `ConnectionError` or the break; `abandon()` forgets the exchange in flight
 *   (an interrupted one: the connection is then never reused).
 *
 * **Example** (A transport to a server that answers every request with `ok`)
 *
 * ```ts
 * import { Effect } from "effect"
 * import type { Transport } from "effect-dflockd"
 *
 * const alwaysOk: Transport.Transport = {
 *   server: "fake:1",
 *   exchange: () => Effect.succeed("ok"),
 *   probe: () => undefined,
 *   hangup: Effect.never
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  /** `host:port` of the server, as used in errors. */
  readonly server: string
  readonly exchange: (
    frame: string,
    timeoutMillis: number,
    maxReplyBytes?: number
  ) => Effect.Effect<string, ConnectionError | ProtocolError>
  readonly probe: () => ConnectionError | ProtocolError | undefined
  readonly hangup: Effect.Effect<ConnectionError | ProtocolError>
  readonly onHangup?: ((listener: (error: ConnectionError | ProtocolError) => void) => void) | undefined
  readonly request?:
    | ((
      frame: string,
      timeoutMillis: number,
      maxReplyBytes: number | undefined,
      onReply: (outcome: Result.Result<string, ConnectionError | ProtocolError>) => void
    ) => void)
    | undefined
  readonly abandon?: (() => void) | undefined
  readonly post?:
    | ((
      frame: string,
      timeoutMillis: number,
      read: (
        outcome: Result.Result<string, ConnectionError | ProtocolError>
      ) => ConnectionError | ProtocolError | undefined
    ) => void)
    | undefined
}

/**
 * TLS settings. PEM strings or buffers; certificate verification stays on
 * unless `rejectUnauthorized: false`.
 *
 * **Example** (Trusting a private CA)
 *
 * ```ts
 * import type { Transport } from "effect-dflockd"
 *
 * const tls: Transport.TlsOptions = { ca: "-----BEGIN CERTIFICATE-----\n…", servername: "locks.internal" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsOptions {
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array> | undefined
  readonly cert?: string | Uint8Array | undefined
  readonly key?: Redacted.Redacted<string | Uint8Array> | string | Uint8Array | undefined
  readonly servername?: string | undefined
  readonly rejectUnauthorized?: boolean | undefined
}

/**
 * The settings of every connection, after defaults (`DflockdClient.ResolvedOptions`).
 *
 * **Example** (Plain TCP, no auth)
 *
 * ```ts
 * import { Duration } from "effect"
 * import type { Transport } from "effect-dflockd"
 *
 * const options: Transport.ConnectionOptions = {
 *   tls: undefined,
 *   auth: undefined,
 *   connectTimeout: Duration.seconds(5),
 *   maxReplyBytes: 4 * 1024 * 1024
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  readonly tls: TlsOptions | undefined
  readonly auth: Redacted.Redacted<string> | undefined
  readonly connectTimeout: Duration.Duration
  /** Cap on one reply line (stats replies grow with server state). */
  readonly maxReplyBytes: number
  /**
   * Accept grant tokens that are not 32 hex digits (`ok tok1 20`, as mock servers send); such a
   * token has no fence (0). Default `false` (`DflockdClient.ClientOptions.acceptOpaqueTokens`).
   */
  readonly acceptOpaqueTokens?: boolean | undefined
}

/**
 * What an exchange on a connection can fail with.
 *
 * **Example** (Retrying only connection failures)
 *
 * ```ts
 * import type { Transport } from "effect-dflockd"
 *
 * const retryable = (error: Transport.ExchangeError): boolean => error._tag === "ConnectionError"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type ExchangeError = ConnectionError | ProtocolError | ServerError | AuthError

/**
 * The server rejected the auth token (`error_auth`); the connection turns it
 * into an `AuthError`.
 *
 * **Example** (The rejection of a bad token)
 *
 * ```ts
 * import type { Transport } from "effect-dflockd"
 *
 * const rejected: Transport.AuthRejected = { _tag: "AuthRejected", reply: "error_auth" }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export interface AuthRejected {
  readonly _tag: "AuthRejected"
  readonly reply: string
}

/**
 * Why a reply is a failure: a server status, an auth rejection, or a malformed reply.
 *
 * **Example** (Describing a failed reply)
 *
 * ```ts
 * import type { Transport } from "effect-dflockd"
 *
 * const describe = (failure: Transport.ReplyFailure): string => failure._tag
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type ReplyFailure = ServerError | ProtocolError | AuthRejected

/**
 * A command ready to send: its frame and the decoder for its reply.
 * `blocking` commands may wait on the server (a queued acquire); an
 * interrupted blocking command leaves the connection unusable.
 *
 * **Example** (A `ping`)
 *
 * ```ts
 * import { Result } from "effect"
 * import { ProtocolError, type Transport } from "effect-dflockd"
 *
 * const ping: Transport.Command<"pong"> = {
 *   name: "ping",
 *   frame: "ping\n_\n_\n",
 *   blocking: false,
 *   maxReplyBytes: 512,
 *   decode: (line) => line === "ok" ? Result.succeed("pong") : Result.fail(new ProtocolError({ reply: line, detail: "expected ok" }))
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Command<A> {
  readonly name: string
  readonly frame: string
  readonly blocking: boolean
  /** Longest reply this command can get; `undefined`: the connection's cap (`stats`). */
  readonly maxReplyBytes: number | undefined
  readonly decode: (line: string) => Result.Result<A, ReplyFailure>
  /** For commands whose reply carries a token: the decoder that accepts opaque tokens. */
  readonly decodeOpaque?: ((line: string) => Result.Result<A, ReplyFailure>) | undefined
}

/**
 * A connection: the client's state machine over a {@link Transport}. One
 * exchange at a time; a connection whose exchange was interrupted, failed at
 * the transport, or got a malformed reply is unusable from then on.
 *
 * - `send` sends one command and decodes its reply. With no reply within
 *   `timeoutMillis` it fails with `ConnectionError` and the connection is broken.
 * - `reusable`: no exchange pending, not broken, and no claim on it.
 * - `claim`/`unclaim`: marks that the server may keep state for this connection
 *   (a grant or a waiter), and clears the mark once a reply proved otherwise.
 * - `alive`, for an idle connection: false if the peer closed it or sent
 *   something unasked. Does not wait for the network. `healthy()` reads the
 *   same now, without recording anything (the pool's fast check).
 * - `onBreak(listener)` sets (or, with `undefined`, clears) the owner's
 *   reaction to the transport breaking; the connection's own watcher runs it on
 *   the event, or at once if the connection is broken already. A lease ends
 *   there: the server frees a holder's locks when its connection ends.
 * - `broken` fails the moment the connection breaks; never succeeds.
 * - `post(command, timeoutMillis, onFailure)` sends a command whose reply the
 *   caller does not wait for (a release): written at once, the connection is
 *   free for its next exchange, and the owed reply is read and checked before
 *   that exchange's reply. A refused command, a malformed reply or a break
 *   before the reply is handed to `onFailure` (a malformed reply also breaks
 *   the connection). Over a transport without `post` it waits for the reply.
 *
 * **Example** (The server a connection talks to)
 *
 * ```ts
 * import type { Transport } from "effect-dflockd"
 *
 * const serverOf = (connection: Transport.Connection): string => connection.server
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly server: string
  readonly send: <A>(command: Command<A>, timeoutMillis: number) => Effect.Effect<A, ExchangeError>
  readonly reusable: Effect.Effect<boolean>
  readonly healthy: () => boolean
  readonly claim: Effect.Effect<void>
  readonly unclaim: Effect.Effect<void>
  readonly alive: Effect.Effect<boolean>
  readonly onBreak: (listener: OnBreak | undefined) => Effect.Effect<void>
  readonly broken: Effect.Effect<never, ConnectionError | ProtocolError>
  readonly post: <A>(
    command: Command<A>,
    timeoutMillis: number,
    onFailure: (error: ExchangeError) => void
  ) => Effect.Effect<void>
}

/**
 * An owner's reaction to its connection breaking (see {@link Connection}'s `onBreak`).
 *
 * **Example** (A reaction that logs)
 *
 * ```ts
 * import { Effect } from "effect"
 * import type { Transport } from "effect-dflockd"
 *
 * const log: Transport.OnBreak = (error) => Effect.logWarning(`connection broke: ${error.message}`)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type OnBreak = (error: ConnectionError | ProtocolError) => Effect.Effect<void>
