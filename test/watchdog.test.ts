/**
 * The lease watchdog's timing, on the TestClock (`it.effect` provides it).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as Watchdog from "../src/internal/watchdog.ts"

/** Forks `expired`; `isDone` reports whether it has completed. */
const watch = (watchdog: Watchdog.Watchdog) =>
  Effect.map(Effect.forkChild(watchdog.expired), (fiber) => ({
    fiber,
    isDone: Effect.sync(() => fiber.pollUnsafe() !== undefined)
  }))

/** Moves the TestClock forward and lets woken fibers run. */
const advance = (millis: number) => Effect.andThen(TestClock.adjust(millis), Effect.yieldNow)

const now = Clock.currentTimeMillis

describe("Watchdog.make", () => {
  it.effect("expired does not complete before deadline - margin, and completes at it", () =>
    Effect.gen(function*() {
      const start = yield* now
      const watchdog = yield* Watchdog.make(start + 10_000, 1_000)
      const { fiber, isDone } = yield* watch(watchdog)
      yield* advance(0)
      assert.isFalse(yield* isDone)
      yield* advance(8_999)
      assert.isFalse(yield* isDone, "not before deadline - margin")
      yield* advance(1)
      assert.isTrue(yield* isDone, "at deadline - margin")
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* now) - start, 9_000)
    }))

  it.effect("completes after the due time even when the clock jumps past it", () =>
    Effect.gen(function*() {
      const start = yield* now
      const { isDone } = yield* watch(yield* Watchdog.make(start + 10_000, 1_000))
      yield* advance(60_000)
      assert.isTrue(yield* isDone)
    }))

  it.effect("completes at once when the deadline is already past", () =>
    Effect.gen(function*() {
      const start = yield* now
      const watchdog = yield* Watchdog.make(start - 1, 0)
      yield* watchdog.expired
      assert.strictEqual(yield* now, start)
    }))

  it.effect("completes at the deadline itself with a zero margin", () =>
    Effect.gen(function*() {
      const start = yield* now
      const { isDone } = yield* watch(yield* Watchdog.make(start + 5_000, 0))
      yield* advance(4_999)
      assert.isFalse(yield* isDone)
      yield* advance(1)
      assert.isTrue(yield* isDone)
    }))

  it.effect("confirm() extends the deadline, also for a fiber already waiting", () =>
    Effect.gen(function*() {
      const start = yield* now
      const watchdog = yield* Watchdog.make(start + 10_000, 1_000)
      const { isDone } = yield* watch(watchdog)
      yield* advance(5_000)
      yield* watchdog.confirm(start + 20_000)
      assert.strictEqual(yield* watchdog.deadline, start + 20_000)
      yield* advance(4_000) // t = 9 s: the old due time
      assert.isFalse(yield* isDone, "the fiber re-reads the deadline when it wakes")
      yield* advance(9_999) // t = 18.999 s
      assert.isFalse(yield* isDone)
      yield* advance(1) // t = 19 s = new deadline - margin
      assert.isTrue(yield* isDone)
    }))

  it.effect("confirm() with an older deadline does not move it back", () =>
    Effect.gen(function*() {
      const start = yield* now
      const watchdog = yield* Watchdog.make(start + 10_000, 1_000)
      yield* watchdog.confirm(start + 20_000)
      // a late reply to an older renewal
      yield* watchdog.confirm(start + 12_000)
      yield* watchdog.confirm(start + 1_000)
      assert.strictEqual(yield* watchdog.deadline, start + 20_000)
      const { isDone } = yield* watch(watchdog)
      yield* advance(18_999)
      assert.isFalse(yield* isDone)
      yield* advance(1)
      assert.isTrue(yield* isDone)
    }))

  it.effect("an older deadline than the initial one is ignored too", () =>
    Effect.gen(function*() {
      const start = yield* now
      const watchdog = yield* Watchdog.make(start + 10_000, 1_000)
      yield* watchdog.confirm(start + 2_000)
      assert.strictEqual(yield* watchdog.deadline, start + 10_000)
      const { isDone } = yield* watch(watchdog)
      yield* advance(8_999)
      assert.isFalse(yield* isDone)
    }))

  it.effect("regular confirmations keep it alive; it fires one lease after the last one", () =>
    Effect.gen(function*() {
      const start = yield* now
      const lease = 10_000
      const margin = Watchdog.marginFor(lease)
      const watchdog = yield* Watchdog.make(start + lease, margin)
      const { isDone } = yield* watch(watchdog)
      // a renewal every half lease, as the renewal fiber does, for a minute
      for (let i = 0; i < 12; i++) {
        yield* advance(lease / 2)
        yield* watchdog.confirm((yield* now) + lease)
        assert.isFalse(yield* isDone, `after renewal ${i + 1}`)
      }
      const lastConfirmed = yield* now
      // renewals stop (server silent): lost at lastConfirmed + lease - margin
      yield* advance(lease - margin - 1)
      assert.isFalse(yield* isDone)
      yield* advance(1)
      assert.isTrue(yield* isDone)
      assert.strictEqual((yield* now) - lastConfirmed, lease - margin)
    }))

  it.effect.each(
    [
      [1_000, 100],
      [2_000, 200],
      [33_000, 1_000],
      [3_600_000, 1_000]
    ] as const
  )("a lease of %i ms with its margin %i ms fires at lease - margin", ([lease, margin]) =>
    Effect.gen(function*() {
      assert.strictEqual(Watchdog.marginFor(lease), margin)
      const start = yield* now
      const { isDone } = yield* watch(yield* Watchdog.make(start + lease, Watchdog.marginFor(lease)))
      yield* advance(lease - margin - 1)
      assert.isFalse(yield* isDone)
      yield* advance(1)
      assert.isTrue(yield* isDone)
    }))

  it.effect("interrupting a waiting expired leaves nothing behind", () =>
    Effect.gen(function*() {
      const start = yield* now
      const { fiber } = yield* watch(yield* Watchdog.make(start + 10_000, 1_000))
      yield* advance(1_000)
      yield* Fiber.interrupt(fiber)
      const exit = fiber.pollUnsafe()
      assert.isDefined(exit)
      assert.strictEqual(exit?._tag, "Failure")
    }))
})

describe("Watchdog.marginFor", () => {
  it("is a tenth of the lease, at most one second", () => {
    assert.strictEqual(Watchdog.marginFor(0), 0)
    assert.strictEqual(Watchdog.marginFor(1_000), 100)
    assert.strictEqual(Watchdog.marginFor(5_000), 500)
    assert.strictEqual(Watchdog.marginFor(9_999), 999.9)
    assert.strictEqual(Watchdog.marginFor(10_000), 1_000)
    assert.strictEqual(Watchdog.marginFor(10_001), 1_000)
    assert.strictEqual(Watchdog.marginFor(60_000), 1_000)
    assert.strictEqual(Watchdog.marginFor(Number.MAX_SAFE_INTEGER), 1_000)
  })

  it("is always below the lease for positive leases", () => {
    for (let lease = 1; lease <= 100_000; lease += 997) {
      const margin = Watchdog.marginFor(lease)
      assert.isBelow(margin, lease)
      assert.isAtMost(margin, 1_000)
      assert.isAtMost(margin, lease / 10)
    }
  })
})
