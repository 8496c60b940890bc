/**
 * When held leases start renewing. A lease needs nothing from its grant until
 * its first renewal is due (a fraction of its lease), and most locks are
 * released long before that. So instead of a fiber and a timer per lease from
 * the grant on, one fiber per client sleeps until the earliest first renewal
 * among its held leases and starts the keep-alive loop (renewal and watchdog,
 * see `watchdog.ts`) of each lease as it falls due. A lease released before
 * then only leaves the queue.
 *
 * The queue is ordered by due time (a lease is usually the latest, so adding
 * and removing look from the end). The fiber sleeps on the client's `Clock`,
 * so `TestClock` drives it, until the earliest lease is due; it is woken when
 * a lease due earlier arrives, and when the last lease leaves (then it waits
 * without a timer). It lives in the client layer's scope.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Lifetime from "./lifetime.ts"

/** A lease waiting for its first renewal. */
export interface Pending {
  /** When to start, in {@link Lifetime.monotonicMillis}. */
  readonly at: number
  /** Starts the lease's keep-alive loop (forked into the lease's scope), given the lease itself. */
  start(self: Pending): Effect.Effect<void>
}

export interface Renewals {
  /** Queues `pending` (before any I/O of its own: a synchronous step). */
  readonly add: (pending: Pending) => Effect.Effect<void>
  /** {@link add}, as one synchronous step of the caller's. */
  readonly addNow: (pending: Pending) => void
  /** Takes `pending` out of the queue if it is still there (its lease ended first). */
  readonly remove: (pending: Pending) => void
}

/** Index where `at` goes in `queue` (ordered by `at`, ties after), searched from the end. */
const insertionPoint = (queue: ReadonlyArray<Pending>, at: number): number => {
  let i = queue.length
  while (i > 0 && queue[i - 1]!.at > at) i--
  return i
}

/** The renewals of one client, with their fiber forked into the current scope. */
export const make: Effect.Effect<Renewals, never, Scope.Scope> = Effect.gen(function*() {
  // Owned by this module: `add` and `remove` change it synchronously, the fiber reads it.
  const queue: Array<Pending> = []
  // Completed to wake the fiber: a lease is due before the time it sleeps until.
  const wake = Ref.makeUnsafe<{ readonly signal: Deferred.Deferred<void>; readonly until: number }>({
    signal: Deferred.makeUnsafe<void>(),
    until: Number.POSITIVE_INFINITY
  })

  const wakeUp = () => Deferred.doneUnsafe(Ref.getUnsafe(wake).signal, Effect.void)

  const addNow = (pending: Pending): void => {
    const at = insertionPoint(queue, pending.at)
    if (at === queue.length) queue.push(pending)
    else queue.splice(at, 0, pending)
    if (pending.at < Ref.getUnsafe(wake).until) wakeUp()
  }
  const add = (pending: Pending): Effect.Effect<void> => Effect.sync(() => addNow(pending))

  // The last lease gone: the fiber stops sleeping (no timer is left while nothing is held).
  const remove = (pending: Pending): void => {
    const at = queue.lastIndexOf(pending)
    if (at === -1) return
    if (at === queue.length - 1) queue.pop()
    else queue.splice(at, 1)
    if (queue.length === 0 && Ref.getUnsafe(wake).until !== Number.POSITIVE_INFINITY) wakeUp()
  }

  const loop = Effect.gen(function*() {
    const clock = yield* Clock.Clock
    while (true) {
      const now = Lifetime.monotonicMillis(clock)
      let due = 0
      while (due < queue.length && queue[due]!.at <= now) due++
      const starting = queue.splice(0, due)
      for (const pending of starting) yield* pending.start(pending)
      const until = queue.length === 0 ? Number.POSITIVE_INFINITY : queue[0]!.at
      const signal = Deferred.makeUnsafe<void>()
      yield* Ref.set(wake, { signal, until })
      yield* until === Number.POSITIVE_INFINITY
        ? Deferred.await(signal)
        : Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(0, until - now))), Deferred.await(signal))
      // Woken from inside `add` or `remove`, on the holder's own stack: the holder's step
      // (a region that ends at once, a release) goes first, and a lease gone by then is not started.
      yield* Effect.yieldNow
    }
  })
  yield* Effect.forkScoped(loop)
  return { add, addNow, remove }
})
