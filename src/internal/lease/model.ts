/**
 * What `Lock` and `Semaphore` share: the lease, acquire options, ticket and
 * acquisition errors (the public `Lease` module re-exports them).
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { AcquireTimeoutError, AuthError, InvalidArgumentError, LockLostError } from "../errors/errors.ts"
import type { ExchangeError } from "../../Transport.ts"

/**
 * Marks a held lease (`Lock.isLock` checks it).
 *
 * **Example** (The identifier)
 *
 * ```ts
 * import { Lease } from "effect-dflockd"
 *
 * Lease.TypeId // "~effect-dflockd/Lease"
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId = "~effect-dflockd/Lease"

/**
 * Locks and semaphores use the same commands, the semaphore ones prefixed with `s`.
 *
 * **Example** (Both kinds)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const kinds: ReadonlyArray<Lease.Kind> = ["lock", "semaphore"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "lock" | "semaphore"

/**
 * A held lock or semaphore permit.
 *
 * **Example** (Describing a lease)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const describe = (lease: Lease.Lease): string => `${lease.kind} ${lease.key} on ${lease.server}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Lease<K extends Kind = Kind> {
  readonly [TypeId]: typeof TypeId
  /** What is held: a lock or a semaphore permit. Distinguishes `Lock.Lock` from `Semaphore.Permit`. */
  readonly kind: K
  /** The key the lease is held on. */
  readonly key: string
  /** The server's token for this grant (32 hex digits). */
  readonly token: string
  /** The token's fence: strictly increasing per grant on dflockd v2.1+; random on older servers. */
  readonly fence: bigint
  /** The lease the server granted; renewed in the background while held. */
  readonly leaseTtl: Duration.Duration
  /** `host:port` of the server holding the lease. */
  readonly server: string
  /** Fails with `LockLostError` once the lease is lost; never succeeds. */
  readonly lost: Effect.Effect<never, LockLostError>
}

/**
 * Options shared by every acquisition.
 *
 * **Example** (Waiting up to 30 seconds for a 1-minute lease)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const options: Lease.AcquireOptions = { acquireTimeout: "30 seconds", leaseTtl: "1 minute" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AcquireOptions {
  /**
   * How long to wait in the server's FIFO queue, exact to the millisecond. The server
   * waits in whole seconds: it is asked for the whole seconds above a sub-second
   * timeout, and the client gives up at the exact instant (closing the waiter's
   * connection, so the server drops it). Default 10 seconds; 0 tries once.
   */
  readonly acquireTimeout?: Duration.Input | undefined
  /** Lease to request, whole seconds ≥ 1. Default: the server's `--default-lease-ttl`. */
  readonly leaseTtl?: Duration.Input | undefined
  /** Renew at this fraction of the lease. Default: the client's `renewRatio` (0.5). */
  readonly renewRatio?: number | undefined
  /**
   * Longest silence on the holding connection, below the client's `serverReadTimeout`.
   * Default: the client's `heartbeatInterval` (a third of `serverReadTimeout`).
   */
  readonly heartbeatInterval?: Duration.Input | undefined
}

/**
 * A two-phase acquisition after its first step (`enqueue`).
 *
 * **Example** (Whether the grant came at once)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const immediate = (ticket: Lease.Ticket): boolean => ticket.status === "acquired"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Ticket<L extends Lease = Lease> {
  readonly key: string
  /** `acquired`: granted at once; `queued`: waiting in the server's FIFO queue. */
  readonly status: "acquired" | "queued"
  /**
   * Step two: waits for the grant (timeout exact to the millisecond, default 10 seconds). Once granted, returns
   * the same lease again.
   */
  readonly wait: (timeout?: Duration.Input) => Effect.Effect<L, WaitError>
}

/**
 * What acquiring can fail with. `LockLostError`: the grant arrived too late to
 * trust (its lease may have run out on the server) and its confirming renewal
 * was refused.
 *
 * **Example** (Timeouts apart)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const timedOut = (error: Lease.AcquireError): boolean => error._tag === "AcquireTimeoutError"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type AcquireError = AcquireTimeoutError | ExchangeError | InvalidArgumentError | LockLostError

/**
 * What a try-once acquisition can fail with: no `AcquireTimeoutError` (a busy key
 * is `None`). `LockLostError` stays: a grant held up past its renewal point (a
 * blocked event loop, a stalled link) is confirmed by a renewal that may be refused.
 *
 * **Example** (Everything but a refused late grant)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const lateGrant = (error: Lease.TryAcquireError): boolean => error._tag === "LockLostError"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type TryAcquireError = Exclude<AcquireError, AcquireTimeoutError>

/**
 * What `enqueue` can fail with: it never waits, so no `AcquireTimeoutError`.
 * `LockLostError` stays: a grant given at once is held at once (see `TryAcquireError`).
 *
 * **Example** (Telling a bad key from the rest)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const badInput = (error: Lease.EnqueueError): boolean => error._tag === "InvalidArgumentError"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type EnqueueError = Exclude<AcquireError, AcquireTimeoutError>

/**
 * What a ticket's `wait` can fail with: it uses the ticket's connection, already
 * open (and authenticated), so no `AuthError`.
 *
 * **Example** (A wait that timed out)
 *
 * ```ts
 * import type { Lease } from "effect-dflockd"
 *
 * const timedOut = (error: Lease.WaitError): boolean => error._tag === "AcquireTimeoutError"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type WaitError = Exclude<AcquireError, AuthError>
