/**
 * Waiting for a state reached without time passing (the in-memory server, the
 * TestClock): what the fibers started so far will do at once.
 */
import { Duration, Effect } from "effect"

/**
 * Repeats `check` (yielding between tries) until it holds; dies with
 * `never reached: <what>` after 2000 tries instead of hanging.
 */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, what: string): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    for (let i = 0; i < 2000; i++) {
      if (yield* check) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`never reached: ${what}`))
  })

/**
 * Polls `check` on real time (every 5 ms) until it holds; dies with
 * `never reached: <what>` after `within` instead of hanging. For what another
 * process or socket does after the call under test has returned (a pipelined
 * release reaching the server, its reply read).
 */
export const eventuallyLive = <E, R>(
  check: Effect.Effect<boolean, E, R>,
  what: string,
  within: Duration.Input = "3 seconds"
): Effect.Effect<void, E, R> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(Duration.fromInputUnsafe(within))
    while (Date.now() < deadline) {
      if (yield* check) return
      yield* Effect.sleep("5 millis")
    }
    if (yield* check) return
    return yield* Effect.die(
      new Error(`never reached within ${Duration.format(Duration.fromInputUnsafe(within))}: ${what}`)
    )
  })
