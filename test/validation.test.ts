/**
 * Bad input fails with InvalidArgumentError, naming the argument, before any
 * I/O: the client points at a loopback listener that counts connections, and
 * it must see none (issue 2 behaviour 8; issue 5 "no command injection").
 */
import { assert, describe, it, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { inject } from "vitest"
import { DflockdClient, Lock, Semaphore } from "../src/index.ts"
import type { DflockdError } from "../src/Errors.ts"
import * as Codec from "../src/internal/protocol/codec.ts"
import { failedWith } from "./support/exits.ts"
import { hang, harness, ScriptedServer } from "./support/scriptedServer.ts"

type Options = {
  readonly acquireTimeout?: Duration.Input
  readonly leaseTtl?: Duration.Input
  readonly limit?: number
  readonly renewRatio?: number
  readonly heartbeatInterval?: Duration.Input
}

interface Operation {
  readonly name: string
  readonly kind: "lock" | "semaphore"
  /** tryAcquire and enqueue take no acquireTimeout */
  readonly takesTimeout: boolean
  readonly run: (
    key: string,
    options: Options
  ) => Effect.Effect<unknown, DflockdError, DflockdClient.DflockdClient | Scope.Scope>
}

const withoutTimeout = ({ acquireTimeout: _, ...rest }: Options) => rest
const withLimit = (options: Options) => ({ ...options, limit: options.limit ?? 2 })

const operations: ReadonlyArray<Operation> = [
  { name: "Lock.acquire", kind: "lock", takesTimeout: true, run: (key, o) => Lock.acquire(key, o) },
  {
    name: "Lock.tryAcquire",
    kind: "lock",
    takesTimeout: false,
    run: (key, o) => Lock.tryAcquire(key, withoutTimeout(o))
  },
  { name: "Lock.enqueue", kind: "lock", takesTimeout: false, run: (key, o) => Lock.enqueue(key, withoutTimeout(o)) },
  { name: "Lock.withLock", kind: "lock", takesTimeout: true, run: (key, o) => Effect.void.pipe(Lock.withLock(key, o)) },
  {
    name: "Semaphore.acquire",
    kind: "semaphore",
    takesTimeout: true,
    run: (key, o) => Semaphore.acquire(key, withLimit(o))
  },
  {
    name: "Semaphore.tryAcquire",
    kind: "semaphore",
    takesTimeout: false,
    run: (key, o) => Semaphore.tryAcquire(key, withLimit(withoutTimeout(o)))
  },
  {
    name: "Semaphore.enqueue",
    kind: "semaphore",
    takesTimeout: false,
    run: (key, o) => Semaphore.enqueue(key, withLimit(withoutTimeout(o)))
  },
  {
    name: "Semaphore.withPermit",
    kind: "semaphore",
    takesTimeout: true,
    run: (key, o) => Effect.void.pipe(Semaphore.withPermit(key, withLimit(o)))
  }
]

interface Case {
  readonly label: string
  readonly key: string
  readonly options: Options
  readonly argument: string
  readonly appliesTo: (op: Operation) => boolean
}

const all = () => true
const keyCase = (label: string, key: string): Case => ({ label, key, options: {}, argument: "key", appliesTo: all })
const optionCase = (
  label: string,
  options: Options,
  argument: string,
  appliesTo: (op: Operation) => boolean = all
): Case => ({
  label,
  key: "valid-key",
  options,
  argument,
  appliesTo
})
const semaphoresOnly = (op: Operation) => op.kind === "semaphore"
const withTimeout = (op: Operation) => op.takesTimeout

const cases: ReadonlyArray<Case> = [
  keyCase("an empty key", ""),
  keyCase("a key that is just \\n", "\n"),
  keyCase("\\n in a key", "orders\nl"),
  keyCase("\\r in a key", "orders\r"),
  keyCase("NUL in a key", "ord\u0000ers"),
  keyCase("a space in a key", "my key"),
  keyCase("a tab in a key", "my\tkey"),
  keyCase("a frame smuggled in a key", "a\n0\n\nr\nother"),
  keyCase("a key of 256 bytes", "k".repeat(256)),
  keyCase("a key of 128 × é (256 bytes)", "é".repeat(128)),
  keyCase("a key of 1 MiB", "k".repeat(1024 * 1024)),
  optionCase("leaseTtl 1.5 seconds", { leaseTtl: "1.5 seconds" }, "leaseTtl"),
  optionCase("leaseTtl 0", { leaseTtl: 0 }, "leaseTtl"),
  optionCase("leaseTtl 500 millis", { leaseTtl: "500 millis" }, "leaseTtl"),
  optionCase("leaseTtl -1 seconds", { leaseTtl: "-1 seconds" }, "leaseTtl"),
  optionCase("leaseTtl over MAX_SECONDS", { leaseTtl: Duration.seconds(Codec.MAX_SECONDS + 1) }, "leaseTtl"),
  optionCase("acquireTimeout -1 seconds", { acquireTimeout: "-1 seconds" }, "acquireTimeout", withTimeout),
  optionCase("acquireTimeout -1 millis", { acquireTimeout: -1 }, "acquireTimeout", withTimeout),
  optionCase("acquireTimeout infinite", { acquireTimeout: Duration.infinity }, "acquireTimeout", withTimeout),
  optionCase("renewRatio 0", { renewRatio: 0 }, "renewRatio"),
  optionCase("renewRatio 1", { renewRatio: 1 }, "renewRatio"),
  optionCase("renewRatio 1.5", { renewRatio: 1.5 }, "renewRatio"),
  optionCase("heartbeatInterval 0", { heartbeatInterval: 0 }, "heartbeatInterval"),
  // the client's serverReadTimeout is 23 s: a heartbeat that long loses the lock to the server's read timeout
  optionCase("heartbeatInterval 23 seconds", { heartbeatInterval: "23 seconds" }, "heartbeatInterval"),
  optionCase("heartbeatInterval 1 minute", { heartbeatInterval: "1 minute" }, "heartbeatInterval"),
  optionCase("limit 0", { limit: 0 }, "limit", semaphoresOnly),
  optionCase("limit -1", { limit: -1 }, "limit", semaphoresOnly),
  optionCase("limit 1.5", { limit: 1.5 }, "limit", semaphoresOnly),
  optionCase("limit NaN", { limit: Number.NaN }, "limit", semaphoresOnly),
  optionCase("limit over MAX_LIMIT", { limit: Codec.MAX_LIMIT + 1 }, "limit", semaphoresOnly)
]

const table = operations.flatMap((op) =>
  cases.filter((c) => c.appliesTo(op)).map((c) => ({ name: `${op.name}: ${c.label} → ${c.argument}`, op, c }))
)

// A listener that never answers: reaching it at all is the failure.
const Counting = harness(() => [hang], { requestTimeout: "200 millis", connectTimeout: "1 second" })

layer(Counting, { excludeTestServices: true })("bad input never reaches the network", (it) => {
  it.effect.each(table)("$name", ({ op, c }) =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const exit = yield* Effect.exit(Effect.scoped(op.run(c.key, c.options)))
      const error = failedWith(exit, "InvalidArgumentError")
      assert.strictEqual(error.argument, c.argument, error.message)
      assert.strictEqual(yield* server.connections, 0, "no connection was opened")
      assert.deepStrictEqual(yield* server.requests, [])
    }))

  it.effect("the region of withLock / withPermit never runs on bad input", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const ran = yield* Ref.make(0)
      const region = Ref.update(ran, (n) => n + 1)
      failedWith(yield* Effect.exit(region.pipe(Lock.withLock("bad\nkey"))), "InvalidArgumentError")
      failedWith(
        yield* Effect.exit(region.pipe(Lock.withLock("k", { leaseTtl: "1.5 seconds" }))),
        "InvalidArgumentError"
      )
      failedWith(yield* Effect.exit(region.pipe(Semaphore.withPermit("k", { limit: 0 }))), "InvalidArgumentError")
      failedWith(yield* Effect.exit(Lock.withLock(region, "", {})), "InvalidArgumentError")
      assert.strictEqual(yield* Ref.get(ran), 0)
      assert.strictEqual(yield* server.connections, 0)
    }))
})

describe("the limit itself", () => {
  it.live("a valid key of exactly 255 bytes is not rejected (it reaches the listener)", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const key = "é".repeat(127) + "k" // 255 bytes
      const exit = yield* Effect.exit(Effect.scoped(Lock.tryAcquire(key)))
      // the listener never answers: a ConnectionError, not an InvalidArgumentError
      failedWith(exit, "ConnectionError")
      assert.strictEqual(yield* server.connections, 1)
      const requests = yield* server.requests
      assert.deepStrictEqual(requests.map((r) => [r.command, r.key, r.arg]), [["l", key, "0"]])
    }).pipe(Effect.provide(harness(() => [hang], { requestTimeout: "200 millis" }))))
})

describe("routing", () => {
  it.live("a custom sharding strategy returning an out-of-range index → InvalidArgumentError(sharding), no I/O", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const exit = yield* Effect.exit(Effect.scoped(Lock.acquire("orders")))
      assert.strictEqual(failedWith(exit, "InvalidArgumentError").argument, "sharding")
      assert.strictEqual(yield* server.connections, 0)
    }).pipe(Effect.provide(harness(() => [hang], { sharding: () => 7 }))))

  it.live("a custom sharding strategy returning a fraction → InvalidArgumentError(sharding), no I/O", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const exit = yield* Effect.exit(Effect.scoped(Semaphore.acquire("pool", { limit: 2 })))
      assert.strictEqual(failedWith(exit, "InvalidArgumentError").argument, "sharding")
      assert.strictEqual(yield* server.connections, 0)
    }).pipe(Effect.provide(harness(() => [hang], { sharding: () => 0.5 }))))
})

describe("ticket.wait (real server)", () => {
  const Live = DflockdClient.layer({ servers: [inject("dflockd").address] })

  it.live("a negative or infinite wait timeout → InvalidArgumentError(timeout); the ticket stays usable", () =>
    Effect.gen(function*() {
      const key = `validation-wait-${process.pid}-${Date.now()}`
      const ticket = yield* Lock.enqueue(key, { leaseTtl: "5 seconds" })
      assert.strictEqual(ticket.status, "acquired")
      assert.strictEqual(
        failedWith(yield* Effect.exit(ticket.wait("-1 seconds")), "InvalidArgumentError").argument,
        "timeout"
      )
      assert.strictEqual(
        failedWith(yield* Effect.exit(ticket.wait(Duration.infinity)), "InvalidArgumentError").argument,
        "timeout"
      )
      const lock = yield* ticket.wait("2 seconds")
      assert.strictEqual(lock.key, key)
      assert.match(lock.token, /^[0-9a-f]{32}$/)
    }).pipe(Effect.scoped, Effect.provide(Live)))
})
