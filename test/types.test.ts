/**
 * The public types are as exact as the behaviour (issue 15, item 4). The
 * `expectTypeOf` and `@ts-expect-error` lines are checked by `npm run typecheck`
 * (tsconfig.json includes test/); the runtime assertions check the guards on
 * real leases: a lock from the real server, and a lock and a permit from the
 * in-memory server (the pinned server has no semaphores).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, type Option, type Scope } from "effect"
import { expectTypeOf, inject } from "vitest"
import {
  type AcquireTimeoutError,
  type AuthError,
  type AuthErrorReason,
  type ConnectionError,
  type ConnectionErrorReason,
  DflockdClient,
  type InvalidArgumentError,
  Lock,
  type LockLostError,
  Memory,
  type ProtocolError,
  Semaphore,
  type ServerError
} from "../src/index.ts"
import { clientLayer } from "./support/probe.ts"
import { freshKey as fresh } from "./support/keys.ts"

const shared = inject("dflockd").address
const freshKey = (name: string) => fresh("types", name)

type ErrorOf<T> = T extends Effect.Effect<infer _A, infer E, infer _R> ? E : never
type SuccessOf<T> = T extends Effect.Effect<infer A, infer _E, infer _R> ? A : never

/** Every error the client has; each operation's channel is a subset, named below. */
type Every =
  | AcquireTimeoutError
  | AuthError
  | LockLostError
  | ConnectionError
  | ProtocolError
  | ServerError
  | InvalidArgumentError

describe("Lock and Permit are distinct", () => {
  it("kind is a literal; neither is assignable to the other", () => {
    expectTypeOf<Lock.Lock["kind"]>().toEqualTypeOf<"lock">()
    expectTypeOf<Semaphore.Permit["kind"]>().toEqualTypeOf<"semaphore">()
    expectTypeOf<Lock.Lock>().not.toMatchTypeOf<Semaphore.Permit>()
    expectTypeOf<Semaphore.Permit>().not.toMatchTypeOf<Lock.Lock>()
    const asPermit = (lock: Lock.Lock): Semaphore.Permit =>
      // @ts-expect-error a lock is not a permit
      lock
    const asLock = (permit: Semaphore.Permit): Lock.Lock =>
      // @ts-expect-error a permit is not a lock
      permit
    assert.isFunction(asPermit)
    assert.isFunction(asLock)
  })

  it("the guards narrow to their own kind", () => {
    const u: unknown = undefined
    if (Lock.isLock(u)) expectTypeOf(u).toEqualTypeOf<Lock.Lock>()
    if (Semaphore.isPermit(u)) expectTypeOf(u).toEqualTypeOf<Semaphore.Permit>()
    assert.isFalse(Lock.isLock(u))
    assert.isFalse(Semaphore.isPermit({ kind: "semaphore" }), "the marker is needed too")
  })

  it.live("on the real server: a lock is a lock and not a permit", () =>
    Effect.gen(function*() {
      const lock = yield* Lock.acquire(freshKey("lock"))
      assert.strictEqual(lock.kind, "lock")
      assert.isTrue(Lock.isLock(lock))
      assert.isFalse(Semaphore.isPermit(lock))
    }).pipe(Effect.scoped, Effect.provide(clientLayer(shared))))

  it.effect("on the in-memory server: the guards are exact for both kinds, through wait too", () =>
    Effect.gen(function*() {
      const permit = yield* Semaphore.acquire("types-permit", { limit: 2 })
      assert.strictEqual(permit.kind, "semaphore")
      assert.isTrue(Semaphore.isPermit(permit))
      assert.isFalse(Lock.isLock(permit))

      const lockTicket = yield* Lock.enqueue("types-ticket-lock")
      const fromWait = yield* lockTicket.wait()
      expectTypeOf(fromWait).toEqualTypeOf<Lock.Lock>()
      assert.isTrue(Lock.isLock(fromWait))
      assert.isFalse(Semaphore.isPermit(fromWait))

      const permitTicket = yield* Semaphore.enqueue("types-ticket-permit", { limit: 1 })
      const permitFromWait = yield* permitTicket.wait()
      expectTypeOf(permitFromWait).toEqualTypeOf<Semaphore.Permit>()
      assert.isTrue(Semaphore.isPermit(permitFromWait))
      assert.isFalse(Lock.isLock(permitFromWait))
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))
})

describe("each operation's error channel lists what it can fail with", () => {
  it("acquire and withLock: everything (AcquireTimeoutError, LockLostError included)", () => {
    expectTypeOf<ErrorOf<ReturnType<typeof Lock.acquire>>>().toEqualTypeOf<Every>()
    expectTypeOf<ErrorOf<ReturnType<typeof Semaphore.acquire>>>().toEqualTypeOf<Every>()
    expectTypeOf<Lock.AcquireError>().toEqualTypeOf<Every>()
    expectTypeOf<Semaphore.AcquireError>().toEqualTypeOf<Every>()
    const region = Effect.succeed(1).pipe(Lock.withLock("k"))
    expectTypeOf(region).toEqualTypeOf<Effect.Effect<number, Every, DflockdClient.DflockdClient>>()
    expectTypeOf<SuccessOf<ReturnType<typeof Lock.acquire>>>().toEqualTypeOf<Lock.Lock>()
    expectTypeOf<SuccessOf<ReturnType<typeof Semaphore.acquire>>>().toEqualTypeOf<Semaphore.Permit>()
  })

  it("tryAcquire and enqueue: no AcquireTimeoutError (LockLostError stays: a late grant's renewal may be refused)", () => {
    type NoTimeout = Exclude<Every, AcquireTimeoutError>
    expectTypeOf<ErrorOf<ReturnType<typeof Lock.tryAcquire>>>().toEqualTypeOf<NoTimeout>()
    expectTypeOf<ErrorOf<ReturnType<typeof Semaphore.tryAcquire>>>().toEqualTypeOf<NoTimeout>()
    expectTypeOf<ErrorOf<ReturnType<typeof Lock.enqueue>>>().toEqualTypeOf<NoTimeout>()
    expectTypeOf<ErrorOf<ReturnType<typeof Semaphore.enqueue>>>().toEqualTypeOf<NoTimeout>()
    expectTypeOf<Lock.TryAcquireError>().toEqualTypeOf<NoTimeout>()
    expectTypeOf<Lock.EnqueueError>().toEqualTypeOf<NoTimeout>()
    expectTypeOf<SuccessOf<ReturnType<typeof Lock.tryAcquire>>>().toEqualTypeOf<Option.Option<Lock.Lock>>()
    expectTypeOf<SuccessOf<ReturnType<typeof Semaphore.tryAcquire>>>()
      .toEqualTypeOf<Option.Option<Semaphore.Permit>>()
    const noTimeout = (e: Lock.TryAcquireError) =>
      // @ts-expect-error tryAcquire never fails with AcquireTimeoutError
      e._tag === "AcquireTimeoutError"
    assert.isFunction(noTimeout)
  })

  it("a ticket's wait: the lease of its kind; no AuthError (its connection is already open)", () => {
    type Wait = Exclude<Every, AuthError>
    expectTypeOf<ReturnType<Lock.Ticket["wait"]>>().toEqualTypeOf<Effect.Effect<Lock.Lock, Wait>>()
    expectTypeOf<ReturnType<Semaphore.Ticket["wait"]>>().toEqualTypeOf<Effect.Effect<Semaphore.Permit, Wait>>()
    expectTypeOf<Lock.WaitError>().toEqualTypeOf<Wait>()
    expectTypeOf<Semaphore.WaitError>().toEqualTypeOf<Wait>()
  })

  it("stats: no AcquireTimeoutError, no LockLostError", () => {
    type Stats = InvalidArgumentError | AuthError | ConnectionError | ProtocolError | ServerError
    expectTypeOf<ErrorOf<ReturnType<typeof DflockdClient.stats>>>().toEqualTypeOf<Stats>()
    expectTypeOf<DflockdClient.StatsError>().toEqualTypeOf<Stats>()
    expectTypeOf<ErrorOf<ReturnType<DflockdClient.DflockdClient["Service"]["stats"]>>>().toEqualTypeOf<Stats>()
    const neverLost = (e: DflockdClient.StatsError) =>
      // @ts-expect-error stats holds nothing, so it cannot lose a lease
      e._tag === "LockLostError"
    assert.isFunction(neverLost)
  })

  it("the reasons are exported literal unions", () => {
    expectTypeOf<ConnectionError["reason"]>().toEqualTypeOf<ConnectionErrorReason>()
    expectTypeOf<AuthError["reason"]>().toEqualTypeOf<AuthErrorReason>()
    expectTypeOf<AuthErrorReason>().toEqualTypeOf<"Rejected" | "NotEnabled">()
    expectTypeOf<InvalidArgumentError["value"]>().toEqualTypeOf<string>()
    expectTypeOf<"Tls">().toMatchTypeOf<ConnectionErrorReason>()
    // @ts-expect-error not a reason
    const bad: ConnectionErrorReason = "Cert"
    assert.isString(bad)
  })

  it("scoped operations need a Scope; regions do not", () => {
    expectTypeOf<ReturnType<typeof Lock.acquire>>().toEqualTypeOf<
      Effect.Effect<Lock.Lock, Every, Scope.Scope | DflockdClient.DflockdClient>
    >()
  })
})
