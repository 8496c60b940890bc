/**
 * Connect timeout and the connect retry schedule (issue 3, "Configuration as
 * Effect users expect"): every attempt is a real dial on loopback, counted where
 * it can be observed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Redacted, Schedule } from "effect"
import * as Net from "node:net"
import { inject } from "vitest"
import { freePort } from "../scripts/dflockd-server.ts"
import { DflockdClient, Lock } from "../src/index.ts"
import { causeText, failedWith } from "./support/exits.ts"
import { relay } from "./support/relay.ts"
import { silentListener } from "./support/probe.ts"

const shared = inject("dflockd")

/** A loopback listener that accepts each connection and destroys it at once, counting them. */
const hangUpListener = Effect.acquireRelease(
  Effect.callback<{ readonly address: string; readonly accepted: () => number; readonly close: () => Promise<void> }>(
    (resume) => {
      let accepted = 0
      const server = Net.createServer((socket) => {
        accepted++
        socket.destroy()
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        resume(Effect.succeed({
          address: `127.0.0.1:${port}`,
          accepted: () => accepted,
          close: () => new Promise<void>((done) => server.close(() => done()))
        }))
      })
    }
  ),
  ({ close }) => Effect.promise(close)
)

describe("connection refused", () => {
  it.live("fails with ConnectionError naming the server, after the retry schedule: recurs(2) = 3 refused dials", () =>
    Effect.gen(function*() {
      const address = `127.0.0.1:${yield* Effect.promise(freePort)}` // bound, then released: nothing listens
      // A refused dial leaves no trace on a listener, so count the failures the schedule is fed
      // (one per failed attempt but the last), plus the final one.
      const retried: Array<unknown> = []
      const connectRetry = Schedule.recurs(2).pipe(Schedule.tap(({ input }) => Effect.sync(() => retried.push(input))))
      const exit = yield* Effect.exit(
        Effect.scoped(Lock.acquire("refused")).pipe(
          Effect.provide(DflockdClient.layer({ servers: [address], connectRetry }))
        )
      )
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.server, address)
      assert.include(error.message, address)
      assert.include(causeText(error), "ECONNREFUSED")
      assert.strictEqual(retried.length, 2, "two retries")
      for (const earlier of retried) {
        assert.strictEqual((earlier as { readonly _tag: string })._tag, "ConnectionError")
        assert.include(causeText(earlier), "ECONNREFUSED")
      }
    }))

  it.live("the default schedule retries with backoff before giving up", () =>
    Effect.gen(function*() {
      const address = `127.0.0.1:${yield* Effect.promise(freePort)}`
      const [elapsed, exit] = yield* Effect.timed(Effect.exit(
        Effect.scoped(Lock.acquire("refused-default")).pipe(Effect.provide(DflockdClient.layer({ servers: [address] })))
      ))
      failedWith(exit, "ConnectionError")
      // 3 retries, jittered exponential from 100 ms: at least 0.8 × (100 + 200 + 400) ms of waiting,
      // while a refused loopback dial itself takes about a millisecond
      assert.isAtLeast(Duration.toMillis(elapsed), 500)
      assert.isBelow(Duration.toMillis(elapsed), 5000)
    }))
})

describe("counted attempts", () => {
  it.live("a peer that hangs up during the TLS handshake: recurs(2) makes exactly 3 attempts", () =>
    Effect.gen(function*() {
      const listener = yield* hangUpListener
      const exit = yield* Effect.exit(
        Effect.scoped(Lock.acquire("hang-up")).pipe(
          Effect.provide(
            DflockdClient.layer({ servers: [listener.address], tls: true, connectRetry: Schedule.recurs(2) })
          )
        )
      )
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.server, listener.address)
      assert.strictEqual(listener.accepted(), 3)
    }).pipe(Effect.scoped))

  it.live("connect timeout: a silent peer never completes the handshake; each attempt ends at connectTimeout", () =>
    Effect.gen(function*() {
      const listener = yield* silentListener
      const [elapsed, exit] = yield* Effect.timed(Effect.exit(
        Effect.scoped(Lock.acquire("silent")).pipe(
          Effect.provide(DflockdClient.layer({
            servers: [listener.address],
            tls: true,
            connectTimeout: "300 millis",
            connectRetry: Schedule.recurs(2)
          }))
        )
      ))
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.server, listener.address)
      assert.strictEqual(error.reason, "Timeout")
      // TCP connected but the handshake never finished: the message says so, with the TLS hint
      assert.include(error.message, "timed out in the TLS handshake")
      assert.match(error.message, /is TLS configured on both sides\?/)
      const ms = Duration.toMillis(elapsed)
      assert.isAtLeast(ms, 3 * 300 - 50, "three attempts of 300 ms each")
      assert.isBelow(ms, 3000, "and no more")
      // every timed-out socket was closed
      yield* Effect.sleep("100 millis")
      assert.strictEqual(listener.open(), 0)
    }).pipe(Effect.scoped))

  it.live("AuthError is not retried: the real 0.5.0 server has no auth and rejects `auth`, one dial only", () =>
    Effect.gen(function*() {
      // dflockd 0.5.0 answers `error` to the unknown `auth` command (and closes); the client
      // reports any refusal of `auth` as AuthError. A counting relay shows a single dial.
      const counting = yield* relay(shared)
      const secret = "do-not-print-me-7f3a"
      const exit = yield* Effect.exit(
        Effect.scoped(Lock.acquire("auth-not-retried")).pipe(
          Effect.provide(DflockdClient.layer({
            servers: [counting.address],
            auth: Redacted.make(secret),
            connectRetry: Schedule.recurs(2)
          }))
        )
      )
      const error = failedWith(exit, "AuthError")
      assert.strictEqual(error.server, counting.address)
      assert.strictEqual(counting.accepted(), 1)
      assert.notInclude(`${error.message} ${String(error)} ${JSON.stringify(error)}`, secret)
    }).pipe(Effect.scoped))
})
