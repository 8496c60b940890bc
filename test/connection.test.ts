/**
 * The connection state machine (`fromTransport`) over a transport scripted in
 * memory: one exchange at a time, and any doubt (an interrupted or timed-out
 * exchange, a stray line) makes the connection unusable. Timing by TestClock.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import { TestClock } from "effect/testing"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { ConnectionError, ProtocolError } from "../src/Errors.ts"
import { DflockdClient, Lock, type Transport } from "../src/index.ts"
import * as Codec from "../src/internal/protocol/codec.ts"
import * as Connection from "../src/internal/transport/connection.ts"
import { failedWith } from "./support/exits.ts"

const TOKEN = "0000000000000001aaaaaaaaaaaaaaaa"
const options = { auth: undefined, connectTimeout: Duration.seconds(5) }

/** A transport whose replies wait for `answer` (or its deadline, by the clock). */
const scripted = Effect.gen(function*() {
  const answer = yield* Deferred.make<string>()
  const frames: Array<string> = []
  /** The transport breaking (a hang-up, or a byte nobody asked for): flagged at once, then signalled. */
  const hangup = yield* Deferred.make<ConnectionError | ProtocolError>()
  let brokenWith: ConnectionError | ProtocolError | undefined
  const breakNow = (error: ConnectionError | ProtocolError) =>
    Effect.andThen(Effect.sync(() => (brokenWith = error)), Deferred.succeed(hangup, error))
  const transport: Connection.Transport = {
    server: "scripted:1",
    exchange: (frame, timeoutMillis) => {
      frames.push(frame)
      return Deferred.await(answer).pipe(
        Effect.timeoutOrElse({
          duration: timeoutMillis,
          orElse: () =>
            Effect.fail(new ConnectionError({ server: "scripted:1", reason: "Timeout", cause: new Error("no reply") }))
        })
      )
    },
    probe: () => brokenWith,
    hangup: Deferred.await(hangup)
  }
  return { transport, answer, frames, breakNow }
})

const acquire = Codec.acquire({ kind: "lock", key: "k", limit: undefined }, 0, undefined)

describe("Connection.fromTransport", () => {
  it.effect("a second send while one is in flight fails at once and sends nothing", () =>
    Effect.gen(function*() {
      const { answer, frames, transport } = yield* scripted
      const connection = yield* Connection.fromTransport(transport, options)
      const first = yield* Effect.forkChild(connection.send(acquire, 5000), { startImmediately: true })
      const second = failedWith(yield* Effect.exit(connection.send(acquire, 5000)), "ConnectionError")
      assert.include(second.message, "busy or abandoned")
      assert.strictEqual(frames.length, 1)
      yield* Deferred.succeed(answer, `ok ${TOKEN} 33`)
      const granted = yield* Fiber.join(first)
      assert.strictEqual(granted._tag === "Granted" && granted.token, TOKEN)
      assert.isTrue(yield* connection.reusable)
    }).pipe(Effect.scoped))

  it.effect("an interrupted exchange leaves the connection unusable: it is never reused", () =>
    Effect.gen(function*() {
      const { answer, frames, transport } = yield* scripted
      const connection = yield* Connection.fromTransport(transport, options)
      const first = yield* Effect.forkChild(connection.send(acquire, 5000), { startImmediately: true })
      yield* Fiber.interrupt(first)
      yield* Deferred.succeed(answer, `ok ${TOKEN} 33`) // the reply comes too late for anyone
      assert.isFalse(yield* connection.reusable)
      assert.isFalse(yield* connection.alive)
      failedWith(yield* Effect.exit(connection.send(acquire, 5000)), "ConnectionError")
      assert.strictEqual(frames.length, 1)
    }).pipe(Effect.scoped))

  it.effect("no reply by the deadline: ConnectionError, and the connection is broken", () =>
    Effect.gen(function*() {
      const { transport } = yield* scripted
      const connection = yield* Connection.fromTransport(transport, options)
      const pending = yield* Effect.forkChild(connection.send(acquire, 2000), { startImmediately: true })
      yield* TestClock.adjust("1999 millis")
      assert.isUndefined(pending.pollUnsafe())
      yield* TestClock.adjust("1 millis")
      failedWith(yield* Fiber.await(pending), "ConnectionError")
      assert.isFalse(yield* connection.alive)
      const broken = yield* Effect.flip(connection.broken)
      assert.strictEqual(broken._tag, "ConnectionError")
    }).pipe(Effect.scoped))

  it.effect("a break the transport signals (a stray line) breaks the idle connection at once: nothing more is sent", () =>
    Effect.gen(function*() {
      const { breakNow, frames, transport } = yield* scripted
      const connection = yield* Connection.fromTransport(transport, options)
      const watching = yield* Effect.forkChild(Effect.flip(connection.broken), { startImmediately: true })
      yield* breakNow(new ProtocolError({ reply: "ok", detail: "unsolicited reply" }))
      const signalled = yield* Fiber.join(watching)
      assert.strictEqual(signalled._tag, "ProtocolError", "`broken` fails on the break itself, no send needed")
      const error = failedWith(yield* Effect.exit(connection.send(acquire, 5000)), "ProtocolError")
      assert.strictEqual(error.reply, "ok")
      assert.strictEqual(frames.length, 0, "nothing was sent")
      assert.isFalse(yield* connection.reusable)
    }).pipe(Effect.scoped))

  it.effect("a break while a reply is being decoded is not undone by the reply", () =>
    Effect.gen(function*() {
      const { answer, breakNow, transport } = yield* scripted
      const connection = yield* Connection.fromTransport(transport, options)
      const pending = yield* Effect.forkChild(connection.send(acquire, 5000), { startImmediately: true })
      yield* breakNow(new ConnectionError({ server: "scripted:1", reason: "Closed", cause: new Error("closed") }))
      yield* Deferred.succeed(answer, `ok ${TOKEN} 33`)
      yield* Fiber.join(pending)
      assert.isFalse(yield* connection.reusable, "still broken after the reply")
      assert.isFalse(yield* connection.alive)
    }).pipe(Effect.scoped))
})

describe("Connection.fromTransport over a transport with onHangup", () => {
  /** A transport that tells its listeners of a break synchronously, and has no `hangup` to wait on. */
  const telling = () => {
    const listeners: Array<(error: ConnectionError | ProtocolError) => void> = []
    let brokenWith: ConnectionError | ProtocolError | undefined
    const transport: Connection.Transport = {
      server: "telling:1",
      exchange: () => Effect.succeed(`ok ${TOKEN} 33`),
      probe: () => brokenWith,
      hangup: Effect.never,
      onHangup: (listener) => {
        if (brokenWith !== undefined) return listener(brokenWith)
        listeners.push(listener)
      }
    }
    const breakNow = (error: ConnectionError | ProtocolError) => {
      brokenWith = error
      for (const listener of listeners) listener(error)
    }
    return { transport, breakNow }
  }

  it.effect("the break reaches the connection and its owner in the same step", () =>
    Effect.gen(function*() {
      const { breakNow, transport } = telling()
      const connection = yield* Connection.fromTransport(transport, options)
      const told: Array<string> = []
      yield* connection.onBreak((error) => Effect.sync(() => told.push(error._tag)))
      breakNow(new ConnectionError({ server: "telling:1", reason: "Closed", cause: new Error("closed") }))
      assert.deepStrictEqual(told, ["ConnectionError"], "the owner was told before the break returned")
      failedWith(yield* Effect.exit(connection.send(acquire, 5000)), "ConnectionError")
      assert.isFalse(yield* connection.reusable)
    }).pipe(Effect.scoped))

  it.effect("once the connection's scope has closed, a break is no longer heard", () =>
    Effect.gen(function*() {
      const { breakNow, transport } = telling()
      const told: Array<string> = []
      yield* Effect.scoped(
        Effect.flatMap(
          Connection.fromTransport(transport, options),
          (connection) => connection.onBreak((error) => Effect.sync(() => told.push(error._tag)))
        )
      )
      breakNow(new ProtocolError({ reply: "ok", detail: "unsolicited reply" }))
      assert.deepStrictEqual(told, [])
    }))
})

describe("DflockdClient.makeWith: the transport is the public seam", () => {
  it.effect("the client runs its connection over a dialer's transport: authenticates, acquires, releases", () =>
    Effect.gen(function*() {
      const frames: Array<string> = []
      const reply = (frame: string): string => {
        const [cmd] = frame.split("\n")
        return cmd === "l" ? `ok ${TOKEN} 33` : cmd === "n" ? "ok 33" : "ok"
      }
      const transport: Transport.Transport = {
        server: "user:1",
        exchange: (frame) => Effect.sync(() => (frames.push(frame), reply(frame))),
        probe: () => undefined,
        hangup: Effect.never
      }
      const dialer: DflockdClient.Dialer = () => Effect.succeed(transport)
      const client = Layer.effect(
        DflockdClient.DflockdClient,
        DflockdClient.makeWith({ servers: ["user:1"], auth: Redacted.make("s3cret") }, dialer)
      )
      yield* Effect.scoped(
        Effect.gen(function*() {
          const lock = yield* Lock.acquire("k")
          assert.strictEqual(lock.token, TOKEN)
          assert.strictEqual(lock.server, "user:1")
        })
      ).pipe(Effect.provide(client))
      assert.deepStrictEqual(frames.slice(0, 2), ["auth\n_\ns3cret\n", "l\nk\n10\n"])
      assert.include(frames, `r\nk\n${TOKEN}\n`)
    }))
})

describe("Connection.fromTransport with acceptOpaqueTokens", () => {
  /** An acquire answered with `reply` on a connection made with `acceptOpaqueTokens`: its exit, and the connection after it. */
  const grant = (acceptOpaqueTokens: boolean, reply: string) =>
    Effect.gen(function*() {
      const { answer, transport } = yield* scripted
      const connection = yield* Connection.fromTransport(transport, { ...options, acceptOpaqueTokens })
      const pending = yield* Effect.forkChild(connection.send(acquire, 5000), { startImmediately: true })
      yield* Deferred.succeed(answer, reply)
      return { exit: yield* Fiber.await(pending), alive: yield* connection.alive }
    }).pipe(Effect.scoped)

  it.effect("by default a grant must carry 32 hex digits: `ok tok1 20` is a ProtocolError that breaks the connection", () =>
    Effect.gen(function*() {
      const { alive, exit } = yield* grant(false, "ok tok1 20")
      assert.strictEqual(failedWith(exit, "ProtocolError").detail, "expected a 32-hex token")
      assert.isFalse(alive)
    }))

  it.effect("accepted, a grant may carry an opaque token, and the connection stays clean", () =>
    Effect.gen(function*() {
      const { alive, exit } = yield* grant(true, "ok tok1 20")
      assert.deepStrictEqual(Exit.isSuccess(exit) && exit.value, Codec.granted("tok1", 20))
      assert.isTrue(alive)
    }))

  it.effect("accepted, a malformed grant is refused in the opaque rule's words", () =>
    Effect.gen(function*() {
      const { alive, exit } = yield* grant(true, "ok tok1")
      assert.strictEqual(failedWith(exit, "ProtocolError").detail, "expected a lease in seconds")
      assert.isFalse(alive)
    }))
})
