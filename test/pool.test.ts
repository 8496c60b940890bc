/**
 * Connection reuse (issue 6) against a real dflockd server, observed through a
 * counting relay: the server side sees exactly the connections the client opens.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { inject } from "vitest"
import { DflockdClient, Lock } from "../src/index.ts"
import { clientLayer, eventuallyFree, scopedRestart, scopedServer } from "./support/probe.ts"
import { relay } from "./support/relay.ts"
import { freshKey as fresh } from "./support/keys.ts"

const server = inject("dflockd")
const freshKey = (name: string) => fresh("pool", name)
const idleConnections = DflockdClient.DflockdClient.use((client) => client.idleConnections)

describe("connection reuse", () => {
  it.live("1,000 sequential regions use one connection", () =>
    Effect.gen(function*() {
      const link = yield* relay(server)
      const key = freshKey("reuse")
      yield* Effect.gen(function*() {
        for (let i = 0; i < 1000; i++) yield* Effect.void.pipe(Lock.withLock(key))
        assert.strictEqual(yield* idleConnections, 1)
      }).pipe(Effect.provide(clientLayer(link.address)))
      assert.strictEqual(link.accepted(), 1)
    }).pipe(Effect.scoped), 60_000)

  it.live("pool: false opens one connection per lock and keeps none", () =>
    Effect.gen(function*() {
      const link = yield* relay(server)
      const key = freshKey("no-pool")
      yield* Effect.gen(function*() {
        for (let i = 0; i < 5; i++) yield* Effect.void.pipe(Lock.withLock(key))
        assert.strictEqual(yield* idleConnections, 0)
      }).pipe(Effect.provide(clientLayer(link.address, { pool: false })))
      assert.strictEqual(link.accepted(), 5)
    }).pipe(Effect.scoped))

  it.live("concurrent holders each own a connection; all return to the pool", () =>
    Effect.gen(function*() {
      const link = yield* relay(server)
      yield* Effect.gen(function*() {
        yield* Effect.forEach(
          Array.from({ length: 8 }, (_, i) => freshKey(`concurrent-${i}`)),
          (key) => Effect.sleep("50 millis").pipe(Lock.withLock(key)),
          { concurrency: "unbounded", discard: true }
        )
        assert.strictEqual(yield* idleConnections, 8)
        yield* Effect.void.pipe(Lock.withLock(freshKey("after")))
      }).pipe(Effect.provide(clientLayer(link.address)))
      assert.strictEqual(link.accepted(), 8)
    }).pipe(Effect.scoped))

  it.live("a broken pooled connection is replaced", () =>
    Effect.gen(function*() {
      const link = yield* relay(server)
      const key = freshKey("broken")
      yield* Effect.gen(function*() {
        yield* Effect.void.pipe(Lock.withLock(key))
        link.cut()
        yield* Effect.sleep("50 millis")
        assert.strictEqual(yield* Effect.succeed("ok").pipe(Lock.withLock(key)), "ok")
      }).pipe(Effect.provide(clientLayer(link.address)))
      assert.strictEqual(link.accepted(), 2)
    }).pipe(Effect.scoped))

  it.live("a server restart between regions: the next region reconnects", () =>
    Effect.gen(function*() {
      const first = yield* scopedServer()
      const key = freshKey("restart")
      yield* Effect.gen(function*() {
        yield* Effect.void.pipe(Lock.withLock(key))
        yield* Effect.promise(() => first.stop())
        const second = yield* scopedRestart(first)
        assert.strictEqual(yield* Effect.succeed("ok").pipe(Lock.withLock(key)), "ok")
        yield* Effect.promise(() => second.stop())
      }).pipe(Effect.provide(clientLayer(first.address)))
    }), 30_000)

  it.live("an acquire interrupted mid-flight does not poison the pool", () =>
    Effect.gen(function*() {
      const link = yield* relay(server)
      const busy = freshKey("busy")
      const other = freshKey("other")
      yield* Effect.gen(function*() {
        yield* Effect.void.pipe(Lock.withLock(other)) // one idle pooled connection
        const holder = yield* Lock.acquire(busy).pipe(Effect.provide(clientLayer(server.address)))
        // takes the idle connection and blocks in `l`
        const queued = yield* Lock.acquire(busy, { acquireTimeout: "30 seconds" }).pipe(Effect.scoped, Effect.forkChild)
        yield* Effect.sleep("200 millis")
        yield* Fiber.interrupt(queued)
        assert.strictEqual(yield* idleConnections, 0, "the interrupted connection was closed, not pooled")
        // the next lock gets a fresh connection whose replies are its own
        const lock = yield* Lock.acquire(other)
        assert.match(lock.token, /^[0-9a-f]{32}$/)
        assert.strictEqual(holder.key, busy)
      }).pipe(Effect.scoped, Effect.provide(clientLayer(link.address)))
      assert.strictEqual(link.accepted(), 2)
      assert.isTrue(yield* eventuallyFree(server.address, other))
    }).pipe(Effect.scoped))
})
