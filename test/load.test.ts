/**
 * Load and leaks against a real dflockd server (issue 5), bounded in count and
 * time, loopback only.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Random, Ref } from "effect"
import { inject } from "vitest"
import { DflockdClient, Lock } from "../src/index.ts"
import { clientLayer, eventuallyFree, settledResources } from "./support/probe.ts"
import { relay } from "./support/relay.ts"

const shared = inject("dflockd")
const prefix = `load-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

describe("soak", () => {
  it.live(
    "20 fibers × 500 regions, a third interrupted at random: nothing held, queued or leaked",
    () =>
      Effect.gen(function*() {
        const link = yield* relay(shared)
        const keys = Array.from({ length: 5 }, (_, i) => `${prefix}-soak-${i}`)
        const before = yield* settledResources
        const completed = yield* Ref.make(0)
        const interrupted = yield* Ref.make(0)

        const region = (worker: number, round: number) =>
          Effect.gen(function*() {
            const key = keys[(worker + round) % keys.length]!
            const work = Effect.andThen(Effect.yieldNow, Ref.update(completed, (n) => n + 1)).pipe(
              Lock.withLock(key, { acquireTimeout: "30 seconds" })
            )
            if ((yield* Random.nextIntBetween(0, 3)) !== 0) return yield* work
            // interrupt this one at a random point: connecting, queued, holding or releasing
            const fiber = yield* Effect.forkChild(work)
            yield* Effect.sleep(`${yield* Random.nextIntBetween(0, 3)} millis`)
            yield* Fiber.interrupt(fiber)
            const exit = yield* Fiber.await(fiber)
            if (Exit.hasInterrupts(exit)) yield* Ref.update(interrupted, (n) => n + 1)
          })

        yield* Effect.gen(function*() {
          yield* Effect.forEach(
            Array.from({ length: 20 }, (_, w) => w),
            (worker) => Effect.forEach(Array.from({ length: 500 }, (_, r) => r), (round) => region(worker, round)),
            { concurrency: "unbounded", discard: true }
          )
          yield* Effect.sleep("200 millis") // let the relay see the closes
          const idle = yield* DflockdClient.DflockdClient.use((client) => client.idleConnections)
          // only the pool's connections remain open at the server side
          assert.strictEqual(link.open(), idle)
        }).pipe(Effect.provide(clientLayer(link.address, { pool: { maxIdle: 20 } })))

        yield* Effect.sleep("200 millis") // let the relay see the closes
        assert.strictEqual(link.open(), 0, "closing the client closed its pool")
        for (const key of keys) assert.isTrue(yield* eventuallyFree(shared.address, key), `${key} is free`)
        assert.isAtLeast(yield* Ref.get(interrupted), 1, "some regions were interrupted")
        // the two thirds never interrupted all complete (interrupted ones may complete too)
        assert.isAtLeast(yield* Ref.get(completed), 5000)
        const after = yield* settledResources
        assert.isAtMost(after.sockets, before.sockets, "no extra sockets")
        assert.isAtMost(after.timers, before.timers, "no extra timers")
      }).pipe(Effect.scoped),
    240_000
  )
})

describe("many waiters", () => {
  it.live(
    "1,000 queued on one key with a short timeout: FIFO grants, the rest time out, none left queued",
    () =>
      Effect.gen(function*() {
        const key = `${prefix}-thousand`
        const granted = yield* Ref.make<ReadonlyArray<number>>([])
        const go = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holding = yield* Deferred.make<void>()
        const holder = yield* Lock.acquire(key).pipe(
          Effect.andThen(Deferred.succeed(holding, undefined)),
          Effect.andThen(Deferred.await(release)),
          Effect.scoped,
          Effect.forkChild
        )
        yield* Deferred.await(holding)
        // Join the queue one by one, so the server's queue order is known: 0..999.
        // Each waiter owns its ticket's scope, so a granted lock is released at once.
        const waiters: Array<Fiber.Fiber<"granted" | "timeout", unknown>> = []
        for (let i = 0; i < 1000; i++) {
          const inLine = yield* Deferred.make<string>()
          waiters.push(
            yield* Effect.gen(function*() {
              const ticket = yield* Lock.enqueue(key)
              yield* Deferred.succeed(inLine, ticket.status)
              yield* Deferred.await(go)
              yield* ticket.wait("3 seconds")
              yield* Ref.update(granted, (order) => [...order, i])
              return "granted" as const
            }).pipe(
              Effect.scoped,
              Effect.catchTag("AcquireTimeoutError", () => Effect.succeed("timeout" as const)),
              Effect.forkChild
            )
          )
          assert.strictEqual(yield* Deferred.await(inLine), "queued")
        }
        yield* Deferred.succeed(go, undefined)
        yield* Effect.sleep("100 millis")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        const outcomes = yield* Fiber.joinAll(waiters)
        const order = yield* Ref.get(granted)
        assert.isTrue(outcomes.every((o) => o === "granted" || o === "timeout"))
        assert.isAtLeast(order.length, 1)
        // FIFO: grants follow queue order (waiters whose timeout fired drop out of it)
        assert.isTrue(order.every((g, i) => i === 0 || g > order[i - 1]!), "granted in strictly increasing queue order")
        assert.strictEqual(order[0], 0, "the head of the queue was granted first")
        assert.strictEqual(outcomes.filter((o) => o === "granted").length, order.length)
        assert.isTrue(yield* eventuallyFree(shared.address, key), "nobody is left queued or holding")
      }).pipe(Effect.provide(clientLayer(shared.address))),
    120_000
  )
})
