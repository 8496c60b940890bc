/**
 * Waiting for a state reached without time passing (the in-memory server, the
 * TestClock): what the fibers started so far will do at once.
 */
import { Effect } from "effect"

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
