/**
 * Leader election on a dflockd lock: the process holding the lock is the leader.
 *
 * A candidate waits in the key's FIFO queue; once granted, it runs its leader
 * effect while the lease is renewed. If the lease is lost (the server or the
 * network failed, the lease expired), the leader effect is interrupted at once,
 * so two leaders never act at the same time as far as the lease can tell, and
 * the candidate campaigns again. Candidates are elected in the order they
 * queued, so leadership passes on fairly.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import type { DflockdClient } from "./DflockdClient.ts"
import type {
  AcquireTimeoutError,
  AuthError,
  ConnectionError,
  InvalidArgumentError,
  LockLostError,
  ProtocolError,
  ServerError
} from "./Errors.ts"
import * as Lock from "./Lock.ts"

/**
 * Options of {@link run}: the lock options (`acquireTimeout` is how long one
 * campaign waits in the queue before joining it again, default 30 seconds), and
 * `retry`, the schedule of new campaigns after a lost lease or a connection
 * failure (default: every second; like `ClientOptions.connectRetry`). A finite
 * schedule that runs out starts over: an election ends only when `leader`
 * ends or with an {@link ElectionError}. `retryDelay` is the older spelling of
 * `retry: Schedule.spaced(retryDelay)`, ignored when `retry` is given.
 *
 * **Example** (A short lease, and backing off between campaigns)
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Election } from "effect-dflockd"
 *
 * const options: Election.Options = {
 *   leaseTtl: "15 seconds",
 *   acquireTimeout: "1 minute",
 *   retry: Schedule.jittered(Schedule.exponential("500 millis"))
 * }
 * const program = Election.run("report-leader", () => Effect.log("leading"), options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Lock.AcquireOptions {
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  /** @deprecated Use `retry: Schedule.spaced(retryDelay)`. */
  readonly retryDelay?: Duration.Input | undefined
}

/**
 * Failures that end the election rather than starting another campaign.
 *
 * **Example** (Reporting why the election ended)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Election } from "effect-dflockd"
 *
 * const explain = (error: Election.ElectionError): string =>
 *   error._tag === "ServerError" ? `server refused: ${error.reason}` : error.message
 *
 * const program = Election.run("scheduler", () => Effect.never).pipe(
 *   Effect.catch((error) => Effect.logError(`election ended: ${explain(error)}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ElectionError = InvalidArgumentError | AuthError | ProtocolError | ServerError

type Campaigning = AcquireTimeoutError | LockLostError | ConnectionError

const hasTag = (error: unknown, tag: string): boolean => Predicate.hasProperty(error, "_tag") && error._tag === tag

const isAcquireTimeout = (error: unknown): error is AcquireTimeoutError => hasTag(error, "AcquireTimeoutError")

/** A campaign interrupted by the lease or the connection, rather than by waiting too long. */
const isInterrupted = (error: unknown): error is LockLostError | ConnectionError =>
  hasTag(error, "LockLostError") || hasTag(error, "ConnectionError")

const isCampaigning = (error: unknown): error is Campaigning => isAcquireTimeout(error) || isInterrupted(error)

/**
 * Campaigns for leadership of `key` and runs `leader` whenever this process is
 * the leader, until `leader` succeeds (its value is returned, and leadership is
 * released) or fails (its error is returned). A lost lease interrupts `leader`
 * and starts a new campaign; so does an acquire timeout or a connection failure.
 *
 * `leader` receives the lock of its term: pass `lock.fence` to the resources the
 * leader writes, so they can reject a deposed leader's late writes.
 *
 * **Example** (A singleton job across a cluster)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient, Election, type Lock, ServerAddress } from "effect-dflockd"
 *
 * const scheduler = (term: Lock.Lock) =>
 *   Effect.gen(function*() {
 *     yield* Effect.log(`I am the leader (fence ${term.fence}): scheduling jobs`)
 *     return yield* Effect.never
 *   })
 *
 * const program = Election.run("scheduler-leader", scheduler, { leaseTtl: "10 seconds" }).pipe(
 *   Effect.provide(DflockdClient.layer({ servers: [ServerAddress.DEFAULT_SERVER] }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = <A, E, R>(
  key: string,
  leader: (lock: Lock.Lock) => Effect.Effect<A, E, R>,
  options: Options = {}
): Effect.Effect<A, Exclude<E, Campaigning> | ElectionError, R | DflockdClient> => {
  const { retry, retryDelay = "1 second", ...lockOptions } = options
  const pacing = retry ?? Schedule.spaced(retryDelay)
  return Effect.scoped(
    Effect.flatMap(
      Lock.acquire(key, { acquireTimeout: "30 seconds", ...lockOptions }),
      (lock) => Effect.raceFirst(leader(lock), lock.lost)
    )
  ).pipe(
    Effect.tapError((error) =>
      isInterrupted(error)
        ? Effect.logWarning(`dflockd election "${key}": ${error.message}; campaigning again`)
        : Effect.void
    ),
    // still in line elsewhere: join the queue again at once
    Effect.retry({ while: isAcquireTimeout }),
    // a lost lease or connection: campaign again after the schedule's pause
    Effect.retry({ while: isInterrupted, schedule: pacing }),
    // a finite schedule that ran out starts over: only the errors in the type end an election
    Effect.retry({ while: isCampaigning }),
    // `retry` has removed every campaigning error; TypeScript cannot see it through
    // the conditional types over the generic E, so the result is restated once here
    (election) => election as Effect.Effect<A, Exclude<E, Campaigning> | ElectionError, R | DflockdClient>
  )
}
