/**
 * Closing a lock's scope while a renewal is in flight: the renewal is allowed to
 * finish, then the release is sent on the same connection, which goes back to
 * the pool. Uses the scripted server only to make the `n` reply slow.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { DflockdClient, Lock } from "../src/index.ts"
import { harness, line, type Script, ScriptedServer, sleep } from "./support/scriptedServer.ts"

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
      const requests = (yield* server.requests).filter((r) => r.connection === 0).map((r) => r.command)
      assert.strictEqual(requests.at(-1), "r", "the release was sent after the renewal")
      assert.deepStrictEqual(warnings.filter((w) => w.includes("releasing")), [], "no failed release")
      const idle = yield* DflockdClient.DflockdClient.use((client) => client.idleConnections)
      assert.strictEqual(idle, 1, "the connection went back to the pool")
    }).pipe(Effect.provide(harness(slowRenewals, { requestTimeout: "2 seconds" }))))
})
