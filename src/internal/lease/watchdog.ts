/**
 * Keeping a lease alive, and the lease watchdog: one loop that renews the lease
 * on schedule and declares it lost when its deadline passes without a confirmed
 * renewal, whether or not the server ever answers.
 *
 * The deadline is the client's own, conservative view: a grant or a renewal
 * confirmed by the server moves it to `sent + lifetime` (the server acted no
 * earlier than the request was sent, so this never overstates the lease), where
 * the lifetime is the lease, or the server's read timeout if that is shorter:
 * the server's read deadline restarts after each reply it writes, and it frees
 * a silent connection's locks when that passes. The lease counts as lost a
 * safety margin before the deadline. Times are read from
 * the monotonic clock (`Clock.monotonicTimeNanos`), which wall-clock steps do
 * not move.
 */
import * as Effect from "effect/Effect"
import * as MutableRef from "effect/MutableRef"
import * as Option from "effect/Option"
import { lifetime, marginFor, monotonicMillis, renewInterval } from "../client/lifetime.ts"

// the rule, where the lease's code has always found it
export { lifetime, marginFor, monotonicMillis, renewInterval }

const now = Effect.clockWith((clock) => Effect.succeed(monotonicMillis(clock)))

/**
 * The deadline (less the margin) passed without a confirmed renewal: the
 * lease's own (`lease`), or the server's read timeout (`readTimeout`).
 */
export interface Expired {
  readonly _tag: "Expired"
  readonly by: "lease" | "readTimeout"
}

/** A renewal (the heartbeat) got no reply before the next one was due. */
export interface Unanswered {
  readonly _tag: "Unanswered"
  readonly millis: number
}

/**
 * Where a lease stands: when the last request the server confirmed was sent
 * ({@link monotonicMillis}), and the lease it was granted or renewed with.
 * Replaced (never mutated) by each confirmation and each extension.
 */
export interface Timeline {
  readonly confirmedAt: number
  readonly leaseMillis: number
}

/** The deadline (less the margin) of a lease at `timeline`. */
export const deadlineOf = (timeline: Timeline, readTimeoutMillis: number): number => {
  const life = lifetime(timeline.leaseMillis, readTimeoutMillis)
  return timeline.confirmedAt + life - marginFor(life)
}

export interface KeepAliveOptions<E> {
  /** The lease's timeline: read on every turn (an extension may change it), moved on by each confirmed renewal. */
  readonly timeline: MutableRef.MutableRef<Timeline>
  /** The server's read timeout: a confirmed exchange keeps the connection at most this long. Default: none. */
  readonly readTimeoutMillis?: number | undefined
  /** Time between renewals (at most the lifetime less twice the margin). */
  readonly renewEvery: number
  /** Sends one renewal; on success the lease runs its lease from when it was sent. */
  readonly renew: Effect.Effect<void, E>
}

/**
 * Renews every `renewEvery` until interrupted. Fails with the renewal's error
 * if one fails, with `Unanswered` if a renewal's reply has not come when the
 * next renewal is due (a heartbeat's reply is awaited with a bound), or with
 * `Expired` once the deadline less the margin passes without a confirmed
 * renewal (a renewal still waiting for its reply then is abandoned). The
 * deadline is the send of the last confirmed request plus the lifetime (the
 * lease, or `readTimeoutMillis` if shorter). One fiber, one timer at a time.
 * Whoever changes the timeline otherwise (an extension) restarts the loop, so
 * that it never sleeps past a deadline brought forward.
 */
export const keepAlive = <E>(options: KeepAliveOptions<E>): Effect.Effect<never, E | Expired | Unanswered> =>
  Effect.gen(function*() {
    const { renew, timeline } = options
    const readTimeoutMillis = options.readTimeoutMillis ?? Number.POSITIVE_INFINITY
    while (true) {
      const at = yield* now
      const current = MutableRef.get(timeline)
      const life = lifetime(current.leaseMillis, readTimeoutMillis)
      const due = current.confirmedAt + life - marginFor(life)
      const renewEvery = renewInterval(life, options.renewEvery)
      const nextRenewal = current.confirmedAt + renewEvery
      if (at >= due) {
        return yield* Effect.fail<Expired>({
          _tag: "Expired",
          by: readTimeoutMillis < current.leaseMillis ? "readTimeout" : "lease"
        })
      }
      if (at < nextRenewal) {
        yield* Effect.sleep(Math.min(nextRenewal, due) - at)
        continue
      }
      const bound = Math.min(due - at, renewEvery)
      const confirmed = yield* Effect.timeoutOption(renew, bound)
      if (Option.isNone(confirmed)) {
        // the deadline passed while waiting for the reply (the next turn fails), or the
        // reply did not come before the next heartbeat was due: a loss, on the event
        if (bound < due - at) return yield* Effect.fail<Unanswered>({ _tag: "Unanswered", millis: bound })
        continue
      }
      const after = MutableRef.get(timeline)
      if (at > after.confirmedAt) MutableRef.set(timeline, { ...after, confirmedAt: at })
    }
  })
