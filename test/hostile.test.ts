/**
 * Malformed, unexpected, fragmented, oversized and missing replies, from a
 * scripted hostile server (test/support/scriptedServer.ts). Every failure must be
 * a typed `DflockdError` (mostly `ProtocolError` / `ConnectionError`): never a
 * defect, never a hang, and the client stays usable afterwards.
 *
 * Real sockets and real time: `it.live`.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as fc from "fast-check"
import { DflockdClient, Lock, Semaphore } from "../src/index.ts"
import { eventuallyLive } from "./support/eventually.ts"
import { failedWith, typedFailure } from "./support/exits.ts"
import { params } from "./support/fastCheck.ts"
import {
  bytewise,
  close,
  hang,
  harness,
  line,
  raw,
  reset,
  type Script,
  ScriptedServer,
  sleep,
  type Step,
  text
} from "./support/scriptedServer.ts"

const TOKEN = "00000000000000070123456789abcdef"
const KEY = "hostile"

/** The requests once `count` have arrived (a pipelined release reaches the server after its call returned). */
const requestsOnce = (count: number) =>
  Effect.gen(function*() {
    const server = yield* ScriptedServer
    yield* eventuallyLive(Effect.map(server.requests, (all) => all.length >= count), `${count} requests arrived`)
    return yield* server.requests
  })

/** Fails the test instead of hanging it. */
const guard = <A, E, R>(self: Effect.Effect<A, E, R>, within: Duration.Input = "5 seconds") =>
  Effect.timeoutOrElse(self, {
    duration: within,
    orElse: () => Effect.die(new Error(`did not finish within ${Duration.format(Duration.fromInputUnsafe(within))}`))
  })

/** Release failures on a broken connection are logged as warnings; keep test output clean. */
const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

/** Answers the first command of connection 0 with `steps`; anything later on connection 0 is never answered. */
const firstReply = (steps: ReadonlyArray<Step>): Script => (_request, at) =>
  at.connection === 0 && at.index === 0 ? steps : [hang]

/**
 * Connection 0 gets `steps` for its first request; later connections get
 * well-formed replies (grant, release, renew), to show the client recovers.
 */
const hostileThenFine = (steps: ReadonlyArray<Step>): Script => (request, at) => {
  if (at.connection === 0) return at.index === 0 ? steps : [hang]
  switch (request.command) {
    case "l":
    case "w":
      return [line(`ok ${TOKEN} 5`)]
    case "e":
      return [line(`acquired ${TOKEN} 5`)]
    case "r":
      return [line("ok")]
    case "n":
      return [line("ok 5")]
    default:
      return [line("error")]
  }
}

const acquireOnce = (options: Lock.AcquireOptions = { acquireTimeout: "1 second" }) =>
  Lock.acquire(KEY, options).pipe(Effect.scoped, Effect.exit)

/** The client closed connection `n` (it never reuses a connection after a bad reply). */
const clientHungUp = (n: number) =>
  guard(Effect.gen(function*() {
    const server = yield* ScriptedServer
    yield* server.closed(n)
  }))

const TEST_OPTIONS = { requestTimeout: "300 millis" } as const

// ---------------------------------------------------------------------------
// malformed or unexpected replies → ProtocolError
// ---------------------------------------------------------------------------

const malformedLines: ReadonlyArray<readonly [string, string]> = [
  ["garbage", "hello world"],
  ["an empty line", ""],
  ["`ok` without a token", "ok"],
  ["`ok TOKEN` without a lease", `ok ${TOKEN}`],
  ["a token that is not hex", "ok zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz 5"],
  ["an upper-case token", `ok ${TOKEN.toUpperCase().replace(/0/g, "A")} 5`],
  ["a 31-digit token", `ok ${TOKEN.slice(1)} 5`],
  ["a 33-digit token", `ok ${TOKEN}0 5`],
  ["a non-numeric lease", `ok ${TOKEN} soon`],
  ["a negative lease", `ok ${TOKEN} -5`],
  ["`queued` (an `e` reply) to `l`", "queued"],
  ["`acquired` (an `e` reply) to `l`", `acquired ${TOKEN} 5`],
  ["`timeout` with a field", "timeout 5"],
  ["a NUL byte", "ok\u0000"]
]

describe("Lock.acquire: malformed or unexpected replies", () => {
  it.live.each(malformedLines)("%s → ProtocolError, connection discarded", ([, reply]) =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const error = failedWith(yield* guard(acquireOnce()), "ProtocolError")
      assert.strictEqual(error.reply, reply)
      yield* clientHungUp(0)
      const requests = yield* server.requests
      assert.deepStrictEqual(
        requests.map((r) => [r.command, r.key, r.arg]),
        [["l", KEY, "1"]],
        "one request, no release for a grant never made"
      )
    }).pipe(Effect.provide(harness(firstReply([line(reply)]), TEST_OPTIONS)), quiet))

  it.live.each<readonly [string, ReadonlyArray<number>]>([
    ["a lone 0xff", [0xff]],
    ["a truncated 🔒", [0xf0, 0x9f, 0x94]],
    ["an overlong /", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]]
  ])("invalid UTF-8 (%s) → ProtocolError", ([, bad]) =>
    Effect.gen(function*() {
      const error = failedWith(yield* guard(acquireOnce()), "ProtocolError")
      assert.match(error.detail, /UTF-8/)
      yield* clientHungUp(0)
    }).pipe(
      Effect.provide(harness(firstReply([text("ok "), raw(bad), text(" 5\n")]), TEST_OPTIONS)),
      quiet
    ))

  it.live("a flood of 1 MiB of empty lines → ProtocolError, and the process survives it", () =>
    Effect.gen(function*() {
      const error = failedWith(yield* guard(acquireOnce()), "ProtocolError")
      assert.strictEqual(error.reply, "")
      yield* clientHungUp(0)
    }).pipe(Effect.provide(harness(firstReply([raw(new Uint8Array(1024 * 1024).fill(0x0a))]), TEST_OPTIONS)), quiet))

  it.live("a 2 MiB line in reply to `l` → ProtocolError at the command's own bound (512 bytes), not the 1 KiB cap", () =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const error = failedWith(yield* guard(acquireOnce()), "ProtocolError")
      assert.match(error.detail, /exceeds 512 bytes/)
      assert.isBelow((yield* Clock.currentTimeMillis) - started, 3_000)
      yield* clientHungUp(0)
    }).pipe(
      Effect.provide(
        harness(firstReply([raw(new Uint8Array(2 * 1024 * 1024).fill(0x61)), line("")]), {
          ...TEST_OPTIONS,
          maxReplyBytes: 1024
        })
      ),
      quiet
    ))

  it.live("a malformed reply split byte by byte with pauses → ProtocolError", () =>
    Effect.gen(function*() {
      const error = failedWith(yield* guard(acquireOnce()), "ProtocolError")
      assert.strictEqual(error.reply, `ok ${TOKEN.slice(1)} 5 é 🔒`)
    }).pipe(
      Effect.provide(harness(firstReply(bytewise(`ok ${TOKEN.slice(1)} 5 é 🔒\n`, "2 millis")), TEST_OPTIONS)),
      quiet
    ))

  it.live("a well-formed grant split byte by byte with pauses is read whole", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const lock = yield* guard(Lock.acquire(KEY, { acquireTimeout: "1 second" }))
      assert.strictEqual(lock.token, TOKEN)
      assert.strictEqual(lock.fence, 7n)
      assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 5)
      assert.strictEqual(yield* server.connections, 1)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        harness(
          (request) =>
            request.command === "l" ? bytewise(`ok ${TOKEN} 5\r\n`, "2 millis") : bytewise("ok\n", "2 millis"),
          TEST_OPTIONS
        )
      ),
      quiet
    ))
})

// ---------------------------------------------------------------------------
// broken or silent connections → ConnectionError
// ---------------------------------------------------------------------------

describe("Lock.acquire: the server closes or goes silent", () => {
  it.live.each<readonly [string, ReadonlyArray<Step>]>([
    ["closes mid-reply", [text(`ok ${TOKEN.slice(0, 10)}`), close]],
    ["resets mid-reply", [text(`ok ${TOKEN.slice(0, 10)}`), reset]],
    ["closes without a reply", [close]],
    ["resets without a reply", [reset]],
    ["closes mid-character", [text("ok "), raw([0xf0, 0x9f]), close]]
  ])("%s → ConnectionError naming the server", ([, steps]) =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const error = failedWith(yield* guard(acquireOnce()), "ConnectionError")
      assert.strictEqual(error.server, server.address)
    }).pipe(Effect.provide(harness(firstReply(steps), TEST_OPTIONS)), quiet))

  it.live("never answers `l` → ConnectionError after acquireTimeout + requestTimeout, not before", () =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      failedWith(yield* guard(acquireOnce({ acquireTimeout: "1 second" })), "ConnectionError")
      const elapsed = (yield* Clock.currentTimeMillis) - started
      assert.isAtLeast(elapsed, 1_250, "the server may take acquireTimeout to answer")
      assert.isBelow(elapsed, 3_000)
      yield* clientHungUp(0)
    }).pipe(Effect.provide(harness(firstReply([hang]), TEST_OPTIONS)), quiet))

  it.live("never answers a try-once `l` → ConnectionError after requestTimeout", () =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const exit = yield* guard(Effect.exit(Effect.scoped(Lock.tryAcquire(KEY))))
      failedWith(exit, "ConnectionError")
      const elapsed = (yield* Clock.currentTimeMillis) - started
      assert.isAtLeast(elapsed, 250)
      assert.isBelow(elapsed, 2_000)
      yield* clientHungUp(0)
    }).pipe(Effect.provide(harness(firstReply([hang]), TEST_OPTIONS)), quiet))

  it.live("interrupting an acquire blocked on a silent server returns promptly and closes the socket", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const fiber = yield* Effect.forkChild(Effect.scoped(Lock.acquire(KEY, { acquireTimeout: "30 seconds" })))
      // wait until the `l` is on the wire
      yield* guard(
        server.requests.pipe(
          Effect.repeat({ until: (requests) => requests.length > 0, schedule: Schedule.spaced("10 millis") })
        )
      )
      const started = yield* Clock.currentTimeMillis
      yield* guard(Fiber.interrupt(fiber), "2 seconds")
      assert.isBelow((yield* Clock.currentTimeMillis) - started, 1_000)
      assert.isTrue(Exit.hasInterrupts(yield* Fiber.await(fiber)))
      yield* clientHungUp(0)
    }).pipe(Effect.provide(harness(firstReply([hang]), TEST_OPTIONS)), quiet))

  it.live("a reply trickling in slower than the request timeout → ConnectionError", () =>
    Effect.gen(function*() {
      const exit = yield* guard(Effect.exit(Effect.scoped(Lock.tryAcquire(KEY))))
      failedWith(exit, "ConnectionError")
      yield* clientHungUp(0)
    }).pipe(Effect.provide(harness(firstReply(bytewise(`ok ${TOKEN} 5\n`, "50 millis")), TEST_OPTIONS)), quiet))
})

// ---------------------------------------------------------------------------
// other entry points
// ---------------------------------------------------------------------------

describe("withLock, enqueue/wait and semaphores", () => {
  it.live("Lock.withLock: a malformed grant → ProtocolError; the region never runs", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(false)
      const exit = yield* guard(
        Effect.exit(Ref.set(ran, true).pipe(Lock.withLock(KEY, { acquireTimeout: "1 second" })))
      )
      failedWith(exit, "ProtocolError")
      assert.isFalse(yield* Ref.get(ran))
    }).pipe(Effect.provide(harness(firstReply([line("ok")]), TEST_OPTIONS)), quiet))

  it.live("Lock.withLock: a silent server → ConnectionError; the region never runs", () =>
    Effect.gen(function*() {
      const ran = yield* Ref.make(false)
      const exit = yield* guard(Effect.exit(Ref.set(ran, true).pipe(Lock.withLock(KEY, { acquireTimeout: 0 }))))
      failedWith(exit, "ConnectionError")
      assert.isFalse(yield* Ref.get(ran))
    }).pipe(Effect.provide(harness(firstReply([hang]), TEST_OPTIONS)), quiet))

  it.live.each<readonly [string, string]>([
    ["an `l` reply", `ok ${TOKEN} 5`],
    ["`timeout`", "timeout"],
    ["`acquired` without a lease", `acquired ${TOKEN}`],
    ["`queued` with a field", "queued 3"],
    ["garbage", "🔒"]
  ])("Lock.enqueue: %s → ProtocolError", ([, reply]) =>
    Effect.gen(function*() {
      const exit = yield* guard(Effect.exit(Effect.scoped(Lock.enqueue(KEY))))
      assert.strictEqual(failedWith(exit, "ProtocolError").reply, reply)
      yield* clientHungUp(0)
    }).pipe(Effect.provide(harness(firstReply([line(reply)]), TEST_OPTIONS)), quiet))

  it.live("Lock.enqueue: a silent server → ConnectionError after requestTimeout", () =>
    Effect.gen(function*() {
      const exit = yield* guard(Effect.exit(Effect.scoped(Lock.enqueue(KEY))))
      failedWith(exit, "ConnectionError")
    }).pipe(Effect.provide(harness(firstReply([hang]), TEST_OPTIONS)), quiet))

  const queuedThen = (steps: ReadonlyArray<Step>): Script => (request, at) =>
    at.connection === 0 && request.command === "e"
      ? [line("queued")]
      : at.connection === 0 && at.index === 1
      ? steps
      : [hang]

  it.live("ticket.wait: a malformed `w` reply → ProtocolError, the ticket is spent", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const ticket = yield* Lock.enqueue(KEY)
      assert.strictEqual(ticket.status, "queued")
      const exit = yield* guard(Effect.exit(ticket.wait("1 second")))
      assert.strictEqual(failedWith(exit, "ProtocolError").reply, "queued")
      yield* clientHungUp(0)
      // a spent ticket fails at once, without another request
      failedWith(yield* guard(Effect.exit(ticket.wait("1 second"))), "ProtocolError")
      assert.deepStrictEqual((yield* server.requests).map((r) => r.command), ["e", "w"])
    }).pipe(Effect.scoped, Effect.provide(harness(queuedThen([line("queued")]), TEST_OPTIONS)), quiet))

  it.live("ticket.wait: a silent `w` → ConnectionError after its timeout + requestTimeout", () =>
    Effect.gen(function*() {
      const ticket = yield* Lock.enqueue(KEY)
      const started = yield* Clock.currentTimeMillis
      failedWith(yield* guard(Effect.exit(ticket.wait("1 second"))), "ConnectionError")
      assert.isAtLeast((yield* Clock.currentTimeMillis) - started, 1_250)
      yield* clientHungUp(0)
    }).pipe(Effect.scoped, Effect.provide(harness(queuedThen([hang]), TEST_OPTIONS)), quiet))

  it.live("Semaphore.acquire: `queued` to `sl` → ProtocolError", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const exit = yield* guard(Effect.exit(Effect.scoped(Semaphore.acquire(KEY, { limit: 2, acquireTimeout: 0 }))))
      failedWith(exit, "ProtocolError")
      assert.deepStrictEqual((yield* server.requests).map((r) => [r.command, r.arg]), [["sl", "0 2"]])
    }).pipe(Effect.provide(harness(firstReply([line("queued")]), TEST_OPTIONS)), quiet))

  it.live("Semaphore.withPermit: a reply cut short → ConnectionError", () =>
    Effect.gen(function*() {
      const exit = yield* guard(
        Effect.exit(Effect.void.pipe(Semaphore.withPermit(KEY, { limit: 2, acquireTimeout: 0 })))
      )
      failedWith(exit, "ConnectionError")
    }).pipe(Effect.provide(harness(firstReply([text("ok 0000"), close]), TEST_OPTIONS)), quiet))
})

describe("error statuses over the wire stay typed", () => {
  it.live("an unknown error_* status → ServerError reason `error`", () =>
    Effect.gen(function*() {
      const error = failedWith(yield* guard(acquireOnce()), "ServerError")
      assert.strictEqual(error.reason, "error")
      assert.strictEqual(error.reply, "error_from_the_future with details")
    }).pipe(Effect.provide(harness(firstReply([line("error_from_the_future with details")]), TEST_OPTIONS)), quiet))

  it.live("error_auth to `l` → AuthError naming the server", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const error = failedWith(yield* guard(acquireOnce()), "AuthError")
      assert.strictEqual(error.server, server.address)
    }).pipe(Effect.provide(harness(firstReply([line("error_auth"), close]), TEST_OPTIONS)), quiet))
})

// ---------------------------------------------------------------------------
// recovery
// ---------------------------------------------------------------------------

describe("the client stays usable", () => {
  const firstReplies: ReadonlyArray<readonly [string, ReadonlyArray<Step>, "ProtocolError" | "ConnectionError"]> = [
    ["garbage", [line("garbage")], "ProtocolError"],
    ["`ok` without a token", [line("ok")], "ProtocolError"],
    ["invalid UTF-8", [raw([0xff, 0x0a])], "ProtocolError"],
    ["an over-long line", [text("x".repeat(4096))], "ProtocolError"],
    ["two replies at once", [line("queued"), line(`ok ${TOKEN} 5`)], "ProtocolError"],
    ["a close mid-reply", [text("ok 00"), close], "ConnectionError"],
    ["silence", [hang], "ConnectionError"]
  ]

  it.live.each(firstReplies)(
    "after %s, the next acquisition on the same client works",
    ([, steps, tag]) =>
      Effect.gen(function*() {
        failedWith(yield* guard(acquireOnce({ acquireTimeout: 0 })), tag)
        yield* clientHungUp(0)

        const lock = yield* guard(Effect.scoped(Effect.map(Lock.acquire(KEY, { acquireTimeout: 0 }), (l) => l)))
        assert.strictEqual(lock.token, TOKEN)
        assert.strictEqual(Duration.toSeconds(lock.leaseTtl), 5)

        // and a region too, on a third connection
        const inside = yield* guard(Effect.succeed("ran").pipe(Lock.withLock(KEY, { acquireTimeout: 0 })))
        assert.strictEqual(inside, "ran")

        // the bad connection carried nothing after its bad reply; the client may reuse
        // the good one (connection pool) or dial again, both are fine
        const requests = yield* requestsOnce(5)
        assert.deepStrictEqual(
          requests.filter((r) => r.connection === 0).map((r) => [r.command, r.arg]),
          [["l", "0"]]
        )
        assert.deepStrictEqual(
          requests.filter((r) => r.connection > 0).map((r) => [r.command, r.arg]),
          [["l", "0"], ["r", TOKEN], ["l", "0"], ["r", TOKEN]]
        )
      }).pipe(Effect.provide(harness(hostileThenFine(steps), { ...TEST_OPTIONS, maxReplyBytes: 1024 })), quiet)
  )
})

describe("a stray reply line", () => {
  it.live("two replies to one `l` in one chunk: the acquire fails, the connection is closed, nothing more is sent", () =>
    Effect.gen(function*() {
      // connection 0 answers `l` with a grant and one line too many, in one write
      const first = failedWith(
        yield* guard(Effect.exit(Effect.scoped(Lock.acquire(KEY, { acquireTimeout: 0 })))),
        "ProtocolError"
      )
      assert.strictEqual(first.detail, "more than one reply to one request")
      yield* clientHungUp(0)
      // the connection was closed, not pooled: the next lock dials again and reads its own replies
      const lock = yield* guard(Effect.scoped(Effect.map(Lock.acquire(KEY, { acquireTimeout: 0 }), (l) => l.token)))
      assert.strictEqual(lock, TOKEN)
      const requests = yield* requestsOnce(3)
      assert.deepStrictEqual(
        requests.filter((r) => r.connection === 0).map((r) => r.command),
        ["l"],
        "nothing more was sent on the connection that over-answered"
      )
      assert.deepStrictEqual(
        requests.filter((r) => r.connection === 1).map((r) => r.command),
        ["l", "r"]
      )
    }).pipe(
      Effect.provide(harness(hostileThenFine([text(`ok ${TOKEN} 5\nok\n`)]), TEST_OPTIONS)),
      quiet
    ))
})

describe("the transport's own deadlines and doubts", () => {
  it.live("a silent `r` after an interrupted region: the release is owed, its deadline closes the connection", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      const holder = yield* Effect.forkChild(Lock.withLock(Effect.never, KEY, { acquireTimeout: 0 }))
      yield* guard(Effect.repeat(server.requests, { until: (requests) => requests.length > 0 }))
      yield* Effect.sleep("50 millis") // the region is running
      const started = yield* Clock.currentTimeMillis
      // the release is pipelined: written, and its reply owed; the interruption does not wait for it
      yield* guard(Fiber.interrupt(holder))
      assert.isBelow((yield* Clock.currentTimeMillis) - started, 250, "it did not wait for the `r` reply")
      assert.deepStrictEqual((yield* requestsOnce(2)).map((r) => r.command), ["l", "r"])
      // no reply within requestTimeout (300 ms): the client closes the connection
      yield* clientHungUp(0)
      const closedAfter = (yield* Clock.currentTimeMillis) - started
      assert.isAtLeast(closedAfter, 250, "at the owed reply's deadline")
      assert.isBelow(closedAfter, 3000, "and no longer than about requestTimeout")
      // the next lock does not get the dead connection: it dials again
      yield* guard(Effect.exit(Effect.scoped(Lock.tryAcquire(KEY))))
      assert.strictEqual(yield* server.connections, 2)
    }).pipe(
      Effect.provide(
        harness((request) => request.command === "l" ? [line(`ok ${TOKEN} 5`)] : [hang], TEST_OPTIONS)
      ),
      quiet
    ))

  it.live("a reused connection counts each exchange's deadline from that exchange's own start", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      // first lock: its `l` is answered just before requestTimeout, its `r` at once
      assert.isTrue(Exit.isSuccess(yield* guard(Effect.exit(Effect.scoped(Lock.tryAcquire(KEY))))))
      // second lock, same connection and the same deadline: its `l` is never answered
      const started = yield* Clock.currentTimeMillis
      failedWith(yield* guard(Effect.exit(Effect.scoped(Lock.tryAcquire(KEY)))), "ConnectionError")
      const elapsed = (yield* Clock.currentTimeMillis) - started
      assert.isAtLeast(elapsed, 250, "a full requestTimeout (300 ms) from its own start")
      assert.isBelow(elapsed, 3000)
      assert.deepStrictEqual(
        (yield* server.requests).map((r) => [r.command, r.connection]),
        [["l", 0], ["r", 0], ["l", 0]],
        "one connection"
      )
      yield* clientHungUp(0)
    }).pipe(
      Effect.provide(harness((_request, at) => {
        if (at.index === 0) return [sleep("200 millis"), line(`ok ${TOKEN} 5`)]
        return at.index === 1 ? [line("ok")] : [hang]
      }, TEST_OPTIONS)),
      quiet
    ))

  it.live("a line arriving on an idle pooled connection: the pool discards it, the next lock dials again", () =>
    Effect.gen(function*() {
      yield* guard(Lock.withLock(Effect.void, KEY, { acquireTimeout: 0 }))
      assert.strictEqual(yield* DflockdClient.DflockdClient.use((client) => client.idleConnections), 1)
      yield* Effect.sleep("150 millis") // the stray line has arrived
      yield* guard(Lock.withLock(Effect.void, KEY, { acquireTimeout: 0 }))
      yield* clientHungUp(0)
      const requests = yield* requestsOnce(4)
      assert.deepStrictEqual(requests.filter((r) => r.connection === 0).map((r) => r.command), ["l", "r"])
      assert.deepStrictEqual(requests.filter((r) => r.connection === 1).map((r) => r.command), ["l", "r"])
    }).pipe(
      Effect.provide(harness((request, at) => {
        if (request.command === "l") return [line(`ok ${TOKEN} 5`)]
        if (request.command === "r") {
          return at.connection === 0 ? [line("ok"), sleep("50 millis"), line("ok")] : [line("ok")]
        }
        return [hang]
      }, TEST_OPTIONS)),
      quiet
    ))
})

// ---------------------------------------------------------------------------
// property: arbitrary replies
// ---------------------------------------------------------------------------

const fragment = fc.oneof(
  fc.constantFrom("ok", "timeout", "queued", "acquired", "error", "error_auth", "error_max_locks", "error_zzz"),
  fc.constantFrom(TOKEN, TOKEN.toUpperCase(), TOKEN.slice(1)),
  fc.integer({ min: -2, max: 100 }).map(String),
  fc.string({ unit: "binary", maxLength: 6 })
)
const replyArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 96 }),
  fc
    .tuple(fc.array(fragment, { maxLength: 4 }), fc.constantFrom("\n", "\r\n", "", "\n\n"))
    .map(([words, end]) => new TextEncoder().encode(words.join(" ") + end))
)
const endingArb = fc.constantFrom<ReadonlyArray<Step>>([close], [close], [close], [reset], [hang])

describe("property", () => {
  it.live(
    "arbitrary reply bytes end the acquire with a success or a typed DflockdError, never a defect or a hang",
    () =>
      Effect.gen(function*() {
        const runPromise = Effect.runPromiseWith(yield* Effect.context<never>())
        const outcomes = { success: 0, failure: new Map<string, number>() }
        const check = (reply: Uint8Array, ending: ReadonlyArray<Step>) =>
          Effect.gen(function*() {
            const exit = yield* guard(acquireOnce({ acquireTimeout: 0 }), "3 seconds")
            if (Exit.isSuccess(exit)) {
              outcomes.success++
              return
            }
            const error = typedFailure(exit) as { readonly _tag: string }
            assert.include(
              ["ProtocolError", "ConnectionError", "ServerError", "AuthError", "AcquireTimeoutError"],
              error._tag
            )
            outcomes.failure.set(error._tag, (outcomes.failure.get(error._tag) ?? 0) + 1)
          }).pipe(Effect.provide(harness(firstReply([raw(reply), ...ending]), TEST_OPTIONS)), quiet)

        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(replyArb, endingArb, (reply, ending) => runPromise(check(reply, ending))),
            params(50)
          )
        )
        // the generator reaches the interesting outcomes
        assert.isAbove(outcomes.failure.get("ProtocolError") ?? 0, 0)
        assert.isAbove(outcomes.failure.get("ConnectionError") ?? 0, 0)
      }),
    { timeout: 120_000 }
  )
})

// the client layer itself is built lazily and owns nothing: building it never dials
describe("harness sanity", () => {
  it.live("the scripted server sees no connection until a lock is requested", () =>
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      yield* DflockdClient.DflockdClient
      assert.strictEqual(yield* server.connections, 0)
    }).pipe(Effect.provide(harness(firstReply([hang]), TEST_OPTIONS))))
})

describe("a late grant is confirmed before use; a timely one is not", () => {
  const delayedGrant = (delay: Duration.Input, lease: number): Script => (request) => {
    switch (request.command) {
      case "l":
        return [sleep(delay), line(`ok ${TOKEN} ${lease}`)]
      case "n":
        return [line(`ok ${lease}`)]
      case "r":
        return [line("ok")]
      default:
        return [hang]
    }
  }
  const commands = Effect.gen(function*() {
    const scripted = yield* ScriptedServer
    return (yield* scripted.requests).map((r) => r.command)
  })

  it.live("a grant 100 ms after the request on a 10 s lease, with a 20 ms heartbeat: no renewal before the region", () =>
    Effect.gen(function*() {
      yield* guard(Lock.withLock(Effect.void, KEY, { acquireTimeout: 0, heartbeatInterval: "20 millis" }))
      yield* requestsOnce(2)
      yield* Effect.sleep("60 millis") // three heartbeats: nothing more is sent
      assert.deepStrictEqual(yield* commands, ["l", "r"])
    }).pipe(Effect.provide(harness(delayedGrant("100 millis", 10), TEST_OPTIONS))))

  it.live("a grant 700 ms after the request on a 1 s lease: renewed once before the region starts", () =>
    Effect.gen(function*() {
      const seen = yield* guard(Lock.withLock(commands, KEY, { acquireTimeout: 0 }))
      assert.deepStrictEqual(seen, ["l", "n"], "the confirming renewal came before the region")
    }).pipe(Effect.provide(harness(delayedGrant("700 millis", 1), { requestTimeout: "2 seconds" }))))
})
