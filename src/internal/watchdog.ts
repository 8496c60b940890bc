/**
 * Keeping a lease alive, and the lease watchdog: one loop that renews the lease
 * on schedule and declares it lost when its deadline passes without a confirmed
 * renewal, whether or not the server ever answers.
 *
 * The deadline is the client's own, conservative view: a grant or a renewal
 * confirmed by the server moves it to `sent + lease` (the server acted no
 * earlier than the request was sent, so this never overstates the lease). The
 * lease counts as lost a safety margin before the deadline. Times are read from
 * the monotonic clock (`Clock.monotonicTimeNanos`), which wall-clock steps do
 * not move.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** Safety margin before the deadline: a tenth of the lease, at most one second. */
export const marginFor = (leaseMillis: number): number => Math.min(leaseMillis / 10, 1000)

/** The time between renewals: as asked, but early enough for a renewal to be confirmed before the deadline. */
export const renewInterval = (leaseMillis: number, renewEvery: number): number =>
  Math.max(1, Math.min(renewEvery, leaseMillis - 2 * marginFor(leaseMillis)))

/** Milliseconds on the monotonic clock, for deadlines. */
export const monotonicMillis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1e6

const now = Effect.clockWith((clock) => Effect.succeed(monotonicMillis(clock)))

/** The lease deadline (less the margin) passed without a confirmed renewal. */
export interface Expired {
  readonly _tag: "Expired"
}

const expired: Expired = { _tag: "Expired" }

export interface KeepAliveOptions<E> {
  /** When the request the server granted was sent ({@link monotonicMillis}): the lease runs `leaseMillis` from then. */
  readonly grantedAt: number
  readonly leaseMillis: number
  /** Time between renewals (at most the lease less twice the margin). */
  readonly renewEvery: number
  /** Sends one renewal; on success the lease runs `leaseMillis` from when it was sent. */
  readonly renew: Effect.Effect<void, E>
}

/**
 * Renews every `renewEvery` until interrupted. Fails with the renewal's error
 * if one fails, or with `Expired` once the deadline less the margin passes
 * without a confirmed renewal (a renewal still waiting for its reply then is
 * abandoned). One fiber, one timer at a time.
 */
export const keepAlive = <E>(options: KeepAliveOptions<E>): Effect.Effect<never, E | Expired> =>
  Effect.gen(function*() {
    const { leaseMillis, renew } = options
    const margin = marginFor(leaseMillis)
    const renewEvery = renewInterval(leaseMillis, options.renewEvery)
    let due = options.grantedAt + leaseMillis - margin
    let nextRenewal = options.grantedAt + renewEvery
    while (true) {
      const at = yield* now
      if (at >= due) return yield* Effect.fail(expired)
      if (at < nextRenewal) {
        yield* Effect.sleep(Math.min(nextRenewal, due) - at)
        continue
      }
      const confirmed = yield* Effect.timeoutOption(renew, due - at)
      if (Option.isSome(confirmed)) {
        due = Math.max(due, at + leaseMillis - margin)
        nextRenewal = at + renewEvery
      }
      // else the deadline passed while waiting for the reply: the next turn fails
    }
  })
