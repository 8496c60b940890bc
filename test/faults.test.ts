/**
 * Faults against real dflockd servers (issue 5): a server killed or shut down
 * under a holder, a stalled link, refused connections, server limits. A loopback
 * relay (test/support/relay.ts) stands between client and server where the
 * network itself must misbehave.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Deferred, Effect, Fiber, Ref } from "effect"
import { inject } from "vitest"
import { Lock } from "../src/index.ts"
import { clientLayer, eventuallyFree, isFree, scopedServer, settledResources } from "./support/probe.ts"
import { relay } from "./support/relay.ts"
import { has } from "./support/server.ts"
import { freshKey as fresh } from "./support/keys.ts"

const shared = inject("dflockd")
const freshKey = (name: string) => fresh("fault", name)

describe("server faults", () => {
  it.live(
    "server killed under a holder: LockLostError within one renewal interval, nothing left behind",
    () =>
      Effect.gen(function*() {
        const server = yield* scopedServer()
        const before = yield* settledResources
        const entered = yield* Deferred.make<void>()
        const fiber = yield* Deferred.succeed(entered, undefined).pipe(
          Effect.andThen(Effect.never),
          // renewal every 1 s (2 s lease × 0.5)
          Lock.withLock(freshKey("killed"), { leaseTtl: "2 seconds" }),
          Effect.flip,
          Effect.provide(clientLayer(server.address)),
          Effect.forkChild
        )
        yield* Deferred.await(entered)
        const killedAt = yield* Clock.currentTimeMillis
        yield* Effect.promise(() => server.kill())
        const error = yield* Fiber.join(fiber)
        const detectedAfter = (yield* Clock.currentTimeMillis) - killedAt
        assert.strictEqual(error._tag, "LockLostError")
        assert.isBelow(detectedAfter, 1000 + 500, "within one renewal interval (1 s) plus scheduling slack")
        const after = yield* settledResources
        assert.isAtMost(after.sockets, before.sockets)
        assert.isAtMost(after.timers, before.timers)
      }),
    15_000
  )

  it.live(
    "graceful shutdown: the holder's region fails, a queued acquire fails typed, nothing hangs",
    () =>
      Effect.gen(function*() {
        const server = yield* scopedServer(has("draining") ? { "shutdown-timeout": 2 } : {})
        const key = freshKey("shutdown")
        const entered = yield* Deferred.make<void>()
        const holder = yield* Deferred.succeed(entered, undefined).pipe(
          Effect.andThen(Effect.never),
          Lock.withLock(key, { leaseTtl: "2 seconds" }),
          Effect.flip,
          Effect.provide(clientLayer(server.address)),
          Effect.forkChild
        )
        yield* Deferred.await(entered)
        const waiter = yield* Lock.withLock(Effect.void, key, { acquireTimeout: "60 seconds" }).pipe(
          Effect.flip,
          Effect.provide(clientLayer(server.address, { connectRetry: undefined })),
          Effect.forkChild
        )
        yield* Effect.sleep("200 millis")
        yield* Effect.promise(() => server.stop())
        const [holderError, waiterError] = yield* Effect.all([Fiber.join(holder), Fiber.join(waiter)])
        assert.strictEqual(holderError._tag, "LockLostError")
        if (has("draining")) {
          // a draining server answers the blocked acquire: `error` (v1.10), `error_draining` (1.16+)
          assert.strictEqual(waiterError._tag, "ServerError")
          assert.strictEqual(
            waiterError._tag === "ServerError" && waiterError.reason,
            has("error_draining") ? "draining" : "error"
          )
        } else {
          // the pinned server just closes the connection
          assert.strictEqual(waiterError._tag, "ConnectionError")
        }
      }),
    20_000
  )

  it.live("connection refused: ConnectionError naming the server, within the connect timeout", () =>
    Effect.gen(function*() {
      const server = yield* scopedServer()
      yield* Effect.promise(() => server.stop()) // nothing listens on that port now
      const started = yield* Clock.currentTimeMillis
      const error = yield* Lock.withLock(Effect.void, freshKey("refused")).pipe(
        Effect.flip,
        Effect.provide(clientLayer(server.address, { connectTimeout: "2 seconds" }))
      )
      assert.strictEqual(error._tag, "ConnectionError")
      assert.strictEqual(error._tag === "ConnectionError" && error.server, server.address)
      assert.include(error.message, server.address)
      assert.isBelow((yield* Clock.currentTimeMillis) - started, 2000 * 4, "bounded by the retries' connect timeouts")
    }))

  it.live("--max-locks reached: ServerError max_locks, and the client stays usable", () =>
    Effect.gen(function*() {
      const server = yield* scopedServer({ "max-locks": 2 })
      yield* Effect.gen(function*() {
        // the harness's readiness probe used one key slot; take the other
        const a = yield* Lock.acquire(freshKey("limit-a"), { leaseTtl: "2 seconds" })
        const error = yield* Effect.flip(Effect.scoped(Lock.acquire(freshKey("limit-b"))))
        assert.strictEqual(error._tag, "ServerError")
        assert.strictEqual(error._tag === "ServerError" && error.reason, "max_locks")
        // the held lock keeps renewing through the refusal (renewal every second)...
        const lost = yield* a.lost.pipe(Effect.flip, Effect.timeoutOption("2500 millis"))
        assert.strictEqual(lost._tag, "None", "still held after two renewals")
        // ...and the client still works: joining the queue of the existing key
        // (dflockd 0.5.0 refuses `l` on any key at the limit, `e` only on new keys)
        const ticket = yield* Lock.enqueue(a.key)
        assert.strictEqual(ticket.status, "queued")
      }).pipe(Effect.scoped, Effect.provide(clientLayer(server.address)))
      yield* Effect.promise(() => server.stop())
    }), 15_000)
})

describe("network faults", () => {
  it.live(
    "a stalled link: the watchdog fails the region before the server's lease deadline",
    () =>
      Effect.gen(function*() {
        const link = yield* relay(shared)
        const key = freshKey("stall")
        const leaseMillis = 3000
        const believedHeldUntil = yield* Ref.make(0)
        const entered = yield* Deferred.make<number>()
        const region = Effect.gen(function*() {
          yield* Deferred.succeed(entered, yield* Clock.currentTimeMillis)
          // the region records every moment it still believes it holds the lock
          return yield* Effect.forever(
            Effect.andThen(
              Effect.flatMap(Clock.currentTimeMillis, (now) => Ref.set(believedHeldUntil, now)),
              Effect.sleep("20 millis")
            )
          )
        })
        const fiber = yield* region.pipe(
          Lock.withLock(key, { leaseTtl: "3 seconds" }),
          Effect.flip,
          Effect.provide(clientLayer(link.address)),
          Effect.forkChild
        )
        const grantedBy = yield* Deferred.await(entered)
        link.stall()
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "LockLostError")
        const lastBelief = yield* Ref.get(believedHeldUntil)
        // The server's lease started after our request was sent (before `grantedBy`) and was
        // renewed at most by the last confirmed renewal, so it ends no earlier than
        // grantedBy + lease. The region must have stopped before that.
        assert.isBelow(lastBelief, grantedBy + leaseMillis, "the region stopped before the lease could end")
        link.resume()
        // after the stall, the server (lease expired, or link closed) lets another client in
        assert.isTrue(yield* eventuallyFree(shared.address, key, "10 seconds"))
      }).pipe(Effect.scoped),
    20_000
  )

  it.live("a cut link under a holder: LockLostError, and the server frees the lock", () =>
    Effect.gen(function*() {
      const link = yield* relay(shared)
      const key = freshKey("cut")
      const entered = yield* Deferred.make<void>()
      const fiber = yield* Deferred.succeed(entered, undefined).pipe(
        Effect.andThen(Effect.never),
        Lock.withLock(key, { leaseTtl: "2 seconds" }),
        Effect.flip,
        Effect.provide(clientLayer(link.address)),
        Effect.forkChild
      )
      yield* Deferred.await(entered)
      assert.isFalse(yield* isFree(shared.address, key))
      link.cut()
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "LockLostError")
      assert.isTrue(yield* eventuallyFree(shared.address, key))
    }).pipe(Effect.scoped), 15_000)
})
