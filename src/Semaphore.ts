/**
 * Distributed counting semaphores: up to `limit` concurrent holders per key,
 * granted in FIFO order. Permits are scoped resources, like locks. Needs dflockd
 * 1.2 or newer (`sl`/`sr`/`sn`/`se`/`sw`).
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
 * A held permit: the same fields as a lock, with `kind: "semaphore"`, so a
 * permit and a `Lock.Lock` are not assignable to each other.
 *
 * **Example** (Logging which permit a job holds)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const logPermit = (permit: Semaphore.Permit) => Effect.log(`permit on ${permit.key} from ${permit.server}`)
 *
 * const program = Semaphore.acquire("encoders", { limit: 4 }).pipe(Effect.flatMap(logPermit), Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Permit extends LeaseTypes.Lease<"semaphore"> {}

/**
 * Options of {@link acquire}: `limit` (required; the first holder of a key fixes
 * it, a different one fails with `ServerError` reason `limit_mismatch`) and the
 * lock options.
 *
 * **Example** (Ten slots of a partner API)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const apiSlots: Semaphore.SemaphoreOptions = { limit: 10, acquireTimeout: "5 seconds" }
 * const callApi = Effect.log("calling the partner API").pipe(Semaphore.withPermit("partner-api", apiSlots))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface SemaphoreOptions extends LeaseTypes.AcquireOptions {
  readonly limit: number
}

/**
 * The first step of a two-phase acquisition.
 *
 * **Example** (Telling the user they are in line)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const awaitGrant = (ticket: Semaphore.Ticket) =>
 *   Effect.gen(function*() {
 *     if (ticket.status === "queued") yield* Effect.log(`every ${ticket.key} permit is taken; waiting`)
 *     return yield* ticket.wait("30 seconds")
 *   })
 *
 * const program = Semaphore.enqueue("encoders", { limit: 4 }).pipe(Effect.flatMap(awaitGrant), Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Ticket extends LeaseTypes.Ticket<Permit> {}

/**
 * What {@link acquire} and {@link withPermit} can fail with (the same as `Lock.AcquireError`).
 *
 * **Example** (One message per failure)
 *
 * ```ts
 * import { Semaphore } from "effect-dflockd"
 *
 * const describe = (error: Semaphore.AcquireError): string =>
 *   error._tag === "ServerError" && error.reason === "limit_mismatch" ? "another limit is in use" : error.message
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AcquireError = LeaseTypes.AcquireError

/**
 * What {@link tryAcquire} can fail with: no `AcquireTimeoutError` (see `Lock.TryAcquireError`).
 *
 * **Example** (Every failure but a full semaphore)
 *
 * ```ts
 * import { Semaphore } from "effect-dflockd"
 *
 * const describe = (error: Semaphore.TryAcquireError): string => `${error._tag}: ${error.message}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TryAcquireError = LeaseTypes.TryAcquireError

/**
 * What {@link enqueue} can fail with: no `AcquireTimeoutError` (see `Lock.EnqueueError`).
 *
 * **Example** (A full queue)
 *
 * ```ts
 * import { Semaphore } from "effect-dflockd"
 *
 * const queueFull = (error: Semaphore.EnqueueError): boolean =>
 *   error._tag === "ServerError" && error.reason === "max_waiters"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type EnqueueError = LeaseTypes.EnqueueError

/**
 * What a ticket's `wait` can fail with: no `AuthError` (see `Lock.WaitError`).
 *
 * **Example** (A timeout while waiting)
 *
 * ```ts
 * import { Semaphore } from "effect-dflockd"
 *
 * const timedOut = (error: Semaphore.WaitError): boolean => error._tag === "AcquireTimeoutError"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type WaitError = LeaseTypes.WaitError

/**
 * Whether a value is a held semaphore permit (not a lock: see `Lock.isLock`).
 *
 * **Example** (Narrowing an unknown value)
 *
 * ```ts
 * import { Semaphore } from "effect-dflockd"
 *
 * const describe = (u: unknown): string => Semaphore.isPermit(u) ? `permit on ${u.key}` : "not a permit"
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isPermit = (u: unknown): u is Permit =>
  Predicate.hasProperty(u, LeaseTypes.TypeId) && Predicate.hasProperty(u, "kind") && u.kind === "semaphore"

/**
 * Acquires a permit for the current scope.
 *
 * **Example** (At most five concurrent holders)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const permit = yield* Semaphore.acquire("pool", { limit: 5, acquireTimeout: "30 seconds" })
 *   yield* Effect.log(`permit ${permit.token}`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category acquiring
 */
export const acquire: (
  key: string,
  options: SemaphoreOptions
) => Effect.Effect<Permit, AcquireError, Scope.Scope | DflockdClient> = (
  key: string,
  options: SemaphoreOptions
) =>
  Lease.acquire({ kind: "semaphore", key, limit: options.limit }, options).pipe(
    Lease.traced("dflockd.Semaphore.acquire", key)
  )

/**
 * Acquires a permit only if one is free now.
 *
 * **Example** (Shedding load when the pool is full)
 *
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const permit = yield* Semaphore.tryAcquire("pool", { limit: 5 })
 *   return Option.isSome(permit) ? "served" : "busy, try later"
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category acquiring
 */
export const tryAcquire: (
  key: string,
  options: Omit<SemaphoreOptions, "acquireTimeout">
) => Effect.Effect<Option.Option<Permit>, TryAcquireError, Scope.Scope | DflockdClient> = (
  key: string,
  options: Omit<SemaphoreOptions, "acquireTimeout">
) =>
  Lease.tryAcquire({ kind: "semaphore", key, limit: options.limit }, options).pipe(
    Lease.traced("dflockd.Semaphore.tryAcquire", key)
  )

/**
 * Two-phase acquisition of a permit, step one.
 *
 * **Example** (Enqueue, then wait)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const ticket = yield* Semaphore.enqueue("pool", { limit: 5 })
 *   const permit = yield* ticket.wait("10 seconds")
 *   return permit.token
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category acquiring
 */
export const enqueue: (
  key: string,
  options: Omit<SemaphoreOptions, "acquireTimeout">
) => Effect.Effect<Ticket, EnqueueError, Scope.Scope | DflockdClient> = (
  key: string,
  options: Omit<SemaphoreOptions, "acquireTimeout">
) =>
  TwoPhase.enqueue({ kind: "semaphore", key, limit: options.limit }, options).pipe(
    Lease.traced("dflockd.Semaphore.enqueue", key)
  )

/**
 * Runs an effect while holding a permit; interrupted with `LockLostError` if the
 * lease is lost.
 *
 * **Example** (Bounded concurrency across processes)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const callApi = Effect.log("at most 5 of these run at once, cluster-wide")
 * const program = callApi.pipe(Semaphore.withPermit("api", { limit: 5 }))
 * ```
 *
 * @since 0.1.0
 * @category regions
 */
export const withPermit: {
  (
    key: string,
    options: SemaphoreOptions
  ): <A, E, R>(
    self: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient>
  <A, E, R>(
    self: Effect.Effect<A, E, R>,
    key: string,
    options: SemaphoreOptions
  ): Effect.Effect<A, E | AcquireError | LockLostError, Exclude<R, Scope.Scope> | DflockdClient>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, key: string, options: SemaphoreOptions) =>
    Lease.withLease(self, { kind: "semaphore", key, limit: options.limit }, options, "dflockd.Semaphore.withPermit")
)

/**
 * Renews a held permit now with a new lease (whole seconds ≥ 1), counted from
 * this renewal; later renewals keep it. A refused or failed renewal loses the
 * permit (`lost` fails, a `withPermit` region is interrupted) and this fails
 * with `LockLostError`, as does extending a permit already lost or released.
 *
 * **Example** (A long job asks for more time)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const permit = yield* Semaphore.acquire("encoders", { limit: 4, leaseTtl: "30 seconds" })
 *   yield* Semaphore.extend(permit, "10 minutes")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category leases
 */
export const extend: {
  (leaseTtl: Duration.Input): (self: Permit) => Effect.Effect<void, InvalidArgumentError | LockLostError>
  (self: Permit, leaseTtl: Duration.Input): Effect.Effect<void, InvalidArgumentError | LockLostError>
} = dual(2, (self: Permit, leaseTtl: Duration.Input) => Lease.extend(self, leaseTtl))

/**
 * How long the permit is still held as the client sees it (until its deadline
 * less the safety margin); zero once lost or released.
 *
 * **Example** (Logging what is left)
 *
 * ```ts
 * import { Duration, Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const report = (permit: Semaphore.Permit) =>
 *   Effect.flatMap(Semaphore.remaining(permit), (left) => Effect.log(`${Duration.format(left)} left`))
 * ```
 *
 * @since 0.1.0
 * @category leases
 */
export const remaining = (self: Permit): Effect.Effect<Duration.Duration> => Lease.remaining(self)

/**
 * Releases a held permit now, before its scope closes (the scope's finalizer
 * then does nothing); releasing twice does nothing.
 *
 * **Example** (Giving the slot back early)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Semaphore } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const permit = yield* Semaphore.acquire("encoders", { limit: 4 })
 *   yield* Effect.log("encoding")
 *   yield* Semaphore.release(permit)
 *   yield* Effect.log("uploading, without the slot")
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category leases
 */
export const release = (self: Permit): Effect.Effect<void> => Lease.release(self)
