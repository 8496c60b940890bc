/**
 * Pipelined releases: a region's release is written and its connection goes
 * back to the pool at once, with the reply owed; the next exchange on that
 * connection (or its reader) reads and checks the owed reply first.
 *
 * Against the real server: random interleavings of every kind of exchange over
 * a small pool, so that owed replies meet every other command. Against a
 * scripted hostile server: an owed reply refused, malformed, or never given
 * because the server hangs up.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Logger, Option, References } from "effect"
import * as fc from "fast-check"
import { inject } from "vitest"
import { DflockdClient, Lock } from "../src/index.ts"
import { eventuallyLive } from "./support/eventually.ts"
import { params } from "./support/fastCheck.ts"
import { freshKey } from "./support/keys.ts"
import { clientLayer, eventuallyFree } from "./support/probe.ts"
import { close, harness, line, type Script, ScriptedServer } from "./support/scriptedServer.ts"
import { has } from "./support/server.ts"

const shared = inject("dflockd").address

type Op =
  | { readonly _tag: "withLock"; readonly key: number }
  | { readonly _tag: "release"; readonly key: number }
  | { readonly _tag: "extend"; readonly key: number }
  | { readonly _tag: "twoPhase"; readonly key: number }
  | { readonly _tag: "stats" }

const KEYS = 3
const keyIndex = fc.integer({ min: 0, max: KEYS - 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  keyIndex.map((key) => ({ _tag: "withLock", key }) as const),
  keyIndex.map((key) => ({ _tag: "release", key }) as const),
  keyIndex.map((key) => ({ _tag: "extend", key }) as const),
  keyIndex.map((key) => ({ _tag: "twoPhase", key }) as const),
  fc.constant({ _tag: "stats" } as const)
)

/** Runs one op and checks its typed result; any failure fails the property. */
const run = (keys: ReadonlyArray<string>, step: Op, index: number) => {
  const key = (i: number) => keys[i]!
  switch (step._tag) {
    case "withLock":
      return Effect.map(
        Effect.succeed(index).pipe(Lock.withLock(key(step.key), { acquireTimeout: "10 seconds" })),
        (value) => assert.strictEqual(value, index, "the region's own value")
      )
    case "release":
      return Effect.scoped(Effect.gen(function*() {
        const lock = yield* Lock.acquire(key(step.key), { acquireTimeout: "10 seconds" })
        assert.strictEqual(lock.key, key(step.key))
        yield* Lock.release(lock)
      }))
    case "extend":
      return Effect.scoped(Effect.gen(function*() {
        const lock = yield* Lock.acquire(key(step.key), { acquireTimeout: "10 seconds" })
        yield* Lock.extend(lock, "7 seconds")
        assert.isAbove(Duration.toMillis(yield* Lock.remaining(lock)), 0)
      }))
    case "twoPhase":
      return Effect.scoped(Effect.gen(function*() {
        const ticket = yield* Lock.enqueue(key(step.key))
        assert.include(["acquired", "queued"], ticket.status)
        const lock = yield* ticket.wait("10 seconds")
        assert.strictEqual(lock.key, key(step.key))
      }))
    case "stats":
      return has("stats")
        ? Effect.map(
          DflockdClient.stats(),
          (all) => assert.strictEqual(all.length, 1, "one server's stats, decoded")
        )
        : Effect.void
  }
}

describe("pipelined releases against the real server", () => {
  it.live(
    "random interleavings over a pool of two: every reply reaches its own exchange, nothing is held after",
    () =>
      Effect.gen(function*() {
        const runs = yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(
              fc.array(fc.array(op, { minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 3 }),
              (workers) =>
                Effect.runPromise(
                  Effect.gen(function*() {
                    const keys = Array.from({ length: KEYS }, (_, i) => freshKey("pipelined", `k${i}`))
                    yield* Effect.forEach(
                      workers,
                      (steps) => Effect.forEach(steps, (step, i) => run(keys, step, i), { discard: true }),
                      { concurrency: "unbounded", discard: true }
                    ).pipe(Effect.provide(clientLayer(shared, { pool: { maxIdle: 2 } })))
                    for (const key of keys) {
                      assert.isTrue(yield* eventuallyFree(shared, key), `${key} is free at the end`)
                    }
                    if (has("stats")) {
                      // the probes above release pipelined too: the server may still be reading their `r`
                      const ours = DflockdClient.stats().pipe(
                        Effect.provide(clientLayer(shared)),
                        Effect.map((all) =>
                          all.flatMap(({ stats }) => stats.locks.filter((lock) => keys.includes(lock.key)))
                        )
                      )
                      yield* eventuallyLive(
                        Effect.map(ours, (locks) =>
                          locks.every((lock) => lock.owner_conn_id === 0 && lock.waiters === 0)),
                        "nothing held or queued (server stats)"
                      )
                    }
                  }).pipe(Effect.orDie)
                ).then(() =>
                  true
                )
            ),
            params(25)
          ).then(() => 25)
        )
        assert.strictEqual(runs, 25)
      }),
    120_000
  )

  it.live("a release and the next lock on the same connection: the server reads `r` before the next `l`", () =>
    Effect.gen(function*() {
      const key = freshKey("pipelined", "order")
      yield* Effect.gen(function*() {
        for (let i = 0; i < 50; i++) yield* Lock.withLock(Effect.void, key)
        assert.strictEqual(yield* DflockdClient.DflockdClient.use((client) => client.idleConnections), 1)
      }).pipe(Effect.provide(clientLayer(shared, { pool: { maxIdle: 1 } })))
      // had any `l` overtaken its connection's `r`, the server would have queued it behind itself: a timeout
      assert.isTrue(yield* eventuallyFree(shared, key))
    }))
})

const TOKEN = "000000000000000a0123456789abcdef"

/** Grants every `l`; answers `r` on connection 0 with `release`, on later ones with `ok`. */
const releaseAnswered = (release: Script): Script => (request, at) => {
  switch (request.command) {
    case "l":
      return [line(`ok ${TOKEN} 5`)]
    case "r":
      return at.connection === 0 ? release(request, at) : [line("ok")]
    default:
      return [line("error")]
  }
}

interface LogLine {
  readonly level: string
  readonly message: string
}

const logged = (lines: Array<LogLine>) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(
    Effect.provide(
      Logger.layer([Logger.make((o) => void lines.push({ level: o.logLevel, message: String(o.message) }))])
    ),
    Effect.provideService(References.MinimumLogLevel, "Debug")
  )

const releaseLines = (lines: ReadonlyArray<LogLine>) => lines.filter((l) => l.message.includes("releasing"))

describe("pipelined releases against a hostile server", () => {
  const cases: ReadonlyArray<readonly [string, Script, string, RegExp, number]> = [
    ["`error`", () => [line("error")], "Warn", /releasing "hostile-r" failed/, 1],
    ["garbage", () => [line("garbage")], "Warn", /releasing "hostile-r" failed/, 2],
    ["a hang-up", () => [close], "Debug", /found the connection gone/, 2]
  ]

  it.live.each(cases)("an owed release answered with %s: logged as a failed release is, the next lock works", ([
    ,
    script,
    level,
    message,
    connections
  ]) =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const lines: Array<LogLine> = []
      const first = yield* Effect.succeed("first").pipe(Lock.withLock("hostile-r"), logged(lines))
      assert.strictEqual(first, "first", "the region's value, whatever the release's reply")
      yield* eventuallyLive(Effect.sync(() => releaseLines(lines).length > 0), "the owed reply was read")
      // the next lock: on the same connection after a refusal (it stays in step), on a
      // fresh one after garbage or a hang-up (that connection is closed)
      const second = yield* Effect.succeed("second").pipe(Lock.withLock("hostile-r"), logged(lines))
      assert.strictEqual(second, "second")
      assert.strictEqual(yield* server.connections, connections)
      const releasing = releaseLines(lines)
      assert.strictEqual(releasing.length, 1, JSON.stringify(lines))
      assert.strictEqual(releasing[0]!.level, level)
      assert.match(releasing[0]!.message, message)
      const requests = yield* server.requests
      assert.deepStrictEqual(
        requests.filter((r) => r.connection === 0).map((r) => r.command).slice(0, 2),
        ["l", "r"]
      )
    }).pipe(Effect.provide(harness(releaseAnswered(script), { requestTimeout: "2 seconds" }))))

  it.live("the owed reply and the next grant in one chunk: both read, each by its own reader", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const lines: Array<LogLine> = []
      for (let i = 0; i < 5; i++) yield* Effect.void.pipe(Lock.withLock("hostile-chunk"), logged(lines))
      assert.strictEqual(yield* server.connections, 1, "one connection throughout")
      assert.deepStrictEqual(releaseLines(lines), [], "no release failed")
      const lock = yield* Effect.scoped(Effect.map(Lock.tryAcquire("hostile-chunk"), Option.isSome))
      assert.isTrue(lock)
    }).pipe(
      Effect.provide(harness((request, at) => {
        // the reply to `r` is held back and sent with the next `l`'s grant, in one write
        if (request.command === "r") return []
        if (request.command === "l") return [line(at.index === 0 ? `ok ${TOKEN} 5` : `ok\nok ${TOKEN} 5`)]
        return [line("error")]
      }, { requestTimeout: "2 seconds" }))
    ))
})
