/**
 * What a holder can do with its lease beyond holding it, and holding several:
 * `extend`, `remaining` and `release` (on the in-memory server and the
 * TestClock, where the deadlines are exact, and on the real server), and
 * `acquireAll` / `withLocks` (all or none, one global order: two processes
 * taking the same keys in opposite orders never deadlock).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Logger, Option, References, Scope } from "effect"
import { TestClock } from "effect/testing"
import { spawn } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { inject } from "vitest"
import { Lock, Memory, Semaphore } from "../src/index.ts"
import { failedWith } from "./support/exits.ts"
import { freshKey as fresh } from "./support/keys.ts"
import { lineReader } from "./support/lines.ts"
import { clientLayer, eventuallyFree, isFree } from "./support/probe.ts"
import { hang, harness, ScriptedServer } from "./support/scriptedServer.ts"

const shared = inject("dflockd").address
const Live = clientLayer(shared)
const freshKey = (name: string) => fresh("leases", name)

/** The lease's entry in the in-memory server's stats. */
const lockInfo = (key: string) =>
  Effect.map(Memory.stats(), (all) => all.flatMap(({ stats }) => stats.locks).find((l) => l.key === key))

/** `lost` has not failed (checked without waiting on the TestClock). */
const notLost = (lock: Lock.Lock) =>
  Effect.map(
    Effect.exit(TestClock.withLive(lock.lost.pipe(Effect.timeoutOption("10 millis")))),
    (exit) => Exit.isSuccess(exit) && Option.isNone(exit.value)
  )

describe("extend and remaining (in-memory server, TestClock)", () => {
  it.effect("remaining counts down to the deadline less the margin, and renewals move it on", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.acquire(freshKey("remaining"), { leaseTtl: "10 seconds" })
      // 10 s lease, 23 s read timeout: the deadline is 10 s after the grant, less 1 s
      assert.strictEqual(Duration.toMillis(yield* Lock.remaining(lock)), 9000)
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(Duration.toMillis(yield* Lock.remaining(lock)), 7000)
      yield* TestClock.adjust("4 seconds") // renewed at 5 s: 10 s from then, less 1 s
      assert.strictEqual(Duration.toMillis(yield* Lock.remaining(lock)), 8000)
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("extend renews now with the new lease; the server and remaining both show it", () =>
    Effect.gen(function*() {
      const key = freshKey("extend")
      const lock = yield* Lock.acquire(key, { leaseTtl: "5 seconds" })
      yield* TestClock.adjust("1 second")
      yield* Lock.extend(lock, "60 seconds")
      assert.strictEqual((yield* lockInfo(key))?.lease_expires_in_s, 60)
      // the read timeout (23 s) bounds what one exchange is worth: 23 s less 1 s
      assert.strictEqual(Duration.toMillis(yield* Lock.remaining(lock)), 22_000)
      // renewals go on with the new lease
      yield* TestClock.adjust("2 minutes")
      assert.isAbove((yield* lockInfo(key))!.lease_expires_in_s, 50)
      assert.isTrue(yield* notLost(lock))
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("a shorter lease is renewed in time: the loop starts over from the new deadline", () =>
    Effect.gen(function*() {
      const key = freshKey("shorten")
      const lock = yield* Lock.acquire(key, { leaseTtl: "60 seconds" })
      yield* Lock.extend(lock, "2 seconds")
      assert.strictEqual((yield* lockInfo(key))?.lease_expires_in_s, 2)
      for (let i = 0; i < 20; i++) yield* TestClock.adjust("500 millis")
      assert.isTrue(yield* notLost(lock), "renewed every second or so, not every 7.67 s")
      assert.isAtMost((yield* lockInfo(key))!.lease_expires_in_s, 2)
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("a refused extension loses the lock: extend and lost fail with LockLostError", () =>
    Effect.gen(function*() {
      const key = freshKey("refused")
      const lock = yield* Lock.acquire(key, { leaseTtl: "20 seconds" })
      assert.strictEqual(yield* Memory.expire(key), 1)
      const error = yield* Effect.flip(Lock.extend(lock, "30 seconds"))
      assert.strictEqual(error._tag, "LockLostError")
      assert.match(error._tag === "LockLostError" ? error.reason : "", /extending the lease failed/)
      assert.strictEqual((yield* Effect.flip(lock.lost))._tag, "LockLostError")
      assert.strictEqual(Duration.toMillis(yield* Lock.remaining(lock)), 0)
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("a bad lease is refused before any exchange; the lock is untouched", () =>
    Effect.gen(function*() {
      const key = freshKey("bad-extend")
      const lock = yield* Lock.acquire(key, { leaseTtl: "20 seconds" })
      const error = yield* Effect.flip(Lock.extend(lock, "1.5 seconds"))
      assert.strictEqual(error._tag, "InvalidArgumentError")
      assert.strictEqual((yield* lockInfo(key))?.lease_expires_in_s, 20)
      assert.isTrue(yield* notLost(lock))
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("a permit extends like a lock", () =>
    Effect.gen(function*() {
      const key = freshKey("permit")
      const permit = yield* Semaphore.acquire(key, { limit: 2, leaseTtl: "5 seconds" })
      yield* Semaphore.extend(permit, "40 seconds")
      const info = (yield* Memory.stats()).flatMap(({ stats }) => stats.semaphores).find((s) => s.key === key)
      assert.isDefined(info)
      assert.strictEqual(Duration.toMillis(yield* Semaphore.remaining(permit)), 22_000)
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))
})

describe("release early", () => {
  it.live("frees the lock on the server at once; the scope's end does nothing more", () =>
    Effect.gen(function*() {
      const key = freshKey("early")
      const warnings: Array<string> = []
      yield* Effect.gen(function*() {
        const lock = yield* Lock.acquire(key)
        yield* Lock.release(lock)
        assert.isTrue(yield* eventuallyFree(shared, key), "released before the scope closed")
        yield* Lock.release(lock) // twice: nothing
        assert.strictEqual(Duration.toMillis(yield* Lock.remaining(lock)), 0)
        const error = yield* Effect.flip(Lock.extend(lock, "10 seconds"))
        assert.strictEqual(error._tag, "LockLostError")
        // someone else takes the key while this scope is still open
        const other = yield* Lock.tryAcquire(key).pipe(Effect.provide(Live))
        assert.isTrue(Option.isSome(other))
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(
          Live,
          Logger.layer([Logger.make((o) => void warnings.push(`${o.logLevel} ${String(o.message)}`))])
        )),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
      assert.deepStrictEqual(warnings.filter((w) => w.includes("releasing")), [], "no second release")
    }))

  it.live("inside withLock: the region goes on without the lock, and ends normally", () =>
    Effect.gen(function*() {
      const key = freshKey("early-region")
      const result = yield* Effect.gen(function*() {
        const lock = yield* Lock.acquire(key)
        yield* Lock.release(lock)
        return yield* isFree(shared, key)
      }).pipe(Effect.scoped, Effect.provide(Live))
      assert.isTrue(result)
    }))

  it.effect("a held lease whose renewal is on the wire: the release waits for it", () =>
    Effect.gen(function*() {
      const key = freshKey("early-renewing")
      const lock = yield* Lock.acquire(key, { leaseTtl: "4 seconds" })
      yield* TestClock.adjust("2 seconds") // the first renewal
      yield* Lock.release(lock)
      assert.isUndefined(yield* lockInfo(key), "released on the server")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))
})

describe("acquireAll and withLocks", () => {
  it.live("acquires every key, returns the locks in the order asked, releases them together", () =>
    Effect.gen(function*() {
      const [a, b, c] = [freshKey("all-a"), freshKey("all-b"), freshKey("all-c")]
      yield* Effect.gen(function*() {
        const locks = yield* Lock.acquireAll([c, a, b])
        assert.deepStrictEqual(locks.map((l) => l.key), [c, a, b])
        for (const key of [a, b, c]) assert.isFalse(yield* isFree(shared, key))
      }).pipe(Effect.scoped, Effect.provide(Live))
      for (const key of [a, b, c]) assert.isTrue(yield* eventuallyFree(shared, key))
    }))

  it.live("all or none: one key held elsewhere, the ones already taken are released at once", () =>
    Effect.gen(function*() {
      const [a, b] = [freshKey("none-a"), freshKey("none-b")].sort()
      const holder = yield* Scope.make()
      yield* Lock.acquire(b!).pipe(Scope.provide(holder), Effect.provide(Live))
      const started = performance.now()
      const error = yield* Effect.gen(function*() {
        const failed = yield* Effect.flip(Lock.acquireAll([b!, a!], { acquireTimeout: "400 millis" }))
        // still inside the caller's scope: `a` must already be free again
        assert.isTrue(yield* eventuallyFree(shared, a!), "the key taken first was released at once")
        return failed
      }).pipe(Effect.scoped, Effect.provide(Live))
      assert.strictEqual(error._tag, "AcquireTimeoutError")
      assert.isBelow(performance.now() - started, 1500, "one timeout for all the keys")
      yield* Scope.close(holder, Exit.void)
    }))

  it.effect("no keys, or a key twice: InvalidArgumentError before any I/O", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const none = failedWith(yield* Effect.exit(Effect.scoped(Lock.acquireAll([]))), "InvalidArgumentError")
      assert.strictEqual(none.argument, "keys")
      const twice = failedWith(
        yield* Effect.exit(Effect.void.pipe(Lock.withLocks(["a", "b", "a"]))),
        "InvalidArgumentError"
      )
      assert.match(twice.message, /must not repeat a key/)
      const bad = failedWith(
        yield* Effect.exit(Effect.scoped(Lock.acquireAll(["ok", "bad key"]))),
        "InvalidArgumentError"
      )
      assert.strictEqual(bad.argument, "key")
      assert.strictEqual(yield* server.connections, 0)
    }).pipe(Effect.provide(harness(() => [hang])), TestClock.withLive))

  it.effect("withLocks: losing any one lease interrupts the region with LockLostError", () =>
    Effect.gen(function*() {
      const [a, b] = [freshKey("lose-a"), freshKey("lose-b")]
      const entered = yield* Deferred.make<void>()
      const region = yield* Deferred.succeed(entered, undefined).pipe(
        Effect.andThen(Effect.never),
        Lock.withLocks([a, b], { leaseTtl: "4 seconds" }),
        Effect.forkChild
      )
      yield* Deferred.await(entered)
      assert.strictEqual(yield* Memory.releaseAll(b, { kind: "lock" }), 1)
      yield* TestClock.adjust("2 seconds") // the next renewal of b is refused
      const error = yield* Effect.flip(Fiber.join(region))
      assert.strictEqual(error._tag, "LockLostError")
      assert.strictEqual(error._tag === "LockLostError" ? error.key : "", b)
      assert.isUndefined(yield* lockInfo(a), "the other lock was released with the region")
    }).pipe(Effect.provide(Memory.layer())))

  it.live(
    "two processes lock the same keys in opposite orders, many times: no deadlock, never both at once",
    () =>
      Effect.gen(function*() {
        const keys = [freshKey("pair-x"), freshKey("pair-y"), freshKey("pair-z")]
        const rounds = 150
        const worker = Path.join(Path.dirname(fileURLToPath(import.meta.url)), "support", "multiKeyWorker.ts")
        const theirs = Effect.callback<ReadonlyArray<readonly [number, number]>, string>((resume) => {
          const child = spawn(process.execPath, [worker, shared, String(rounds), keys.join(",")], {
            stdio: ["ignore", "pipe", "inherit"]
          })
          const held: Array<readonly [number, number]> = []
          child.stdout.on(
            "data",
            lineReader((line) => {
              const [word, start, end] = line.split(" ")
              if (word === "held") held.push([Number(start), Number(end)])
              else if (word === "failed") resume(Effect.fail(`the other process: ${line}`))
              else if (word === "done") resume(Effect.succeed(held))
            })
          )
          return Effect.sync(() => void child.kill("SIGKILL"))
        })
        const ours: Array<readonly [number, number]> = []
        const mine = Effect.gen(function*() {
          const start = performance.timeOrigin + performance.now()
          yield* Effect.sleep(`${1 + Math.floor(Math.random() * 2)} millis`)
          ours.push([start, performance.timeOrigin + performance.now()])
        }).pipe(Lock.withLocks([...keys].reverse(), { acquireTimeout: "20 seconds" }))
        const running = yield* Effect.forkChild(theirs)
        yield* Effect.forEach(Array.from({ length: rounds }), () => mine, { discard: true }).pipe(Effect.provide(Live))
        const other = yield* Fiber.join(running)
        assert.strictEqual(other.length, rounds)
        assert.strictEqual(ours.length, rounds)
        for (const [s1, e1] of ours) {
          for (const [s2, e2] of other) {
            assert.isFalse(s1 < e2 && s2 < e1, `regions overlapped: [${s1}, ${e1}] and [${s2}, ${e2}]`)
          }
        }
      }),
    60_000
  )
})
