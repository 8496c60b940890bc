/**
 * The keep-alive loop and lease watchdog (src/internal/lease/watchdog.ts), on the
 * TestClock: when renewals go out, and exactly when a lease counts as lost.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, MutableRef, Ref } from "effect"
import { TestClock } from "effect/testing"
import * as Watchdog from "../src/internal/lease/watchdog.ts"

/** Lets forked fibers run up to their next sleep. */
const settle = Effect.yieldNow

const isDone = <A, E>(fiber: Fiber.Fiber<A, E>) => fiber.pollUnsafe() !== undefined

/** A lease granted at `confirmedAt` (the send of its request) for `leaseMillis`. */
const timelineOf = (confirmedAt: number, leaseMillis: number) => MutableRef.make({ confirmedAt, leaseMillis })

describe("marginFor", () => {
  it("is a tenth of the lease, at most one second", () => {
    assert.strictEqual(Watchdog.marginFor(2000), 200)
    assert.strictEqual(Watchdog.marginFor(10_000), 1000)
    assert.strictEqual(Watchdog.marginFor(60_000), 1000)
  })
})

describe("keepAlive", () => {
  it.effect("renews every renewEvery and never expires while renewals succeed", () =>
    Effect.gen(function*() {
      const renewals = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 10_000),
        renewEvery: 5000,
        renew: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(renewals, (r) => [...r, now]))
      }).pipe(Effect.forkChild)
      yield* settle
      for (let i = 0; i < 12; i++) {
        yield* TestClock.adjust("5 seconds")
        yield* settle
      }
      assert.isFalse(isDone(fiber))
      assert.deepStrictEqual(yield* Ref.get(renewals), Array.from({ length: 12 }, (_, i) => (i + 1) * 5000))
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a renewal that never answers: Expired exactly at the deadline less the margin", () =>
    Effect.gen(function*() {
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 10_000),
        renewEvery: 5000,
        renew: Effect.never
      }).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust(8999) // deadline 10 s, margin 1 s
      yield* settle
      assert.isFalse(isDone(fiber), "not before 9 s")
      yield* TestClock.adjust(1)
      yield* settle
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "Expired")
    }))

  it.effect("a confirmed renewal moves the deadline to its send time plus the lease", () =>
    Effect.gen(function*() {
      const calls = yield* Ref.make(0)
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 10_000),
        renewEvery: 5000,
        // the first renewal (sent at 5 s) is confirmed; later ones hang
        renew: Effect.flatMap(Ref.getAndUpdate(calls, (n) => n + 1), (n) => n === 0 ? Effect.void : Effect.never)
      }).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust(13_999) // new deadline 15 s, margin 1 s
      yield* settle
      assert.isFalse(isDone(fiber), "still held before 14 s")
      yield* TestClock.adjust(1)
      yield* settle
      assert.strictEqual((yield* Fiber.join(fiber))._tag, "Expired")
      assert.strictEqual(yield* Ref.get(calls), 2)
    }))

  it.effect("a failed renewal fails with its error at once", () =>
    Effect.gen(function*() {
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 10_000),
        renewEvery: 5000,
        renew: Effect.fail("refused" as const)
      }).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust(4999)
      yield* settle
      assert.isFalse(isDone(fiber))
      yield* TestClock.adjust(1)
      yield* settle
      assert.strictEqual(yield* Fiber.join(fiber), "refused")
    }))

  it.effect("a renew interval too close to the lease is capped, so renewals still come in time", () =>
    Effect.gen(function*() {
      const renewals = yield* Ref.make(0)
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 10_000),
        renewEvery: 9_500, // a renew ratio of 0.95 would miss the 9 s deadline
        renew: Ref.update(renewals, (n) => n + 1)
      }).pipe(Effect.forkChild)
      yield* settle
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("8 seconds") // capped at lease - 2 × margin = 8 s
        yield* settle
      }
      assert.isFalse(isDone(fiber))
      assert.strictEqual(yield* Ref.get(renewals), 10)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a lease granted long ago with no renewal yet expires at once", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust("20 seconds")
      const error = yield* Effect.flip(
        Watchdog.keepAlive({ timeline: timelineOf(0, 10_000), renewEvery: 5000, renew: Effect.void })
      )
      assert.strictEqual(error._tag, "Expired")
    }))
})

describe("keepAlive with the server's read timeout", () => {
  it("a confirmed exchange keeps the lease for its lease, or the read timeout if shorter", () => {
    assert.strictEqual(Watchdog.lifetime(20_000, 3000), 3000)
    assert.strictEqual(Watchdog.lifetime(2000, 23_000), 2000)
  })

  it.effect("a 20 s lease on a server with a 3 s read timeout: Expired (by readTimeout) at 3 s less the margin", () =>
    Effect.gen(function*() {
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 20_000),
        readTimeoutMillis: 3000,
        renewEvery: 2500, // capped at 3 s - 2 × 300 ms = 2.4 s
        // the renewal is on the wire but never answered: the reply's bound (2.4 s) outlasts the deadline
        renew: Effect.never
      }).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust(2699) // deadline 3 s, margin 300 ms
      yield* settle
      assert.isFalse(isDone(fiber), "not before 2.7 s")
      yield* TestClock.adjust(1)
      yield* settle
      assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Expired", by: "readTimeout" })
    }))

  it.effect("each confirmed renewal moves the read-timeout deadline to its send plus the read timeout", () =>
    Effect.gen(function*() {
      const renewals = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 20_000),
        readTimeoutMillis: 3000,
        renewEvery: 1000,
        renew: Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(renewals, (r) => [...r, now]))
      }).pipe(Effect.forkChild)
      yield* settle
      for (let i = 0; i < 30; i++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      assert.isFalse(isDone(fiber), "held for 30 s, ten read timeouts, on renewals every second")
      assert.strictEqual((yield* Ref.get(renewals)).length, 30)
      yield* Fiber.interrupt(fiber)
    }))

  it.effect("a heartbeat unanswered when the next is due: Unanswered at once, long before the deadline", () =>
    Effect.gen(function*() {
      const fiber = yield* Watchdog.keepAlive({
        timeline: timelineOf(0, 60_000),
        readTimeoutMillis: 23_000,
        renewEvery: 2000,
        renew: Effect.never
      }).pipe(Effect.flip, Effect.forkChild)
      yield* settle
      yield* TestClock.adjust(3999) // sent at 2 s, its bound is one interval
      yield* settle
      assert.isFalse(isDone(fiber), "not before 4 s")
      yield* TestClock.adjust(1)
      yield* settle
      assert.deepStrictEqual(yield* Fiber.join(fiber), { _tag: "Unanswered", millis: 2000 })
    }))
})
