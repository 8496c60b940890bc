/**
 * The in-memory server's transactions and the one trampoline that wakes
 * fibers after they commit.
 *
 * Every change to a server's state is a transaction ({@link transact}): it
 * holds the state ref's permit, reads the clock once, runs uninterruptibly,
 * and may start lease timers and owe wake-ups ({@link notify}: a waiter's
 * grant, a connection's end). What it owes is woken once it has committed,
 * with the permit free, by {@link wakeAll}; nothing else mutates state.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as FiberMap from "effect/FiberMap"
import * as SynchronizedRef from "effect/SynchronizedRef"
import { collect, type ServerConfig, type State } from "./state.ts"

/** One in-memory server's parts, which every transaction and command runs against. */
export interface Server {
  readonly config: ServerConfig
  /** The state: immutable records (`state.ts`), changed only by {@link transact}. */
  readonly ref: SynchronizedRef.SynchronizedRef<State>
  /** One lease timer per grant, keyed by token (`leases.ts`). */
  readonly timers: FiberMap.FiberMap<string>
  /**
   * Wake-ups owed by the transaction in progress (it holds the ref's permit):
   * queued for {@link wakeAll} as its last step if it commits, dropped if it dies.
   */
  readonly owed: Array<() => void>
}

// ---------------------------------------------------------------------------
// waking fibers
// ---------------------------------------------------------------------------

/**
 * Wake-ups owed by committed transactions, of every in-memory server: a
 * waiter's outcome, a connection's end.
 *
 * A transaction that woke a fiber while it still held its server's permit
 * would have that fiber queue for the permit (to settle its own request), and
 * a released permit wakes its queue on a later turn of the scheduler: a grant
 * would reach its waiter a turn late, after a `TestClock.adjust` meant to
 * follow it. So the fibers are woken after the commit, from one loop: a woken
 * fiber runs on at once, and the wake-ups its own transactions owe join the
 * queue instead of starting a loop of their own. A chain of grants (each woken
 * waiter releasing to the next) thus completes in the same synchronous step as
 * the release that began it, at a constant stack depth however long it is.
 */
const wakeUps: Array<() => void> = []
let waking = false

const wakeAll = (): void => {
  if (waking) return // the loop further up the stack wakes these too
  waking = true
  let woken = 0
  try {
    // the queue grows while it is read: a woken fiber's transactions append to it
    while (woken < wakeUps.length) wakeUps[woken++]!()
  } finally {
    wakeUps.splice(0, woken)
    waking = false
  }
}

/** Runs the wake-ups committed transactions owe (see {@link wakeAll}). */
export const wakeNow = Effect.sync(wakeAll)

// ---------------------------------------------------------------------------
// transactions
// ---------------------------------------------------------------------------

/** Completes `deferred` with `value` once the current transaction has committed (see {@link transact}). */
export const notify = <A>(server: Server, deferred: Deferred.Deferred<A>, value: A): Effect.Effect<void> =>
  Effect.sync(() => {
    server.owed.push(() => Deferred.doneUnsafe(deferred, Exit.succeed(value)))
  })

/**
 * One atomic state change, with the clock read once for it (keys idle too long
 * are forgotten first). The fibers it wakes ({@link notify}: a granted waiter,
 * a closed connection's watcher) are woken once it has committed, with the
 * permit free (see {@link wakeAll}).
 */
export const transact = <A>(
  server: Server,
  f: (s: State, now: number) => Effect.Effect<readonly [A, State]>
): Effect.Effect<A> =>
  Effect.uninterruptible(
    Effect.tap(
      SynchronizedRef.modifyEffect(
        server.ref,
        (s) =>
          Effect.onExit(
            Effect.flatMap(Clock.currentTimeMillis, (now) => f(collect(s, now), now)),
            (exit) => settle(server, exit)
          )
      ),
      wakeNow
    )
  )

/** The last step of a transaction, still under the permit: what it owes is queued if it commits. */
const settle = (server: Server, exit: Exit.Exit<unknown>) =>
  Effect.sync(() => {
    const owed = server.owed.splice(0)
    if (Exit.isSuccess(exit)) {
      for (const wake of owed) wakeUps.push(wake)
    }
  })

/** A transaction's step that changes nothing but its result. */
export const pure = <A>(a: A, s: State) => Effect.succeed([a, s] as const)
