/**
 * The client's TLS path (issue 3, TLS), proved end to end against the real
 * server. The pinned dflockd (Python 0.5.0) has no `--tls-cert`, so a
 * TLS-terminating relay (test/support/tls.ts) does the server side of the
 * handshake with a certificate from a CA made here with `openssl`, and forwards
 * plain bytes to the real shared server; it never speaks the protocol.
 */
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Exit, Option, Schedule } from "effect"
import { inject } from "vitest"
import { DflockdClient, Lock } from "../src/index.ts"
import { eventuallyLive } from "./support/eventually.ts"
import { causeText, failedWith } from "./support/exits.ts"
import { isFree } from "./support/probe.ts"
import { tlsRelayForFile } from "./support/tls.ts"
import { inspect } from "node:util"
import { freshKey as fresh } from "./support/keys.ts"

const shared = inject("dflockd")
const tls = tlsRelayForFile(shared)
const freshKey = (name: string) => fresh("tls", name)

/** Small timeouts and no retries: failures must come fast and typed. */
const quick = {
  connectTimeout: "2 seconds",
  requestTimeout: "1 second",
  connectRetry: Schedule.recurs(0),
  pool: false
} as const

describe("TLS through a relay in front of the real server", () => {
  it.live("with the test CA and servername localhost: connects, acquires, and the key is held on the server", () =>
    Effect.gen(function*() {
      const key = freshKey("with-ca")
      const before = tls.relay.secured()
      const lock = yield* Lock.acquire(key, { leaseTtl: "10 seconds" })
      assert.strictEqual(lock.server, tls.relay.address)
      assert.match(lock.token, /^[0-9a-f]{32}$/)
      assert.isAbove(tls.relay.secured(), before, "the connection went through a completed TLS handshake")
      // seen from a plain TCP client straight to the real server: held
      assert.isFalse(yield* isFree(shared.address, key))
    }).pipe(
      Effect.scoped,
      Effect.provide(
        DflockdClient.layer({
          ...quick,
          servers: [tls.relay.address],
          tls: { ca: tls.certs.ca, servername: "localhost" }
        })
      )
    ))

  it.live("with the CA as bytes and no servername (the certificate's IP SAN matches 127.0.0.1)", () =>
    Effect.gen(function*() {
      const key = freshKey("ca-bytes")
      yield* Lock.acquire(key)
      assert.isFalse(yield* isFree(shared.address, key))
    }).pipe(
      Effect.scoped,
      Effect.provide(
        DflockdClient.layer({
          ...quick,
          servers: [tls.relay.address],
          tls: { ca: [new TextEncoder().encode(tls.certs.ca)] }
        })
      )
    ))

  it.live("tls: true (system CAs only) fails with ConnectionError: verification is on by default", () =>
    Effect.gen(function*() {
      const failuresBefore = tls.relay.failedHandshakes()
      const exit = yield* Effect.exit(Effect.scoped(Lock.acquire(freshKey("system-ca"))))
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.server, tls.relay.address)
      assert.strictEqual(error.reason, "Tls", "a certificate failure is a TLS failure")
      assert.match(causeText(error), /self[- ]signed|unable to (get|verify)|certificate/i)
      // the relay sees the client abort the handshake (its alert may take a moment to arrive)
      yield* eventuallyLive(
        Effect.sync(() => tls.relay.failedHandshakes() > failuresBefore),
        "the relay saw a failed handshake"
      )
    }).pipe(Effect.provide(DflockdClient.layer({ ...quick, servers: [tls.relay.address], tls: true }))))

  it.live("a certificate failure is not retried, even with the default retry schedule", () =>
    Effect.gen(function*() {
      const failuresBefore = tls.relay.failedHandshakes()
      const exit = yield* Effect.exit(Effect.scoped(Lock.acquire(freshKey("no-retry"))))
      failedWith(exit, "ConnectionError")
      yield* eventuallyLive(
        Effect.sync(() => tls.relay.failedHandshakes() > failuresBefore),
        "the relay saw the failed handshake"
      )
      yield* Effect.sleep("700 millis") // longer than the default backoff would wait
      assert.strictEqual(tls.relay.failedHandshakes() - failuresBefore, 1, "one handshake, no retries")
    }).pipe(
      Effect.provide(DflockdClient.layer({ servers: [tls.relay.address], tls: true, connectTimeout: "2 seconds" }))
    ))

  it.live("a wrong servername fails verification too; the error serialises (no live certificate objects)", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Lock.acquire(freshKey("wrong-name"))))
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.reason, "Tls")
      assert.match(causeText(error), /altnames|Hostname|does not match/i)
      const json = JSON.parse(JSON.stringify(error)) as { readonly cause?: { readonly code?: string } }
      assert.strictEqual(json.cause?.code, "ERR_TLS_CERT_ALTNAME_INVALID", "the code survives JSON")
      assert.match(inspect(error, { depth: 5 }), /altnames/, "util.inspect shows the reason")
      assert.notInclude(JSON.stringify(error), "BEGIN CERTIFICATE")
    }).pipe(
      Effect.provide(
        DflockdClient.layer({
          ...quick,
          servers: [tls.relay.address],
          tls: { ca: tls.certs.ca, servername: "dflockd.example" }
        })
      )
    ))

  it.live("rejectUnauthorized: false connects without the CA", () =>
    Effect.gen(function*() {
      const key = freshKey("no-verify")
      const lock = yield* Lock.acquire(key)
      assert.strictEqual(lock.key, key)
      assert.isFalse(yield* isFree(shared.address, key))
    }).pipe(
      Effect.scoped,
      Effect.provide(
        DflockdClient.layer({ ...quick, servers: [tls.relay.address], tls: { rejectUnauthorized: false } })
      )
    ))

  it.live("plain TCP to the TLS port fails with a typed error and a TLS hint within the timeouts (no hang)", () =>
    Effect.gen(function*() {
      const failuresBefore = tls.relay.failedHandshakes()
      const [elapsed, exit] = yield* Effect.timed(Effect.exit(Effect.scoped(Lock.tryAcquire(freshKey("plain")))))
      assert.isTrue(Exit.isFailure(exit))
      const error = failedWith(exit, "ConnectionError")
      assert.strictEqual(error.server, tls.relay.address)
      // the message says what to check, not only that the peer hung up
      assert.match(error.message, /is TLS configured on both sides\? The server may be TLS-only/)
      yield* eventuallyLive(
        Effect.sync(() => tls.relay.failedHandshakes() > failuresBefore),
        "the relay rejected a non-TLS hello"
      )
      // bounded by requestTimeout (1 s) for the `l` exchange, with slack for a loaded machine
      assert.isBelow(Duration.toMillis(elapsed), 3000)
    }).pipe(Effect.provide(DflockdClient.layer({ ...quick, servers: [tls.relay.address] }))))

  it.live("locks over TLS exclude locks over plain TCP: one server, two transports", () =>
    Effect.gen(function*() {
      const key = freshKey("both")
      yield* Lock.acquire(key)
      const plain = yield* Lock.tryAcquire(key).pipe(
        Effect.scoped,
        Effect.provide(DflockdClient.layer({ servers: [shared.address] }))
      )
      assert.isTrue(Option.isNone(plain), "held over TLS, so busy over plain TCP")
    }).pipe(
      Effect.scoped,
      Effect.provide(
        DflockdClient.layer({
          ...quick,
          servers: [tls.relay.address],
          tls: { ca: tls.certs.ca, servername: "localhost" }
        })
      )
    ))
})
