/**
 * Distributed mutual exclusion on a key, as scoped resources.
 *
 * A lock is held from the moment `acquire` succeeds until its scope closes. While
 * held, a fiber in the same scope renews the lease; if the lease is lost, `lost`
 * fails and `withLock` interrupts its region.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import type * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Scope from "effect/Scope"
import type { DflockdClient } from "./DflockdClient.ts"
import type { InvalidArgumentError, LockLostError } from "./Errors.ts"
import * as Lease from "./internal/lease/lease.ts"
import * as TwoPhase from "./internal/lease/twoPhase.ts"
import * as LeaseTypes from "./Lease.ts"

/**
 * A held lock: `key`, `token`, `fence`, `leaseTtl`, `server`, and `lost`; its
 * `kind` is `"lock"`, which keeps it apart from a `Semaphore.Permit`.
 *
 * **Example** (Passing the fence to the protected resource)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const saveReport = (lock: Lock.Lock, report: string) =>
 *   Effect.log(`saving ${report.length} bytes with fence ${lock.fence} (${lock.key} on ${lock.server})`)
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.acquire("reports")
 *   yield* saveReport(lock, "monthly totals")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Lock extends LeaseTypes.Lease<"lock"> {}

/**
 * Options of {@link acquire}: `acquireTimeout` (exact to the millisecond, default 10 s, 0 tries once;
 * the server is asked for the whole seconds above a sub-second part, the client gives up at the instant),
 * `leaseTtl` (whole seconds; default the server's), `renewRatio`, `heartbeatInterval`.
 *
 * **Example** (Options for a long job)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const longJob: Lock.AcquireOptions = { acquireTimeout: "1 minute", leaseTtl: "60 seconds", renewRatio: 0.3 }
 * const program = Effect.log("migrating").pipe(Lock.withLock("migrations", longJob))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AcquireOptions extends LeaseTypes.AcquireOptions {}

/**
 * The first step of a two-phase acquisition; `wait` is the second.
 *
 * **Example** (Logging a wait in line)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const awaitGrant = (ticket: Lock.Ticket) =>
 *   ticket.status === "acquired"
 *     ? ticket.wait()
 *     : Effect.log(`queued for ${ticket.key}`).pipe(Effect.andThen(ticket.wait("30 seconds")))
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Effect.flatMap(Lock.enqueue("orders"), awaitGrant)
 *   yield* Effect.log(`granted ${lock.token}`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Ticket extends LeaseTypes.Ticket<Lock> {}

/**
 * What acquiring can fail with.
 *
 * **Example** (One message per failure)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const describe = (error: Lock.AcquireError): string =>
 *   error._tag === "AcquireTimeoutError" ? `"${error.key}" is busy` : error.message
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.acquire("orders")
 *   yield* Effect.log(`holding ${lock.key}`)
 * }).pipe(Effect.scoped, Effect.mapError(describe))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AcquireError = LeaseTypes.AcquireError

/**
 * What {@link tryAcquire} can fail with: {@link AcquireError} without
 * `AcquireTimeoutError` (a busy key is `None`). `LockLostError` remains, in
 * theory: a grant that reaches the client later than its first renewal was due
 * (a blocked event loop) is confirmed by a renewal, which the server may refuse.
 *
 * **Example** (Every failure but a timeout)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const describe = (error: Lock.TryAcquireError): string => `${error._tag}: ${error.message}`
 * const program = Lock.tryAcquire("nightly-report").pipe(Effect.scoped, Effect.mapError(describe))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TryAcquireError = LeaseTypes.TryAcquireError

/**
 * What {@link enqueue} can fail with: it never waits, so no `AcquireTimeoutError`;
 * `LockLostError` as for {@link TryAcquireError} (a grant given at once is held at once).
 *
 * **Example** (Joining the queue, failures described)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const describe = (error: Lock.EnqueueError): string =>
 *   error._tag === "ServerError" && error.reason === "max_waiters" ? "queue full" : error.message
 * const program = Lock.enqueue("orders").pipe(Effect.scoped, Effect.mapError(describe))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type EnqueueError = LeaseTypes.EnqueueError

/**
 * What a ticket's `wait` can fail with: {@link AcquireError} without `AuthError`
 * (the ticket's connection is already open).
 *
 * **Example** (Waiting, a timeout turned into a message)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const awaitLock = (ticket: Lock.Ticket): Effect.Effect<Lock.Lock | string, Lock.WaitError> =>
 *   ticket.wait("5 seconds").pipe(Effect.catchTag("AcquireTimeoutError", () => Effect.succeed("still queued")))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type WaitError = LeaseTypes.WaitError

/**
 * Whether a value is a held lock (not a semaphore permit: see `Semaphore.isPermit`).
 *
 * **Example** (Narrowing an unknown value)
 *
 * ```ts
 * import { Lock } from "effect-dflockd"
 *
 * const describe = (u: unknown): string => Lock.isLock(u) ? `lock on ${u.key} (fence ${u.fence})` : "not a lock"
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isLock = (u: unknown): u is Lock =>
  Predicate.hasProperty(u, LeaseTypes.TypeId) && Predicate.hasProperty(u, "kind") && u.kind === "lock"

/**
 * Acquires a lock for the current scope, waiting in the server's FIFO queue up
 * to `acquireTimeout`. Released when the scope closes.
 *
 * **Example** (Holding a lock in a scope)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient, Lock } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.acquire("orders", { acquireTimeout: "10 seconds", leaseTtl: "20 seconds" })
 *   yield* Effect.log(`holding ${lock.key} with fence ${lock.fence}`)
 * }).pipe(Effect.scoped, Effect.provide(DflockdClient.layer({ servers: ["127.0.0.1:6388"] })))
 * ```
 *
 * @since 0.1.0
 * @category acquiring
 */
export const acquire: (
  key: string,
  options?: AcquireOptions
) => Effect.Effect<Lock, AcquireError, Scope.Scope | DflockdClient> = (key: string, options?: AcquireOptions) =>
  Lease.acquire({ kind: "lock", key }, options).pipe(Lease.traced("dflockd.Lock.acquire", key))

/**
 * Acquires the lock only if it is free now; `None` if someone holds it.
 *
 * **Example** (Skipping work another process is doing)
 *
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.tryAcquire("nightly-report")
 *   if (Option.isNone(lock)) return "someone else is on it"
 *   return "generated"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category acquiring
 */
export const tryAcquire: (
  key: string,
  options?: Omit<AcquireOptions, "acquireTimeout">
) => Effect.Effect<Option.Option<Lock>, TryAcquireError, Scope.Scope | DflockdClient> = (
  key: string,
  options?: Omit<AcquireOptions, "acquireTimeout">
) => Lease.tryAcquire({ kind: "lock", key }, options).pipe(Lease.traced("dflockd.Lock.tryAcquire", key))

/**
 * Two-phase acquisition, step one: joins the key's FIFO queue and returns at once
 * with a ticket whose `status` is `acquired` or `queued`. Do something in between
 * (for example tell another service you are in line), then `ticket.wait(timeout)`.
 *
 * **Example** (Enqueue, notify, then wait)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const ticket = yield* Lock.enqueue("orders", { leaseTtl: "20 seconds" })
 *   yield* Effect.log(`in line: ${ticket.status}`)
 *   const lock = yield* ticket.wait("10 seconds")
 *   yield* Effect.log(`granted ${lock.token}`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category acquiring
 */
export const enqueue: (
  key: string,
  options?: Omit<AcquireOptions, "acquireTimeout">
) => Effect.Effect<Ticket, EnqueueError, Scope.Scope | DflockdClient> = (
  key: string,
  options?: Omit<AcquireOptions, "acquireTimeout">
) => TwoPhase.enqueue({ kind: "lock", key }, options).pipe(Lease.traced("dflockd.Lock.enqueue", key))

/**
 * Runs an effect while holding the lock: acquire, run, release. If the lease is
 * lost meanwhile, the effect is interrupted and this fails with `LockLostError`.
 *
 * **Example** (A critical region, data-last and data-first)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const doWork = Effect.log("only one process runs this at a time")
 * const a = doWork.pipe(Lock.withLock("orders", { acquireTimeout: "10 seconds" }))
 * const b = Lock.withLock(doWork, "orders")
 * ```
 *
 * @since 0.1.0
 * @category regions
 */
export const withLock: {
  (
    key: string,
    options?: AcquireOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options?: AcquireOptions
  ): Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, key: string, options?: AcquireOptions) =>
    Lease.withLease(self, { kind: "lock", key }, options, "dflockd.Lock.withLock")
)

/**
 * Acquires every lock of `keys` or none, for the current scope. The keys are
 * taken in one global order (sorted, whatever their shards), so two processes
 * locking the same keys in different orders never deadlock; `acquireTimeout`
 * bounds the whole acquisition. If one key cannot be had, those already held
 * are released at once. The locks come back in the order of `keys` and are
 * released together when the scope closes. Empty or repeated keys are an
 * `InvalidArgumentError`, before any I/O.
 *
 * **Example** (A transfer between two accounts)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const transfer = (from: string, to: string, amount: number) =>
 *   Effect.gen(function*() {
 *     const locks = yield* Lock.acquireAll([`account-${from}`, `account-${to}`])
 *     yield* Effect.log(`moving ${amount} under fences ${locks.map((lock) => lock.fence).join(" and ")}`)
 *   }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category acquiring
 */
export const acquireAll: (
  keys: ReadonlyArray<string>,
  options?: AcquireOptions
) => Effect.Effect<ReadonlyArray<Lock>, AcquireError, Scope.Scope | DflockdClient> = (
  keys: ReadonlyArray<string>,
  options?: AcquireOptions
) => Lease.acquireAll(keys, options).pipe(Lease.traced("dflockd.Lock.acquireAll", keys.join(",")))

/**
 * Runs an effect while holding every lock of `keys` ({@link acquireAll}): all
 * or none, in one global order, released together. The loss of any one lease
 * interrupts the effect, which then fails with `LockLostError`.
 *
 * **Example** (Both accounts or neither, data-last and data-first)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const move = Effect.log("debit one account, credit the other")
 * const a = move.pipe(Lock.withLocks(["account-7", "account-3"], { acquireTimeout: "5 seconds" }))
 * const b = Lock.withLocks(move, ["account-3", "account-7"])
 * ```
 *
 * @since 0.1.0
 * @category regions
 */
export const withLocks: {
  (
    keys: ReadonlyArray<string>,
    options?: AcquireOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    keys: ReadonlyArray<string>,
    options?: AcquireOptions
  ): Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, keys: ReadonlyArray<string>, options?: AcquireOptions) =>
    Lease.withLeases(self, keys, options).pipe(Lease.traced("dflockd.Lock.withLocks", keys.join(",")))
)

/**
 * Renews a held lock now with a new lease (whole seconds ≥ 1), counted from
 * this renewal; later renewals keep it. For a region that learns it needs
 * longer (or less) than it asked for. A refused or failed renewal loses the
 * lock: `lost` fails, a `withLock` region is interrupted, and this fails with
 * `LockLostError`; so does extending a lock already lost or released.
 *
 * **Example** (Asking for more time mid-region)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.acquire("migration", { leaseTtl: "30 seconds" })
 *   yield* Lock.extend(lock, "5 minutes")
 *   yield* Effect.log(`${lock.key} held for a while longer`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category leases
 */
export const extend: {
  (leaseTtl: Duration.Input): (self: Lock) => Effect.Effect<void, InvalidArgumentError | LockLostError>
  (self: Lock, leaseTtl: Duration.Input): Effect.Effect<void, InvalidArgumentError | LockLostError>
} = dual(2, (self: Lock, leaseTtl: Duration.Input) => Lease.extend(self, leaseTtl))

/**
 * How long the lock is still held as the client sees it: the time until its
 * deadline (the send of the last confirmed renewal plus the lease, or the
 * server's read timeout if shorter, less the safety margin), when `lost` would
 * fail unless a renewal comes first. Zero once the lock is lost or released.
 *
 * **Example** (Deciding whether to start one more step)
 *
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const step = (lock: Lock.Lock) =>
 *   Effect.gen(function*() {
 *     const left = yield* Lock.remaining(lock)
 *     yield* Effect.log(`${Duration.format(left)} left on ${lock.key}`)
 *   })
 * ```
 *
 * @since 0.1.0
 * @category leases
 */
export const remaining = (self: Lock): Effect.Effect<Duration.Duration> => Lease.remaining(self)

/**
 * Releases a held lock now, before its scope closes (the scope's finalizer then
 * does nothing). Renewals stop; a lock already lost is not released (the
 * server may have granted it to someone else). Releasing twice does nothing.
 *
 * **Example** (Letting go early, then finishing without the lock)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const lock = yield* Lock.acquire("orders")
 *   yield* Effect.log("the part that needs the lock")
 *   yield* Lock.release(lock)
 *   yield* Effect.log("the part that does not")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category leases
 */
export const release = (self: Lock): Effect.Effect<void> => Lease.release(self)
