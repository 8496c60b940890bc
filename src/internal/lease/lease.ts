/**
 * The one implementation behind `Lock` and `Semaphore`: a lease on a key,
 * acquired over a connection owned by the lease's scope, kept alive by a renewal
 * fiber that also watches its deadline, and released by a finalizer.
 *
 * Scope layout of one acquisition (finalizers run in reverse):
 *   connection (socket closes last) → the lease's finalizer (out of the
 *   renewals queue, then release `r`/`sr`) → renewal fiber (if it started)
 * `acquire` gets its own child scope, closed at once if acquiring fails or is
 * interrupted, so a dead waiter's socket never lingers in the caller's scope;
 * `withLease` acquires into its own scope, which exists for that one lease.
 *
 * The renewal fiber starts at the lease's first renewal, started by the
 * client's renewals (`renewals.ts`): a lease released before then (most locks)
 * never has a fiber or a timer of its own.
 *
 * A lease's lifetime is the shortest of three: its connection (the connection
 * tells the lease of a break through `onBreak`, on the event), its deadline
 * (counted from the send of the granted request, on the monotonic clock; a late
 * grant is confirmed by a renewal first), and its scope (the release finalizer).
 * `withLease` races the region against `lost`, so the region is interrupted with
 * `LockLostError` the moment the lease is lost; whoever else must hear of the
 * loss at once registers with `Held.onLost`.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MutableRef from "effect/MutableRef"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { DflockdClient, type ResolvedOptions } from "../client/client.ts"
import { AcquireTimeoutError, InvalidArgumentError, LockLostError } from "../errors/errors.ts"
import { type AcquireError, type AcquireOptions, type Lease, type TryAcquireError, TypeId } from "./model.ts"
import * as Token from "../protocol/token.ts"
import * as Codec from "../protocol/codec.ts"
import type { Connection, ExchangeError, OnBreak } from "../../Transport.ts"
import * as Connections from "../transport/connection.ts"
import * as Metrics from "./metrics.ts"
import * as Renewals from "../client/renewals.ts"
import * as Watchdog from "./watchdog.ts"

export { TypeId } from "./model.ts"
export type { AcquireError, AcquireOptions, EnqueueError, Lease, Ticket, TryAcquireError, WaitError } from "./model.ts"

/** What to acquire: a lock key, or a semaphore key with its limit. */
export interface Spec<K extends Codec.Kind = Codec.Kind> {
  readonly kind: K
  readonly key: string
  readonly limit?: number | undefined
}

/** The options of a call that gives none: one object, so its decoding is cached once. */
const noOptions: AcquireOptions = {}

const DEFAULT_ACQUIRE_TIMEOUT_SECONDS = 10
export const DEFAULT_ACQUIRE_TIMEOUT: Duration.Input = Duration.seconds(DEFAULT_ACQUIRE_TIMEOUT_SECONDS)
const defaultWait: Codec.Wait = { seconds: DEFAULT_ACQUIRE_TIMEOUT_SECONDS, clientMillis: undefined }

interface Plan {
  readonly target: Codec.Target
  readonly wait: Codec.Wait
  readonly leaseSeconds: number | undefined
  readonly renewRatio: number | undefined
  readonly heartbeat: Duration.Duration | undefined
}

/** The per-call options, decoded. */
type Decoded = Omit<Plan, "target">

const decodeOptions = (options: AcquireOptions): Result.Result<Decoded, InvalidArgumentError> => {
  const wait = options.acquireTimeout === undefined
    ? Result.succeed(defaultWait)
    : Codec.validateTimeout("acquireTimeout", options.acquireTimeout)
  if (Result.isFailure(wait)) return Result.fail(wait.failure)
  const leaseSeconds = options.leaseTtl === undefined ? undefined : Codec.validateLease(options.leaseTtl)
  if (leaseSeconds !== undefined && Result.isFailure(leaseSeconds)) return Result.fail(leaseSeconds.failure)
  const renewRatio = options.renewRatio === undefined ? undefined : Codec.validateRenewRatio(options.renewRatio)
  if (renewRatio !== undefined && Result.isFailure(renewRatio)) return Result.fail(renewRatio.failure)
  const heartbeat = options.heartbeatInterval === undefined
    ? undefined
    : Codec.validatePositiveDuration("heartbeatInterval", options.heartbeatInterval)
  if (heartbeat !== undefined && Result.isFailure(heartbeat)) return Result.fail(heartbeat.failure)
  return Result.succeed({
    wait: wait.success,
    leaseSeconds: leaseSeconds?.success,
    renewRatio: renewRatio?.success,
    heartbeat: heartbeat?.success
  })
}

/**
 * Decoded options, by options object: code that passes the same (readonly)
 * options object to every call decodes its durations once, not once per lock.
 * A pure function's results, weakly held: nothing here outlives its key.
 */
const decodedOptions = new WeakMap<AcquireOptions, Result.Result<Decoded, InvalidArgumentError>>()

const decodeOptionsOnce = (options: AcquireOptions): Result.Result<Decoded, InvalidArgumentError> => {
  const known = decodedOptions.get(options)
  if (known !== undefined) return known
  const decoded = decodeOptions(options)
  decodedOptions.set(options, decoded)
  return decoded
}

/**
 * Validates everything before any I/O, against the client's options (a per-call
 * heartbeat must be below the client's `serverReadTimeout`). Pure; the common
 * case (defaults) parses nothing.
 */
export const plan = (
  spec: Spec,
  options: AcquireOptions,
  client: ResolvedOptions
): Result.Result<Plan, InvalidArgumentError> => {
  const key = Codec.validateKey(spec.key)
  if (Result.isFailure(key)) return Result.fail(key.failure)
  const limit = spec.kind === "semaphore" ? Codec.validateLimit(spec.limit ?? Number.NaN) : undefined
  if (limit !== undefined && Result.isFailure(limit)) return Result.fail(limit.failure)
  const decoded = decodeOptionsOnce(options)
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
  const { heartbeat } = decoded.success
  if (heartbeat !== undefined) {
    const checked = Codec.validateHeartbeat(heartbeat, client.serverReadTimeout)
    if (Result.isFailure(checked)) return Result.fail(checked.failure)
  }
  return Result.succeed({ target: { kind: spec.kind, key: key.success, limit: limit?.success }, ...decoded.success })
}

/**
 * A duration in milliseconds, by duration object: the client's durations are
 * read for every lock, and `Duration.toMillis` allocates per call. Durations
 * are immutable, so the answer for an object never changes.
 */
const millisByDuration = new WeakMap<Duration.Duration, number>()
export const millisOf = (duration: Duration.Duration): number => {
  let millis = millisByDuration.get(duration)
  if (millis === undefined) {
    millis = Duration.toMillis(duration)
    millisByDuration.set(duration, millis)
  }
  return millis
}

/**
 * Sends a command that may block on the server for `timeoutSeconds`, bounded on
 * the client by that plus the request timeout, so a silent server cannot hang it.
 */
export const sendBlocking = <A>(
  connection: Connection,
  command: Codec.Command<A>,
  timeoutSeconds: number,
  requestTimeout: Duration.Duration
): Effect.Effect<A, ExchangeError> => connection.send(command, timeoutSeconds * 1000 + millisOf(requestTimeout))

/**
 * Sends a blocking acquire or wait for `wait`: the server waits its whole
 * seconds; a wait with a sub-second part ends on the client at its exact
 * instant, as `TimedOut`, leaving the exchange abandoned, so the connection is
 * closed (which drops the waiter on the server) rather than reused.
 */
export const sendWait = (
  connection: Connection,
  command: Codec.Command<Codec.Granted | Codec.TimedOut>,
  wait: Codec.Wait,
  requestTimeout: Duration.Duration
): Effect.Effect<Codec.Granted | Codec.TimedOut, ExchangeError> => {
  const sent = sendBlocking(connection, command, wait.seconds, requestTimeout)
  return wait.clientMillis === undefined
    ? sent
    : Effect.map(Effect.timeoutOption(sent, wait.clientMillis), Option.getOrElse(() => Codec.timedOut))
}

/** Sends a short command, bounded by the request timeout. */
export const sendShort = <A>(connection: Connection, command: Codec.Command<A>, requestTimeout: Duration.Duration) =>
  sendBlocking(connection, command, 0, requestTimeout)

interface Holding {
  readonly connection: Connection
  readonly scope: Scope.Scope
  readonly plan: Plan
  readonly clock: Clock.Clock
  /** Whoever ends the lease itself (told of it when it is made); none: a finalizer of `scope` ends it. */
  readonly holder?: Holder | undefined
}

/** The caller that ends a lease itself, told of the lease in the step that makes it. */
interface Holder {
  live: Live | undefined
}

const describe = (error: ExchangeError): string => {
  switch (error._tag) {
    case "ServerError":
      return `renewal refused by the server (${error.reason}): lease expired or token no longer held`
    case "ConnectionError":
      return `connection lost: ${error.message}`
    case "ProtocolError":
      return `renewal failed: ${error.message}`
    case "AuthError":
      return "renewal failed: authentication rejected"
  }
}

/** Why the keep-alive loop ended the lease, in words. */
const describeLoss = (
  error: ExchangeError | Watchdog.Expired | Watchdog.Unanswered,
  readTimeoutMillis: number
): string => {
  switch (error._tag) {
    case "Expired":
      return error.by === "lease"
        ? "lease deadline passed without a confirmed renewal"
        : `no reply from the server within its read timeout (serverReadTimeout ${readTimeoutMillis} ms) ` +
          "less the margin: it may have closed the connection and freed the lock"
    case "Unanswered":
      return `renewal unanswered within ${Math.round(error.millis)} ms (the heartbeat's bound): ` +
        "the connection is presumed dead"
    default:
      return describe(error)
  }
}

/**
 * A release that failed. A connection already gone (the server killed, a cut or a
 * partition) is expected: the server frees what it held with it, so that is a debug
 * line without a stack. Anything else (a refused release, a malformed reply) is a warning.
 */
const logReleaseFailure = (key: string, cause: Cause.Cause<ExchangeError>): Effect.Effect<void> => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error) && error.value._tag === "ConnectionError" && cause.reasons.length === 1) {
    return Effect.logDebug(
      `dflockd: releasing "${key}" found the connection gone (${error.value.message}); ` +
        "the server frees the lock with it"
    )
  }
  return Effect.logWarning(
    `dflockd: releasing "${key}" failed; the server frees it when the connection closes or the lease ends`,
    cause
  )
}

/** What the lease's owner can do to a held lease beyond reading it (`Lock.extend`, `release`, `remaining`). */
export interface LeaseControl {
  /** Renews the lease now with `leaseSeconds` (from this renewal's send); a refusal or failure loses it. */
  readonly extend: (leaseSeconds: number) => Effect.Effect<void, LockLostError>
  /** Releases the lease now, its reply owed (pipelined); its scope's finalizer then does nothing. */
  readonly release: Effect.Effect<void>
  /** Releases the lease now and waits for the server's reply (the Promise API's `release()`). */
  readonly releaseAwaited: Effect.Effect<void>
  /**
   * Ends the lease without a release (the Promise API's `close()`): its connection stays claimed,
   * so giving it back closes it, and the server frees the lease then. Its scope's finalizer then
   * does nothing.
   */
  readonly abandon: Effect.Effect<void>
  /** Time left before the client counts the lease as lost (zero once lost or released). */
  readonly remaining: Effect.Effect<Duration.Duration>
}

/** Told, in the losing step itself, when a lease is lost. */
export type LostListener = (error: LockLostError) => Effect.Effect<void>

/** A held lease, and how to hear of its loss at once (without a fiber waiting on `lost`). */
export interface Held {
  readonly lease: Lease
  /** Runs `listener` when the lease is lost (now, if it is lost already). */
  readonly onLost: (listener: LostListener) => Effect.Effect<void>
}

/**
 * What changes while a lease is held, and what its keep-alive needs: one plain
 * record per lease, changed only by the functions below, each in one
 * synchronous step. Everything a lease needs only once it outlives its first
 * renewal or is lost (the loss signal, listeners, the keep-alive fiber, the
 * exchange chain) is made then, not at the grant: most locks end before.
 */
interface Live extends Renewals.Pending {
  readonly kind: Codec.Kind
  readonly key: string
  readonly token: string
  readonly connection: Connection
  readonly scope: Scope.Scope
  readonly clock: Clock.Clock
  readonly requestTimeout: Duration.Duration
  readonly readTimeoutMillis: number
  readonly renewEvery: number
  /** The client's renewals, which start the keep-alive loop at the first renewal. */
  readonly renewals: Renewals.Renewals
  /** Where the lease stands: moved on by each confirmed renewal, replaced by an extension. */
  readonly timeline: MutableRef.MutableRef<Watchdog.Timeline>
  /** Set once, by the step that loses the lease. */
  lost: LockLostError | undefined
  /** Completed with the loss; made when someone first waits on `lost`. */
  signal: Deferred.Deferred<never, LockLostError> | undefined
  /** Told when it is lost. */
  listeners: Array<LostListener> | undefined
  /** The region's own fiber, while `withLease` runs it: interrupted by the loss. */
  region: Fiber.Fiber<unknown, unknown> | undefined
  /** The last renewal or extension sent, if any: the next exchange and the release wait for it. */
  renewing: Fiber.Fiber<unknown, ExchangeError> | undefined
  /** The keep-alive loop, once it runs: an extension restarts it, an early release stops it. */
  loop: Fiber.Fiber<void> | undefined
  /** The lease has begun to end (released, or its scope closing): its keep-alive loop must not start. */
  ended: boolean
}

/**
 * A held lease, as callers see it: immutable, with `fence` read from the token
 * on demand (parsing costs a BigInt per lock, and most callers never ask) and
 * `lost` made on demand. A class, so that its getters and methods live on one
 * prototype: every lease has the same hidden class and no closure of its own.
 */
class HeldLease implements Lease, Held {
  readonly [TypeId] = TypeId
  readonly kind: Codec.Kind
  readonly key: string
  readonly token: string
  readonly leaseTtl: Duration.Duration
  readonly server: string
  /** Not part of `Lease`: reached through {@link controlOf}. */
  readonly live: Live
  constructor(live: Live, leaseSeconds: number) {
    this.kind = live.kind
    this.key = live.key
    this.token = live.token
    this.leaseTtl = durationOfSeconds(leaseSeconds)
    this.server = live.connection.server
    this.live = live
  }
  get fence(): bigint {
    return Option.getOrElse(Token.fence(this.token), () => 0n)
  }
  get lost(): Effect.Effect<never, LockLostError> {
    return lostOf(this.live)
  }
  get lease(): Lease {
    return this
  }
  onLost(listener: LostListener): Effect.Effect<void> {
    return onLost(this.live, listener)
  }
}

/** `Duration.seconds(n)`, made once per distinct lease length (a handful). */
const durations = new Map<number, Duration.Duration>()
const durationOfSeconds = (seconds: number): Duration.Duration => {
  let known = durations.get(seconds)
  if (known === undefined) {
    known = Duration.seconds(seconds)
    if (durations.size < 64) durations.set(seconds, known)
  }
  return known
}

/** Fails with the loss, once there is one (the signal made on first use). */
const lostOf = (live: Live): Effect.Effect<never, LockLostError> =>
  Effect.suspend(() => {
    if (live.lost !== undefined) return Effect.fail(live.lost)
    if (live.signal === undefined) live.signal = Deferred.makeUnsafe<never, LockLostError>()
    return Deferred.await(live.signal)
  })

const onLost = (live: Live, listener: LostListener): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (live.lost !== undefined) return listener(live.lost)
    if (live.listeners === undefined) live.listeners = []
    live.listeners.push(listener)
    return Effect.void
  })

/**
 * Loses the lease: records why (once), interrupts the region, wakes whoever
 * waits on `lost`, tells the listeners, counts and logs it. Uninterruptible:
 * interrupting the region may end the scope this runs under; the listeners, the
 * metric and the log must not be cut off. The error is built only here (a
 * schema check and a stack trace): only a lost lease pays for it.
 */
const lose = (live: Live, reason: string): Effect.Effect<void> =>
  Effect.uninterruptible(Effect.withFiber((fiber) => {
    if (live.lost !== undefined) return Effect.void
    const error = new LockLostError({ key: live.key, token: live.token, reason })
    live.lost = error
    if (live.signal !== undefined) Deferred.doneUnsafe(live.signal, Exit.fail(error))
    if (live.region !== undefined) live.region.interruptUnsafe(fiber.id)
    const listeners = live.listeners ?? []
    return Effect.forEach(listeners, (listener) => listener(error), { discard: true }).pipe(
      Effect.andThen(Metric.update(Metrics.lost(live.kind), 1)),
      Effect.andThen(Effect.logWarning(`dflockd: lease on "${live.key}" lost: ${reason}`))
    )
  }))

/**
 * One exchange at a time on the connection, in the order asked (renewals,
 * extensions): each runs to its reply or its deadline in a fiber of its own,
 * after the one before it. Cut off by the scope closing, an exchange would leave
 * the connection mid-way: the release waits for the last one instead. Reading
 * the last and recording the new one happen in one synchronous step, so two
 * callers cannot both go first.
 */
const chained = <A>(live: Live, send: Effect.Effect<A, ExchangeError>): Effect.Effect<A, ExchangeError> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.withFiber((fiber) => {
      const before = live.renewing
      const next = Effect.runForkWith(fiber.context)(
        before === undefined ? send : Effect.andThen(Fiber.await(before), send)
      )
      live.renewing = next
      return restore(Fiber.join(next))
    })
  )

const renewFor = (live: Live, leaseSeconds: number) =>
  sendShort(live.connection, Codec.renew(live.kind, live.key, live.token, leaseSeconds), live.requestTimeout)

/**
 * One loop renews the lease and watches its deadline, from the first renewal
 * on. The connection's end is not its job: the connection tells the lease
 * itself (`onBreak`), on the event.
 */
const keepAlive = (live: Live): Effect.Effect<void> => {
  // renewed with the lease as it stands (an extension changes it)
  const renew = chained(live, Effect.suspend(() => renewFor(live, MutableRef.get(live.timeline).leaseMillis / 1000)))
  const { readTimeoutMillis, renewEvery, timeline } = live
  return Watchdog.keepAlive({ timeline, readTimeoutMillis, renewEvery, renew }).pipe(
    Effect.catch((error) => lose(live, describeLoss(error, readTimeoutMillis)))
  )
}

/**
 * Starts the keep-alive loop at once (no scheduler hop): its first step renews,
 * or sleeps until the renewal. A start after the lease began to end does
 * nothing. The client's renewals call it at the first renewal (`Renewals.Pending`).
 */
const startKeepAlive = (live: Live): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (live.ended) return Effect.void
    return Effect.map(Effect.forkIn(keepAlive(live), live.scope, { startImmediately: true }), (loop) => {
      live.loop = loop
    })
  })

/** A failed pipelined release, reported in the releasing fiber's context once its reply comes. */
const reportRelease = (context: Context.Context<never>, key: string) => (error: ExchangeError): void => {
  Effect.runForkWith(context)(logReleaseFailure(key, Cause.fail(error)))
}

/**
 * Ends the lease: out of the renewals queue, the keep-alive loop stopped, the
 * connection no longer reporting to it, and (unless lost: a lost lease is not
 * ours to release, the server may have granted it to someone else) the release
 * sent after the last renewal. Pipelined, the release is written and the
 * connection is free at once; its reply is owed and read before the next reply
 * on that connection. Runs once; uninterruptible callers (finalizers); the
 * release ends by its own deadline.
 */
const end = (live: Live, awaited: boolean): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    if (live.ended) return Effect.void
    live.ended = true
    live.renewals.remove(live)
    const { loop, connection } = live
    // The common end, in one step: no keep-alive ever ran, nothing in flight, a connection
    // that pipelines. The release is written, its reply owed; the connection is free.
    const internal = Connections.internalOf(connection)
    if (!awaited && loop === undefined && live.renewing === undefined && internal !== undefined) {
      Connections.ownNow(internal, undefined)
      Metrics.held(live.kind).modifyUnsafe(-1, fiber.context)
      if (live.lost !== undefined) return Effect.void
      const command = Codec.release(live.kind, live.key, live.token)
      if (
        Connections.postNow(internal, command, millisOf(live.requestTimeout), reportRelease(fiber.context, live.key))
      ) {
        Connections.unclaimNow(internal)
        return Effect.void
      }
      return sendRelease(live, awaited)
    }
    const released = Effect.andThen(
      Effect.andThen(connection.onBreak(undefined), Metrics.recordRelease(live.kind)),
      Effect.suspend(() => (live.lost !== undefined ? Effect.void : sendRelease(live, awaited)))
    )
    return loop === undefined ? released : Effect.andThen(Fiber.interrupt(loop), released)
  })

const sendRelease = (live: Live, awaited: boolean): Effect.Effect<void> => {
  const { connection, kind, key, token, requestTimeout } = live
  const command = Codec.release(kind, key, token)
  const send = awaited
    ? sendShort(connection, command, requestTimeout).pipe(
      Effect.andThen(connection.unclaim),
      Effect.catchCause((cause) => logReleaseFailure(key, cause))
    )
    : Effect.withFiber((fiber) =>
      Effect.andThen(
        connection.post(command, millisOf(requestTimeout), reportRelease(fiber.context, key)),
        connection.unclaim
      )
    )
  const renewing = live.renewing
  return renewing === undefined ? send : Effect.andThen(Fiber.await(renewing), send)
}

/**
 * Ends the lease without a release: out of the renewals queue, the keep-alive loop stopped, the
 * connection no longer reporting to it. The connection keeps its claim: given back, it is
 * closed, not pooled, and the server frees the lease with it. Runs once, as `end` does (after
 * either, the other does nothing); uninterruptible callers.
 */
const abandonLease = (live: Live): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (live.ended) return Effect.void
    live.ended = true
    live.renewals.remove(live)
    const { loop } = live
    const abandoned = Effect.andThen(live.connection.onBreak(undefined), Metrics.recordRelease(live.kind))
    return loop === undefined ? abandoned : Effect.andThen(Fiber.interrupt(loop), abandoned)
  })

const extendLease = (live: Live, leaseSeconds: number): Effect.Effect<void, LockLostError> =>
  Effect.suspend(() => {
    if (live.lost !== undefined) return Effect.fail(live.lost)
    if (live.ended) {
      return Effect.fail(new LockLostError({ key: live.key, token: live.token, reason: "the lease was released" }))
    }
    let sentAt = 0
    const extended = chained(
      live,
      Effect.suspend(() => {
        sentAt = Watchdog.monotonicMillis(live.clock)
        return renewFor(live, leaseSeconds)
      })
    )
    return Effect.matchEffect(extended, {
      onFailure: (error) =>
        Effect.andThen(
          lose(live, `extending the lease failed: ${describe(error)}`),
          Effect.suspend(() => Effect.fail(live.lost!))
        ),
      onSuccess: () =>
        Effect.suspend(() => {
          const current = MutableRef.get(live.timeline)
          MutableRef.set(live.timeline, {
            confirmedAt: Math.max(current.confirmedAt, sentAt),
            leaseMillis: leaseSeconds * 1000
          })
          // the loop may sleep past a deadline brought forward: it starts again from the new timeline
          live.renewals.remove(live)
          const { loop } = live
          return loop === undefined ? startKeepAlive(live) : Effect.andThen(Fiber.interrupt(loop), startKeepAlive(live))
        })
    })
  })

const remainingOf = (live: Live): Duration.Duration => {
  if (live.ended || live.lost !== undefined) return Duration.zero
  const left = Watchdog.deadlineOf(MutableRef.get(live.timeline), live.readTimeoutMillis) -
    Watchdog.monotonicMillis(live.clock)
  return Duration.millis(Math.max(0, left))
}

/**
 * The control of a lease this library acquired; `InvalidArgumentError` for
 * anything else (a lease-shaped object made by hand).
 */
export const controlOf = (lease: Lease): Result.Result<LeaseControl, InvalidArgumentError> =>
  lease instanceof HeldLease
    ? Result.succeed(controlFor(lease.live))
    : Result.fail(
      new InvalidArgumentError({
        argument: "lease",
        value: `{ key: ${JSON.stringify(String(lease.key))} }`,
        detail: "is not a lease acquired through this client"
      })
    )

/** The control of a live lease (made when asked: most leases are never extended or released early). */
const controlFor = (live: Live): LeaseControl => ({
  extend: (leaseSeconds) => extendLease(live, leaseSeconds),
  release: Effect.uninterruptible(end(live, false)),
  releaseAwaited: Effect.uninterruptible(end(live, true)),
  abandon: Effect.uninterruptible(abandonLease(live)),
  remaining: Effect.sync(() => remainingOf(live))
})

/**
 * Turns a grant into a held lease: registers the release finalizer, and has
 * the renewal and watchdog loop start by the first renewal (see `renewals.ts`).
 */
export const hold = (
  client: DflockdClient["Service"],
  holding: Holding,
  grant: Codec.Granted,
  sentAtMillis: number
): Effect.Effect<HeldLease, LockLostError | ExchangeError> => {
  const { connection, plan } = holding
  const { kind, key } = plan.target
  const requestTimeout = client.options.requestTimeout
  const leaseMillis = grant.leaseSeconds * 1000
  // a confirmed exchange keeps the lease for its lease, or the server's read timeout if shorter
  const life = Watchdog.lifetime(leaseMillis, millisOf(client.options.serverReadTimeout))
  const renewRatio = plan.renewRatio ?? client.options.renewRatio
  const heartbeatMillis = millisOf(plan.heartbeat ?? client.options.heartbeatInterval)
  const renewEvery = Watchdog.renewInterval(life, Math.min(leaseMillis * renewRatio, heartbeatMillis))
  const receivedAt = Watchdog.monotonicMillis(holding.clock)
  // The server granted somewhere between the send and now: the lease runs from the send,
  // and so does the server's read deadline (restarted after it wrote the grant, no earlier).
  // A grant that arrived after the lifetime's own renewal point (a long wait in the queue, a
  // reply held up, a blocked event loop) is confirmed by one renewal before it is handed
  // over, and counted from that renewal's send: a region never starts on a lease the
  // server may already have expired, or on a connection it may already have closed. A
  // short wait costs no extra round trip (the point is the lifetime's, not the heartbeat's:
  // a short heartbeat does not make every grant stale).
  const confirmAfter = Watchdog.renewInterval(life, life * renewRatio)
  if (receivedAt - sentAtMillis < confirmAfter) {
    return holdFrom(client, holding, grant, sentAtMillis, renewEvery)
  }
  return sendShort(connection, Codec.renew(kind, key, grant.token, grant.leaseSeconds), requestTimeout).pipe(
    Effect.catchTag("ServerError", (error) =>
      Effect.fail(
        new LockLostError({
          key,
          token: grant.token,
          reason: `the grant arrived ${Math.round(receivedAt - sentAtMillis)} ms after the request, ` +
            `too late to trust a ${life} ms lifetime (the lease, or the server's read timeout if shorter), ` +
            `and its renewal was refused (${error.reason})`
        })
      )),
    Effect.andThen(holdFrom(client, holding, grant, receivedAt, renewEvery))
  )
}

/** {@link hold} once the lease is known to run `leaseMillis` from `grantedAtMillis`. */
const holdFrom = (
  client: DflockdClient["Service"],
  holding: Holding,
  grant: Codec.Granted,
  grantedAtMillis: number,
  renewEvery: number
): Effect.Effect<HeldLease> => {
  const { clock, connection, holder, scope, plan } = holding
  const { kind, key } = plan.target
  const renewals = client.renewals
  const live: Live = {
    // the lease waits in the client's renewals until its first renewal
    at: grantedAtMillis + renewEvery,
    start: startKeepAlive,
    renewals,
    kind,
    key,
    token: grant.token,
    connection,
    scope,
    clock,
    requestTimeout: client.options.requestTimeout,
    readTimeoutMillis: millisOf(client.options.serverReadTimeout),
    renewEvery,
    timeline: MutableRef.make<Watchdog.Timeline>({
      confirmedAt: grantedAtMillis,
      leaseMillis: grant.leaseSeconds * 1000
    }),
    lost: undefined,
    signal: undefined,
    listeners: undefined,
    region: undefined,
    renewing: undefined,
    loop: undefined,
    ended: false
  }
  const lease = new HeldLease(live, grant.leaseSeconds)
  // Ended by a finalizer of its scope (uninterruptible; the release ends by its own
  // deadline; added before the keep-alive fiber, whose own finalizer runs first), or by
  // the caller that holds it, told in this same step (`withLease` ends it with its region).
  if (holder !== undefined) holder.live = live
  // The server frees the lease the moment its connection ends: so does the lease.
  const onBreak: OnBreak = (error) => lose(live, `connection lost: ${error.message}`)
  const internal = Connections.internalOf(connection)
  if (holder !== undefined && internal !== undefined) {
    // the common case, in one step: nothing to register in a scope, no fiber to start
    return Effect.withFiber((fiber) => {
      Metrics.held(kind).modifyUnsafe(1, fiber.context)
      renewals.addNow(live)
      // broken already: the lease is lost at once (the region then never starts)
      const told = Connections.ownNow(internal, onBreak)
      return told === undefined ? Effect.succeed(lease) : Effect.as(told, lease)
    })
  }
  const ending = holder === undefined ? Scope.addFinalizer(scope, end(live, false)) : Effect.void
  const registered = Effect.andThen(Metrics.recordHeld(kind, ending), connection.onBreak(onBreak))
  // The loop has nothing to do before the first renewal: the client's renewals start it
  // then, and a lease released before (most locks) never needs a fiber of its own.
  return Effect.as(
    Effect.andThen(registered, renewals.add(live)),
    lease
  )
}

/**
 * Runs `use` with a connection in `scope` itself, for a scope that exists only
 * for this one lease and is closed as soon as `use` fails (`withLease`'s own).
 */
const withConnectionIn = <A, E, R>(
  client: DflockdClient["Service"],
  key: string,
  scope: Scope.Scope,
  use: (connection: Connection, scope: Scope.Scope) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ExchangeError | InvalidArgumentError, R> =>
  Effect.flatMap(
    client.route(key),
    (server) => Effect.flatMap(client.connect(server, scope), (connection) => use(connection, scope))
  )

/**
 * Runs `use` with a connection in a child scope of `parent`. The child scope is
 * closed at once when `use` fails or is interrupted (closing the socket, which
 * makes the server drop a waiter or release a grant), and otherwise lives as
 * long as `parent`.
 */
export const withConnection = <A, E, R>(
  client: DflockdClient["Service"],
  key: string,
  parent: Scope.Scope,
  use: (connection: Connection, scope: Scope.Closeable) => Effect.Effect<A, E, R>
): Effect.Effect<A, E | ExchangeError | InvalidArgumentError, R> =>
  Effect.suspend(() => {
    const scope = Scope.forkUnsafe(parent, "sequential")
    return withConnectionIn(client, key, scope, (connection) => use(connection, scope)).pipe(
      Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
    )
  })

/**
 * The lease of a grant for `spec`, at its kind. Every lease is built with its
 * spec's kind (`plan` copies it into the target, `holdFrom` into the lease):
 * this is where the type learns it.
 */
export const ofKind = <K extends Codec.Kind>(_spec: Spec<K>, lease: Lease): Lease<K> => lease as Lease<K>

/** Acquire, waiting in the FIFO queue up to `acquireTimeout`. */
export const acquire = <K extends Codec.Kind>(
  spec: Spec<K>,
  options: AcquireOptions = noOptions
): Effect.Effect<Lease<K>, AcquireError, Scope.Scope | DflockdClient> =>
  Effect.flatMap(
    Effect.scope,
    (scope) => Effect.map(acquireHeld(spec, options, scope, "child"), (held) => ofKind(spec, held.lease))
  )

/**
 * Acquires into `scope`: into a child scope of it (`child`), or into `scope`
 * itself when that exists for this one lease (`own`: the Promise API's).
 */
export const acquireHeld = (
  spec: Spec,
  options: AcquireOptions,
  scope: Scope.Scope,
  scoping: "child" | "own"
) =>
  Effect.flatMap(Effect.service(DflockdClient), (client) =>
    Effect.withFiber((fiber) => {
      const planned = plan(spec, options, client.options)
      if (Result.isFailure(planned)) return Effect.fail(planned.failure)
      const clock = fiber.getRef(Clock.Clock)
      if (scoping === "own") return acquireIn(client, planned.success, scope, clock, undefined)
      const child = Scope.forkUnsafe(scope, "sequential")
      return acquireIn(client, planned.success, child, clock, undefined).pipe(
        Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(child, exit) : Effect.void)
      )
    }))

/**
 * Acquires per `plan` over a connection that lives in `scope` (closed by the
 * caller if this fails: closing the socket drops a waiter or a grant on the
 * server). The lease is ended by a finalizer of `scope`, or by `holder`.
 */
const acquireIn = (
  client: DflockdClient["Service"],
  plan: Plan,
  scope: Scope.Scope,
  clock: Clock.Clock,
  holder: Holder | undefined
): Effect.Effect<HeldLease, AcquireError> => {
  const { kind, key } = plan.target
  const started = Watchdog.monotonicMillis(clock)
  const command = Codec.acquire(plan.target, plan.wait.seconds, plan.leaseSeconds)
  const claimed = (connection: Connection) => {
    const sentAt = Watchdog.monotonicMillis(clock)
    return Effect.flatMap(
      sendWait(connection, command, plan.wait, client.options.requestTimeout),
      (reply): Effect.Effect<HeldLease, AcquireError> => {
        if (reply._tag === "TimedOut") {
          // the server keeps nothing for a timed-out acquire: the connection is clean (one
          // the client gave up on is still mid-exchange, so it is closed, not reused)
          return connection.unclaim.pipe(
            Effect.andThen(Metric.update(Metrics.timeouts(kind), 1)),
            Effect.andThen(Effect.fail(new AcquireTimeoutError({ key })))
          )
        }
        return Effect.andThen(
          Metrics.recordGrant(kind, Watchdog.monotonicMillis(clock) - started),
          hold(client, { connection, scope, plan, clock, holder }, reply, sentAt)
        )
      }
    )
  }
  return Effect.flatMap(client.route(key), (server) =>
    Effect.flatMap(client.connect(server, scope), (connection) => {
      // claimed before the command goes out: a waiter or a grant may exist from then on
      const internal = Connections.internalOf(connection)
      if (internal === undefined) return Effect.andThen(connection.claim, claimed(connection))
      Connections.claimNow(internal)
      return claimed(connection)
    }))
}

/** Acquire only if free right now (`timeout 0`); `None` when held by someone else. */
export const tryAcquire = <K extends Codec.Kind>(
  spec: Spec<K>,
  options: Omit<AcquireOptions, "acquireTimeout"> = {}
): Effect.Effect<Option.Option<Lease<K>>, TryAcquireError, Scope.Scope | DflockdClient> =>
  acquire(spec, { ...options, acquireTimeout: 0 }).pipe(
    Effect.map(Option.some),
    Effect.catchTag("AcquireTimeoutError", () => Effect.succeedNone)
  )

/**
 * A span for a public operation, with the key as an attribute, when a tracer is
 * installed (an exporter such as OpenTelemetry's). Under Effect's built-in
 * native tracer, which records nowhere, the span is skipped: it would cost a
 * span object and a context switch per lock. No stack trace capture either: it
 * would cost an `Error` per lock, and the call site is the caller's.
 */
export const traced = (name: string, key: string) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => tracedNow(fiber, self, name, key))

/** {@link traced}, from inside a fiber already at hand. */
const tracedNow = <A, E, R>(
  fiber: Fiber.Fiber<unknown, unknown>,
  self: Effect.Effect<A, E, R>,
  name: string,
  key: string
): Effect.Effect<A, E, R> =>
  fiber.getRef(Tracer.Tracer) === Tracer.nativeTracer
    ? self
    : Effect.withSpan(self, name, { attributes: { "dflockd.key": key }, captureStackTrace: false })

/**
 * Runs `region` while holding a lease. If the lease is lost, the region is
 * interrupted and the whole fails with `LockLostError`; the lease is released
 * when the region ends, however it ends.
 */
export const withLease = <A, E, R>(
  region: Effect.Effect<A, E, R>,
  spec: Spec,
  options: AcquireOptions = noOptions,
  spanName?: string
): Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient> =>
  leased(spec, options, spanName, (held) => guarded(held.live, region))

/**
 * {@link withLease} for a region made from its lease (the Promise API's `withLock`, whose
 * instance shows the token and hears of the loss while `fn` runs). `use` is called once the
 * lease is held, and its region runs unless the lease is lost by then.
 */
export const withHeldLease = <A, E, R>(
  use: (held: Held) => Effect.Effect<A, E, R>,
  spec: Spec,
  options: AcquireOptions = noOptions
): Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient> =>
  leased(spec, options, undefined, (held) => guarded(held.live, use(held)))

/** {@link withLease}, with the region run on the held lease by `guard` (which races it against the loss). */
const leased = <A, E, R>(
  spec: Spec,
  options: AcquireOptions,
  spanName: string | undefined,
  guard: (held: HeldLease) => Effect.Effect<A, E | LockLostError, R>
): Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient> =>
  Effect.withFiber((fiber) => {
    const client = Context.getUnsafe(fiber.context, DflockdClient)
    const planned = plan(spec, options, client.options)
    if (Result.isFailure(planned)) return Effect.fail(planned.failure)
    // The connection lives in a scope of this lease's own, closed after the lease ends:
    // the lease's release goes out first, then the connection goes back to the pool.
    const connectionScope = Scope.makeUnsafe()
    const holder: Holder = { live: undefined }
    const run = Effect.onExit(
      // the region gets a scope of its own: what it acquires in it is released before the lease
      Effect.scoped(
        Effect.flatMap(
          acquireIn(client, planned.success, connectionScope, fiber.getRef(Clock.Clock), holder),
          guard
        )
      ),
      () => {
        const live = holder.live
        const close = Scope.close(connectionScope, Exit.void)
        return live === undefined ? close : Effect.andThen(end(live, false), close)
      }
    )
    return spanName === undefined ? run : tracedNow(fiber, run, spanName, spec.key)
  })

/**
 * Runs `region` in a fiber of its own, which the lease's loss interrupts: then
 * this fails with the `LockLostError`. A region that ends without suspending
 * (it ran to its end when forked) costs no wait. Interrupted here, the region
 * is interrupted and awaited first: it never outlives the lease.
 */
const guarded = <A, E, R>(live: Live, region: Effect.Effect<A, E, R>): Effect.Effect<A, E | LockLostError, R> =>
  Effect.uninterruptibleMask((restore) => {
    if (live.lost !== undefined) return Effect.fail(live.lost)
    return Effect.flatMap(Effect.forkChild(restore(region), { startImmediately: true }), (fiber) => {
      const done = fiber.pollUnsafe()
      if (done !== undefined) return outcome(live, done)
      live.region = fiber
      // lost between the fork and now: nobody interrupted it yet
      if (live.lost !== undefined) fiber.interruptUnsafe()
      return Effect.flatMap(
        Effect.onInterrupt(restore(Fiber.await(fiber)), () => Fiber.interrupt(fiber)),
        (exit) => {
          live.region = undefined
          return outcome(live, exit)
        }
      )
    })
  })

/** The region's end: its own, or the lease's loss when that interrupted it. */
const outcome = <A, E>(live: Live, exit: Exit.Exit<A, E>): Effect.Effect<A, E | LockLostError> =>
  Exit.isFailure(exit) && live.lost !== undefined && Cause.hasInterruptsOnly(exit.cause)
    ? Effect.fail(live.lost)
    : exit

/** A lease's control, or a defect for a lease this library did not make (a programming error). */
const controlled = <A, E>(lease: Lease, f: (control: LeaseControl) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.suspend(() => {
    const control = controlOf(lease)
    return Result.isSuccess(control) ? f(control.success) : Effect.die(control.failure)
  })

/** Renews `lease` now for `leaseTtl` (whole seconds ≥ 1), from this renewal on. */
export const extend = (
  lease: Lease,
  leaseTtl: Duration.Input
): Effect.Effect<void, InvalidArgumentError | LockLostError> =>
  Effect.suspend((): Effect.Effect<void, InvalidArgumentError | LockLostError> => {
    const seconds = Codec.validateLease(leaseTtl)
    return Result.isFailure(seconds)
      ? Effect.fail(seconds.failure)
      : controlled(lease, (control) => control.extend(seconds.success))
  })

/** Releases `lease` now; its scope's finalizer then does nothing. */
export const release = (lease: Lease): Effect.Effect<void> => controlled(lease, (control) => control.release)

/** Releases `lease` now and waits for the server's reply (the Promise API's `release()`, as 1.11 does). */
export const releaseAwaited = (lease: Lease): Effect.Effect<void> =>
  controlled(lease, (control) => control.releaseAwaited)

/** Ends `lease` without a release (the Promise API's `close()`); see {@link LeaseControl}. */
export const abandon = (lease: Lease): Effect.Effect<void> => controlled(lease, (control) => control.abandon)

/** Time left before the client counts `lease` as lost (zero once lost or released). */
export const remaining = (lease: Lease): Effect.Effect<Duration.Duration> =>
  controlled(lease, (control) => control.remaining)

/**
 * Keys in the one global order every process of this library takes them in:
 * sorted by UTF-16 code units, whatever their shards. Two processes locking
 * the same keys in any order cannot deadlock. Empty or repeated keys are refused.
 */
export const globalOrder = (
  keys: ReadonlyArray<string>
): Result.Result<ReadonlyArray<string>, InvalidArgumentError> => {
  if (keys.length === 0) {
    return Result.fail(
      new InvalidArgumentError({ argument: "keys", value: "[]", detail: "must name at least one key" })
    )
  }
  const sorted = [...keys].sort()
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) {
      return Result.fail(
        new InvalidArgumentError({
          argument: "keys",
          value: JSON.stringify(sorted[i]),
          detail: "must not repeat a key (it would wait for itself)"
        })
      )
    }
  }
  return Result.succeed(sorted)
}

/**
 * Acquires every lock of `keys` or none, in the global order, within one
 * `acquireTimeout` for all of them. Every key is checked before any I/O. The
 * leases come back in the order of `keys`, and are released together with the
 * current scope; if one acquisition fails, those already held are released at
 * once.
 */
export const acquireAll = (
  keys: ReadonlyArray<string>,
  options: AcquireOptions = noOptions
): Effect.Effect<ReadonlyArray<Lease<"lock">>, AcquireError, Scope.Scope | DflockdClient> =>
  Effect.gen(function*() {
    const ordered = yield* Effect.fromResult(globalOrder(keys))
    const client = yield* DflockdClient
    const specs = ordered.map((key): Spec<"lock"> => ({ kind: "lock", key }))
    const plans = specs.map((spec) => plan(spec, options, client.options))
    for (const planned of plans) if (Result.isFailure(planned)) return yield* Effect.fail(planned.failure)
    const wait = (plans[0] as Result.Success<Plan, InvalidArgumentError>).success.wait
    const budget = wait.clientMillis ?? wait.seconds * 1000
    const clock = yield* Clock.Clock
    const deadline = Watchdog.monotonicMillis(clock) + budget
    const scope = Scope.forkUnsafe(yield* Effect.scope, "sequential")
    const byKey = new Map<string, Lease<"lock">>()
    yield* Effect.forEach(specs, (spec) => {
      const left = Math.max(0, deadline - Watchdog.monotonicMillis(clock))
      return Effect.map(
        acquireHeld(spec, { ...options, acquireTimeout: Duration.millis(left) }, scope, "child"),
        (held) => void byKey.set(spec.key, ofKind(spec, held.lease))
      )
    }, { discard: true }).pipe(
      Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
    )
    return keys.map((key) => byKey.get(key)!)
  })

/**
 * Runs `region` while holding every lock of `keys` ({@link acquireAll}); the
 * loss of any one interrupts it with `LockLostError`.
 */
export const withLeases = <A, E, R>(
  region: Effect.Effect<A, E, R>,
  keys: ReadonlyArray<string>,
  options: AcquireOptions = noOptions
): Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient> =>
  Effect.scoped(
    Effect.flatMap(
      acquireAll(keys, options),
      (leases) => Effect.raceAllFirst([region, ...leases.map((lease) => lease.lost)])
    )
  )
