/**
 * `effect-dflockd/promise`: the dflockd client API that non-Effect code already
 * knows (`DistributedLock`, `DistributedSemaphore`, `withLock`, `enqueue`/`wait`,
 * `LockError`), as a thin layer over the Effect core.
 *
 * Every instance owns one `ManagedRuntime` built from `DflockdClient.layer` with
 * the instance's options (each instance has its own servers, TLS, auth and
 * timeouts) and `pool: false`: one connection per acquisition, closed on
 * release, as in the other dflockd clients, so that nothing (no idle socket, no
 * pool sweeper) outlives `release()`.
 *
 * What the instance holds lives in the Effect world: an acquisition opens a
 * `Scope` in which `Lock.acquire` (or `Semaphore.acquire`) runs, so the core's
 * renewal, watchdog, release and socket are tied to that scope; `release()`
 * closes it. A fiber forked into the same scope waits on the lease's `lost` and
 * calls `onLockLost`. `close()` disposes the runtime, which interrupts a pending
 * `acquire`/`wait`, and closes whatever is still held.
 *
 * Nothing here keeps the process alive once released or closed: no timers, no
 * sockets, no pending promises. An instance that was released may simply be
 * dropped; `close()` is needed only to cut short what is pending or held.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as EffectSemaphore from "effect/Semaphore"
import * as DflockdClient from "./DflockdClient.ts"
import type { DflockdError, InvalidArgumentError, LockLostError } from "./Errors.ts"
import * as Codec from "./internal/codec.ts"
import * as Lock from "./Lock.ts"
import * as Semaphore from "./Semaphore.ts"
import * as Sharding from "./Sharding.ts"
import type * as StatsSchema from "./Stats.ts"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * Base class of every error this module throws: connection failures, protocol
 * or server errors, invalid options, misuse (`acquire()` while holding), and
 * the subclasses {@link AcquireTimeoutError} and {@link AuthError}. When the
 * failure came from the Effect core, `cause` is the original tagged error
 * (`ConnectionError`, `ServerError`, `ProtocolError`, `InvalidArgumentError`,
 * `LockLostError`, ...).
 *
 * **Example** (Catching any client error)
 *
 * ```ts
 * import { DistributedLock, LockError } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "my-key" })
 * try {
 *   await lock.acquire()
 * } catch (err) {
 *   if (err instanceof LockError) console.error(`dflockd: ${err.message}`, err.cause)
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LockError extends Error {
  override readonly name: string = "LockError"
}

/**
 * The lock (or semaphore slot) could not be acquired within `acquireTimeoutS`.
 * Thrown by `withLock`; `acquire()` and `wait()` return `false` instead.
 *
 * **Example** (Busy key)
 *
 * ```ts
 * import { AcquireTimeoutError, DistributedLock } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "nightly-report", acquireTimeoutS: 1 })
 * try {
 *   await lock.withLock(async () => {})
 * } catch (err) {
 *   if (err instanceof AcquireTimeoutError) console.log(`someone else holds ${err.key}`)
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AcquireTimeoutError extends LockError {
  override readonly name: string = "AcquireTimeoutError"
  /**
   * The key that could not be acquired.
   *
   * @since 0.1.0
   */
  readonly key: string
  /**
   * Made by the client from the core's `AcquireTimeoutError` (kept as `cause`).
   *
   * @since 0.1.0
   */
  constructor(key: string, options?: ErrorOptions) {
    super(`timed out acquiring "${key}"`, options)
    this.key = key
  }
}

/**
 * The server rejected the `auth` token (wrong, or missing where the server
 * requires one). The token never appears in the error.
 *
 * **Example** (Bad token)
 *
 * ```ts
 * import { AuthError, DistributedLock } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "my-key", auth: "wrong-token" })
 * await lock.acquire().catch((err) => {
 *   if (err instanceof AuthError) console.error("check DFLOCKD_AUTH")
 * })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends LockError {
  override readonly name: string = "AuthError"
}

/** Misuse of an instance (already holding, not enqueued, closed), in the Effect world; a plain `LockError` outside. */
class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** What `onLockLost` threw or rejected with, for the log. */
class CallbackError extends Data.TaggedError("CallbackError")<{ readonly cause: unknown }> {}

type Failure = DflockdError | UsageError

const fromFailure = (error: Failure): LockError => {
  switch (error._tag) {
    case "UsageError":
      return new LockError(error.message)
    case "AcquireTimeoutError":
      return new AcquireTimeoutError(error.key, { cause: error })
    case "AuthError":
      return new AuthError(error.message, { cause: error })
    default:
      return new LockError(error.message, { cause: error })
  }
}

/** Turns the cause of a failed operation into the error the Promise rejects with. */
const fromCause = (cause: Cause.Cause<Failure>): LockError => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error)) return fromFailure(error.value)
  if (Cause.hasInterruptsOnly(cause)) return new LockError("interrupted: the instance was closed", { cause })
  const defect = Cause.squash(cause)
  return new LockError(
    `unexpected failure: ${Predicate.hasProperty(defect, "message") ? String(defect.message) : String(defect)}`,
    {
      cause: defect
    }
  )
}

const invalidOption = (error: InvalidArgumentError): LockError => new LockError(error.message, { cause: error })

const orThrow = <A>(result: Result.Result<A, InvalidArgumentError>): A => {
  if (Result.isFailure(result)) throw invalidOption(result.failure)
  return result.success
}

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/**
 * A server: `[host, port]` (as in the other dflockd clients) or `"host:port"`.
 *
 * **Example** (Both forms)
 *
 * ```ts
 * import type { ServerAddress } from "effect-dflockd/promise"
 *
 * const servers: Array<ServerAddress> = [["10.0.0.1", 6388], "10.0.0.2:6388"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ServerAddress = readonly [host: string, port: number] | string

/**
 * Chooses the index of the server that owns a key: `(key, numServers) => index`.
 *
 * **Example** (Pinning one key to the first server)
 *
 * ```ts
 * import { DistributedLock, type ShardingStrategy, stableHashShard } from "effect-dflockd/promise"
 *
 * const strategy: ShardingStrategy = (key, n) => key === "billing" ? 0 : stableHashShard(key, n)
 * const lock = new DistributedLock({ key: "billing", servers: [["10.0.0.1", 6388], ["10.0.0.2", 6388]], shardingStrategy: strategy })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ShardingStrategy = Sharding.Strategy

/**
 * TLS settings: `{}` for the system CAs, or `ca`, `cert`, `key`, `servername`,
 * `rejectUnauthorized`. Certificate verification stays on unless
 * `rejectUnauthorized: false`.
 *
 * **Example** (Trusting your own CA)
 *
 * ```ts
 * import * as fs from "node:fs"
 * import type { TlsOptions } from "effect-dflockd/promise"
 *
 * const tls: TlsOptions = { ca: fs.readFileSync("ca.pem"), servername: "locks.internal" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TlsOptions = DflockdClient.TlsOptions

/**
 * Connection options shared by {@link DistributedLock}, {@link DistributedSemaphore}
 * and {@link stats}.
 *
 * **Example** (TLS, auth and timeouts)
 *
 * ```ts
 * import type { ConnectionOptions } from "effect-dflockd/promise"
 *
 * const connection: ConnectionOptions = {
 *   tls: {},
 *   auth: process.env["DFLOCKD_AUTH"],
 *   connectTimeoutMs: 2000,
 *   socketTimeoutMs: 5000
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** TLS settings; `{}` uses the system CAs. Default: plain TCP. */
  readonly tls?: TlsOptions | undefined
  /** Token for servers started with `--auth-token`. Kept `Redacted` inside, never logged. */
  readonly auth?: string | undefined
  /** Dial (and TLS handshake) timeout in milliseconds. Default 5000. */
  readonly connectTimeoutMs?: number | undefined
  /**
   * Longest wait for a reply in milliseconds: for short commands (renew, release,
   * enqueue) in full, for blocking ones (acquire, wait) beyond their own timeout.
   * Default 5000.
   */
  readonly socketTimeoutMs?: number | undefined
}

/**
 * Options of {@link DistributedLock}. Only `key` is required.
 *
 * **Example** (Every option)
 *
 * ```ts
 * import { type DistributedLockOptions, stableHashShard } from "effect-dflockd/promise"
 *
 * const options: DistributedLockOptions = {
 *   key: "my-key",
 *   acquireTimeoutS: 10,
 *   leaseTtlS: 20,
 *   servers: [["127.0.0.1", 6388]],
 *   shardingStrategy: stableHashShard,
 *   renewRatio: 0.5,
 *   onLockLost: (key, token) => console.error(`lost ${key} (${token})`),
 *   connectTimeoutMs: 5000,
 *   socketTimeoutMs: 5000
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DistributedLockOptions extends ConnectionOptions {
  /** The lock's name. */
  readonly key: string
  /** Seconds to wait in the server's FIFO queue; 0 tries once. Default 10. */
  readonly acquireTimeoutS?: number | undefined
  /** Lease to request, whole seconds ≥ 1. Default: the server's `--default-lease-ttl`. */
  readonly leaseTtlS?: number | undefined
  /** Servers; keys are sharded across them. Default `[["127.0.0.1", 6388]]`. */
  readonly servers?: ReadonlyArray<ServerAddress> | undefined
  /** Key → server index. Default {@link stableHashShard}, as in the other dflockd clients. */
  readonly shardingStrategy?: ShardingStrategy | undefined
  /** Renew when this fraction of the lease has passed, in (0, 1). Default 0.5. */
  readonly renewRatio?: number | undefined
  /**
   * Called once when a held lease is lost (renewal refused, connection gone, or
   * the lease deadline passed without a confirmed renewal). By then `token` is
   * `undefined` and the connection is being closed. Errors it throws (or rejects
   * with) are logged, never rethrown.
   */
  readonly onLockLost?: ((key: string, token: string) => void | Promise<void>) | undefined
}

/**
 * Options of {@link DistributedSemaphore}: those of a lock plus `limit`.
 *
 * **Example** (Five slots)
 *
 * ```ts
 * import type { DistributedSemaphoreOptions } from "effect-dflockd/promise"
 *
 * const options: DistributedSemaphoreOptions = { key: "worker-pool", limit: 5, acquireTimeoutS: 30 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DistributedSemaphoreOptions extends DistributedLockOptions {
  /** Most concurrent holders. The first holder of a key fixes it; a different one is refused. */
  readonly limit: number
}

/**
 * Options of {@link stats}.
 *
 * **Example** (A TLS server with auth)
 *
 * ```ts
 * import type { StatsOptions } from "effect-dflockd/promise"
 *
 * const options: StatsOptions = { host: "10.0.0.1", port: 6388, tls: {}, auth: "my-secret-token" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatsOptions extends ConnectionOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Default 6388. */
  readonly port?: number | undefined
}

/**
 * One server's statistics, as the `stats` command reports them.
 *
 * **Example** (Counting waiters)
 *
 * ```ts
 * import type { Stats } from "effect-dflockd/promise"
 *
 * const waiters = (s: Stats) => s.locks.reduce((n, lock) => n + lock.waiters, 0)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Stats = StatsSchema.Stats

const DEFAULT_SERVERS: ReadonlyArray<ServerAddress> = [["127.0.0.1", 6388]]

const clientOptions = (
  servers: ReadonlyArray<ServerAddress>,
  options: ConnectionOptions & {
    readonly shardingStrategy?: ShardingStrategy | undefined
    readonly renewRatio?: number | undefined
  }
): DflockdClient.ClientOptions => ({
  servers,
  // One connection per acquisition, closed on release, as in the other dflockd clients: an idle
  // pool (and its sweeper) would outlive `release()` and keep the process from exiting.
  pool: false,
  sharding: options.shardingStrategy,
  tls: options.tls,
  auth: options.auth === undefined ? undefined : Redacted.make(options.auth),
  renewRatio: options.renewRatio,
  connectTimeout: options.connectTimeoutMs === undefined ? undefined : Duration.millis(options.connectTimeoutMs),
  requestTimeout: options.socketTimeoutMs === undefined ? undefined : Duration.millis(options.socketTimeoutMs)
})

const validSeconds = (argument: string, seconds: number): number => {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    throw new LockError(`invalid ${argument}: must be a non-negative number of seconds, got ${String(seconds)}`)
  }
  return seconds
}

// ---------------------------------------------------------------------------
// the instance's Effect-world state
// ---------------------------------------------------------------------------

type Lease = Lock.Lock | Semaphore.Permit
type Ticket = Lock.Ticket | Semaphore.Ticket

/** The core operations of one kind (lock or semaphore) on one key. */
interface Operations {
  readonly acquire: Effect.Effect<Lease, Lock.AcquireError, Scope.Scope | DflockdClient.DflockdClient>
  readonly enqueue: Effect.Effect<Ticket, Lock.AcquireError, Scope.Scope | DflockdClient.DflockdClient>
}

/** A held lease and the scope that owns it (connection, renewal, watchdog, lost-watcher). */
interface Holding {
  readonly scope: Scope.Closeable
  readonly lease: Lease
  /** Aborted, with a `LockError` whose cause is the `LockLostError`, once the lease is lost. */
  readonly lost: AbortController
}

type State =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Queued"; readonly scope: Scope.Closeable; readonly ticket: Ticket }
  | { readonly _tag: "Held"; readonly holding: Holding }
  | { readonly _tag: "Closed" }

const idle: State = { _tag: "Idle" }
const closed: State = { _tag: "Closed" }

interface Instance {
  readonly key: string
  readonly what: "lock" | "semaphore"
  readonly acquireTimeoutS: number
  readonly operations: Operations
  readonly onLockLost: ((key: string, token: string) => void | Promise<void>) | undefined
  readonly runtime: ManagedRuntime.ManagedRuntime<DflockdClient.DflockdClient, never>
  readonly state: Ref.Ref<State>
  /** State transitions (acquire, enqueue, wait, release) run one at a time. */
  readonly transitions: EffectSemaphore.Semaphore
}

const closedMessage = (instance: Instance) => `the ${instance.what} on "${instance.key}" is closed`
const closedError = (instance: Instance) => new UsageError({ message: closedMessage(instance) })

const closeOnFailure = (scope: Scope.Closeable) => <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void

/**
 * Leaves what the instance holds or waits for (only `expected`, when given):
 * closing the scope releases (`r`) and closes the connection. True if something was left.
 */
const leave = (instance: Instance, expected?: Holding): Effect.Effect<boolean> =>
  Effect.flatMap(
    Ref.modify(instance.state, (state): readonly [Scope.Closeable | undefined, State] => {
      if (state._tag === "Held" && (expected === undefined || state.holding === expected)) {
        return [state.holding.scope, idle]
      }
      if (state._tag === "Queued" && expected === undefined) return [state.scope, idle]
      return [undefined, state]
    }),
    (scope) => scope === undefined ? Effect.succeed(false) : Effect.as(Scope.close(scope, Exit.void), true)
  )

/** Checks the instance may start an acquisition, leaving the current one if forced; returns its scope. */
const begin = (instance: Instance, force: boolean): Effect.Effect<Scope.Closeable, UsageError> =>
  Effect.gen(function*() {
    const state = yield* Ref.get(instance.state)
    if (state._tag === "Closed") return yield* Effect.fail(closedError(instance))
    if (state._tag !== "Idle") {
      if (!force) {
        const doing = state._tag === "Held" ? "holds" : "is queued for"
        return yield* new UsageError({
          message:
            `this ${instance.what} already ${doing} "${instance.key}": call release() first, or pass { force: true }`
        })
      }
      yield* leave(instance)
    }
    return yield* Scope.make()
  })

/** Installs a new state unless the instance was closed meanwhile (then the scope is closed). */
const install = (instance: Instance, scope: Scope.Closeable, next: State): Effect.Effect<void, UsageError> =>
  Effect.flatMap(
    Ref.modify(instance.state, (state) => state._tag === "Closed" ? [false, state] : [true, next]),
    (installed) =>
      installed ? Effect.void : Effect.andThen(Scope.close(scope, Exit.void), Effect.fail(closedError(instance)))
  )

const logged = (what: string) => <A, R>(effect: Effect.Effect<A, CallbackError, R>) =>
  Effect.catchCause(Effect.asVoid(effect), (cause) => Effect.logError(`dflockd: onLockLost ${what}`, cause))

/**
 * Runs when the lease is lost, on a detached fiber (it closes the scope the
 * watcher lives in): signals `withLock`, forgets the holding, calls
 * `onLockLost`, and closes the scope (the core skips `r` for a lost lease).
 */
const onLost = (instance: Instance, holding: Holding, error: LockLostError): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Effect.sync(() => holding.lost.abort(new LockError(error.message, { cause: error })))
    yield* Ref.update(instance.state, (state) => state._tag === "Held" && state.holding === holding ? idle : state)
    const callback = instance.onLockLost
    let returned: unknown = undefined
    if (callback !== undefined) {
      yield* Effect.try({
        try: () => callback(holding.lease.key, holding.lease.token),
        catch: (cause) => new CallbackError({ cause })
      }).pipe(
        Effect.tap((value) => Effect.sync(() => returned = value)),
        logged("threw")
      )
    }
    yield* Scope.close(holding.scope, Exit.void)
    if (Predicate.isPromiseLike(returned)) {
      const pending = returned
      yield* Effect.tryPromise({
        try: () => Promise.resolve(pending),
        catch: (cause) => new CallbackError({ cause })
      }).pipe(
        logged("rejected")
      )
    }
  })

/** Turns a granted lease into the instance's holding, watched for loss. */
const hold = (instance: Instance, scope: Scope.Closeable, lease: Lease): Effect.Effect<Holding, UsageError> =>
  Effect.gen(function*() {
    const holding: Holding = { scope, lease, lost: yield* Effect.sync(() => new AbortController()) }
    yield* lease.lost.pipe(
      Effect.catch((error) => Effect.forkDetach(onLost(instance, holding, error))),
      Effect.forkIn(scope)
    )
    yield* install(instance, scope, { _tag: "Held", holding })
    return holding
  })

const acquireHolding = (
  instance: Instance,
  force: boolean
): Effect.Effect<Holding, Failure, DflockdClient.DflockdClient> =>
  instance.transitions.withPermit(
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const scope = yield* begin(instance, force)
        const lease = yield* restore(instance.operations.acquire).pipe(
          Scope.provide(scope),
          Effect.onExit(closeOnFailure(scope))
        )
        return yield* hold(instance, scope, lease)
      })
    )
  )

const enqueueTicket = (
  instance: Instance,
  force: boolean
): Effect.Effect<"acquired" | "queued", Failure, DflockdClient.DflockdClient> =>
  instance.transitions.withPermit(
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const scope = yield* begin(instance, force)
        const ticket = yield* restore(instance.operations.enqueue).pipe(
          Scope.provide(scope),
          Effect.onExit(closeOnFailure(scope))
        )
        if (ticket.status === "queued") {
          yield* install(instance, scope, { _tag: "Queued", scope, ticket })
          return "queued" as const
        }
        // Granted at once: the core already holds and renews the lease; `wait` returns it without a round trip.
        const lease = yield* restore(ticket.wait(0)).pipe(Effect.onExit(closeOnFailure(scope)))
        yield* hold(instance, scope, lease)
        return "acquired" as const
      })
    )
  )

const waitTicket = (
  instance: Instance,
  timeoutS: number
): Effect.Effect<boolean, Failure, DflockdClient.DflockdClient> =>
  instance.transitions.withPermit(
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const state = yield* Ref.get(instance.state)
        switch (state._tag) {
          case "Closed":
            return yield* Effect.fail(closedError(instance))
          case "Held":
            return true
          case "Idle":
            return yield* new UsageError({ message: `not enqueued for "${instance.key}": call enqueue() first` })
          case "Queued":
            break
        }
        const exit = yield* Effect.exit(restore(state.ticket.wait(Duration.seconds(timeoutS))))
        if (Exit.isSuccess(exit)) {
          yield* hold(instance, state.scope, exit.value)
          return true
        }
        // the server dropped the waiter (timeout) or the connection failed: the ticket is spent
        yield* leave(instance)
        const error = Cause.findErrorOption(exit.cause)
        if (Option.isSome(error) && error.value._tag === "AcquireTimeoutError") return false
        return yield* Effect.failCause(exit.cause)
      })
    )
  )

const run = async <A>(
  instance: Instance,
  effect: Effect.Effect<A, Failure, DflockdClient.DflockdClient>
): Promise<A> => {
  if (Ref.getUnsafe(instance.state)._tag === "Closed") throw new LockError(closedMessage(instance))
  const exit = await instance.runtime.runPromiseExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw fromCause(exit.cause)
}

const makeInstance = (
  kind: "lock" | "semaphore",
  options: DistributedSemaphoreOptions | DistributedLockOptions
): Instance => {
  if (options === null || typeof options !== "object") throw new LockError("options with a `key` are required")
  const key = orThrow(Codec.validateKey(options.key))
  const limit = kind === "semaphore" ? orThrow(Codec.validateLimit("limit" in options ? options.limit : Number.NaN)) : 0
  const acquireTimeoutS = validSeconds("acquireTimeoutS", options.acquireTimeoutS ?? 10)
  const acquireTimeout = Duration.seconds(acquireTimeoutS)
  const leaseTtl = options.leaseTtlS === undefined
    ? undefined
    : Duration.seconds(orThrow(Codec.validateLease(Duration.seconds(options.leaseTtlS))))
  const client = clientOptions(options.servers ?? DEFAULT_SERVERS, options)
  orThrow(DflockdClient.resolveOptions(client))
  const operations: Operations = kind === "lock"
    ? { acquire: Lock.acquire(key, { acquireTimeout, leaseTtl }), enqueue: Lock.enqueue(key, { leaseTtl }) }
    : {
      acquire: Semaphore.acquire(key, { limit, acquireTimeout, leaseTtl }),
      enqueue: Semaphore.enqueue(key, { limit, leaseTtl })
    }
  return {
    key,
    what: kind,
    acquireTimeoutS,
    operations,
    onLockLost: options.onLockLost,
    runtime: ManagedRuntime.make(DflockdClient.layer(client)),
    state: Ref.makeUnsafe<State>(idle),
    transitions: EffectSemaphore.makeUnsafe(1)
  }
}

// ---------------------------------------------------------------------------
// public classes
// ---------------------------------------------------------------------------

/**
 * What {@link DistributedLock} and {@link DistributedSemaphore} share: acquire,
 * release, two-phase `enqueue`/`wait`, `withLock`, `close`, and the `key`,
 * `token` and `lease` of the current hold. Not constructed directly.
 *
 * **Example** (Code that accepts either)
 *
 * ```ts
 * import type { DistributedPrimitive } from "effect-dflockd/promise"
 *
 * const exclusively = (primitive: DistributedPrimitive, job: () => Promise<void>) => primitive.withLock(job)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class DistributedPrimitive {
  readonly #instance: Instance

  /**
   * Checks the options (throws `LockError` on invalid ones) without connecting.
   *
   * @since 0.1.0
   */
  protected constructor(kind: "lock" | "semaphore", options: DistributedLockOptions | DistributedSemaphoreOptions) {
    this.#instance = makeInstance(kind, options)
  }

  /**
   * The key this instance locks.
   *
   * @since 0.1.0
   */
  get key(): string {
    return this.#instance.key
  }

  /**
   * The server's token of the current hold (32 hex digits), or `undefined` when
   * nothing is held (also after the lease was lost).
   *
   * @since 0.1.0
   */
  get token(): string | undefined {
    const state = Ref.getUnsafe(this.#instance.state)
    return state._tag === "Held" ? state.holding.lease.token : undefined
  }

  /**
   * The lease the server granted, in seconds; 0 when nothing is held.
   *
   * @since 0.1.0
   */
  get lease(): number {
    const state = Ref.getUnsafe(this.#instance.state)
    return state._tag === "Held" ? Duration.toSeconds(state.holding.lease.leaseTtl) : 0
  }

  /**
   * Acquires, waiting in the server's FIFO queue up to `acquireTimeoutS`. Resolves
   * `true` once held (the lease then renews in the background until `release()`),
   * `false` on timeout. Rejects with `LockError` if this instance already holds
   * or is queued, unless `{ force: true }` (which first releases that).
   *
   * **Example** (Manual acquire and release)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key", acquireTimeoutS: 10, leaseTtlS: 20 })
   * if (await lock.acquire()) {
   *   try {
   *     // critical section
   *   } finally {
   *     await lock.release()
   *   }
   * }
   * ```
   *
   * @since 0.1.0
   */
  acquire(options?: { readonly force?: boolean | undefined }): Promise<boolean> {
    const instance = this.#instance
    return run(
      instance,
      acquireHolding(instance, options?.force === true).pipe(
        Effect.as(true),
        Effect.catchTag("AcquireTimeoutError", () => Effect.succeed(false))
      )
    )
  }

  /**
   * Releases what this instance holds (or leaves the queue after `enqueue`) and
   * closes its connection. Resolves `true` if there was something to release.
   * Never rejects: a failed `r` is logged, and the server frees the lock when the
   * connection closes.
   *
   * **Example** (Releasing in `finally`)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * await lock.acquire()
   * try {
   *   // ...
   * } finally {
   *   await lock.release()
   * }
   * ```
   *
   * @since 0.1.0
   */
  async release(): Promise<boolean> {
    const instance = this.#instance
    if (Ref.getUnsafe(instance.state)._tag === "Closed") return false
    return run(instance, instance.transitions.withPermit(leave(instance))).catch(() => false)
  }

  /**
   * Two-phase acquisition, step one: joins the key's FIFO queue and resolves at
   * once with `"acquired"` (the key was free: held now, renewing) or `"queued"`.
   * Do something in between, then `wait()`.
   *
   * **Example** (Enqueue, notify, wait)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key", leaseTtlS: 20 })
   * const status = await lock.enqueue()
   * console.log(`in line: ${status}`)
   * if (await lock.wait(10)) {
   *   await lock.release()
   * }
   * ```
   *
   * @since 0.1.0
   */
  enqueue(options?: { readonly force?: boolean | undefined }): Promise<"acquired" | "queued"> {
    const instance = this.#instance
    return run(instance, enqueueTicket(instance, options?.force === true))
  }

  /**
   * Two-phase acquisition, step two: waits up to `timeoutS` (default
   * `acquireTimeoutS`) for the grant. Resolves `true` once held (at once if
   * `enqueue()` said `"acquired"`), `false` on timeout (the place in the queue is
   * then given up). Rejects with `LockError` without a prior `enqueue()`.
   *
   * **Example** (Bounded wait)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * await lock.enqueue()
   * const granted = await lock.wait(10)
   * ```
   *
   * @since 0.1.0
   */
  async wait(timeoutS?: number): Promise<boolean> {
    const instance = this.#instance
    const seconds = validSeconds("timeoutS", timeoutS ?? instance.acquireTimeoutS)
    return run(instance, waitTicket(instance, seconds))
  }

  /**
   * Acquires, runs `fn`, and releases, also when `fn` throws (its error is
   * rethrown as is). Rejects with {@link AcquireTimeoutError} when the key cannot
   * be acquired within `acquireTimeoutS`. `fn` gets an `AbortSignal` that aborts
   * if the lease is lost meanwhile; if it was, `withLock` rejects with a
   * `LockError` (cause: `LockLostError`) even though `fn` finished, because its
   * work was not protected to the end.
   *
   * **Example** (A critical section)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * const total = await lock.withLock(async (signal) => {
   *   // pass `signal` to fetch() & co. to stop when the lease is lost
   *   return 42
   * })
   * ```
   *
   * @since 0.1.0
   */
  async withLock<T>(fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
    const instance = this.#instance
    const holding = await run(instance, acquireHolding(instance, false))
    let result: T
    try {
      result = await fn(holding.lost.signal)
    } finally {
      if (Ref.getUnsafe(instance.state)._tag !== "Closed") {
        await run(instance, instance.transitions.withPermit(leave(instance, holding))).catch(() => false)
      }
    }
    if (holding.lost.signal.aborted) throw holding.lost.signal.reason
    return result
  }

  /**
   * Ends the instance: interrupts a pending `acquire`/`enqueue`/`wait` (which
   * then reject with `LockError`), releases what is held, and disposes the
   * instance's runtime. Later calls reject with `LockError`. Idempotent; never
   * rejects.
   *
   * **Example** (Shutting down)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * process.once("SIGTERM", () => void lock.close())
   * ```
   *
   * @since 0.1.0
   */
  async close(): Promise<void> {
    const instance = this.#instance
    const previous = Effect.runSync(Ref.getAndSet(instance.state, closed))
    if (previous._tag === "Closed") return
    await instance.runtime.dispose()
    const scope = previous._tag === "Held"
      ? previous.holding.scope
      : previous._tag === "Queued"
      ? previous.scope
      : undefined
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/**
 * A distributed lock on one key, with the API of the other dflockd clients.
 * One instance holds the lock at most once at a time; create one instance per
 * concurrent worker.
 *
 * **Example** (Acquire, look, release)
 *
 * ```ts
 * import { DistributedLock } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "my-key", acquireTimeoutS: 10, leaseTtlS: 20 })
 * await lock.acquire()
 * console.log(`acquired key=${lock.key} token=${lock.token} lease=${lock.lease}`)
 * await lock.release()
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export class DistributedLock extends DistributedPrimitive {
  /**
   * Checks the options (throws `LockError` on invalid ones) without connecting.
   *
   * @since 0.1.0
   */
  constructor(options: DistributedLockOptions) {
    super("lock", options)
  }
}

/**
 * A distributed counting semaphore: up to `limit` concurrent holders of one
 * key, granted in FIFO order. Needs dflockd 1.2 or newer (`sl`/`sr`/`sn`/`se`/`sw`);
 * older servers refuse the commands and the calls reject with `LockError`.
 *
 * **Example** (Up to five concurrent holders)
 *
 * ```ts
 * import { DistributedSemaphore } from "effect-dflockd/promise"
 *
 * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 5 })
 * await sem.withLock(async () => {
 *   // at most 5 of these run at once, cluster-wide
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export class DistributedSemaphore extends DistributedPrimitive {
  /**
   * Most concurrent holders of the key.
   *
   * @since 0.1.0
   */
  readonly limit: number

  /**
   * Checks the options (throws `LockError` on invalid ones) without connecting.
   *
   * @since 0.1.0
   */
  constructor(options: DistributedSemaphoreOptions) {
    super("semaphore", options)
    this.limit = options.limit
  }
}

// ---------------------------------------------------------------------------
// functions
// ---------------------------------------------------------------------------

/**
 * The official clients' key routing: CRC-32 of the key's UTF-8 bytes modulo the
 * number of servers. Throws `LockError` unless `numServers` is a positive integer.
 *
 * **Example** (Which of three servers owns a key)
 *
 * ```ts
 * import { stableHashShard } from "effect-dflockd/promise"
 *
 * stableHashShard("my-key", 3) // 2
 * ```
 *
 * @since 0.1.0
 * @category sharding
 */
export const stableHashShard = (key: string, numServers: number): number =>
  orThrow(Sharding.pick(Sharding.stableHashShard, key, numServers))

/**
 * Statistics of one server (default `127.0.0.1:6388`): connections, held locks,
 * semaphores, idle keys. Needs dflockd 1.4 or newer; older servers refuse the
 * command and this rejects with `LockError`.
 *
 * **Example** (Printing held locks)
 *
 * ```ts
 * import { stats } from "effect-dflockd/promise"
 *
 * const s = await stats({ host: "127.0.0.1", port: 6388 })
 * for (const lock of s.locks) console.log(`${lock.key} waiters=${lock.waiters}`)
 * ```
 *
 * @since 0.1.0
 * @category stats
 */
export const stats = async (options: StatsOptions = {}): Promise<Stats> => {
  const client = clientOptions([[options.host ?? "127.0.0.1", options.port ?? 6388]], options)
  orThrow(DflockdClient.resolveOptions(client))
  const exit = await Effect.runPromiseExit(
    DflockdClient.stats().pipe(Effect.provide(DflockdClient.layer(client)))
  )
  if (Exit.isFailure(exit)) throw fromCause(exit.cause)
  const first = exit.value[0]
  if (first === undefined) throw new LockError("the server sent no stats")
  return first.stats
}
