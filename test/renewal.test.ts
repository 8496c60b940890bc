/**
 * Closing a lock's scope while a renewal is in flight: the renewal is allowed to
 * finish, then the release is sent on the same connection, which goes back to
 * the pool. Uses the scripted server only to make the `n` reply slow.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, References } from "effect"
import { DflockdClient, Lock } from "../src/index.ts"
import { eventuallyLive } from "./support/eventually.ts"
import { hang, harness, line, reset, type Script, ScriptedServer, sleep } from "./support/scriptedServer.ts"

const TOKEN = "00000000000000090123456789abcdef"

const slowRenewals: Script = (request) => {
  switch (request.command) {
    case "l":
      return [line(`ok ${TOKEN} 10`)]
    case "n":
      return [sleep("300 millis"), line("ok 10")]
    case "r":
      return [line("ok")]
    default:
      return [line("error")]
  }
}

describe("renewal in flight when the scope closes", () => {
  it.live("the renewal completes, the release is sent, the connection is pooled", () =>
    Effect.gen(function*() {
      const warnings: Array<string> = []
      const server = yield* ScriptedServer
      yield* Effect.gen(function*() {
        // a heartbeat's reply is awaited for one interval: the slow reply (300 ms) comes within it
        yield* Lock.acquire("renewing", { heartbeatInterval: "400 millis" })
        // wait until a renewal is on the wire (at 400 ms), then close the scope mid-renewal
        yield* Effect.sleep("500 millis")
        const sent = yield* server.requests
        assert.include(sent.map((r) => r.command), "n")
      }).pipe(
        Effect.scoped,
        Effect.provide(Logger.layer([Logger.make((o) => void warnings.push(String(o.message)))]))
      )
      // the release is pipelined: on the wire when the scope has closed, at the server a moment later
      const onConnection0 = Effect.map(server.requests, (all) =>
        all.filter((r) => r.connection === 0).map((r) => r.command))
      yield* eventuallyLive(
        Effect.map(onConnection0, (commands) =>
          commands.includes("r")),
        "the release arrived"
      )
      const requests = yield* onConnection0
      assert.strictEqual(requests.at(-1), "r", "the release was sent after the renewal")
      assert.deepStrictEqual(warnings.filter((w) => w.includes("releasing")), [], "no failed release")
      const idle = yield* DflockdClient.DflockdClient.use((client) => client.idleConnections)
      assert.strictEqual(idle, 1, "the connection went back to the pool")
    }).pipe(Effect.provide(harness(slowRenewals, { requestTimeout: "2 seconds" }))))
})

/** Log lines with their level, captured at every level (debug included). */
const capturing =
  (lines: Array<{ readonly level: string; readonly message: string; readonly cause: string }>) =>
  <A, E, R>(self: Effect.Effect<A, E, R>) =>
    self.pipe(
      Effect.provide(Logger.layer([Logger.make((o) =>
        void lines.push({ level: o.logLevel, message: String(o.message), cause: String(o.cause.reasons.length) })
      )])),
      Effect.provideService(References.MinimumLogLevel, "Debug")
    )

describe("a heartbeat's reply is awaited with a bound", () => {
  const unanswered: Script = (request) => {
    switch (request.command) {
      case "l":
        return [line(`ok ${TOKEN} 10`)]
      case "n":
        return [hang] // a half-open link: the renewal goes out, nothing ever comes back
      default:
        return [line("error")]
    }
  }

  it.live("a renewal unanswered for one heartbeat interval loses the lease then, long before its deadline", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const error = yield* Effect.never.pipe(
        Lock.withLock("half-open", { heartbeatInterval: "300 millis" }),
        Effect.flip
      )
      const elapsed = Date.now() - started
      assert.strictEqual(error._tag, "LockLostError")
      assert.match(error._tag === "LockLostError" ? error.reason : "", /renewal unanswered within 300 ms/)
      // sent at 300 ms, bounded by 300 ms: lost at 600 ms; the 10 s lease's deadline is at 9 s
      assert.isAtLeast(elapsed, 550)
      assert.isAtMost(elapsed, 5000)
    }).pipe(Effect.provide(harness(unanswered, { requestTimeout: "5 seconds" }))))
})

describe("a release on a connection already gone", () => {
  const resetOnRelease: Script = (request) => {
    switch (request.command) {
      case "l":
        return [line(`ok ${TOKEN} 10`)]
      case "r":
        return [reset] // the server was killed while the release was on its way
      default:
        return [line("error")]
    }
  }

  it.live("is expected: one debug line without a cause, no warning", () =>
    Effect.gen(function*() {
      const lines: Array<{ readonly level: string; readonly message: string; readonly cause: string }> = []
      yield* Effect.void.pipe(Lock.withLock("gone"), capturing(lines))
      // the release is pipelined: its failure is heard when the connection breaks, after withLock returned
      yield* eventuallyLive(Effect.sync(() => lines.some((l) => l.message.includes("releasing"))), "the release's end")
      yield* Effect.sleep("50 millis") // and nothing more comes
      const releasing = lines.filter((l) => l.message.includes("releasing"))
      assert.strictEqual(releasing.length, 1, JSON.stringify(lines))
      assert.strictEqual(releasing[0]!.level, "Debug")
      assert.strictEqual(releasing[0]!.cause, "0", "no cause (and so no stack) attached")
      assert.match(releasing[0]!.message, /found the connection gone/)
      assert.deepStrictEqual(lines.filter((l) => l.level === "Warn" || l.level === "Error"), [])
    }).pipe(Effect.provide(harness(resetOnRelease))))

  const refusedRelease: Script = (request) => {
    switch (request.command) {
      case "l":
        return [line(`ok ${TOKEN} 10`)]
      default:
        return [line("error")] // `r` refused: not a gone connection
    }
  }

  it.live("a refused release is still a warning", () =>
    Effect.gen(function*() {
      const lines: Array<{ readonly level: string; readonly message: string; readonly cause: string }> = []
      yield* Effect.void.pipe(Lock.withLock("refused"), capturing(lines))
      yield* eventuallyLive(Effect.sync(() => lines.some((l) => l.message.includes("releasing"))), "the refusal read")
      yield* Effect.sleep("50 millis") // and nothing more comes
      const releasing = lines.filter((l) => l.message.includes("releasing"))
      assert.strictEqual(releasing.length, 1)
      assert.strictEqual(releasing[0]!.level, "Warn")
    }).pipe(Effect.provide(harness(refusedRelease))))
})
