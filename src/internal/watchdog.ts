/**
 * The lease watchdog: the client's own view of when a lease runs out.
 *
 * Each confirmed renewal moves the deadline to `sent + lease` (the server renewed
 * no earlier than the request was sent, so that bound never overstates the
 * lease). `expired` completes once `deadline - margin` passes without a newer
 * confirmation, whether or not the server ever answers.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"

export interface Watchdog {
  /** Records a confirmed lease that runs until `deadlineMillis` (by `Clock`). */
  readonly confirm: (deadlineMillis: number) => Effect.Effect<void>
  /** Completes when the deadline, less the margin, has passed. */
  readonly expired: Effect.Effect<void>
  /** The current deadline in `Clock` milliseconds. */
  readonly deadline: Effect.Effect<number>
}

/** Safety margin before the deadline: a tenth of the lease, at most one second. */
export const marginFor = (leaseMillis: number): number => Math.min(leaseMillis / 10, 1000)

export const make = (initialDeadlineMillis: number, marginMillis: number): Effect.Effect<Watchdog> =>
  Effect.map(Ref.make(initialDeadlineMillis), (deadline) => {
    const expired: Effect.Effect<void> = Effect.flatMap(
      Effect.zip(Clock.currentTimeMillis, Ref.get(deadline)),
      ([now, current]) => {
        const due = current - marginMillis
        return now >= due ? Effect.void : Effect.andThen(Effect.sleep(due - now), expired)
      }
    )
    return {
      // never move the deadline backwards (a late reply to an old renewal)
      confirm: (deadlineMillis) => Ref.update(deadline, (current) => Math.max(current, deadlineMillis)),
      expired,
      deadline: Ref.get(deadline)
    }
  })
