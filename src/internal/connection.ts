/**
 * One connection to one dflockd server: the protocol's state machine over a
 * transport (a socket, see `socket.ts`, or the in-memory server).
 *
 * Lifetime: the transport (and its socket) belongs to the scope its dialer ran
 * in; this module never dials (`socket.ts` does, for `DflockdClient.make`). One request is in flight at a time, as the protocol requires
 * (a second send meanwhile fails). A connection whose exchange was interrupted, failed at the
 * socket, or got a malformed reply is *unusable* from then on: later sends fail
 * with `ConnectionError`, and its owner must close it (closing is what makes the
 * server drop a waiter or release a grant).
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as MutableRef from "effect/MutableRef"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import { AuthError, ConnectionError, type ConnectionErrorReason, ProtocolError } from "../Errors.ts"
import type { Connection, ConnectionOptions, ExchangeError, OnBreak, Transport } from "../Transport.ts"
import * as Codec from "./codec.ts"
import { plainCause } from "./plainCause.ts"

export type { Connection, ConnectionOptions, ExchangeError, TlsOptions, Transport } from "../Transport.ts"

/**
 * Wraps every connection a client opens; identity by default. The Promise API
 * provides one (opaque tokens, no release while abandoning) when it builds its
 * client with `DflockdClient.makeWith`, which reads this reference once.
 */
export const Middleware = Context.Reference<(connection: Connection) => Connection>(
  "effect-dflockd/internal/ConnectionMiddleware",
  { defaultValue: () => (connection) => connection }
)

type State =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "InFlight"; readonly command: string }
  | { readonly _tag: "Broken"; readonly error: ConnectionError | ProtocolError }

const idle: State = { _tag: "Idle" }

/** The in-flight state of each command name (a handful), made once. */
const inFlightStates = new Map<string, State>()
const inFlight = (command: string): State => {
  let known = inFlightStates.get(command)
  if (known === undefined) {
    known = { _tag: "InFlight", command }
    inFlightStates.set(command, known)
  }
  return known
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
  const connectionError = (cause: unknown, reason: ConnectionErrorReason) =>
    new ConnectionError({ server, reason, cause: plainCause(cause) })
  // Read and swapped in one synchronous step (a send checks and claims it at once).
  const state = MutableRef.make<State>(idle)
  const brokenSignal = yield* Deferred.make<never, ConnectionError | ProtocolError>()
  const claimed = yield* Ref.make(false)

  const markBroken = (error: ConnectionError | ProtocolError) =>
    Effect.andThen(
      Effect.sync(() => MutableRef.set(state, { _tag: "Broken", error })),
      Deferred.fail(brokenSignal, error)
    )
  const failWith = (error: ConnectionError | ProtocolError) => Effect.andThen(markBroken(error), Effect.fail(error))

  // The owner's reaction to a break (a lease ends at once), if any.
  const owner = Ref.makeUnsafe<OnBreak | undefined>(undefined)
  const tellOwner = (error: ConnectionError | ProtocolError) =>
    Effect.suspend(() => Ref.getUnsafe(owner)?.(error) ?? Effect.void)

  // The transport's break, whenever it comes, marks the connection broken,
  // completes `broken`, and tells the owner: a lease holding this connection ends then.
  const hungUp = (error: ConnectionError | ProtocolError) => Effect.andThen(markBroken(error), tellOwner(error))
  if (transport.onHangup !== undefined) {
    // Told synchronously by the transport: a fiber only when it breaks, none while it
    // lives. Heard until the current scope closes, like the watcher fiber below.
    const run = Effect.runForkWith(yield* Effect.context<never>())
    const listening = Ref.makeUnsafe(true)
    yield* Effect.addFinalizer(() => Ref.set(listening, false))
    transport.onHangup((error) => {
      if (Ref.getUnsafe(listening)) run(hungUp(error))
    })
  } else {
    yield* transport.hangup.pipe(Effect.flatMap(hungUp), Effect.interruptible, Effect.forkScoped)
  }

  /** Back to idle after a reply, unless the connection broke meanwhile. */
  const settleNow = () => {
    if (MutableRef.get(state)._tag === "InFlight") MutableRef.set(state, idle)
  }

  const decode = <A>(command: Codec.Command<A>, line: string): Effect.Effect<A, ExchangeError> => {
    const reply = command.decode(line)
    if (Result.isSuccess(reply)) {
      settleNow()
      return Effect.succeed(reply.success)
    }
    const failure = reply.failure
    switch (failure._tag) {
      case "ServerError":
        settleNow()
        return Effect.fail(failure)
      case "AuthRejected": {
        // the server closes the connection after error_auth
        const error = new AuthError({ server, reason: "Rejected" })
        return Effect.andThen(markBroken(connectionError(error, "Closed")), Effect.fail(error))
      }
      case "ProtocolError":
        return failWith(failure)
    }
  }

  const send = <A>(command: Codec.Command<A>, timeoutMillis: number): Effect.Effect<A, ExchangeError> =>
    Effect.suspend((): Effect.Effect<A, ExchangeError> => {
      const current = MutableRef.get(state)
      if (current._tag === "Broken") return Effect.fail(current.error)
      if (current._tag === "InFlight") {
        return Effect.fail(connectionError(`connection busy or abandoned during "${current.command}"`, "Busy"))
      }
      MutableRef.set(state, inFlight(command.name))
      return Effect.matchEffect(transport.exchange(command.frame, timeoutMillis, command.maxReplyBytes), {
        onFailure: failWith,
        onSuccess: (line) => decode(command, line)
      })
    })

  /** The reply of a posted command, when it comes: a refusal is the caller's, a malformed reply breaks. */
  const readOwed = <A>(command: Codec.Command<A>, onFailure: (error: ExchangeError) => void) =>
  (
    outcome: Result.Result<string, ConnectionError | ProtocolError>
  ): ConnectionError | ProtocolError | undefined => {
    // the transport broke first: it has told the hang-up watcher too
    if (Result.isFailure(outcome)) return void onFailure(outcome.failure)
    const reply = command.decode(outcome.success)
    if (Result.isSuccess(reply)) return undefined
    const failure = reply.failure
    switch (failure._tag) {
      case "ServerError":
        return void onFailure(failure)
      case "AuthRejected":
        onFailure(new AuthError({ server, reason: "Rejected" }))
        return connectionError(new AuthError({ server, reason: "Rejected" }), "Closed")
      case "ProtocolError":
        onFailure(failure)
        return failure
    }
  }

  const post = <A>(
    command: Codec.Command<A>,
    timeoutMillis: number,
    onFailure: (error: ExchangeError) => void
  ): Effect.Effect<void> =>
    Effect.suspend(() => {
      const current = MutableRef.get(state)
      if (current._tag === "Broken") return Effect.sync(() => onFailure(current.error))
      if (transport.post === undefined || current._tag === "InFlight") {
        // no pipelining over this transport (or a busy connection, which `send` refuses): wait for it
        return Effect.catch(Effect.asVoid(send(command, timeoutMillis)), (error) => Effect.sync(() => onFailure(error)))
      }
      transport.post(command.frame, timeoutMillis, readOwed(command, onFailure))
      return Effect.void
    })

  const alive = Effect.suspend(() => {
    if (MutableRef.get(state)._tag !== "Idle") return Effect.succeed(false)
    const dead = transport.probe()
    return dead === undefined ? Effect.succeed(true) : Effect.as(markBroken(dead), false)
  })

  // the transport's own flag too: it breaks synchronously, before the watcher runs
  function reusableNow(): boolean {
    return MutableRef.get(state)._tag === "Idle" && !Ref.getUnsafe(claimed) && transport.probe() === undefined
  }
  function healthy(): boolean {
    return MutableRef.get(state)._tag === "Idle" && transport.probe() === undefined
  }

  const onBreak = (listener: OnBreak | undefined): Effect.Effect<void> =>
    Effect.andThen(Ref.set(owner, listener), () => {
      // broken already: the owner learns it now
      const current = MutableRef.get(state)
      return listener !== undefined && current._tag === "Broken" ? listener(current.error) : Effect.void
    })

  const connection: Connection = {
    server,
    send,
    onBreak,
    reusable: Effect.sync(reusableNow),
    healthy,
    claim: Ref.set(claimed, true),
    unclaim: Ref.set(claimed, false),
    alive,
    broken: Deferred.await(brokenSignal),
    post
  }

  // authenticating is part of connecting: it is bounded by the connect timeout
  if (options.auth !== undefined) {
    yield* send(Codec.auth(Redacted.value(options.auth)), Duration.toMillis(options.connectTimeout)).pipe(
      // `error_auth` is a rejected token (above). A plain `error` is what a server without
      // auth (or older than 1.6) answers to `auth`: the token was not needed.
      Effect.catchTag("ServerError", (error) =>
        Effect.fail(
          error.reason === "error" ? new AuthError({ server, reason: "NotEnabled" }) : error
        ))
    )
  }
  return connection
})
