/**
 * Leader election: on the real server, and on the in-memory server with the
 * TestClock where the pacing of campaigns is counted exactly.
 *
 * The leader's own failures (any tag, even those the campaign retries) end the
 * election with that error after one term; the campaign's failures (an acquire
 * timeout while another node leads, a lost term, a connection failure) start a
 * new campaign, each after the schedule's pause, never at once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Exit, Fiber, Ref, Schedule, Scope } from "effect"
import { TestClock } from "effect/testing"
import { inject } from "vitest"
import { freePort } from "../scripts/dflockd-server.ts"
import { Election, Lock, Memory } from "../src/index.ts"
import * as Codec from "../src/internal/protocol/codec.ts"
import { clientLayer, eventuallyFree, sendRaw } from "./support/probe.ts"
import { eventually } from "./support/eventually.ts"
import { freshKey as fresh } from "./support/keys.ts"

const server = inject("dflockd").address
const freshKey = (name: string) => fresh("election", name)

/** Lets every runnable fiber run (the clock stands still): what would happen at once has happened. */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 500; i++) yield* Effect.yieldNow
})

/** Holders and waiters of `key` on the in-memory server. */
const lockState = (key: string) =>
  Effect.map(Memory.stats(), (all) => {
    const info = all.flatMap(({ stats }) => stats.locks).find((l) => l.key === key)
    return { held: info !== undefined && info.owner_conn_id !== null, waiters: info?.waiters ?? 0 }
  })
const waiters = (key: string) => Effect.map(lockState(key), (s) => s.waiters)

describe("Election.run (real server)", () => {
  it.live("one leader at a time; when the leader steps down, the next candidate leads", () =>
    Effect.gen(function*() {
      const key = freshKey("one-leader")
      const leaders = yield* Ref.make(0)
      const maxLeaders = yield* Ref.make(0)
      const elected = yield* Ref.make<ReadonlyArray<string>>([])
      const candidate = (name: string, started: Deferred.Deferred<void>) =>
        Election.run(
          key,
          () =>
            Effect.gen(function*() {
              const now = yield* Ref.updateAndGet(leaders, (n) => n + 1)
              yield* Ref.update(maxLeaders, (m) => Math.max(m, now))
              yield* Ref.update(elected, (names) => [...names, name])
              yield* Deferred.succeed(started, undefined)
              return yield* Effect.never
            }).pipe(Effect.ensuring(Ref.update(leaders, (n) => n - 1))),
          { leaseTtl: "2 seconds" }
        ).pipe(Effect.provide(clientLayer(server)))

      const aLeads = yield* Deferred.make<void>()
      const bLeads = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(candidate("a", aLeads))
      yield* Deferred.await(aLeads)
      const b = yield* Effect.forkChild(candidate("b", bLeads))
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(yield* Ref.get(elected), ["a"], "b waits while a leads")
      yield* Fiber.interrupt(a) // a steps down: its lock is released
      yield* Deferred.await(bLeads)
      assert.deepStrictEqual(yield* Ref.get(elected), ["a", "b"])
      assert.strictEqual(yield* Ref.get(maxLeaders), 1, "never two leaders at once")
      yield* Fiber.interrupt(b)
    }), 15_000)

  it.live("a leader that loses its lease is interrupted and campaigns again", () =>
    Effect.gen(function*() {
      const key = freshKey("lease-lost")
      const terms = yield* Ref.make<ReadonlyArray<string>>([])
      const interrupted = yield* Ref.make(0)
      const firstTerm = yield* Deferred.make<string>()
      const secondTerm = yield* Deferred.make<string>()
      const fiber = yield* Election.run(
        key,
        (lock) =>
          Effect.gen(function*() {
            const all = yield* Ref.updateAndGet(terms, (t) => [...t, lock.token])
            yield* Deferred.succeed(all.length === 1 ? firstTerm : secondTerm, lock.token)
            return yield* Effect.never
          }).pipe(Effect.onInterrupt(() => Ref.update(interrupted, (n) => n + 1))),
        { leaseTtl: "2 seconds", retryDelay: "100 millis" }
      ).pipe(Effect.provide(clientLayer(server)), Effect.forkChild)
      const token = yield* Deferred.await(firstTerm)
      // someone else ends the term: the next renewal is refused, the lease is lost
      yield* sendRaw(server, Codec.release("lock", key, token))
      const next = yield* Deferred.await(secondTerm)
      assert.notStrictEqual(next, token, "a new term with a new grant")
      assert.strictEqual(yield* Ref.get(interrupted), 1, "the first term was interrupted")
      yield* Fiber.interrupt(fiber)
    }), 15_000)

  it.live("a leader that finishes returns its value and releases leadership", () =>
    Effect.gen(function*() {
      const key = freshKey("finishes")
      const result = yield* Election.run(key, (lock) => Effect.succeed(`done by ${lock.key}`)).pipe(
        Effect.provide(clientLayer(server))
      )
      assert.strictEqual(result, `done by ${key}`)
      const again = yield* Election.run(key, () => Effect.succeed("next")).pipe(
        Effect.provide(clientLayer(server)),
        Effect.timeout("3 seconds")
      )
      assert.strictEqual(again, "next")
    }))

  it.live(
    "a leader failing with AcquireTimeoutError on another key ends the election with it, after one term",
    () =>
      Effect.gen(function*() {
        const key = freshKey("acquire-timeout")
        const other = freshKey("acquire-timeout-other")
        const terms = yield* Ref.make(0)
        yield* Lock.acquire(other) // someone else holds the key the leader's work needs
        const error = yield* Election.run(
          key,
          () =>
            Ref.update(terms, (n) => n + 1).pipe(
              Effect.andThen(Lock.withLock(Effect.void, other, { acquireTimeout: "200 millis" }))
            ),
          // a schedule that would let a retried leader loop quickly, had its error been taken for the campaign's
          { retry: Schedule.spaced("10 millis") }
        ).pipe(Effect.flip, Effect.timeout("10 seconds"))
        assert.strictEqual(error._tag, "AcquireTimeoutError")
        assert.strictEqual(error._tag === "AcquireTimeoutError" ? error.key : "", other, "the leader's own error")
        assert.strictEqual(yield* Ref.get(terms), 1, "exactly one term")
        assert.isTrue(yield* eventuallyFree(server, key), "leadership released")
      }).pipe(Effect.scoped, Effect.provide(clientLayer(server))),
    15_000
  )

  it.live(
    "a leader failing with ConnectionError (its own unreachable server) ends the election with it, after one term",
    () =>
      Effect.gen(function*() {
        const key = freshKey("connection-error")
        const unreachable = `127.0.0.1:${yield* Effect.promise(() => freePort())}` // nothing listens there
        const terms = yield* Ref.make(0)
        const error = yield* Election.run(
          key,
          () =>
            Ref.update(terms, (n) => n + 1).pipe(
              Effect.andThen(Lock.withLock(Effect.void, "elsewhere")),
              Effect.provide(clientLayer(unreachable, { connectRetry: Schedule.recurs(0) }))
            ),
          { retry: Schedule.spaced("10 millis") }
        ).pipe(Effect.provide(clientLayer(server)), Effect.flip, Effect.timeout("10 seconds"))
        assert.strictEqual(error._tag, "ConnectionError")
        assert.strictEqual(error._tag === "ConnectionError" ? error.server : "", unreachable, "the leader's own error")
        assert.strictEqual(yield* Ref.get(terms), 1, "exactly one term")
        assert.isTrue(yield* eventuallyFree(server, key), "leadership released")
      }),
    15_000
  )
})

describe("Election.run (in-memory server, TestClock)", () => {
  it.effect("a leader failing with LockLostError on another key ends the election with it, after one term", () =>
    Effect.gen(function*() {
      const key = freshKey("lock-lost")
      const other = freshKey("lock-lost-other")
      const terms = yield* Ref.make(0)
      const fiber = yield* Election.run(
        key,
        () =>
          Ref.update(terms, (n) => n + 1).pipe(
            Effect.andThen(Effect.never.pipe(Lock.withLock(other, { leaseTtl: "4 seconds" })))
          ),
        { retry: Schedule.spaced("1 second") }
      ).pipe(Effect.forkChild)
      yield* eventually(Effect.map(lockState(other), (s) => s.held), "the leader holds the other key")
      assert.strictEqual(yield* Memory.releaseAll(other), 1)
      yield* TestClock.adjust("2 seconds") // the leader's renewal of the other key is refused
      const error = yield* Effect.flip(Fiber.join(fiber))
      assert.strictEqual(error._tag, "LockLostError")
      assert.strictEqual(error._tag === "LockLostError" ? error.key : "", other, "the leader's own error")
      assert.strictEqual(yield* Ref.get(terms), 1, "exactly one term")
      assert.isFalse((yield* lockState(key)).held, "leadership released")
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a campaign that times out while another node leads is retried only as the schedule says", () =>
    Effect.gen(function*() {
      const key = freshKey("campaign-timeout")
      const holder = yield* Scope.make()
      yield* Lock.acquire(key, { leaseTtl: "60 seconds" }).pipe(Scope.provide(holder)) // another node leads
      const pauses = yield* Ref.make(0)
      const elected = yield* Ref.make(0)
      const retry = Schedule.spaced("10 seconds").pipe(Schedule.tap(() => Ref.update(pauses, (n) => n + 1)))
      const fiber = yield* Election.run(
        key,
        () => Ref.update(elected, (n) => n + 1).pipe(Effect.andThen(Effect.never)),
        { acquireTimeout: "1 second", retry }
      ).pipe(Effect.forkChild)
      // campaign k waits in line from 11 (k - 1) s to 11 (k - 1) + 1 s, then pauses 10 s
      yield* eventually(Effect.map(waiters(key), (n) => n === 1), "the first campaign is in line")
      yield* TestClock.adjust("1 second")
      yield* eventually(Effect.map(Ref.get(pauses), (n) => n === 1), "the first campaign timed out")
      yield* eventually(Effect.map(waiters(key), (n) => n === 0), "out of line during the pause")
      yield* TestClock.adjust("9 seconds")
      yield* settle
      assert.strictEqual(yield* waiters(key), 0, "no campaign before the pause ends")
      assert.strictEqual(yield* Ref.get(pauses), 1)
      yield* TestClock.adjust("1 second")
      yield* eventually(Effect.map(waiters(key), (n) => n === 1), "the second campaign is in line at 11 s")
      for (let second = 12; second <= 55; second++) {
        yield* TestClock.adjust("1 second")
        yield* settle
      }
      // timeouts at 1, 12, 23, 34 and 45 s; the sixth campaign joined the line at 55 s
      assert.strictEqual(yield* Ref.get(pauses), 5, "one campaign per 11 s, as the schedule says")
      assert.strictEqual(yield* waiters(key), 1)
      assert.strictEqual(yield* Ref.get(elected), 0)
      yield* Scope.close(holder, Exit.void) // the other node steps down: the candidate in line leads
      yield* eventually(Effect.map(Ref.get(elected), (n) => n === 1), "elected")
      assert.strictEqual(yield* Ref.get(pauses), 5)
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a lease lost mid-term interrupts the leader; the next campaign waits for the schedule's delay", () =>
    Effect.gen(function*() {
      const key = freshKey("mid-term")
      const terms = yield* Ref.make<ReadonlyArray<string>>([])
      const interrupted = yield* Ref.make(0)
      const fiber = yield* Election.run(
        key,
        (lock) =>
          Ref.update(terms, (t) => [...t, lock.token]).pipe(
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() => Ref.update(interrupted, (n) => n + 1))
          ),
        { leaseTtl: "4 seconds", retry: Schedule.spaced("10 seconds") }
      ).pipe(Effect.forkChild)
      yield* eventually(Effect.map(Ref.get(terms), (t) => t.length === 1), "the first term")
      assert.strictEqual(yield* Memory.releaseAll(key), 1)
      yield* TestClock.adjust("2 seconds") // the renewal is refused: the lease is lost
      yield* eventually(Effect.map(Ref.get(interrupted), (n) => n === 1), "the leader interrupted")
      yield* settle
      assert.strictEqual((yield* Ref.get(terms)).length, 1, "no new campaign at once")
      assert.deepStrictEqual(yield* lockState(key), { held: false, waiters: 0 })
      yield* TestClock.adjust("9999 millis")
      yield* settle
      assert.strictEqual((yield* Ref.get(terms)).length, 1, "nor before the schedule's delay")
      yield* TestClock.adjust("1 millis")
      yield* eventually(Effect.map(Ref.get(terms), (t) => t.length === 2), "a new term after 10 s")
      const [first, second] = yield* Ref.get(terms)
      assert.notStrictEqual(second, first, "a new grant")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("the default schedule pauses 200-300 ms before each new campaign, afresh after every term: no tight loop", () =>
    Effect.gen(function*() {
      const key = freshKey("default-schedule")
      const granted = yield* Ref.make<ReadonlyArray<number>>([])
      const lostAt = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Election.run(
        key,
        () =>
          Clock.currentTimeMillis.pipe(
            Effect.flatMap((now) => Ref.update(granted, (t) => [...t, now])),
            Effect.andThen(Effect.never),
            Effect.onInterrupt(() =>
              Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.update(lostAt, (t) => [...t, now]))
            )
          ),
        { leaseTtl: "4 seconds" }
      ).pipe(Effect.forkChild)
      const terms = Effect.map(Ref.get(granted), (t) => t.length)
      /** Moves the clock to `millis` after `from`. */
      const moveTo = (from: number, millis: number) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => TestClock.adjust(Math.max(0, from + millis - now)))
      yield* eventually(Effect.map(terms, (n) => n === 1), "the first term")
      for (let lost = 1; lost <= 5; lost++) {
        assert.strictEqual(yield* Memory.releaseAll(key), 1)
        yield* TestClock.adjust("2 seconds") // the next renewal is refused: the term is lost
        yield* eventually(Effect.map(Ref.get(lostAt), (t) => t.length === lost), `term ${lost} lost`)
        const at = (yield* Ref.get(lostAt))[lost - 1]!
        yield* settle
        assert.strictEqual(yield* terms, lost, "the clock stands still: no new term")
        yield* moveTo(at, 199)
        yield* settle
        assert.strictEqual(yield* terms, lost, "no new term before the jittered 250 ms")
        yield* moveTo(at, 300)
        yield* eventually(Effect.map(terms, (n) => n === lost + 1), `term ${lost + 1}`)
        const pause = (yield* Ref.get(granted))[lost]! - at
        assert.isAtLeast(pause, 200)
        assert.isAtMost(pause, 300, "the schedule started afresh with the term: not a longer backoff")
      }
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a leader that sees its own term's lease lost (Lock.extend refused) loses the term and campaigns again", () =>
    Effect.gen(function*() {
      const key = freshKey("extend-refused")
      const terms = yield* Ref.make(0)
      const extend = yield* Deferred.make<void>()
      const fiber = yield* Election.run(
        key,
        (lock) =>
          Ref.updateAndGet(terms, (n) => n + 1).pipe(
            Effect.flatMap((n) =>
              n === 1
                ? Deferred.await(extend).pipe(Effect.andThen(Lock.extend(lock, "10 seconds")))
                : Effect.void
            ),
            Effect.andThen(Effect.never)
          ),
        { leaseTtl: "20 seconds", retry: Schedule.spaced("5 seconds") }
      ).pipe(Effect.forkChild)
      yield* eventually(Effect.map(Ref.get(terms), (n) => n === 1), "the first term")
      assert.strictEqual(yield* Memory.releaseAll(key), 1)
      yield* Deferred.succeed(extend, undefined) // refused: the leader fails with the term's LockLostError
      yield* settle
      assert.isUndefined(fiber.pollUnsafe(), "the election goes on")
      assert.strictEqual(yield* Ref.get(terms), 1)
      yield* TestClock.adjust("5 seconds")
      yield* eventually(Effect.map(Ref.get(terms), (n) => n === 2), "a new term after the schedule's delay")
      yield* Fiber.interrupt(fiber)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a schedule that ends gives up with the last campaign error", () =>
    Effect.gen(function*() {
      const key = freshKey("schedule-ends")
      // campaigns that time out: three, then the schedule (two recurrences) ends
      const holder = yield* Scope.make()
      yield* Lock.acquire(key, { leaseTtl: "60 seconds" }).pipe(Scope.provide(holder))
      const timedOut = yield* Election.run(key, () => Effect.void, {
        acquireTimeout: "1 second",
        retry: Schedule.spaced("5 seconds").pipe(Schedule.upTo({ times: 2 }))
      }).pipe(Effect.flip, Effect.forkChild)
      for (let second = 0; second < 13; second++) {
        yield* settle
        yield* TestClock.adjust("1 second")
      }
      const error = yield* Fiber.join(timedOut)
      assert.strictEqual(error._tag, "AcquireTimeoutError")
      yield* Scope.close(holder, Exit.void)

      // a lost term with no recurrence left: the election ends with the LockLostError
      const terms = yield* Ref.make(0)
      const lost = yield* Election.run(
        key,
        () => Ref.update(terms, (n) => n + 1).pipe(Effect.andThen(Effect.never)),
        { leaseTtl: "4 seconds", retry: Schedule.recurs(0) }
      ).pipe(Effect.flip, Effect.forkChild)
      yield* eventually(Effect.map(Ref.get(terms), (n) => n === 1), "the term")
      assert.strictEqual(yield* Memory.releaseAll(key), 1)
      yield* TestClock.adjust("2 seconds")
      const lostError = yield* Fiber.join(lost)
      assert.strictEqual(lostError._tag, "LockLostError")
      assert.strictEqual(lostError._tag === "LockLostError" ? lostError.key : "", key)
      assert.strictEqual(yield* Ref.get(terms), 1)
    }).pipe(Effect.provide(Memory.layer())))
})
