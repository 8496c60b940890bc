/**
 * Memory.layer: the in-memory dflockd for users' own tests.
 *
 * (a) The in-memory server by itself, on the TestClock (`it.effect`): leases,
 *     FIFO, semaphores, two-phase, limits, auth, fences, faults.
 * (b) Parity: one behaviour suite, written once as a function of a layer, run
 *     against Memory.layer() and against the real server under test (locks,
 *     FIFO, two-phase everywhere; semaphores and stats where that server has
 *     them: any disagreement is a bug in Memory).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Redacted, Ref, Scope } from "effect"
import { TestClock } from "effect/testing"
import { inject } from "vitest"
import { DflockdClient, type InvalidArgumentError, Lock, Memory, Semaphore, Token } from "../src/index.ts"
import * as Codec from "../src/internal/protocol/codec.ts"
import { queueInOrder } from "./support/fifo.ts"
import { has, needs, server } from "./support/server.ts"
import { eventually } from "./support/eventually.ts"
import { freshKey as fresh } from "./support/keys.ts"

const freshKey = (name: string) => fresh("mem", name)

/** Every in-memory server's stats, entries concatenated (the test's own view; `Memory.stats` is per server). */
const merged = Effect.map(Memory.stats(), (all) => ({
  connections: all.reduce((n, { stats }) => n + stats.connections, 0),
  locks: all.flatMap(({ stats }) => stats.locks),
  semaphores: all.flatMap(({ stats }) => stats.semaphores),
  idle_semaphores: all.flatMap(({ stats }) => stats.idle_semaphores ?? [])
}))
const lockInfo = (key: string) => Effect.map(merged, (s) => s.locks.find((l) => l.key === key))
const waitersOn = (key: string) => Effect.map(lockInfo(key), (l) => l?.waiters ?? 0)
const semaphoreInfo = (key: string) => Effect.map(merged, (s) => s.semaphores.find((l) => l.key === key))
/** Nobody holds or waits for anything. */
const settled = Effect.map(merged, (s) => s.locks.length === 0 && s.semaphores.length === 0)

// ---------------------------------------------------------------------------
// (a) the in-memory server, on the TestClock
// ---------------------------------------------------------------------------

describe("Memory: leases on the TestClock", () => {
  it.effect("an unrenewed lease runs out after its TTL and the next waiter is granted", () =>
    Effect.gen(function*() {
      const key = freshKey("expiry")
      const holderScope = yield* Scope.make()
      yield* Lock.acquire(key).pipe(Scope.provide(holderScope))
      // a queued ticket granted while nobody waits on it: its lease runs, unrenewed, until `wait`
      const ticket = yield* Lock.enqueue(key, { leaseTtl: "5 seconds" })
      assert.strictEqual(ticket.status, "queued")
      yield* Scope.close(holderScope, Exit.void)
      assert.strictEqual((yield* lockInfo(key))?.lease_expires_in_s, 5)

      const granted = yield* Ref.make(false)
      const next = yield* Lock.acquire(key, { acquireTimeout: "1 minute" }).pipe(
        Effect.tap(() => Ref.set(granted, true)),
        Effect.scoped,
        Effect.forkChild
      )
      yield* eventually(Effect.map(waitersOn(key), (n) => n === 1), "one waiter")
      yield* TestClock.adjust("4 seconds")
      assert.isFalse(yield* Ref.get(granted), "not before the lease ends")
      assert.strictEqual((yield* lockInfo(key))?.lease_expires_in_s, 1)
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(next)
      assert.isTrue(yield* Ref.get(granted), "granted when the lease ran out")
      // the expired grant cannot be collected any more
      const error = yield* Effect.flip(ticket.wait(0))
      assert.strictEqual(error._tag, "ServerError")
      assert.include(["not_enqueued", "lease_expired"], error._tag === "ServerError" ? error.reason : "")
      assert.isTrue(yield* settled)
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("renewals keep a held lease alive as the clock moves", () =>
    Effect.gen(function*() {
      const key = freshKey("renewed")
      const lock = yield* Lock.acquire(key, { leaseTtl: "5 seconds" })
      yield* TestClock.adjust("2 minutes")
      const info = yield* lockInfo(key)
      assert.isDefined(info)
      assert.isAbove(info!.lease_expires_in_s, 0)
      const lost = yield* Effect.exit(TestClock.withLive(lock.lost.pipe(Effect.timeoutOption("10 millis"))))
      assert.deepStrictEqual(lost, Exit.succeed(Option.none()), "the lease is not lost")
      assert.isTrue(Option.isNone(yield* Lock.tryAcquire(key)))
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("expire ends a held lease: `lost` fails with LockLostError after the next renewal", () =>
    Effect.gen(function*() {
      const key = freshKey("expire")
      const lock = yield* Lock.acquire(key, { leaseTtl: "20 seconds" })
      assert.strictEqual(yield* Memory.expire(key), 1)
      assert.isTrue(yield* settled, "the server no longer counts it as held")
      yield* TestClock.adjust("10 seconds") // min(20 s × 0.5, heartbeat 10 s)
      const error = yield* Effect.flip(lock.lost)
      assert.strictEqual(error._tag, "LockLostError")
      assert.strictEqual(error.key, key)
      assert.match(error.reason, /renewal refused/)
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("withLock interrupts its region with LockLostError when the lease is released under it", () =>
    Effect.gen(function*() {
      const key = freshKey("region-lost")
      const entered = yield* Deferred.make<void>()
      const stopped = yield* Ref.make(false)
      const region = yield* Deferred.succeed(entered, undefined).pipe(
        Effect.andThen(Effect.never),
        Effect.onInterrupt(() => Ref.set(stopped, true)),
        Lock.withLock(key, { leaseTtl: "4 seconds" }),
        Effect.forkChild
      )
      yield* Deferred.await(entered)
      assert.strictEqual(yield* Memory.releaseAll(key, { kind: "lock" }), 1)
      yield* TestClock.adjust("2 seconds")
      const exit = yield* Fiber.await(region)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Fiber.join(region))
      assert.strictEqual(error._tag, "LockLostError")
      assert.isTrue(yield* Ref.get(stopped), "the region was interrupted")
    }).pipe(Effect.provide(Memory.layer())))
})

describe("Memory: the server's read timeout (serverReadTimeout) on the TestClock", () => {
  const readTimeout3s = Memory.layer({ client: { serverReadTimeout: "3 seconds" } })

  it.effect("a 20 s lease heartbeats every third of the read timeout, and outlives many read timeouts", () =>
    Effect.gen(function*() {
      const key = freshKey("read-timeout-held")
      const lock = yield* Lock.acquire(key, { leaseTtl: "20 seconds" })
      for (let i = 0; i < 10; i++) yield* TestClock.adjust("1 second")
      // renewed at 1 s, 2 s, …: the lease runs 20 s from the last renewal, 10 s ago at most
      const info = yield* lockInfo(key)
      assert.isAtLeast(info!.lease_expires_in_s, 19)
      const lost = yield* Effect.exit(TestClock.withLive(lock.lost.pipe(Effect.timeoutOption("10 millis"))))
      assert.deepStrictEqual(lost, Exit.succeed(Option.none()), "the lease is not lost")
    }).pipe(Effect.scoped, Effect.provide(readTimeout3s)))

  it.effect("a queued ticket whose wait comes after the read timeout less the margin: ConnectionError, ticket spent", () =>
    Effect.gen(function*() {
      const key = freshKey("read-timeout-ticket")
      yield* Lock.acquire(key)
      const ticket = yield* Lock.enqueue(key)
      assert.strictEqual(ticket.status, "queued")
      assert.strictEqual(yield* waitersOn(key), 1)
      yield* TestClock.adjust(2699) // 3 s less the 300 ms margin, not yet
      const early = yield* Effect.flip(ticket.wait(0))
      assert.strictEqual(early._tag, "AcquireTimeoutError", "a wait before the point reaches the server")
      // that wait timed out, which spends the ticket on the server too: enqueue again
      const second = yield* Lock.enqueue(key)
      yield* TestClock.adjust(2700)
      const error = yield* Effect.flip(second.wait(0))
      assert.strictEqual(error._tag, "ConnectionError")
      assert.strictEqual(error._tag === "ConnectionError" ? error.reason : "", "Timeout")
      assert.include(error.message, "read timeout")
      yield* eventually(Effect.map(waitersOn(key), (n) => n === 0), "the ticket's connection closed: no waiter")
    }).pipe(Effect.scoped, Effect.provide(readTimeout3s)))
})

describe("Memory: FIFO and semaphores", () => {
  it.effect("five contenders are granted in the order they queued", () =>
    Effect.gen(function*() {
      const key = freshKey("fifo")
      const holderScope = yield* Scope.make()
      yield* Lock.acquire(key).pipe(Scope.provide(holderScope))
      const order = yield* Ref.make<ReadonlyArray<number>>([])
      const contenders: Array<Fiber.Fiber<void, unknown>> = []
      for (let i = 0; i < 5; i++) {
        contenders.push(
          yield* Lock.acquire(key, { acquireTimeout: "1 minute" }).pipe(
            Effect.andThen(Ref.update(order, (o) => [...o, i])),
            Effect.scoped,
            Effect.forkChild
          )
        )
        yield* eventually(Effect.map(waitersOn(key), (n) => n === i + 1), `${i + 1} waiters`)
      }
      assert.deepStrictEqual(yield* Ref.get(order), [])
      yield* Scope.close(holderScope, Exit.void)
      yield* Fiber.joinAll(contenders)
      assert.deepStrictEqual(yield* Ref.get(order), [0, 1, 2, 3, 4])
      assert.isTrue(yield* settled)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a semaphore with limit 3 runs at most 3 of 5 contenders at once", () =>
    Effect.gen(function*() {
      const key = freshKey("sem")
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const job = Effect.gen(function*() {
        const now = yield* Ref.updateAndGet(running, (n) => n + 1)
        yield* Ref.update(peak, (p) => Math.max(p, now))
        yield* Effect.sleep("1 second")
        yield* Ref.update(running, (n) => n - 1)
      }).pipe(Semaphore.withPermit(key, { limit: 3, acquireTimeout: "1 minute" }))
      const all = yield* Effect.forEach([1, 2, 3, 4, 5], () => job, { concurrency: "unbounded", discard: true }).pipe(
        Effect.forkChild
      )
      yield* eventually(
        Effect.map(semaphoreInfo(key), (s) => s?.holders === 3 && s.waiters === 2),
        "3 holders and 2 waiters"
      )
      assert.strictEqual(yield* Ref.get(running), 3)
      yield* TestClock.adjust("1 second")
      yield* eventually(Effect.map(semaphoreInfo(key), (s) => s?.holders === 2 && s.waiters === 0), "2 holders")
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(all)
      assert.strictEqual(yield* Ref.get(peak), 3)
      assert.isTrue(yield* settled)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("a different limit on a held semaphore key fails with limit_mismatch; lock keys are separate", () =>
    Effect.gen(function*() {
      const key = freshKey("mismatch")
      yield* Semaphore.acquire(key, { limit: 3 })
      const error = yield* Effect.flip(Effect.scoped(Semaphore.acquire(key, { limit: 2 })))
      assert.strictEqual(error._tag, "ServerError")
      assert.strictEqual(error._tag === "ServerError" && error.reason, "limit_mismatch")
      // the same limit shares the key; a lock of the same name is another key space
      yield* Semaphore.acquire(key, { limit: 3 })
      const lock = yield* Lock.acquire(key, { acquireTimeout: 0 })
      assert.strictEqual(lock.key, key)
      assert.strictEqual((yield* semaphoreInfo(key))?.holders, 2)
      // a lock token means nothing to the semaphore commands
      const client = yield* DflockdClient.DflockdClient
      const connection = yield* client.connect(yield* client.route(key))
      const refused = yield* Effect.flip(connection.send(Codec.release("semaphore", key, lock.token), 5_000))
      assert.strictEqual(refused._tag === "ServerError" && refused.reason, "error")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("tryAcquire: Some when free, None when held, for locks and semaphores", () =>
    Effect.gen(function*() {
      const key = freshKey("try")
      const first = yield* Lock.tryAcquire(key)
      assert.isTrue(Option.isSome(first))
      assert.isTrue(Option.isNone(yield* Effect.scoped(Lock.tryAcquire(key))))
      const a = yield* Semaphore.tryAcquire(key, { limit: 1 })
      assert.isTrue(Option.isSome(a))
      assert.isTrue(Option.isNone(yield* Effect.scoped(Semaphore.tryAcquire(key, { limit: 1 }))))
      assert.strictEqual(yield* waitersOn(key), 0, "a failed try leaves no waiter")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("max_locks and max_waiters", () =>
    Effect.gen(function*() {
      yield* Lock.acquire("k1")
      yield* Semaphore.acquire("k2", { limit: 2 })
      const full = yield* Effect.flip(Effect.scoped(Lock.acquire("k3")))
      assert.strictEqual(full._tag === "ServerError" && full.reason, "max_locks")
      // one waiter is allowed on k1, a second is refused
      yield* Lock.acquire("k1", { acquireTimeout: "1 minute" }).pipe(Effect.scoped, Effect.forkChild)
      yield* eventually(Effect.map(waitersOn("k1"), (n) => n === 1), "one waiter")
      const crowded = yield* Effect.flip(Effect.scoped(Lock.acquire("k1", { acquireTimeout: "1 minute" })))
      assert.strictEqual(crowded._tag === "ServerError" && crowded.reason, "max_waiters")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer({ maxLocks: 2, maxWaiters: 1 }))))
})

describe("Memory: two-phase", () => {
  it.effect("enqueue statuses, already_enqueued and not_enqueued on one connection", () =>
    Effect.gen(function*() {
      const key = freshKey("two-phase-raw")
      const client = yield* DflockdClient.DflockdClient
      const server = yield* client.route(key)
      const connection = yield* client.connect(server)
      yield* connection.claim
      const first = yield* connection.send(Codec.enqueue({ kind: "lock", key }, 7), 5_000)
      assert.strictEqual(first._tag, "Granted")
      const again = yield* Effect.flip(connection.send(Codec.enqueue({ kind: "lock", key }, 7), 5_000))
      assert.strictEqual(again._tag === "ServerError" && again.reason, "already_enqueued")
      const waited = yield* connection.send(Codec.wait("lock", key, 0), 5_000)
      assert.deepStrictEqual<unknown>(waited, first, "w returns the grant made at e")
      const other = yield* client.connect(server)
      const notEnqueued = yield* Effect.flip(other.send(Codec.wait("lock", key, 0), 5_000))
      assert.strictEqual(notEnqueued._tag === "ServerError" && notEnqueued.reason, "not_enqueued")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("a queued ticket's wait times out and drops the waiter; a grant while not waiting is kept", () =>
    Effect.gen(function*() {
      const key = freshKey("two-phase")
      const holderScope = yield* Scope.make()
      yield* Lock.acquire(key).pipe(Scope.provide(holderScope))

      const late = yield* Lock.enqueue(key).pipe(Scope.provide(yield* Scope.make()))
      assert.strictEqual(late.status, "queued")
      const timedOut = yield* late.wait("3 seconds").pipe(Effect.flip, Effect.forkChild)
      yield* TestClock.adjust("3 seconds")
      assert.strictEqual((yield* Fiber.join(timedOut))._tag, "AcquireTimeoutError")
      assert.strictEqual(yield* waitersOn(key), 0, "the timed-out waiter was dropped")

      const ticket = yield* Lock.enqueue(key)
      assert.strictEqual(ticket.status, "queued")
      assert.strictEqual(yield* waitersOn(key), 1)
      yield* Scope.close(holderScope, Exit.void)
      // granted before `wait` was called: the server keeps it for the ticket
      const info = yield* lockInfo(key)
      assert.strictEqual(info?.waiters, 0)
      assert.notStrictEqual(info?.owner_conn_id, 0)
      const lock = yield* ticket.wait(0)
      assert.strictEqual(lock.key, key)
      assert.strictEqual(yield* ticket.wait(0), lock, "wait again returns the same lock")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))
})

describe("Memory: interruption, fences, auth, faults", () => {
  it.effect("interrupting a queued acquire or a running region leaves no holder and no waiter", () =>
    Effect.gen(function*() {
      const key = freshKey("interrupt")
      const entered = yield* Deferred.make<void>()
      const region = yield* Deferred.succeed(entered, undefined).pipe(
        Effect.andThen(Effect.never),
        Lock.withLock(key),
        Effect.forkChild
      )
      yield* Deferred.await(entered)
      const queued = yield* Lock.acquire(key, { acquireTimeout: "1 minute" }).pipe(Effect.scoped, Effect.forkChild)
      const ticket = yield* Lock.enqueue(key).pipe(Scope.provide(yield* Scope.make()))
      const waiting = yield* ticket.wait("1 minute").pipe(Effect.forkChild)
      yield* eventually(Effect.map(waitersOn(key), (n) => n === 2), "two waiters")
      yield* Fiber.interrupt(queued)
      yield* Fiber.interrupt(waiting)
      yield* Fiber.interrupt(region)
      yield* eventually(settled, "no holder, no waiter")
      assert.deepStrictEqual((yield* merged).locks, [])
      assert.isTrue(Option.isSome(yield* Effect.scoped(Lock.tryAcquire(key))))
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("fences strictly increase across grants, keys and semaphores", () =>
    Effect.gen(function*() {
      const key = freshKey("fence")
      const fences: Array<bigint> = []
      for (let i = 0; i < 5; i++) {
        const lock = yield* Effect.scoped(Lock.acquire(key))
        assert.match(lock.token, /^[0-9a-f]{32}$/)
        assert.deepStrictEqual(Token.fence(lock.token), Option.some(lock.fence))
        fences.push(lock.fence)
        fences.push((yield* Effect.scoped(Semaphore.acquire(`${key}-sem`, { limit: 2 }))).fence)
        fences.push((yield* Effect.scoped(Lock.acquire(`${key}-${i}`))).fence)
      }
      for (let i = 1; i < fences.length; i++) assert.isTrue(fences[i]! > fences[i - 1]!, `fence ${i} increases`)
    }).pipe(Effect.provide(Memory.layer())))

  it.effect("auth: a wrong or missing token fails with AuthError, the right one works", () =>
    Effect.gen(function*() {
      const key = freshKey("auth")
      const wrong = yield* Effect.flip(Effect.scoped(Lock.acquire(key))).pipe(
        Effect.provide(Memory.layer({ authToken: "s3cret", client: { auth: Redacted.make("wrong") } }))
      )
      assert.strictEqual(wrong._tag, "AuthError")
      const missing = yield* Effect.flip(Effect.scoped(Lock.acquire(key))).pipe(
        Effect.provide(Memory.layer({ authToken: "s3cret" }))
      )
      assert.strictEqual(missing._tag, "AuthError")
      const lock = yield* Effect.scoped(Lock.acquire(key)).pipe(
        Effect.provide(Memory.layer({ authToken: "s3cret", client: { auth: Redacted.make("s3cret") } }))
      )
      assert.strictEqual(lock.key, key)
    }))

  it.effect("disconnectAll: held locks report LockLostError, waiters fail, the server starts afresh", () =>
    Effect.gen(function*() {
      const key = freshKey("crash")
      const lock = yield* Lock.acquire(key, { leaseTtl: "30 seconds" })
      const permit = yield* Semaphore.acquire(key, { limit: 1 })
      const waiter = yield* Lock.acquire(key, { acquireTimeout: "1 minute" }).pipe(
        Effect.scoped,
        Effect.flip,
        Effect.forkChild
      )
      yield* eventually(Effect.map(waitersOn(key), (n) => n === 1), "one waiter")

      yield* Memory.disconnectAll
      assert.strictEqual((yield* Fiber.join(waiter))._tag, "ConnectionError")
      const after = yield* merged
      assert.deepStrictEqual([after.connections, after.locks, after.semaphores], [0, [], []])

      yield* TestClock.adjust("10 seconds")
      const lost = yield* Effect.flip(lock.lost)
      assert.strictEqual(lost._tag, "LockLostError")
      assert.match(lost.reason, /connection lost/)
      assert.strictEqual((yield* Effect.flip(permit.lost))._tag, "LockLostError")
      // a restarted server: the key is free, and fences keep increasing
      const again = yield* Effect.scoped(Lock.acquire(key))
      assert.isTrue(again.fence > lock.fence)
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("stats over the wire decode like a real server's; several servers shard keys", () =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 12 }, (_, i) => `shard-${i}`)
      for (const key of keys) yield* Lock.acquire(key, { leaseTtl: "9 seconds" })
      const wire = yield* DflockdClient.stats()
      assert.deepStrictEqual(wire.map((s) => s.server), ["memory-0:6388", "memory-1:6388", "memory-2:6388"])
      const held = wire.flatMap((s) => s.stats.locks.map((l) => l.key)).sort()
      assert.deepStrictEqual(held, [...keys].sort())
      assert.isTrue(wire.every((s) => s.stats.locks.length > 0), "keys spread over every server")
      const memory = yield* Memory.stats()
      assert.deepStrictEqual(
        memory.map((s) => s.server),
        wire.map((s) => s.server),
        "one entry per server, as the client's"
      )
      assert.deepStrictEqual(
        memory.map((s) => s.stats.locks.map((l) => l.key)),
        wire.map((s) => s.stats.locks.map((l) => l.key))
      )
      const one = yield* Memory.stats("memory-1:6388")
      assert.deepStrictEqual(one.map((s) => s.server), ["memory-1:6388"])
      assert.deepStrictEqual(one[0]!.stats.locks.map((l) => l.key), wire[1]!.stats.locks.map((l) => l.key))
      const unknown = yield* Effect.flip(Memory.stats("elsewhere:1"))
      assert.strictEqual(unknown._tag, "InvalidArgumentError")
    }).pipe(Effect.scoped, Effect.provide(Memory.layer({ servers: 3 }))))
})

describe("Memory: the wire", () => {
  it.effect("ping, stray auth, unknown commands and bad arguments are answered like dflockd", () =>
    Effect.gen(function*() {
      const client = yield* DflockdClient.DflockdClient
      const connection = yield* client.connect(yield* client.route("k"))
      const raw = (frame: string) =>
        connection.send(
          { name: "raw", frame, blocking: false, maxReplyBytes: undefined, decode: Codec.decodeOk },
          5_000
        )
      const reason = (e: { readonly _tag: string; readonly reason?: string }) => e.reason ?? e._tag
      assert.deepStrictEqual(yield* connection.send(Codec.ping, 5_000), { _tag: "Ok" })
      assert.strictEqual(
        reason(yield* Effect.flip(connection.send(Codec.auth("x"), 5_000))),
        "error",
        "no token configured"
      )
      assert.strictEqual(reason(yield* Effect.flip(raw("nope\nk\n_\n"))), "error")
      assert.strictEqual(reason(yield* Effect.flip(raw("l\nk\n-1\n"))), "error")
      assert.strictEqual(reason(yield* Effect.flip(raw("l\nk\n1 0\n"))), "error", "lease must be >= 1")
      assert.strictEqual(reason(yield* Effect.flip(raw("sl\nk\n1\n"))), "error", "sl needs a limit")
      assert.strictEqual(reason(yield* Effect.flip(raw("l\n\n1\n"))), "error", "empty key")
      assert.strictEqual(reason(yield* Effect.flip(raw("r\nk\n0123\n"))), "error", "token not held")
      // the connection is still usable after `error` replies
      assert.deepStrictEqual(yield* connection.send(Codec.ping, 5_000), { _tag: "Ok" })
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))

  it.effect("idle keys are forgotten 60 s after last use, and with them a semaphore's limit", () =>
    Effect.gen(function*() {
      const key = freshKey("gc")
      yield* Effect.scoped(Semaphore.acquire(key, { limit: 3 }))
      assert.deepStrictEqual((yield* merged).idle_semaphores.map((i) => i.key), [key])
      const early = yield* Effect.flip(Effect.scoped(Semaphore.acquire(key, { limit: 2 })))
      assert.strictEqual(early._tag === "ServerError" && early.reason, "limit_mismatch")
      yield* TestClock.adjust("61 seconds")
      assert.deepStrictEqual((yield* merged).idle_semaphores, [])
      const permit = yield* Effect.scoped(Semaphore.acquire(key, { limit: 2 }))
      assert.strictEqual(permit.key, key)
    }).pipe(Effect.provide(Memory.layer())))
})

// ---------------------------------------------------------------------------
// (b) parity: the same behaviours against the in-memory and the real server
// ---------------------------------------------------------------------------

const parity = (
  name: string,
  live: () => Layer.Layer<DflockdClient.DflockdClient, InvalidArgumentError>,
  test: typeof it.effect,
  supports: (capability: "semaphores" | "stats") => boolean
) =>
  describe(`parity: ${name}`, () => {
    /** Between polls: a real pause on the live clock; a yield on the TestClock (time stands still there). */
    const pause = test === it.effect ? Effect.yieldNow : Effect.sleep("10 millis")
    test("acquire and release", () =>
      Effect.gen(function*() {
        const key = freshKey("p-basic")
        const lock = yield* Effect.scoped(Effect.gen(function*() {
          const lock = yield* Lock.acquire(key, { leaseTtl: "7 seconds" })
          assert.isTrue(Option.isNone(yield* Effect.scoped(Lock.tryAcquire(key))), "held while the scope is open")
          return lock
        }))
        assert.strictEqual(lock.key, key)
        assert.match(lock.token, /^[0-9a-f]{32}$/)
        assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 7)
        assert.isTrue(Option.isSome(yield* Effect.scoped(Lock.tryAcquire(key))), "free after the scope closed")
      }).pipe(Effect.provide(live())))

    test("a busy lock with acquireTimeout 0 fails with AcquireTimeoutError", () =>
      Effect.gen(function*() {
        const key = freshKey("p-busy")
        yield* Lock.acquire(key)
        const error = yield* Effect.flip(Effect.scoped(Lock.acquire(key, { acquireTimeout: 0 })))
        assert.strictEqual(error._tag, "AcquireTimeoutError")
        assert.strictEqual(error._tag === "AcquireTimeoutError" && error.key, key)
      }).pipe(Effect.scoped, Effect.provide(live())))

    test("waiters are granted in the order they enqueued", () =>
      Effect.gen(function*() {
        const key = freshKey("p-fifo")
        const holderScope = yield* Scope.make()
        yield* Lock.acquire(key).pipe(Scope.provide(holderScope))
        const { granted, join } = yield* queueInOrder(key, 5, { wait: "30 seconds" })
        yield* Scope.close(holderScope, Exit.void)
        yield* join
        assert.deepStrictEqual(yield* granted, [0, 1, 2, 3, 4])
      }).pipe(Effect.provide(live())))

    test("two-phase: acquired on a free key, queued behind a holder, granted on release", () =>
      Effect.gen(function*() {
        const key = freshKey("p-two-phase")
        const firstScope = yield* Scope.make()
        const first = yield* Lock.enqueue(key, { leaseTtl: "6 seconds" }).pipe(Scope.provide(firstScope))
        assert.strictEqual(first.status, "acquired")
        const held = yield* first.wait(0)
        assert.strictEqual(Duration.toSeconds(held.leaseTtl), 6)

        const second = yield* Lock.enqueue(key)
        assert.strictEqual(second.status, "queued")
        const notYet = yield* Effect.flip(second.wait(0))
        assert.strictEqual(notYet._tag, "AcquireTimeoutError", "wait(0) while queued times out")

        const third = yield* Lock.enqueue(key)
        assert.strictEqual(third.status, "queued")
        yield* Scope.close(firstScope, Exit.void)
        const lock = yield* third.wait("30 seconds")
        assert.strictEqual(lock.key, key)
        assert.notStrictEqual(lock.token, held.token)
      }).pipe(Effect.scoped, Effect.provide(live())))
    test.skipIf(!supports("semaphores"))(
      `semaphores: limit, limit_mismatch, a permit freed on release${
        supports("semaphores") ? "" : needs("semaphores")
      }`,
      () =>
        Effect.gen(function*() {
          const key = freshKey("p-sem")
          const holderScope = yield* Scope.make()
          const first = yield* Semaphore.acquire(key, { limit: 2 }).pipe(Scope.provide(holderScope))
          yield* Semaphore.acquire(key, { limit: 2 })
          assert.match(first.token, /^[0-9a-f]{32}$/)
          assert.isTrue(Option.isNone(yield* Effect.scoped(Semaphore.tryAcquire(key, { limit: 2 }))), "full at 2")
          const mismatch = yield* Effect.flip(Effect.scoped(Semaphore.acquire(key, { limit: 5, acquireTimeout: 0 })))
          assert.strictEqual(mismatch._tag === "ServerError" && mismatch.reason, "limit_mismatch")
          yield* Scope.close(holderScope, Exit.void)
          assert.isTrue(Option.isSome(yield* Effect.scoped(Semaphore.tryAcquire(key, { limit: 2 }))), "one freed")
        }).pipe(Effect.scoped, Effect.provide(live()))
    )

    test.skipIf(!supports("stats"))(
      `stats: a held key with one waiter, and a semaphore, shaped alike${supports("stats") ? "" : needs("stats")}`,
      () =>
        Effect.gen(function*() {
          const key = freshKey("p-stats")
          yield* Lock.acquire(key, { leaseTtl: "30 seconds" })
          const waiter = yield* Effect.scoped(Lock.acquire(key, { acquireTimeout: "30 seconds" })).pipe(
            Effect.forkChild
          )
          let lock:
            | { readonly owner_conn_id: number; readonly waiters: number; readonly lease_expires_in_s: number }
            | undefined
          for (let i = 0; i < 500 && (lock === undefined || lock.waiters === 0); i++) {
            const [entry] = yield* DflockdClient.stats()
            lock = entry?.stats.locks.find((l) => l.key === key)
            if (lock === undefined || lock.waiters === 0) yield* pause
          }
          assert.isDefined(lock)
          assert.isAbove(lock!.owner_conn_id, 0, "held: a non-zero owner")
          assert.strictEqual(lock!.waiters, 1)
          assert.isAtMost(lock!.lease_expires_in_s, 30)
          assert.isAbove(lock!.lease_expires_in_s, 20)
          if (supports("semaphores")) {
            const semKey = freshKey("p-stats-sem")
            yield* Semaphore.acquire(semKey, { limit: 4 })
            const [entry] = yield* DflockdClient.stats()
            assert.deepInclude(entry!.stats.semaphores, { key: semKey, limit: 4, holders: 1, waiters: 0 })
          }
          yield* Fiber.interrupt(waiter)
        }).pipe(Effect.scoped, Effect.provide(live()))
    )
  })

const memorySupports = () => true
parity("Memory.layer() on the TestClock", () => Memory.layer(), it.effect, memorySupports)
parity("Memory.layer() on the live clock", () => Memory.layer(), it.live, memorySupports)
parity(
  `real server (${server.label})`,
  () => DflockdClient.layer({ servers: [inject("dflockd").address] }),
  it.live,
  has
)
