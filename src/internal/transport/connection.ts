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
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { AuthError, ConnectionError, type ConnectionErrorReason, type ProtocolError } from "../errors/errors.ts"
import type { Connection, ConnectionOptions, ExchangeError, OnBreak, Transport } from "../../Transport.ts"
import * as Codec from "../protocol/codec.ts"
import { plainCause } from "./plainCause.ts"

export type { Connection, ConnectionOptions, ExchangeError, TlsOptions, Transport } from "../../Transport.ts"

type Phase =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "InFlight"; readonly command: string }
  | { readonly _tag: "Broken"; readonly error: ConnectionError | ProtocolError }

const idle: Phase = { _tag: "Idle" }

/** The in-flight phase of each command name (a handful), made once. */
const inFlightPhases = new Map<string, Phase>()
const inFlight = (command: string): Phase => {
  let known = inFlightPhases.get(command)
  if (known === undefined) {
    known = { _tag: "InFlight", command }
    inFlightPhases.set(command, known)
  }
  return known
}

/**
 * What a connection is, as plain data: its transport and where its state
 * machine stands. Changed only by the functions of this module, each in one
 * synchronous step. The lease's hot path uses them directly (`internalOf`);
 * everyone else goes through the `Connection`'s effects, which call them.
 */
export interface Internal {
  readonly transport: Transport
  readonly server: string
  /** The connection this state belongs to: a wrapper of it is not it, and takes the effects' path. */
  readonly connection: Connection
  /** Grants may carry opaque tokens (`ConnectionOptions.acceptOpaqueTokens`): see {@link decodeOpaque}. */
  readonly opaqueTokens: boolean
  phase: Phase
  /** The server may keep state for this connection (a grant or a waiter). */
  claimed: boolean
  /** The owner's reaction to a break (a lease ends at once), if any. */
  owner: OnBreak | undefined
  readonly brokenSignal: Deferred.Deferred<never, ConnectionError | ProtocolError>
  /** Abandons the exchange in flight (see `abandoning`). */
  abandoning: Effect.Effect<void> | undefined
  /** The context the connection was made in: a hang-up, heard outside any fiber, runs in it. */
  readonly context: Context.Context<never>
  /** Whether its hang-ups are still heard (until the scope it was made in closes). */
  listening: boolean
}

const InternalKey: unique symbol = Symbol.for("effect-dflockd/internal/Connection")

/** The connection's plain state, when `connection` is one this module made (not a wrapper of one). */
export const internalOf = (connection: Connection): Internal | undefined => {
  const internal = (connection as { readonly [InternalKey]?: Internal })[InternalKey]
  return internal !== undefined && internal.connection === connection ? internal : undefined
}

const connectionError = (internal: Internal, cause: unknown, reason: ConnectionErrorReason) =>
  new ConnectionError({ server: internal.server, reason, cause: plainCause(cause) })

/** Marks the connection broken (once) and wakes whoever waits on `broken`. */
const markBroken = (internal: Internal, error: ConnectionError | ProtocolError): void => {
  if (internal.phase._tag === "Broken") return
  internal.phase = { _tag: "Broken", error }
  Deferred.doneUnsafe(internal.brokenSignal, Exit.fail(error))
}

/** Back to idle after a reply, unless the connection broke meanwhile. */
const settle = (internal: Internal): void => {
  if (internal.phase._tag === "InFlight") internal.phase = idle
}

/**
 * A reply the command's decoder refused as malformed (`failure`), read again by its
 * opaque-token decoder when the connection accepts opaque tokens. That decoder accepts
 * whatever the strict one does, with the same result, and finds malformed what it finds
 * malformed (an error status is decided by the first word, alike): reading it only after
 * a refusal is reading it with that decoder alone, and a reply the strict one accepts
 * costs nothing more.
 */
const decodeOpaque = <A>(
  internal: Internal,
  command: Codec.Command<A>,
  line: string,
  failure: ProtocolError
): Result.Result<A, ProtocolError> => {
  if (!internal.opaqueTokens || command.decodeOpaque === undefined) return Result.fail(failure)
  const opaque = command.decodeOpaque(line)
  if (Result.isSuccess(opaque)) return Result.succeed(opaque.success)
  return Result.fail(opaque.failure._tag === "ProtocolError" ? opaque.failure : failure)
}

/** A reply line (or the transport's failure) as the command's typed outcome, the state moved on. */
const outcomeOf = <A>(
  internal: Internal,
  command: Codec.Command<A>,
  outcome: Result.Result<string, ConnectionError | ProtocolError>
): Effect.Effect<A, ExchangeError> => {
  if (Result.isFailure(outcome)) {
    markBroken(internal, outcome.failure)
    return Effect.fail(outcome.failure)
  }
  const reply = command.decode(outcome.success)
  if (Result.isSuccess(reply)) {
    settle(internal)
    return Effect.succeed(reply.success)
  }
  const failure = reply.failure
  switch (failure._tag) {
    case "ServerError":
      settle(internal)
      return Effect.fail(failure)
    case "AuthRejected": {
      // the server closes the connection after error_auth
      const error = new AuthError({ server: internal.server, reason: "Rejected" })
      markBroken(internal, connectionError(internal, error, "Closed"))
      return Effect.fail(error)
    }
    case "ProtocolError": {
      const opaque = decodeOpaque(internal, command, outcome.success, failure)
      if (Result.isSuccess(opaque)) {
        settle(internal)
        return Effect.succeed(opaque.success)
      }
      markBroken(internal, opaque.failure)
      return Effect.fail(opaque.failure)
    }
  }
}

/** Why a command cannot be sent now, if it cannot: broken, or another exchange in flight. */
const refusal = (internal: Internal): ConnectionError | ProtocolError | undefined => {
  const phase = internal.phase
  if (phase._tag === "Broken") return phase.error
  if (phase._tag === "InFlight") {
    return connectionError(internal, `connection busy or abandoned during "${phase.command}"`, "Busy")
  }
  return undefined
}

/** The effect that abandons the exchange in flight (one per connection, made on first use). */
const abandoning = (internal: Internal): Effect.Effect<void> => {
  if (internal.abandoning === undefined) {
    const transport = internal.transport
    internal.abandoning = transport.abandon === undefined ? Effect.void : Effect.sync(() => transport.abandon!())
  }
  return internal.abandoning
}

/** One exchange: the command out, its reply decoded. */
const send = <A>(
  internal: Internal,
  command: Codec.Command<A>,
  timeoutMillis: number
): Effect.Effect<A, ExchangeError> => {
  const { transport } = internal
  if (transport.request === undefined || transport.abandon === undefined) {
    return Effect.suspend(() => {
      const refused = refusal(internal)
      if (refused !== undefined) return Effect.fail(refused)
      internal.phase = inFlight(command.name)
      return Effect.flatMap(
        Effect.result(transport.exchange(command.frame, timeoutMillis, command.maxReplyBytes)),
        (outcome) => outcomeOf(internal, command, outcome)
      )
    })
  }
  // one callback, no effect of the transport's own: the hot path of every lock
  return Effect.callback<A, ExchangeError>((resume) => {
    const refused = refusal(internal)
    if (refused !== undefined) return resume(Effect.fail(refused))
    internal.phase = inFlight(command.name)
    transport.request!(command.frame, timeoutMillis, command.maxReplyBytes, (outcome) => {
      resume(outcomeOf(internal, command, outcome))
    })
    // interrupted: the exchange is abandoned (the connection stays in flight: never reused)
    return abandoning(internal)
  })
}

/** The reply of a posted command, when it comes: a refusal is the caller's, a malformed reply breaks. */
const readOwed = <A>(internal: Internal, command: Codec.Command<A>, onFailure: (error: ExchangeError) => void) =>
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
    case "AuthRejected": {
      const error = new AuthError({ server: internal.server, reason: "Rejected" })
      onFailure(error)
      return connectionError(internal, error, "Closed")
    }
    case "ProtocolError": {
      const opaque = decodeOpaque(internal, command, outcome.success, failure)
      if (Result.isSuccess(opaque)) return undefined
      onFailure(opaque.failure)
      return opaque.failure
    }
  }
}

/**
 * Posts `command` (its reply owed, read before the next reply) when the
 * transport pipelines and the connection is idle; `false` when it cannot (then
 * the caller sends it as an exchange). A broken connection tells `onFailure` at once.
 */
export const postNow = <A>(
  internal: Internal,
  command: Codec.Command<A>,
  timeoutMillis: number,
  onFailure: (error: ExchangeError) => void
): boolean => {
  const transport = internal.transport
  const phase = internal.phase
  if (phase._tag === "Broken") {
    onFailure(phase.error)
    return true
  }
  if (transport.post === undefined || phase._tag === "InFlight") return false
  transport.post(command.frame, timeoutMillis, readOwed(internal, command, onFailure))
  return true
}

export const claimNow = (internal: Internal): void => {
  internal.claimed = true
}

export const unclaimNow = (internal: Internal): void => {
  internal.claimed = false
}

/**
 * Sets (or clears) the owner's reaction to a break. Broken already: the owner
 * learns it now, through the returned effect (otherwise `undefined`).
 */
export const ownNow = (internal: Internal, listener: OnBreak | undefined): Effect.Effect<void> | undefined => {
  internal.owner = listener
  const phase = internal.phase
  return listener !== undefined && phase._tag === "Broken" ? listener(phase.error) : undefined
}

/** Clean: idle, not broken, and no claim (no grant or waiter the server may keep for it). */
export const reusableNow = (internal: Internal): boolean => !internal.claimed && healthy(internal)

/** Idle, not broken, and the transport not broken either (it breaks synchronously, before the watcher runs). */
const healthy = (internal: Internal): boolean =>
  internal.phase._tag === "Idle" && internal.transport.probe() === undefined

/** The transport's break, whenever it comes: the connection is broken, and its owner told. */
const hungUp = (internal: Internal, error: ConnectionError | ProtocolError): Effect.Effect<void> =>
  Effect.suspend(() => {
    markBroken(internal, error)
    return internal.owner?.(error) ?? Effect.void
  })

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
  options: Pick<ConnectionOptions, "auth" | "connectTimeout" | "acceptOpaqueTokens">
) {
  const internal: Internal = {
    transport,
    server: transport.server,
    connection: undefined as unknown as Connection, // set below, before anyone reads it
    opaqueTokens: options.acceptOpaqueTokens === true,
    phase: idle,
    claimed: false,
    owner: undefined,
    brokenSignal: Deferred.makeUnsafe<never, ConnectionError | ProtocolError>(),
    abandoning: undefined,
    context: yield* Effect.context<never>(),
    listening: true
  }
  yield* listenForHangup(internal)
  const connection = makeConnection(internal)
  ;(internal as { connection: Connection }).connection = connection
  yield* authenticate(internal, options)
  return connection
})

/**
 * The transport's break, whenever it comes, marks the connection broken and
 * tells the owner: a lease holding this connection ends then. Heard until the
 * current scope closes.
 */
const listenForHangup = (internal: Internal): Effect.Effect<void, never, Scope.Scope> =>
  Effect.suspend(() => {
    const { transport } = internal
    if (transport.onHangup === undefined) {
      return Effect.asVoid(transport.hangup.pipe(
        Effect.flatMap((error) => hungUp(internal, error)),
        Effect.interruptible,
        Effect.forkScoped
      ))
    }
    // Told synchronously by the transport: a fiber only when it breaks, none while it lives.
    transport.onHangup((error) => {
      if (internal.listening) Effect.runForkWith(internal.context)(hungUp(internal, error))
    })
    return Effect.addFinalizer(() =>
      Effect.sync(() => {
        internal.listening = false
      })
    )
  })

/** Authenticating is part of connecting: it is bounded by the connect timeout. */
const authenticate = (
  internal: Internal,
  options: Pick<ConnectionOptions, "auth" | "connectTimeout">
): Effect.Effect<void, ExchangeError> =>
  options.auth === undefined ? Effect.void : send(
    internal,
    Codec.auth(Redacted.value(options.auth)),
    Duration.toMillis(options.connectTimeout)
  ).pipe(
    // `error_auth` is a rejected token (in `outcomeOf`). A plain `error` is what a server
    // without auth (or older than 1.6) answers to `auth`: the token was not needed.
    Effect.catchTag("ServerError", (error) =>
      Effect.fail(
        error.reason === "error" ? new AuthError({ server: internal.server, reason: "NotEnabled" }) : error
      )),
    Effect.asVoid
  )

/**
 * A connection: its fixed fields and its state's record; every member is one
 * of the functions above. One hidden class, no closure per connection.
 */
class ConnectionImpl implements Connection {
  readonly [InternalKey]: Internal
  readonly server: string
  constructor(internal: Internal) {
    this[InternalKey] = internal
    this.server = internal.server
  }
  send<A>(command: Codec.Command<A>, timeoutMillis: number): Effect.Effect<A, ExchangeError> {
    return send(this[InternalKey], command, timeoutMillis)
  }
  post<A>(command: Codec.Command<A>, timeoutMillis: number, onFailure: (error: ExchangeError) => void) {
    const internal = this[InternalKey]
    return Effect.suspend(() =>
      postNow(internal, command, timeoutMillis, onFailure)
        ? Effect.void
        // no pipelining over this transport (or a busy connection, which `send` refuses): wait for it
        : Effect.catch(Effect.asVoid(send(internal, command, timeoutMillis)), (error) =>
          Effect.sync(() => onFailure(error)))
    )
  }
  onBreak(listener: OnBreak | undefined): Effect.Effect<void> {
    const internal = this[InternalKey]
    return Effect.suspend(() => ownNow(internal, listener) ?? Effect.void)
  }
  get reusable(): Effect.Effect<boolean> {
    const internal = this[InternalKey]
    return Effect.sync(() => reusableNow(internal))
  }
  healthy(): boolean {
    return healthy(this[InternalKey])
  }
  get claim(): Effect.Effect<void> {
    const internal = this[InternalKey]
    return Effect.sync(() => claimNow(internal))
  }
  get unclaim(): Effect.Effect<void> {
    const internal = this[InternalKey]
    return Effect.sync(() => unclaimNow(internal))
  }
  get alive(): Effect.Effect<boolean> {
    const internal = this[InternalKey]
    return Effect.sync(() => {
      if (internal.phase._tag !== "Idle") return false
      const dead = internal.transport.probe()
      if (dead === undefined) return true
      markBroken(internal, dead)
      return false
    })
  }
  get broken(): Effect.Effect<never, ConnectionError | ProtocolError> {
    return Deferred.await(this[InternalKey].brokenSignal)
  }
}

const makeConnection = (internal: Internal): Connection => new ConnectionImpl(internal)
