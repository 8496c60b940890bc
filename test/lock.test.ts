/**
 * Locks against a real dflockd server (issue 2, behaviours 1–5 and 7).
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Duration, Effect, Exit, Fiber, Option, Ref } from "effect"
import { afterAll, beforeAll, inject } from "vitest"
import { type ServerHandle, startServer } from "../scripts/dflockd-server.ts"
import { DflockdClient, Lock } from "../src/index.ts"
import * as Codec from "../src/internal/protocol/codec.ts"
import { queueInOrder } from "./support/fifo.ts"
import { has, server } from "./support/server.ts"
import {
  clientLayer,
  eventuallyFree,
  eventuallyUntracked,
  isFree,
  scopedServer,
  sendRaw,
  settledResources,
  silentListener
} from "./support/probe.ts"
import { freshKey as fresh } from "./support/keys.ts"

const shared = inject("dflockd").address
const Live = clientLayer(shared)
const freshKey = (name: string) => fresh("lock", name)

describe("acquire, renew, release", () => {
  it.live("reports key, token, fence and the granted lease, and releases on scope close", () =>
    Effect.gen(function*() {
      const key = freshKey("basic")
      const seen = yield* Effect.scoped(Effect.gen(function*() {
        const lock = yield* Lock.acquire(key, { leaseTtl: "7 seconds" })
        assert.strictEqual(lock.key, key)
        assert.match(lock.token, /^[0-9a-f]{32}$/)
        assert.strictEqual(lock.fence, BigInt(`0x${lock.token.slice(0, 16)}`))
        assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 7)
        assert.strictEqual(lock.server, shared)
        assert.isFalse(yield* isFree(shared, key), "held while the scope is open")
        return lock.token
      }))
      assert.match(seen, /^[0-9a-f]{32}$/)
      assert.isTrue(yield* eventuallyFree(shared, key), "released when the scope closed")
    }).pipe(Effect.provide(Live)))

  it.live("without leaseTtl the server's default lease is reported", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.acquire(freshKey("default-lease"))
      assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 5) // globalSetup: --default-lease-ttl 5
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live("releases when the region fails", () =>
    Effect.gen(function*() {
      const key = freshKey("region-fails")
      const error = yield* Effect.fail("boom" as const).pipe(Lock.withLock(key), Effect.flip)
      assert.strictEqual(error, "boom")
      assert.isTrue(yield* eventuallyFree(shared, key))
    }).pipe(Effect.provide(Live)))

  it.live("releases when the region is interrupted", () =>
    Effect.gen(function*() {
      const key = freshKey("region-interrupted")
      const entered = yield* Deferred.make<void>()
      const fiber = yield* Deferred.succeed(entered, undefined).pipe(
        Effect.andThen(Effect.never),
        Lock.withLock(key),
        Effect.forkChild
      )
      yield* Deferred.await(entered)
      assert.isFalse(yield* isFree(shared, key))
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* eventuallyFree(shared, key))
    }).pipe(Effect.provide(Live)))

  it.live("withLock returns the region's value, data-first and data-last", () =>
    Effect.gen(function*() {
      const key = freshKey("region-value")
      assert.strictEqual(yield* Effect.succeed(41).pipe(Lock.withLock(key)), 41)
      assert.strictEqual(yield* Lock.withLock(Effect.succeed(42), key, { acquireTimeout: "1 second" }), 42)
    }).pipe(Effect.provide(Live)))

  it.live("a busy lock times out with AcquireTimeoutError; tryAcquire gives None", () =>
    Effect.gen(function*() {
      const key = freshKey("busy")
      yield* Lock.acquire(key)
      const error = yield* Effect.flip(Effect.scoped(Lock.acquire(key, { acquireTimeout: "1 second" })))
      assert.strictEqual(error._tag, "AcquireTimeoutError")
      assert.strictEqual(error._tag === "AcquireTimeoutError" && error.key, key)
      const none = yield* Effect.scoped(Lock.tryAcquire(key))
      assert.isTrue(Option.isNone(none))
      const caught = yield* Effect.scoped(Lock.acquire(key, { acquireTimeout: 0 })).pipe(
        Effect.as("acquired"),
        Effect.catchTag("AcquireTimeoutError", (e) => Effect.succeed(`busy: ${e.key}`))
      )
      assert.strictEqual(caught, `busy: ${key}`)
    }).pipe(Effect.scoped, Effect.provide(Live)))
})

describe("FIFO", () => {
  it.live("five contenders are granted in the order the server queued them", () =>
    Effect.gen(function*() {
      const key = freshKey("fifo")
      const holder = yield* Lock.acquire(key)
      // Queue one at a time: a ticket's `queued` status is the server's word that it is in line.
      const { granted, join } = yield* queueInOrder(key, 5, { wait: "20 seconds", hold: "20 millis" })
      yield* Effect.sleep("100 millis")
      assert.deepStrictEqual(yield* granted, [], "nobody is granted while the holder holds")
      // hand-off: release the holder by closing its scope
      yield* sendRaw(shared, Codec.release("lock", key, holder.token))
      yield* join
      assert.deepStrictEqual(yield* granted, [0, 1, 2, 3, 4])
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live("blocking acquires are granted in arrival order", () =>
    Effect.gen(function*() {
      const key = freshKey("fifo-l")
      const granted = yield* Ref.make<ReadonlyArray<number>>([])
      const release = yield* Deferred.make<void>()
      const holder = yield* Lock.acquire(key).pipe(
        Effect.andThen(Deferred.await(release)),
        Effect.scoped,
        Effect.forkChild
      )
      yield* Effect.sleep("100 millis")
      const contenders: Array<Fiber.Fiber<void, unknown>> = []
      for (let i = 0; i < 5; i++) {
        contenders.push(
          yield* Ref.update(granted, (order) => [...order, i]).pipe(
            Lock.withLock(key, { acquireTimeout: "20 seconds" }),
            Effect.forkChild
          )
        )
        // generous gap so each `l` reaches the server before the next one is sent
        yield* Effect.sleep("150 millis")
      }
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.joinAll(contenders)
      assert.deepStrictEqual(yield* Ref.get(granted), [0, 1, 2, 3, 4])
    }).pipe(Effect.provide(Live)))
})

describe("renewal and heartbeat", () => {
  let short: ServerHandle
  beforeAll(async () => {
    short = await startServer({ "read-timeout": 3, "default-lease-ttl": 20 })
  })
  afterAll(async () => {
    await short.stop()
  })

  it.live("a 2 s lease is kept through a 6 s region", () =>
    Effect.gen(function*() {
      const key = freshKey("renew")
      const samples = yield* Effect.gen(function*() {
        const checks: Array<boolean> = []
        for (let i = 0; i < 6; i++) {
          yield* Effect.sleep("1 second")
          checks.push(yield* isFree(shared, key))
        }
        return checks
      }).pipe(Lock.withLock(key, { leaseTtl: "2 seconds" }))
      assert.deepStrictEqual(samples, [false, false, false, false, false, false])
      assert.isTrue(yield* eventuallyFree(shared, key))
    }).pipe(Effect.provide(Live)), 20_000)

  it.live("heartbeats keep a connection alive past the server's read timeout", () =>
    Effect.gen(function*() {
      const key = freshKey("heartbeat")
      const stillHeld = yield* Effect.sleep("8 seconds").pipe(
        Effect.andThen(isFree(short.address, key)),
        Lock.withLock(key, { leaseTtl: "20 seconds", heartbeatInterval: "1 second" })
      )
      assert.isFalse(stillHeld, "the server kept the lock: the connection was not dropped as idle")
    }).pipe(Effect.provide(clientLayer(short.address))), 20_000)

  it.live(
    "without heartbeats the server drops the idle connection and the lock is reported lost",
    () =>
      Effect.gen(function*() {
        const key = freshKey("no-heartbeat")
        const error = yield* Effect.never.pipe(
          Lock.withLock(key, { leaseTtl: "20 seconds", heartbeatInterval: "5 seconds" }),
          Effect.flip
        )
        assert.strictEqual(error._tag, "LockLostError")
      }).pipe(Effect.provide(clientLayer(short.address))),
    20_000
  )
})

describe("lost lease", () => {
  it.live("a renewal the server refuses fails `lost` and interrupts the region", () =>
    Effect.gen(function*() {
      const key = freshKey("lost")
      const interrupted = yield* Ref.make(false)
      const entered = yield* Deferred.make<string>()
      const fiber = yield* Effect.gen(function*() {
        const lock = yield* Lock.acquire(key, { leaseTtl: "2 seconds" })
        yield* Deferred.succeed(entered, lock.token)
        return yield* Effect.raceFirst(
          Effect.never.pipe(Effect.onInterrupt(() => Ref.set(interrupted, true))),
          lock.lost
        )
      }).pipe(Effect.scoped, Effect.forkChild)
      const token = yield* Deferred.await(entered)
      // another process releases it with the token (the server accepts `r` from any connection)
      yield* sendRaw(shared, Codec.release("lock", key, token))
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? exit.cause.toString() : ""
      assert.include(error, "LockLostError")
      assert.isTrue(yield* Ref.get(interrupted), "the region was interrupted")
    }).pipe(Effect.provide(Live)), 10_000)

  it.live(
    "withLock fails with LockLostError and interrupts its region when the server dies",
    () =>
      Effect.gen(function*() {
        const server = yield* scopedServer()
        const key = freshKey("server-dies")
        const interrupted = yield* Ref.make(false)
        const entered = yield* Deferred.make<void>()
        const fiber = yield* Deferred.succeed(entered, undefined).pipe(
          Effect.andThen(Effect.never),
          Effect.onInterrupt(() => Ref.set(interrupted, true)),
          Lock.withLock(key, { leaseTtl: "2 seconds" }),
          Effect.flip,
          Effect.provide(clientLayer(server.address, { connectRetry: undefined })),
          Effect.forkChild
        )
        yield* Deferred.await(entered)
        yield* Effect.promise(() => server.kill())
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "LockLostError")
        assert.strictEqual(error._tag === "LockLostError" && error.key, key)
        assert.isTrue(yield* Ref.get(interrupted))
      }),
    15_000
  )
})

describe("interruption safety", () => {
  it.live("interrupting a fiber queued in `l` leaves no waiter, socket or timer behind", () =>
    Effect.gen(function*() {
      const key = freshKey("interrupt-queued")
      const before = yield* settledResources
      const holder = yield* Lock.acquire(key)
      const queued = yield* Lock.acquire(key, { acquireTimeout: "30 seconds" }).pipe(Effect.scoped, Effect.forkChild)
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(queued)
      yield* sendRaw(shared, Codec.release("lock", key, holder.token))
      assert.isTrue(yield* eventuallyFree(shared, key), "nobody was granted the lock")
      const after = yield* settledResources
      assert.isAtMost(after.sockets, before.sockets + 1, "only the holder's socket remains")
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live("interrupting between enqueue and wait leaves no waiter", () =>
    Effect.gen(function*() {
      const key = freshKey("interrupt-enqueued")
      const holder = yield* Lock.acquire(key)
      const enqueued = yield* Deferred.make<void>()
      const fiber = yield* Effect.gen(function*() {
        const ticket = yield* Lock.enqueue(key)
        assert.strictEqual(ticket.status, "queued")
        yield* Deferred.succeed(enqueued, undefined)
        return yield* Effect.never
      }).pipe(Effect.scoped, Effect.forkChild)
      yield* Deferred.await(enqueued)
      yield* Fiber.interrupt(fiber)
      yield* sendRaw(shared, Codec.release("lock", key, holder.token))
      assert.isTrue(yield* eventuallyFree(shared, key))
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live("interrupting a holder releases at once and stops renewal", () =>
    Effect.gen(function*() {
      const key = freshKey("interrupt-holding")
      const before = yield* settledResources
      const entered = yield* Deferred.make<void>()
      const fiber = yield* Deferred.succeed(entered, undefined).pipe(
        Effect.andThen(Effect.never),
        Lock.withLock(key, { leaseTtl: "2 seconds" }),
        Effect.forkChild
      )
      yield* Deferred.await(entered)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(yield* eventuallyFree(shared, key))
      const after = yield* settledResources
      const idle = yield* DflockdClient.DflockdClient.use((client) => client.idleConnections)
      assert.strictEqual(idle, 1, "the released connection went back to the pool")
      assert.isAtMost(after.sockets, before.sockets + idle, "no other socket left")
      assert.isAtMost(after.timers, before.timers, "no renewal or watchdog timer left")
    }).pipe(Effect.provide(Live)))

  it.live("interrupting while connecting closes the half-open socket", () =>
    Effect.gen(function*() {
      // A TLS client waits for a handshake this listener never answers: the dial is in progress.
      const silent = yield* silentListener
      const before = yield* settledResources
      const fiber = yield* Lock.acquire(freshKey("interrupt-connecting")).pipe(
        Effect.scoped,
        Effect.provide(
          clientLayer(silent.address, { tls: { rejectUnauthorized: true }, connectTimeout: "30 seconds" })
        ),
        Effect.forkChild
      )
      yield* Effect.sleep("200 millis")
      assert.strictEqual(silent.open(), 1, "the dial reached the listener")
      yield* Fiber.interrupt(fiber)
      const after = yield* settledResources
      assert.strictEqual(silent.open(), 0, "the client closed its socket")
      assert.isAtMost(after.sockets, before.sockets)
      assert.isAtMost(after.timers, before.timers)
    }).pipe(Effect.scoped))
})

describe("two-phase", () => {
  it.live("enqueue on a free key is acquired; wait returns the lock, and the same lock again", () =>
    Effect.gen(function*() {
      const key = freshKey("two-phase")
      const ticket = yield* Lock.enqueue(key, { leaseTtl: "6 seconds" })
      assert.strictEqual(ticket.status, "acquired")
      const lock = yield* ticket.wait("5 seconds")
      assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 6)
      const again = yield* ticket.wait("5 seconds")
      assert.strictEqual(again, lock)
      assert.isFalse(yield* isFree(shared, key))
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live(
    "an acquired ticket's lease is renewed at once, even if wait comes later than the lease",
    () =>
      Effect.gen(function*() {
        const key = freshKey("two-phase-late-wait")
        const ticket = yield* Lock.enqueue(key, { leaseTtl: "2 seconds" })
        assert.strictEqual(ticket.status, "acquired")
        yield* Effect.sleep("3 seconds") // longer than the lease
        assert.isFalse(yield* isFree(shared, key), "still held: renewal started at enqueue")
        const lock = yield* ticket.wait("1 second")
        assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 2)
      }).pipe(Effect.scoped, Effect.provide(Live)),
    10_000
  )

  it.live("a queued ticket's wait times out with AcquireTimeoutError and leaves no waiter", () =>
    Effect.gen(function*() {
      const key = freshKey("two-phase-timeout")
      const holder = yield* Lock.acquire(key)
      const error = yield* Effect.scoped(Effect.gen(function*() {
        const ticket = yield* Lock.enqueue(key)
        assert.strictEqual(ticket.status, "queued")
        return yield* Effect.flip(ticket.wait("1 second"))
      }))
      assert.strictEqual(error._tag, "AcquireTimeoutError")
      yield* sendRaw(shared, Codec.release("lock", key, holder.token))
      assert.isTrue(yield* eventuallyFree(shared, key))
    }).pipe(Effect.scoped, Effect.provide(Live)))
})

describe("sub-second timeouts are exact", () => {
  /** Acquires `key` and holds it until the scope closes. */
  const holding = (key: string) => Effect.asVoid(Lock.acquire(key))

  it.live("a 300 ms acquireTimeout gives up at 300 ms, not at the server's whole second, and leaves no waiter", () =>
    Effect.gen(function*() {
      const key = freshKey("exact-acquire")
      yield* holding(key)
      const started = performance.now()
      const error = yield* Effect.flip(Lock.acquire(key, { acquireTimeout: "300 millis" }).pipe(Effect.scoped))
      const elapsed = performance.now() - started
      process.stdout.write(`exact timeout [${server.label}]: a 300 ms acquire gave up after ${elapsed.toFixed(1)} ms\n`)
      assert.strictEqual(error._tag, "AcquireTimeoutError")
      assert.isAtLeast(elapsed, 299)
      assert.isBelow(elapsed, 900, "well before the server's 1 s")
      if (has("stats")) {
        // the waiter's connection was closed: the server drops it (v1.10 at its own 1 s at the latest)
        const state = yield* eventuallyUntracked(shared, key, "3 seconds")
        assert.strictEqual(state.waiters, 0, "no waiter left on the server")
      }
      // the client's pool holds nothing of it: the next lock works
      yield* Effect.scoped(Lock.acquire(freshKey("after-exact")))
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live("a 1.5 s acquireTimeout gives up at 1.5 s (the server is asked for 2)", () =>
    Effect.gen(function*() {
      const key = freshKey("exact-fraction")
      yield* holding(key)
      const started = performance.now()
      const error = yield* Effect.flip(Lock.acquire(key, { acquireTimeout: "1.5 seconds" }).pipe(Effect.scoped))
      const elapsed = performance.now() - started
      assert.strictEqual(error._tag, "AcquireTimeoutError")
      assert.isAtLeast(elapsed, 1499)
      assert.isBelow(elapsed, 1950)
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live("a sub-second acquire granted in time is a normal lock", () =>
    Effect.gen(function*() {
      const key = freshKey("exact-granted")
      const lock = yield* Lock.acquire(key, { acquireTimeout: "500 millis" })
      assert.strictEqual(lock.key, key)
      assert.isFalse(yield* isFree(shared, key))
    }).pipe(Effect.scoped, Effect.provide(Live)))

  it.live("a ticket's 300 ms wait gives up at 300 ms and spends the ticket", () =>
    Effect.gen(function*() {
      const key = freshKey("exact-wait")
      yield* holding(key)
      const ticket = yield* Lock.enqueue(key)
      assert.strictEqual(ticket.status, "queued")
      const started = performance.now()
      const error = yield* Effect.flip(ticket.wait("300 millis"))
      const elapsed = performance.now() - started
      assert.strictEqual(error._tag, "AcquireTimeoutError")
      assert.isAtLeast(elapsed, 299)
      assert.isBelow(elapsed, 900)
      if (has("stats")) {
        const state = yield* eventuallyUntracked(shared, key, "3 seconds")
        assert.strictEqual(state.waiters, 0, "no waiter left on the server")
      }
      // spent: a second wait cannot collect a grant
      const again = yield* Effect.flip(ticket.wait(0))
      assert.include(["ConnectionError", "ServerError"], again._tag)
    }).pipe(Effect.scoped, Effect.provide(Live)))
})
