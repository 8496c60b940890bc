/**
 * Error messages that say what to check (issue 15, item 3), against the real
 * server: a token sent to a server without auth, TLS on one side only, and
 * the offending value in every `InvalidArgumentError`.
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, Duration, Effect, Layer, Redacted, Result, Schedule } from "effect"
import { rmSync } from "node:fs"
import * as Net from "node:net"
import { afterAll, beforeAll, inject } from "vitest"
import { DflockdClient, Lock, Semaphore } from "../src/index.ts"
import { failedWith } from "./support/exits.ts"
import { clientLayer, scopedServer } from "./support/probe.ts"
import { relay } from "./support/relay.ts"
import { has, needs, server } from "./support/server.ts"
import { type Certificates, makeCertificates } from "./support/tls.ts"
import { freshKey as fresh } from "./support/keys.ts"

const sharedServer = inject("dflockd")
const shared = sharedServer.address
const freshKey = (name: string) => fresh("msg", name)

/** Fast, typed failures: no connect retries, no pooling. */
const quick = {
  connectTimeout: "2 seconds",
  requestTimeout: "2 seconds",
  connectRetry: Schedule.recurs(0),
  pool: false
} as const

const tlsHint = /is TLS configured on both sides\?/

describe(`auth messages on ${server.label}`, () => {
  it.live("a token sent to a server without auth: AuthError NotEnabled, its own message, not retried", () =>
    Effect.gen(function*() {
      const counted = yield* relay(sharedServer)
      const exit = yield* Effect.exit(
        Effect.scoped(Lock.acquire(freshKey("no-auth"))).pipe(
          Effect.provide(clientLayer(counted.address, { connectTimeout: "2 seconds", auth: Redacted.make("tok-123") }))
        )
      )
      const error = failedWith(exit, "AuthError")
      assert.strictEqual(error.reason, "NotEnabled")
      assert.strictEqual(error.server, counted.address)
      assert.match(error.message, /has no authentication configured/)
      assert.match(error.message, /remove the client's auth token, or start the server with --auth-token/)
      assert.notInclude(JSON.stringify(error), "tok-123", "the token never appears in the error")
      assert.notInclude(error.message, "tok-123")
      yield* Effect.sleep("700 millis") // longer than the default backoff would wait
      assert.strictEqual(counted.accepted(), 1, "one dial: AuthError is not retried")
    }).pipe(Effect.scoped))
})

describe("connection failure reasons", () => {
  it.live("nothing listening: reason Refused, and the connect retry policy retries it", () =>
    Effect.gen(function*() {
      // a port that was free a moment ago: nothing listens there
      const port = yield* Effect.promise(() =>
        new Promise<number>((resolve) => {
          const probe = Net.createServer().listen(0, "127.0.0.1", () => {
            const address = probe.address()
            probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
          })
        })
      )
      const exit = yield* Effect.exit(
        Effect.scoped(Lock.acquire(freshKey("refused"))).pipe(
          Effect.provide(clientLayer(`127.0.0.1:${port}`, { ...quick, connectRetry: Schedule.recurs(1) }))
        )
      )
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.reason, "Refused")
      // what happened, once, and what to check (no TLS hint: nothing answered at all)
      assert.strictEqual(
        error.message,
        `connection to 127.0.0.1:${port} failed: connection refused (ECONNREFUSED) ` +
          "(is a dflockd server running at that address? Check the `servers` option (DFLOCKD_SERVERS))"
      )
    }))

  it.live("a host name that does not resolve: reason Unreachable, and what to check", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        Effect.scoped(Lock.acquire(freshKey("unresolvable"))).pipe(
          Effect.provide(clientLayer("no-such-host.invalid:6388", { ...quick, connectRetry: Schedule.recurs(0) }))
        )
      )
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.reason, "Unreachable")
      assert.match(
        error.message,
        /^connection to no-such-host\.invalid:6388 failed: host name (not found|lookup failed)/
      )
      assert.match(error.message, /does the host name resolve, and can this machine reach it\?/)
    }))

  it.live("a bad address fails the layer with InvalidArgumentError, which catchTag handles (no defect)", () =>
    Effect.gen(function*() {
      const handled = yield* Effect.scoped(Lock.acquire(freshKey("bad-address"))).pipe(
        Effect.provide(DflockdClient.layer({ servers: ["10.0.0.1:99999"] })),
        Effect.as("acquired"),
        Effect.catchTag("InvalidArgumentError", (error) => Effect.succeed(error.message))
      )
      assert.strictEqual(handled, "invalid servers \"10.0.0.1:99999\": bad port 99999: must be 1 to 65535")
    }))

  it.live("a host alone means port 6388", () =>
    Effect.gen(function*() {
      const client = yield* DflockdClient.DflockdClient.pipe(
        Effect.provide(DflockdClient.layer({ servers: ["localhost"] }))
      )
      assert.deepStrictEqual(client.options.servers.map((s) => s.label), ["localhost:6388"])
    }))
})

describe(`TLS mismatch on ${server.label}`, () => {
  let certs: Certificates
  beforeAll(() => {
    certs = makeCertificates()
  })
  afterAll(() => {
    if (certs !== undefined) rmSync(certs.dir, { recursive: true, force: true })
  })

  it.live("a TLS client to a plaintext server: ConnectionError reason Tls, hint names both sides", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Lock.acquire(freshKey("tls-to-plain"))))
      const error = failedWith(exit, "ConnectionError")
      // dflockd 0.5.0 hangs up mid-handshake; Go answers the hello in plaintext, which OpenSSL reports
      assert.include(["Tls", "Closed"], error.reason)
      assert.match(error.message, tlsHint)
      // one line, in words: OpenSSL's own text (hex codes, source paths, a newline) stays in `cause`
      assert.notInclude(error.message, "\n")
      assert.notMatch(error.message, /SSL routines|openssl\//)
      if (error.reason === "Tls") assert.match(error.message, /failed: TLS handshake failed \(wrong version number\)/)
      assert.match(error.hint ?? "", /server may not speak TLS: start it with --tls-cert\/--tls-key, or drop `tls`/)
      assert.doesNotThrow(() => JSON.stringify(error), "the error stays serialisable")
    }).pipe(Effect.provide(clientLayer(shared, { ...quick, tls: { rejectUnauthorized: false } }))))

  it.live.skipIf(!has("tls"))(
    `a plaintext client to a native TLS server: ConnectionError with the TLS hint${needs("tls")}`,
    () =>
      Effect.gen(function*() {
        const own = yield* scopedServer({ "tls-cert": `${certs.dir}/server.pem`, "tls-key": `${certs.dir}/server.key` })
        const exit = yield* Effect.exit(
          Effect.scoped(Lock.acquire(freshKey("plain-to-tls"))).pipe(Effect.provide(clientLayer(own.address, quick)))
        )
        const error = failedWith(exit, "ConnectionError")
        assert.strictEqual(error.reason, "Closed")
        assert.match(error.message, /closed by the peer before any reply/)
        assert.match(error.message, tlsHint)
        assert.match(error.hint ?? "", /server may be TLS-only \(--tls-cert\): set `tls` in the client options/)
      }).pipe(Effect.scoped)
  )
})

describe("InvalidArgumentError shows the offending value", () => {
  const invalid = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.map(Effect.exit(Effect.scoped(effect)), (exit) => failedWith(exit, "InvalidArgumentError"))

  it.live("keys are JSON-quoted (control characters escaped) and cut at 64 characters", () =>
    Effect.gen(function*() {
      const spaced = yield* invalid(Lock.acquire("orders 42"))
      assert.strictEqual(spaced.value, "\"orders 42\"")
      assert.strictEqual(spaced.message, "invalid key \"orders 42\": must not contain space, tab, CR, LF or NUL")

      const newline = yield* invalid(Lock.acquire("a\nb"))
      assert.strictEqual(newline.value, "\"a\\nb\"", "the newline is shown escaped, on one line")

      const long = "k".repeat(300)
      const tooLong = yield* invalid(Lock.acquire(long))
      assert.strictEqual(tooLong.value, `"${"k".repeat(64)}"… (300 characters)`)
      assert.isBelow(tooLong.message.length, 160, "the message stays short")
    }).pipe(Effect.provide(clientLayer(shared, quick))))

  it.live("durations as written: a 0.5 s lease is refused (the server grants whole seconds)", () =>
    Effect.gen(function*() {
      const half = yield* invalid(Lock.acquire(freshKey("lease"), { leaseTtl: "0.5 seconds" }))
      assert.strictEqual(half.message, "invalid leaseTtl \"0.5 seconds\": must be at least 1 second")
      const millis = yield* invalid(Lock.acquire(freshKey("lease"), { leaseTtl: 1500 }))
      assert.strictEqual(millis.message, "invalid leaseTtl 1500 (1s 500ms): must be a whole number of seconds")
      const negative = yield* invalid(Lock.acquire(freshKey("timeout"), { acquireTimeout: "-0.5 seconds" }))
      assert.strictEqual(negative.message, "invalid acquireTimeout \"-0.5 seconds\": must not be negative")
      // the ticket's wait takes the same rule
      const ticket = yield* Lock.enqueue(freshKey("wait"))
      const wait = failedWith(yield* Effect.exit(ticket.wait("-1500 millis")), "InvalidArgumentError")
      assert.strictEqual(wait.message.split(":")[0], "invalid timeout \"-1500 millis\"")
      assert.strictEqual((yield* ticket.wait("1 second")).key, ticket.key, "the ticket stays usable")
    }).pipe(Effect.scoped, Effect.provide(clientLayer(shared, quick))))

  it.live("limits, ratios, servers and the server argument of stats", () =>
    Effect.gen(function*() {
      const limit = yield* invalid(Semaphore.acquire(freshKey("limit"), { limit: 0.5 }))
      assert.strictEqual(limit.message, "invalid limit 0.5: must be an integer from 1 to 1048576")
      const ratio = yield* invalid(Lock.acquire(freshKey("ratio"), { renewRatio: 1.5 }))
      assert.strictEqual(ratio.value, "1.5")
      const stats = failedWith(yield* Effect.exit(DflockdClient.stats("10.9.9.9:1")), "InvalidArgumentError")
      assert.strictEqual(stats.value, "\"10.9.9.9:1\"")
      assert.include(stats.message, shared, "names the configured servers")
      const servers = DflockdClient.resolveOptions({ servers: ["no host"] })
      assert.isTrue(Result.isFailure(servers))
      if (Result.isFailure(servers)) {
        assert.match(servers.failure.message, /^invalid servers "no host": expected host, host:port or \[ipv6\]:port/)
      }
    }).pipe(Effect.provide(clientLayer(shared, quick))))

  it.live("an auth token is never shown, even when it is the invalid value", () =>
    Effect.gen(function*() {
      const secret = "line-one\nline-two-secret"
      const checked = DflockdClient.resolveOptions({ auth: Redacted.make(secret) })
      assert.isTrue(Result.isFailure(checked))
      if (Result.isFailure(checked)) {
        assert.strictEqual(checked.failure.argument, "auth")
        assert.strictEqual(checked.failure.value, "<redacted>")
        assert.notInclude(checked.failure.message, "secret")
        assert.notInclude(JSON.stringify(checked.failure), "secret")
      }
      // through layerConfig the same check becomes a ConfigError, without the token too
      const exit = yield* Effect.exit(
        Layer.build(DflockdClient.layerConfig({ auth: Config.succeed(Redacted.make(secret)) }))
      )
      assert.notInclude(JSON.stringify(exit), "secret")
    }).pipe(Effect.scoped))
})

describe("the server's read timeout and the heartbeat", () => {
  const resolved = (options: DflockdClient.ClientOptions) => {
    const result = DflockdClient.resolveOptions(options)
    if (Result.isFailure(result)) throw new Error(result.failure.message)
    return result.success
  }
  const refused = (options: DflockdClient.ClientOptions) => {
    const result = DflockdClient.resolveOptions(options)
    if (Result.isSuccess(result)) throw new Error("accepted")
    return result.failure
  }

  it("defaults match the Go server: a 23 s read timeout, a heartbeat of a third of it", () => {
    const options = resolved({})
    assert.strictEqual(Duration.toMillis(options.serverReadTimeout), 23_000)
    assert.closeTo(Duration.toMillis(options.heartbeatInterval), 23_000 / 3, 0.001)
  })

  it("the heartbeat follows a shorter read timeout unless given", () => {
    assert.strictEqual(Duration.toMillis(resolved({ serverReadTimeout: "3 seconds" }).heartbeatInterval), 1000)
    const given = resolved({ serverReadTimeout: "3 seconds", heartbeatInterval: "2 seconds" })
    assert.strictEqual(Duration.toMillis(given.heartbeatInterval), 2000)
  })

  it("a heartbeat at or beyond the read timeout cannot be safe: InvalidArgumentError before any I/O", () => {
    const error = refused({ serverReadTimeout: "3 seconds", heartbeatInterval: "3 seconds" })
    assert.strictEqual(error.argument, "heartbeatInterval")
    assert.strictEqual(
      error.message,
      "invalid heartbeatInterval \"3 seconds\": must be less than serverReadTimeout (3s): " +
        "the server closes a connection silent that long and frees its locks"
    )
    assert.strictEqual(refused({ heartbeatInterval: "30 seconds" }).argument, "heartbeatInterval")
  })

  it("a read timeout that is not a positive duration is refused", () => {
    assert.strictEqual(refused({ serverReadTimeout: 0 }).argument, "serverReadTimeout")
    assert.strictEqual(refused({ serverReadTimeout: "-1 seconds" }).argument, "serverReadTimeout")
    assert.strictEqual(refused({ serverReadTimeout: Duration.infinity }).argument, "serverReadTimeout")
  })
})
