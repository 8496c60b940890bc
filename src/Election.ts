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
 * `retryDelay`, the pause before campaigning again after a lost lease or a
 * connection failure (default 1 second).
 *
 * **Example** (A short lease and a slower retry)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Election } from "effect-dflockd"
 *
 * const options: Election.Options = { leaseTtl: "15 seconds", acquireTimeout: "1 minute", retryDelay: "5 seconds" }
 * const program = Election.run("report-leader", () => Effect.log("leading"), options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends Lock.AcquireOptions {
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

const isCampaigning = (error: unknown): error is Campaigning =>
  typeof error === "object" && error !== null && "_tag" in error &&
  (error._tag === "AcquireTimeoutError" || error._tag === "LockLostError" || error._tag === "ConnectionError")

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
 * import { DflockdClient, Election, type Lock } from "effect-dflockd"
 *
 * const scheduler = (term: Lock.Lock) =>
 *   Effect.gen(function*() {
 *     yield* Effect.log(`I am the leader (fence ${term.fence}): scheduling jobs`)
 *     return yield* Effect.never
 *   })
 *
 * const program = Election.run("scheduler-leader", scheduler, { leaseTtl: "10 seconds" }).pipe(
 *   Effect.provide(DflockdClient.layer({ servers: ["127.0.0.1:6388"] }))
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
  const { retryDelay = "1 second", ...lockOptions } = options
  const term = Effect.scoped(
    Effect.flatMap(
      Lock.acquire(key, { acquireTimeout: "30 seconds", ...lockOptions }),
      (lock) => Effect.raceFirst(leader(lock), lock.lost)
    )
  )
  // The annotation restates catchIf's result: TypeScript cannot simplify its
  // conditional types over the generic E, so the result is asserted once here.
  const campaign: Effect.Effect<A, Exclude<E, Campaigning> | ElectionError, R | DflockdClient> = Effect.catchIf(
    term,
    isCampaigning,
    (error) =>
      error._tag === "AcquireTimeoutError"
        ? Effect.suspend(() => campaign) // still in line elsewhere: join the queue again
        : Effect.logWarning(`dflockd election "${key}": ${error.message}; campaigning again`).pipe(
          Effect.andThen(Effect.sleep(retryDelay)),
          Effect.andThen(Effect.suspend(() => campaign))
        )
  ) as Effect.Effect<A, Exclude<E, Campaigning> | ElectionError, R | DflockdClient>
  return campaign
}
