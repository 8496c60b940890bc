/**
 * One connection to one dflockd server: the protocol's state machine over a
 * transport (a socket, see `socket.ts`, or the in-memory server).
 *
 * Lifetime: the socket is opened when `open` runs and closed when the scope it
 * runs in closes. One request is in flight at a time, as the protocol requires
 * (a second send meanwhile fails). A connection whose exchange was interrupted, failed at the
 * socket, or got a malformed reply is *unusable* from then on: later sends fail
 * with `ConnectionError`, and its owner must close it (closing is what makes the
 * server drop a waiter or release a grant).
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { AuthError, ConnectionError, ProtocolError, type ServerError } from "../Errors.ts"
import type { ServerAddress } from "../ServerAddress.ts"
import * as Codec from "./codec.ts"
import { plainCause } from "./plainCause.ts"
import * as Socket from "./socket.ts"

/**
 * TLS settings. PEM strings or buffers; certificate verification stays on unless
 * `rejectUnauthorized: false`.
 */
export interface TlsOptions {
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array> | undefined
  readonly cert?: string | Uint8Array | undefined
  readonly key?: Redacted.Redacted<string | Uint8Array> | string | Uint8Array | undefined
  readonly servername?: string | undefined
  readonly rejectUnauthorized?: boolean | undefined
}

export interface ConnectionOptions {
  readonly tls: TlsOptions | undefined
  readonly auth: Redacted.Redacted<string> | undefined
  readonly connectTimeout: Duration.Duration
  /** Cap on one reply line (stats replies grow with server state). */
  readonly maxReplyBytes: number
}

/** What an exchange can fail with. */
export type ExchangeError = ConnectionError | ProtocolError | ServerError | AuthError

export interface Connection {
  readonly server: string
  /**
   * Sends one command and decodes its reply; one at a time per connection. With
   * no reply within `timeoutMillis` it fails with `ConnectionError` and the
   * connection is broken; it ends by then even where it cannot be interrupted.
   */
  readonly send: <A>(command: Codec.Command<A>, timeoutMillis: number) => Effect.Effect<A, ExchangeError>
  /**
   * True when the connection may serve another owner: no exchange pending, not
   * broken, and no claim on it (see `claim`).
   */
  readonly reusable: Effect.Effect<boolean>
  /**
   * Marks that the server may keep state for this connection (a grant or a
   * waiter). Set *before* sending a command that can create such state, so an
   * interruption at any point leaves the connection marked.
   */
  readonly claim: Effect.Effect<void>
  /** Clears the claim once a reply proved the server keeps nothing for it (released, timed out). */
  readonly unclaim: Effect.Effect<void>
  /**
   * For an idle connection: false if the peer closed it or sent something
   * unasked (e.g. a read-timeout `error`). Does not wait for the network.
   */
  readonly alive: Effect.Effect<boolean>
  /**
   * Fails the moment the connection breaks (peer hang-up, socket error, a byte
   * nobody asked for); never succeeds. A lease races it: the server frees a
   * holder's locks when its connection ends.
   */
  readonly broken: Effect.Effect<never, ConnectionError | ProtocolError>
}

type State =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "InFlight"; readonly command: string }
  | { readonly _tag: "Broken"; readonly error: ConnectionError | ProtocolError }

const idle: State = { _tag: "Idle" }

/**
 * What a transport provides to a connection: one request/reply exchange at a
 * time, and what it knows about input nobody asked for. The connection's state
 * machine (`fromTransport`) is the same over a socket and over the in-memory
 * server.
 */
export interface Transport {
  readonly server: string
  /**
   * Sends a frame and reads the one reply line. Fails with `ConnectionError`
   * when no line comes within `timeoutMillis`, even when run uninterruptibly,
   * and with `ProtocolError` as soon as the reply exceeds `maxReplyBytes` or a
   * second line follows it.
   */
  readonly exchange: (
    frame: string,
    timeoutMillis: number,
    maxReplyBytes?: number
  ) => Effect.Effect<string, ConnectionError | ProtocolError>
  /** For an idle connection: why it is dead (closed by the peer, unasked input), or undefined. Never waits. */
  readonly probe: () => ConnectionError | ProtocolError | undefined
  /**
   * Completes the moment the transport breaks: the peer hangs up, the socket
   * fails, or a byte arrives that nobody asked for.
   */
  readonly hangup: Effect.Effect<ConnectionError | ProtocolError>
}

/**
 * The connection state machine over a transport: one exchange at a time,
 * decoded replies, and the connection marked broken on any doubt (an
 * interrupted exchange, a failed one, a malformed or stray reply).
 * Authenticates first when a token is given. Scoped: the hang-up watcher lives
 * in the current scope.
 *
 * A connection has one owner at a time (a lock, or the pool), and its owner
 * sends one command at a time: a second `send` while one is in flight fails
 * rather than queueing (a lock's release waits for its renewal itself).
 */
export const fromTransport = Effect.fnUntraced(function*(
  transport: Transport,
  options: Pick<ConnectionOptions, "auth" | "connectTimeout">
) {
  const { server } = transport
  const connectionError = (cause: unknown) => new ConnectionError({ server, cause: plainCause(cause) })
  const state = yield* Ref.make<State>(idle)
  const brokenSignal = yield* Deferred.make<never, ConnectionError | ProtocolError>()
  const claimed = yield* Ref.make(false)

  const markBroken = (error: ConnectionError | ProtocolError) =>
    Effect.andThen(Ref.set(state, { _tag: "Broken", error }), Deferred.fail(brokenSignal, error))
  const failWith = (error: ConnectionError | ProtocolError) => Effect.andThen(markBroken(error), Effect.fail(error))

  // The transport's break, whenever it comes, marks the connection broken and
  // completes `broken`, which a lease holding this connection races.
  yield* transport.hangup.pipe(Effect.flatMap(markBroken), Effect.interruptible, Effect.forkScoped)

  /** Back to idle after a reply, unless the connection broke meanwhile. */
  const settle = Ref.update(state, (current) => current._tag === "InFlight" ? idle : current)

  const decode = <A>(command: Codec.Command<A>, line: string): Effect.Effect<A, ExchangeError> => {
    const reply = command.decode(line)
    if (Result.isSuccess(reply)) return Effect.as(settle, reply.success)
    const failure = reply.failure
    switch (failure._tag) {
      case "ServerError":
        return Effect.andThen(settle, Effect.fail(failure))
      case "AuthRejected": {
        // the server closes the connection after error_auth
        const error = new AuthError({ server })
        return Effect.andThen(markBroken(connectionError(error)), Effect.fail(error))
      }
      case "ProtocolError":
        return failWith(failure)
    }
  }

  const send = <A>(command: Codec.Command<A>, timeoutMillis: number): Effect.Effect<A, ExchangeError> =>
    Effect.flatMap(
      Ref.modify(state, (current): readonly [State, State] =>
        current._tag === "Idle" ? [current, { _tag: "InFlight", command: command.name }] : [current, current]),
      (previous): Effect.Effect<A, ExchangeError> => {
        if (previous._tag === "Broken") {
          return Effect.fail(previous.error)
        }
        if (previous._tag === "InFlight") {
          return Effect.fail(connectionError(`connection busy or abandoned during "${previous.command}"`))
        }
        return Effect.matchEffect(transport.exchange(command.frame, timeoutMillis, command.maxReplyBytes), {
          onFailure: failWith,
          onSuccess: (line) =>
            decode(command, line)
        })
      }
    )

  const alive = Effect.suspend(() => {
    if (Ref.getUnsafe(state)._tag !== "Idle") return Effect.succeed(false)
    const dead = transport.probe()
    return dead === undefined ? Effect.succeed(true) : Effect.as(markBroken(dead), false)
  })

  const connection: Connection = {
    server,
    send,
    // the transport's own flag too: it breaks synchronously, before the watcher runs
    reusable: Effect.sync(() =>
      Ref.getUnsafe(state)._tag === "Idle" && !Ref.getUnsafe(claimed) && transport.probe() === undefined
    ),
    claim: Ref.set(claimed, true),
    unclaim: Ref.set(claimed, false),
    alive,
    broken: Deferred.await(brokenSignal)
  }

  // authenticating is part of connecting: it is bounded by the connect timeout
  if (options.auth !== undefined) {
    yield* send(Codec.auth(Redacted.value(options.auth)), Duration.toMillis(options.connectTimeout)).pipe(
      Effect.catchTag("ServerError", () => Effect.fail(new AuthError({ server })))
    )
  }
  return connection
})

/**
 * Opens a connection over TCP or TLS (and authenticates, when a token is
 * configured). The socket closes when the current scope closes.
 */
export const open = (
  address: ServerAddress,
  options: ConnectionOptions
): Effect.Effect<Connection, ExchangeError, Scope.Scope> =>
  Effect.flatMap(Socket.connect(address, options), (transport) => fromTransport(transport, options))
