/**
 * What the server under test does, feature by feature, against the real server
 * (`DFLOCKD_BIN` selects it; see test/support/server.ts). Where the server has a
 * feature it is tested for real; where it lacks one, the typed refusal is tested
 * instead; a test that needs server flags the binary does not have is skipped,
 * with the reason in its name.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber, Option, Redacted, Ref, Schedule, Scope } from "effect"
import { rmSync } from "node:fs"
import { afterAll, beforeAll, inject } from "vitest"
import { DflockdClient, Lock, Semaphore } from "../src/index.ts"
import { failedWith } from "./support/exits.ts"
import { clientLayer, eventuallyUntracked, keyState, scopedServer } from "./support/probe.ts"
import { relay } from "./support/relay.ts"
import { has, needs, server } from "./support/server.ts"
import { type Certificates, makeCertificates } from "./support/tls.ts"
import { freshKey as fresh } from "./support/keys.ts"

const shared = inject("dflockd").address
const freshKey = (name: string) => fresh("feat", name)

/** Fast, typed failures: no connect retries, no pooling. */
const quick = { connectTimeout: "2 seconds", requestTimeout: "2 seconds", connectRetry: Schedule.recurs(0) } as const

describe(`semaphores on ${server.label}`, () => {
  it.live.skipIf(!has("semaphores"))(
    `at most \`limit\` holders at once; every contender runs${needs("semaphores")}`,
    () =>
      Effect.gen(function*() {
        const key = freshKey("limit")
        const running = yield* Ref.make(0)
        const peak = yield* Ref.make(0)
        const region = Effect.gen(function*() {
          const now = yield* Ref.updateAndGet(running, (n) => n + 1)
          yield* Ref.update(peak, (p) => Math.max(p, now))
          yield* Effect.sleep("40 millis")
          yield* Ref.update(running, (n) => n - 1)
        }).pipe(Semaphore.withPermit(key, { limit: 2, acquireTimeout: "20 seconds" }))
        yield* Effect.all(Array.from({ length: 6 }, () => region), { concurrency: "unbounded" })
        assert.strictEqual(yield* Ref.get(peak), 2, "never more than the limit, and the limit was reached")
        assert.strictEqual(yield* Ref.get(running), 0)
      }).pipe(Effect.provide(clientLayer(shared)))
  )

  it.live.skipIf(!has("semaphores"))(
    `a different limit on a held key fails with limit_mismatch; tryAcquire is None when full${needs("semaphores")}`,
    () =>
      Effect.gen(function*() {
        const key = freshKey("mismatch")
        const first = yield* Semaphore.acquire(key, { limit: 1 })
        assert.match(first.token, /^[0-9a-f]{32}$/)
        const mismatch = yield* Effect.flip(Effect.scoped(Semaphore.acquire(key, { limit: 3, acquireTimeout: 0 })))
        assert.strictEqual(mismatch._tag, "ServerError")
        assert.strictEqual(mismatch._tag === "ServerError" && mismatch.reason, "limit_mismatch")
        assert.isTrue(Option.isNone(yield* Effect.scoped(Semaphore.tryAcquire(key, { limit: 1 }))), "full")
      }).pipe(Effect.scoped, Effect.provide(clientLayer(shared)))
  )

  it.live.skipIf(!has("semaphores"))(
    `two-phase permits: acquired, then queued, granted on release${needs("semaphores")}`,
    () =>
      Effect.gen(function*() {
        const key = freshKey("two-phase")
        const firstScope = yield* Scope.make()
        const first = yield* Semaphore.enqueue(key, { limit: 1 }).pipe(Scope.provide(firstScope))
        assert.strictEqual(first.status, "acquired")
        yield* first.wait(0)
        const second = yield* Semaphore.enqueue(key, { limit: 1 })
        assert.strictEqual(second.status, "queued")
        yield* Scope.close(firstScope, Exit.void)
        const permit = yield* second.wait("10 seconds")
        assert.strictEqual(permit.key, key)
      }).pipe(Effect.scoped, Effect.provide(clientLayer(shared)))
  )

  it.live.skipIf(has("semaphores"))(
    "a server without semaphores: acquire, tryAcquire, enqueue and withPermit fail with a typed ServerError",
    () =>
      Effect.gen(function*() {
        const k = freshKey("old-server")
        const errors = [
          yield* Effect.flip(Effect.scoped(Semaphore.acquire(k, { limit: 3, acquireTimeout: "1 second" }))),
          yield* Effect.flip(Effect.scoped(Semaphore.tryAcquire(k, { limit: 3 }))),
          yield* Effect.flip(Effect.scoped(Semaphore.enqueue(k, { limit: 3 }))),
          yield* Effect.flip(Effect.void.pipe(Semaphore.withPermit(k, { limit: 3 })))
        ]
        for (const error of errors) {
          assert.strictEqual(error._tag, "ServerError")
          assert.strictEqual(error._tag === "ServerError" && error.reason, "error")
        }
        // the client is still usable: the refused connections were closed, not pooled
        assert.strictEqual(yield* Effect.succeed("ok").pipe(Lock.withLock(k)), "ok")
      }).pipe(Effect.provide(clientLayer(shared)))
  )
})

describe(`stats on ${server.label}`, () => {
  it.live.skipIf(!has("stats"))(
    `DflockdClient.stats() decodes holders, waiters and semaphores${needs("stats")}`,
    () =>
      Effect.gen(function*() {
        const key = freshKey("stats")
        yield* Lock.acquire(key, { leaseTtl: "20 seconds" })
        const waiting = yield* Effect.scoped(Lock.acquire(key, { acquireTimeout: "20 seconds" })).pipe(Effect.forkChild)
        // the waiter is queued once stats shows it
        const state = yield* keyState(shared, key).pipe(
          Effect.repeat({ until: (s) => s.waiters === 1, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("5 seconds")
        )
        assert.deepStrictEqual(state, { held: true, holders: 1, waiters: 1 })
        const [entry] = yield* DflockdClient.stats()
        assert.strictEqual(entry?.server, shared)
        const lock = entry?.stats.locks.find((l) => l.key === key)
        assert.isDefined(lock)
        assert.isAbove(lock!.owner_conn_id, 0)
        assert.isAbove(lock!.lease_expires_in_s, 10)
        assert.isAtMost(lock!.lease_expires_in_s, 20)
        assert.isAtLeast(entry!.stats.connections, 2)
        if (has("semaphores")) {
          const semKey = freshKey("stats-sem")
          yield* Semaphore.acquire(semKey, { limit: 3 })
          const [again] = yield* DflockdClient.stats()
          assert.deepInclude(again!.stats.semaphores, { key: semKey, limit: 3, holders: 1, waiters: 0 })
        }
        yield* Fiber.interrupt(waiting)
      }).pipe(Effect.scoped, Effect.provide(clientLayer(shared)))
  )

  it.live.skipIf(has("stats"))(
    "a server without stats: DflockdClient.stats() fails with a typed ServerError",
    () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(DflockdClient.stats())
        assert.strictEqual(error._tag, "ServerError")
        assert.strictEqual(error._tag === "ServerError" && error.reason, "error")
        // such a server closes the connection after its `error`: it is not pooled, and the next
        // lock, at once, gets a connection of its own
        const client = yield* DflockdClient.DflockdClient
        assert.strictEqual(yield* client.idleConnections, 0, "the refusing connection was not pooled")
        yield* Effect.scoped(Lock.acquire(freshKey("after-stats")))
      }).pipe(Effect.provide(clientLayer(shared)))
  )
})

describe(`interruption leaves nothing on ${server.label} (its own stats)`, () => {
  it.live.skipIf(!has("stats"))(
    `interrupted while connecting, queued, between enqueue and wait, and holding: no holder, no waiter${
      needs("stats")
    }`,
    () =>
      Effect.gen(function*() {
        const key = freshKey("interrupt")
        const holderScope = yield* Scope.make()
        yield* Lock.acquire(key).pipe(Scope.provide(holderScope))

        // while connecting: interrupted before the socket can have been used
        const connecting = yield* Effect.scoped(Lock.acquire(key)).pipe(Effect.forkChild({ startImmediately: true }))
        yield* Fiber.interrupt(connecting)
        // while queued behind the holder
        const queued = yield* Effect.scoped(Lock.acquire(key, { acquireTimeout: "30 seconds" })).pipe(Effect.forkChild)
        // between enqueue and wait
        const ticketScope = yield* Scope.make()
        const ticket = yield* Lock.enqueue(key).pipe(Scope.provide(ticketScope))
        assert.strictEqual(ticket.status, "queued")
        yield* keyState(shared, key).pipe(
          Effect.repeat({ until: (s) => s.waiters === 2, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("5 seconds")
        )
        yield* Fiber.interrupt(queued)
        yield* Scope.close(ticketScope, Exit.interrupt(0))
        // while holding, inside a region
        yield* Scope.close(holderScope, Exit.void)
        const entered = yield* Deferred.make<void>()
        const region = yield* Deferred.succeed(entered, undefined).pipe(
          Effect.andThen(Effect.never),
          Lock.withLock(key, { acquireTimeout: "10 seconds" }),
          Effect.forkChild
        )
        yield* Deferred.await(entered)
        yield* Fiber.interrupt(region)

        assert.deepStrictEqual(yield* eventuallyUntracked(shared, key), { held: false, holders: 0, waiters: 0 })
      }).pipe(Effect.provide(clientLayer(shared, { pool: false })))
  )
})

describe(`auth on ${server.label}`, () => {
  it.live.skipIf(!has("auth"))(
    `--auth-token: the right token works; a wrong or missing one is AuthError, not retried${needs("auth")}`,
    () =>
      Effect.gen(function*() {
        const own = yield* scopedServer({ "auth-token": "s3cret-token" })
        const counted = yield* relay(own)
        const key = freshKey("auth")
        const lock = yield* Lock.acquire(key).pipe(
          Effect.provide(clientLayer(own.address, { ...quick, auth: Redacted.make("s3cret-token") }))
        )
        assert.strictEqual(lock.key, key)

        for (const auth of ["wrong-token", undefined]) {
          const before = counted.accepted()
          const exit = yield* Effect.exit(
            Effect.scoped(Lock.acquire(freshKey("auth-bad"))).pipe(
              Effect.provide(clientLayer(counted.address, {
                connectTimeout: "2 seconds",
                ...(auth === undefined ? {} : { auth: Redacted.make(auth) })
              }))
            )
          )
          const error = failedWith(exit, "AuthError")
          assert.strictEqual(error.server, counted.address)
          assert.strictEqual(error.reason, "Rejected", "the server has auth and refused this token")
          assert.match(error.message, /the auth token is wrong, or missing/)
          assert.notInclude(JSON.stringify(error), "wrong-token", "the token never appears in the error")
          assert.strictEqual(counted.accepted() - before, 1, "one dial: AuthError is not retried")
        }
      }).pipe(Effect.scoped)
  )
})

describe(`native TLS on ${server.label}`, () => {
  let certs: Certificates
  let otherCa: Certificates
  beforeAll(() => {
    if (!has("tls")) return
    certs = makeCertificates()
    otherCa = makeCertificates()
  })
  afterAll(() => {
    for (const c of [certs, otherCa]) if (c !== undefined) rmSync(c.dir, { recursive: true, force: true })
  })

  it.live.skipIf(!has("tls"))(
    `--tls-cert/--tls-key: a custom CA connects; a wrong CA is refused and not retried${needs("tls")}`,
    () =>
      Effect.gen(function*() {
        const own = yield* scopedServer({
          "tls-cert": `${certs.dir}/server.pem`,
          "tls-key": `${certs.dir}/server.key`
        })
        const key = freshKey("tls")
        const lock = yield* Lock.acquire(key).pipe(
          Effect.provide(clientLayer(own.address, { ...quick, tls: { ca: certs.ca, servername: "localhost" } }))
        )
        assert.strictEqual(lock.server, own.address)
        assert.match(lock.token, /^[0-9a-f]{32}$/)

        const counted = yield* relay(own)
        const exit = yield* Effect.exit(
          Effect.scoped(Lock.acquire(freshKey("tls-wrong-ca"))).pipe(
            Effect.provide(clientLayer(counted.address, { connectTimeout: "2 seconds", tls: { ca: otherCa.ca } }))
          )
        )
        const error = failedWith(exit, "ConnectionError")
        assert.strictEqual(error.server, counted.address)
        assert.strictEqual(error.reason, "Tls")
        yield* Effect.sleep("700 millis") // longer than the default backoff would wait
        assert.strictEqual(counted.accepted(), 1, "one dial: a certificate failure is not retried")
      }).pipe(Effect.scoped)
  )
})

describe(`--max-waiters on ${server.label}`, () => {
  it.live.skipIf(!has("max_waiters"))(
    `with --max-waiters 1 a second waiter fails with ServerError max_waiters${needs("max_waiters")}`,
    () =>
      Effect.gen(function*() {
        const own = yield* scopedServer({ "max-waiters": 1 })
        const key = freshKey("max-waiters")
        const layer = clientLayer(own.address, quick)
        yield* Lock.acquire(key).pipe(Effect.provide(layer))
        const waiter = yield* Effect.scoped(Lock.acquire(key, { acquireTimeout: "20 seconds" })).pipe(
          Effect.provide(layer),
          Effect.forkChild
        )
        yield* keyState(own.address, key).pipe(
          Effect.repeat({ until: (s) => s.waiters === 1, schedule: Schedule.spaced("20 millis") }),
          Effect.timeout("5 seconds")
        )
        const error = yield* Effect.flip(
          Effect.scoped(Lock.acquire(key, { acquireTimeout: "5 seconds" })).pipe(Effect.provide(layer))
        )
        assert.strictEqual(error._tag, "ServerError")
        assert.strictEqual(error._tag === "ServerError" && error.reason, "max_waiters")
        yield* Fiber.interrupt(waiter)
      }).pipe(Effect.scoped)
  )
})
