/**
 * When held leases start renewing (src/internal/lease/renewals.ts), on the
 * TestClock: one fiber per client starts each lease's keep-alive loop when its
 * first renewal falls due, in due order, and never for a lease that ended first.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as Renewals from "../src/internal/client/renewals.ts"

/** Lets the renewals fiber run up to its next sleep. */
const settle = Effect.andThen(Effect.yieldNow, Effect.yieldNow)

/** Moves the TestClock on, then lets the renewals fiber run. */
const advance = (duration: Duration.Input) => Effect.andThen(TestClock.adjust(duration), settle)

const recorder = Effect.gen(function*() {
  const started = yield* Ref.make<ReadonlyArray<string>>([])
  const pending = (name: string, at: number): Renewals.Pending => ({
    at,
    start: () => Ref.update(started, (all) => [...all, name])
  })
  return { started: Ref.get(started), pending }
})

describe("Renewals", () => {
  it.effect("starts each lease when its first renewal falls due, in due order", () =>
    Effect.scoped(Effect.gen(function*() {
      const renewals = yield* Renewals.make
      const { pending, started } = yield* recorder
      yield* renewals.add(pending("c", 3000))
      yield* renewals.add(pending("a", 1000))
      yield* renewals.add(pending("b", 2000))
      yield* settle
      yield* advance("999 millis")
      assert.deepStrictEqual(yield* started, [])
      yield* advance("1 millis")
      assert.deepStrictEqual(yield* started, ["a"])
      yield* advance("1 seconds")
      assert.deepStrictEqual(yield* started, ["a", "b"])
      yield* advance("1 seconds")
      assert.deepStrictEqual(yield* started, ["a", "b", "c"])
    })))

  it.effect("a lease removed before its first renewal is never started", () =>
    Effect.scoped(Effect.gen(function*() {
      const renewals = yield* Renewals.make
      const { pending, started } = yield* recorder
      const released = pending("released", 1000)
      yield* renewals.add(released)
      yield* renewals.add(pending("held", 1000))
      yield* settle
      renewals.remove(released)
      // removing twice, or what is not queued, changes nothing
      renewals.remove(released)
      yield* advance("5 seconds")
      assert.deepStrictEqual(yield* started, ["held"])
    })))

  it.effect("a lease due before the fiber's sleep ends wakes it", () =>
    Effect.scoped(Effect.gen(function*() {
      const renewals = yield* Renewals.make
      const { pending, started } = yield* recorder
      yield* renewals.add(pending("late", 60_000))
      yield* settle
      yield* renewals.add(pending("early", 500))
      yield* settle
      yield* advance("500 millis")
      assert.deepStrictEqual(yield* started, ["early"])
      yield* advance("60 seconds")
      assert.deepStrictEqual(yield* started, ["early", "late"])
    })))

  it.effect("an empty queue sleeps until a lease arrives", () =>
    Effect.scoped(Effect.gen(function*() {
      const renewals = yield* Renewals.make
      const { pending, started } = yield* recorder
      yield* advance("10 seconds")
      yield* renewals.add(pending("first", 12_000))
      yield* settle
      yield* advance("1999 millis")
      assert.deepStrictEqual(yield* started, [])
      yield* advance("1 millis")
      assert.deepStrictEqual(yield* started, ["first"])
    })))
})
