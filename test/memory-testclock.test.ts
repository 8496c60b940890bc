/**
 * Memory.layer() on the TestClock (issue 25): locks taken in a forked fiber,
 * nested or not, advance with `TestClock.adjust` called right after the fork,
 * with no `Effect.yieldNow` in between. The in-memory server answers within
 * the scheduler turn of the request, so by the time `adjust` moves time (after
 * its one yield) the fiber has reached its region's `sleep`, however many
 * locks it took on the way.
 *
 * A grant wakes its waiter in the same step too, so a release hands a lock
 * down a whole queue at once.
 *
 * Every test checks that the fiber has already finished when the step that
 * should finish it returns (an `adjust`, a release), rather than joining it (a
 * regression fails with a message instead of hanging), and at which simulated
 * times its region started and ended.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Scope } from "effect"
import { TestClock } from "effect/testing"
import { Lock, Memory, Semaphore } from "../src/index.ts"

/** Per test: a hang is a failure, not a 60 s wait. */
const TIMEOUT = 5_000

interface Span {
  readonly started: number
  readonly ended: number
}

/** A region that sleeps `duration`, and reports when (TestClock millis) it started and ended. */
const work = (duration: Duration.Input): Effect.Effect<Span> =>
  Effect.gen(function*() {
    const started = yield* Clock.currentTimeMillis
    yield* Effect.sleep(duration)
    return { started, ended: yield* Clock.currentTimeMillis }
  })

/** The fiber's exit, which must be there already: right after an `adjust`, with no yield. */
const finished = <A, E>(fiber: Fiber.Fiber<A, E>, what: string): Effect.Effect<Exit.Exit<A, E>> =>
  Effect.suspend(() => {
    const exit = fiber.pollUnsafe()
    return exit === undefined
      ? Effect.die(new Error(`${what}: the fiber had not finished when TestClock.adjust returned`))
      : Effect.succeed(exit)
  })

/** Its success, which must be there already. */
const result = <A, E>(fiber: Fiber.Fiber<A, E>, what: string): Effect.Effect<A> =>
  Effect.flatMap(finished(fiber, what), (exit) => {
    if (Exit.isSuccess(exit)) return Effect.succeed(exit.value)
    return Effect.die(new Error(`${what}: the fiber failed: ${String(exit.cause)}`))
  })

const lockInfo = (key: string) =>
  Effect.map(Memory.stats(), (all) => all.flatMap(({ stats }) => stats.locks).find((l) => l.key === key))

/** Nobody holds or waits for anything. */
const settled = Effect.map(
  Memory.stats(),
  (all) => all.every(({ stats }) => stats.locks.length === 0 && stats.semaphores.length === 0)
)

describe("Memory on the TestClock: forked locks advance with TestClock.adjust", () => {
  it.effect("one lock (the baseline)", () =>
    Effect.gen(function*() {
      const fiber = yield* work("5 seconds").pipe(Lock.withLock("a"), Effect.forkChild)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* result(fiber, "withLock"), { started: 0, ended: 5000 })
      assert.isTrue(yield* settled, "released afterwards")
    }).pipe(Effect.provide(Memory.layer())), TIMEOUT)

  it.effect("withPermit ∘ withLock", () =>
    Effect.gen(function*() {
      const fiber = yield* work("5 seconds").pipe(
        Lock.withLock("a"),
        Semaphore.withPermit("s", { limit: 1 }),
        Effect.forkChild
      )
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* result(fiber, "withPermit ∘ withLock"), { started: 0, ended: 5000 })
      assert.isTrue(yield* settled, "both released afterwards")
    }).pipe(Effect.provide(Memory.layer())), TIMEOUT)

  it.effect("two nested withLocks", () =>
    Effect.gen(function*() {
      const fiber = yield* work("5 seconds").pipe(Lock.withLock("inner"), Lock.withLock("outer"), Effect.forkChild)
      yield* TestClock.adjust("5 seconds")
      assert.deepStrictEqual(yield* result(fiber, "withLock ∘ withLock"), { started: 0, ended: 5000 })
      assert.isTrue(yield* settled, "both released afterwards")
    }).pipe(Effect.provide(Memory.layer())), TIMEOUT)

  it.effect("three levels, on two servers, in steps", () =>
    Effect.gen(function*() {
      const fiber = yield* work("5 seconds").pipe(
        Lock.withLock("c"),
        Lock.withLock("b"),
        Semaphore.withPermit("s", { limit: 2 }),
        Effect.forkChild
      )
      yield* TestClock.adjust("4999 millis")
      assert.isUndefined(fiber.pollUnsafe(), "not before its sleep ends")
      assert.isDefined(yield* lockInfo("b"), "b held")
      assert.isDefined(yield* lockInfo("c"), "c held")
      yield* TestClock.adjust("1 milli")
      assert.deepStrictEqual(yield* result(fiber, "three levels"), { started: 0, ended: 5000 })
      assert.isTrue(yield* settled, "all released afterwards")
    }).pipe(Effect.provide(Memory.layer({ servers: 2 }))), TIMEOUT)

  it.effect(
    "two nested withLocks outliving their leases: renewed at the simulated times",
    () =>
      Effect.gen(function*() {
        const options: Lock.AcquireOptions = { leaseTtl: "10 seconds" }
        const fiber = yield* work("30 seconds").pipe(
          Lock.withLock("inner", options),
          Lock.withLock("outer", options),
          Effect.forkChild
        )
        // renewed every 5 s (half the lease): last at 5 s, so 8 s left at 7 s
        yield* TestClock.adjust("7 seconds")
        assert.strictEqual((yield* lockInfo("outer"))?.lease_expires_in_s, 8)
        assert.strictEqual((yield* lockInfo("inner"))?.lease_expires_in_s, 8)
        // and in one step past many renewals (a renewal that started late would lose a lease)
        yield* TestClock.adjust("23 seconds")
        assert.deepStrictEqual(yield* result(fiber, "nested, renewed"), { started: 0, ended: 30_000 })
        assert.isTrue(yield* settled, "both released afterwards")
      }).pipe(Effect.provide(Memory.layer())),
    TIMEOUT
  )

  it.effect("withPermit ∘ withLock outliving its leases, in one adjust", () =>
    Effect.gen(function*() {
      const fiber = yield* work("1 minute").pipe(
        Lock.withLock("a", { leaseTtl: "4 seconds" }),
        Semaphore.withPermit("s", { limit: 1, leaseTtl: "4 seconds" }),
        Effect.forkChild
      )
      yield* TestClock.adjust("1 minute")
      assert.deepStrictEqual(yield* result(fiber, "withPermit ∘ withLock, renewed"), { started: 0, ended: 60_000 })
      assert.isTrue(yield* settled, "both released afterwards")
    }).pipe(Effect.provide(Memory.layer())), TIMEOUT)
})

describe("Memory on the TestClock: the inner key is held by someone else first", () => {
  it.effect("held by a fiber whose region ends on the TestClock", () =>
    Effect.gen(function*() {
      const holder = yield* work("3 seconds").pipe(Lock.withLock("inner"), Effect.forkChild)
      const fiber = yield* work("5 seconds").pipe(
        Lock.withLock("inner", { acquireTimeout: "1 minute" }),
        Lock.withLock("outer"),
        Effect.forkChild
      )
      yield* TestClock.adjust("8 seconds")
      assert.deepStrictEqual(yield* result(holder, "holder"), { started: 0, ended: 3000 })
      assert.deepStrictEqual(yield* result(fiber, "nested, queued"), { started: 3000, ended: 8000 })
      assert.isTrue(yield* settled, "all released afterwards")
    }).pipe(Effect.provide(Memory.layer())), TIMEOUT)

  it.effect("held by a fiber that releases it a turn after the nested fiber queued", () =>
    Effect.gen(function*() {
      // the holder yields once in its region: the nested fiber queues meanwhile, and the
      // release hands it the lock in that next turn, before the adjust moves the clock
      const holder = yield* Effect.yieldNow.pipe(Lock.withLock("inner"), Effect.forkChild)
      const fiber = yield* work("5 seconds").pipe(
        Lock.withLock("inner", { acquireTimeout: "1 minute" }),
        Lock.withLock("outer"),
        Effect.forkChild
      )
      yield* TestClock.adjust("5 seconds")
      yield* finished(holder, "holder")
      assert.deepStrictEqual(yield* result(fiber, "nested, granted by the release"), { started: 0, ended: 5000 })
      assert.isTrue(yield* settled, "all released afterwards")
    }).pipe(Effect.provide(Memory.layer())), TIMEOUT)

  it.effect("held by a lease nobody renews, which runs out on the TestClock", () =>
    Effect.gen(function*() {
      // a queued ticket granted while nobody waits on it: its lease runs, unrenewed, until `wait`
      const before = yield* Scope.make()
      yield* Lock.acquire("inner").pipe(Scope.provide(before))
      const ticket = yield* Lock.enqueue("inner", { leaseTtl: "3 seconds" })
      assert.strictEqual(ticket.status, "queued")
      yield* Scope.close(before, Exit.void)

      const fiber = yield* work("5 seconds").pipe(
        Lock.withLock("inner", { acquireTimeout: "1 minute" }),
        Semaphore.withPermit("s", { limit: 1 }),
        Effect.forkChild
      )
      yield* TestClock.adjust("2999 millis")
      assert.isUndefined(fiber.pollUnsafe(), "still queued while the lease runs")
      assert.strictEqual((yield* lockInfo("inner"))?.waiters, 1)
      yield* TestClock.adjust("5001 millis")
      assert.deepStrictEqual(yield* result(fiber, "nested, after the expiry"), { started: 3000, ended: 8000 })
      assert.isTrue(yield* settled, "all released afterwards")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())), TIMEOUT)

  it.effect(
    "held throughout: the inner acquire times out and the outer lock is released",
    () =>
      Effect.gen(function*() {
        yield* Lock.acquire("inner")
        const fiber = yield* work("5 seconds").pipe(
          Lock.withLock("inner", { acquireTimeout: "2 seconds" }),
          Lock.withLock("outer"),
          Effect.forkChild
        )
        yield* TestClock.adjust("2 seconds")
        const exit = yield* finished(fiber, "nested, timed out")
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.strictEqual(exit.cause.reasons[0]?._tag, "Fail")
          const reason = exit.cause.reasons[0]
          if (reason?._tag === "Fail") assert.strictEqual(reason.error._tag, "AcquireTimeoutError")
        }
        assert.isUndefined(yield* lockInfo("outer"), "the outer lock is released")
        assert.strictEqual((yield* lockInfo("inner"))?.waiters, 0, "no waiter left behind")
      }).pipe(Effect.scoped, Effect.provide(Memory.layer())),
    TIMEOUT
  )
})

describe("Memory: grants down a queue", () => {
  it.effect("a release hands the lock down a queue of 1000 waiters in one step", () =>
    Effect.gen(function*() {
      const n = 1000
      const holder = yield* Scope.make()
      yield* Lock.acquire("k").pipe(Scope.provide(holder))
      const all = yield* Effect.forEach(
        Array.from({ length: n }),
        () => Effect.void.pipe(Lock.withLock("k", { acquireTimeout: "1 minute" })),
        { concurrency: "unbounded", discard: true }
      ).pipe(Effect.forkChild)
      // this test is about the release, not the queueing: it may yield until all are queued
      for (let i = 0; i < 100 * n && (yield* lockInfo("k"))?.waiters !== n; i++) yield* Effect.yieldNow
      assert.strictEqual((yield* lockInfo("k"))?.waiters, n)
      // each waiter granted runs its region and releases to the next, all within the
      // release (at a constant stack depth: no stack overflow, however long the queue)
      yield* Scope.close(holder, Exit.void)
      yield* result(all, "the queue")
      assert.isTrue(yield* settled, "all released afterwards")
    }).pipe(Effect.provide(Memory.layer())), 30_000)
})
