/**
 * Leader election on a dflockd lock: the process holding the lock is the leader.
 *
 * A candidate waits in the key's FIFO queue; once granted, it runs its leader
 * effect while the lease is renewed. If the lease is lost (the server or the
 * network failed, the lease expired), the leader effect is interrupted at once,
 * so two leaders never act at the same time as far as the lease can tell, and
 * the candidate campaigns again after a pause of its `retry` schedule.
 * Candidates are elected in the order they queued, so leadership passes on
 * fairly. The leader's own failure, whatever its error, ends the election with
 * that error: only the campaign's failures start a new campaign.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Pull from "effect/Pull"
import * as Result from "effect/Result"
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
 * Failures of a campaign that a new campaign may cure, and the input of the
 * `retry` schedule: the candidate timed out in the queue while another node
 * leads (`AcquireTimeoutError`), its term's lease was lost (`LockLostError`),
 * or its connection failed while campaigning (`ConnectionError`). The same
 * errors raised by the leader's own work are the leader's, and end the
 * election as they are.
 *
 * **Example** (Giving up on a broken TLS setup, retrying the rest)
 *
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { Election } from "effect-dflockd"
 *
 * const everySecond: Schedule.Schedule<number, Election.CampaignError> = Schedule.spaced("1 second")
 * const retry = everySecond.pipe(
 *   Schedule.while(({ input }) => !(input._tag === "ConnectionError" && input.reason === "Tls"))
 * )
 * const program = Election.run("report-leader", () => Effect.log("leading"), { retry })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type CampaignError = AcquireTimeoutError | LockLostError | ConnectionError

/**
 * Options of {@link run}: the lock options (`acquireTimeout` is how long one
 * campaign waits in the queue, default 30 seconds), and `retry`, the schedule
 * that paces new campaigns. It is fed each {@link CampaignError} (a campaign
 * that timed out, a lost term, a connection failure) and every new campaign
 * waits for its delay; it starts afresh each time the candidate is elected. A
 * schedule that ends gives up: the election fails with the last campaign
 * error. Default: jittered exponential backoff from 250 ms, at most 5 seconds
 * apart, forever. `retryDelay` is the older spelling of
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
  readonly retry?: Schedule.Schedule<unknown, CampaignError> | undefined
  /** @deprecated Use `retry: Schedule.spaced(retryDelay)`. */
  readonly retryDelay?: Duration.Input | undefined
}

/**
 * Failures of the campaign that end the election: those no new campaign can
 * cure (a bad key or option, a rejected token, a refused or malformed reply),
 * and the last {@link CampaignError} once the `retry` schedule has ended (never,
 * with the default schedule). The leader's own errors are not among these:
 * {@link run} returns them as they are.
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
export type ElectionError = InvalidArgumentError | AuthError | ProtocolError | ServerError | CampaignError

const defaultRetry: Schedule.Schedule<unknown, CampaignError> = Schedule.jittered(
  Schedule.min([Schedule.exponential("250 millis"), Schedule.spaced("5 seconds")])
)

const hasTag = (error: unknown, tag: string): boolean => Predicate.hasProperty(error, "_tag") && error._tag === tag

const isCampaignError = (error: unknown): error is CampaignError =>
  hasTag(error, "AcquireTimeoutError") || hasTag(error, "LockLostError") || hasTag(error, "ConnectionError")

/** The loss of this very term's lease, however the leader came to see it (`lock.lost`, `Lock.extend`). */
const isTermLost = (error: unknown, lock: Lock.Lock): error is LockLostError =>
  hasTag(error, "LockLostError") && Predicate.hasProperty(error, "token") && error.token === lock.token &&
  Predicate.hasProperty(error, "key") && error.key === lock.key

/** The leader's own failure, kept apart from the campaign's errors of the same tags. */
class LeaderFailure<E> {
  readonly error: E
  constructor(error: E) {
    this.error = error
  }
}

/**
 * Campaigns for leadership of `key` and runs `leader` whenever this process is
 * the leader, until `leader` succeeds (its value is returned, and leadership is
 * released) or fails: its error, whatever its tag, ends the election and is
 * returned as it is, even an `AcquireTimeoutError`, `LockLostError` or
 * `ConnectionError` from the leader's work on other keys or servers.
 *
 * The campaign's own failures start a new campaign, after the pause of the
 * `retry` schedule ({@link Options}): an acquire timeout while another node
 * leads, a connection failure while campaigning, and a lost lease. A lost lease
 * interrupts `leader` at once and ends its term; that is the campaign's loss,
 * not the leader's error, also when the leader itself sees it (a
 * `LockLostError` of its term's lock, from `lock.lost` or `Lock.extend`). A
 * schedule that ends gives up with the last campaign error; other campaign
 * failures ({@link ElectionError}) end the election at once.
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
): Effect.Effect<A, E | ElectionError, R | DflockdClient> => {
  const { retry, retryDelay, ...lockOptions } = options
  const pacing = retry ?? (retryDelay === undefined ? defaultRetry : Schedule.spaced(retryDelay))
  const acquireOptions: Lock.AcquireOptions = { acquireTimeout: "30 seconds", ...lockOptions }

  // One term: the leader races its lease. Its own failures are wrapped, so that they are never
  // mistaken for the campaign's; the loss of the term's lease is the campaign's, whoever saw it.
  const lead = (lock: Lock.Lock) =>
    Effect.raceFirst(
      Effect.mapError(
        leader(lock),
        (error): LockLostError | LeaderFailure<E> => isTermLost(error, lock) ? error : new LeaderFailure(error)
      ),
      lock.lost
    )

  return Effect.gen(function*() {
    let step:
      | ((now: number, error: CampaignError) => Pull.Pull<[unknown, Duration.Duration], never, unknown>)
      | undefined
    while (true) {
      let elected = false
      const outcome = yield* Effect.result(Effect.scoped(
        Lock.acquire(key, acquireOptions).pipe(
          Effect.tap(() => Effect.sync(() => elected = true)),
          Effect.flatMap(lead)
        )
      ))
      if (Result.isSuccess(outcome)) return outcome.success
      const error = outcome.failure
      if (error instanceof LeaderFailure) return yield* Effect.fail(error.error)
      if (!isCampaignError(error)) return yield* Effect.fail(error)
      // the schedule paces the failed campaigns in a row: it starts afresh after each term
      if (step === undefined || elected) step = yield* Schedule.toStep(pacing)
      const now = yield* Clock.currentTimeMillis
      const delay = yield* step(now, error).pipe(
        // whole milliseconds, never less than the schedule's delay (a jittered one is fractional)
        Effect.map(([, delay]) => Option.some(Duration.millis(Math.ceil(Duration.toMillis(delay))))),
        Pull.catchDone(() => Effect.succeedNone)
      )
      // a schedule that ends gives up with the last campaign error
      if (Option.isNone(delay)) return yield* Effect.fail(error)
      const next = `campaigning again in ${Duration.format(delay.value)}`
      yield* error._tag === "AcquireTimeoutError"
        ? Effect.logDebug(`dflockd election "${key}": not elected (${error.message}); ${next}`)
        : Effect.logWarning(`dflockd election "${key}": ${error.message}; ${next}`)
      yield* Effect.sleep(delay.value)
    }
  })
}
