/**
 * An in-memory dflockd for testing code that uses effect-dflockd: no server
 * process, no sockets, and leases measured with `effect`'s `Clock`, so
 * `TestClock` drives expiry, renewal and the lease watchdog.
 *
 * `Memory.layer()` provides the real `DflockdClient` (codec, leases, renewal,
 * watchdog, pool: the whole client path runs unchanged) wired to in-process
 * servers instead of TCP, plus a {@link MemoryServer} service to look inside
 * and to inject faults: end a lease, release a key, crash the server.
 *
 * The servers speak the protocol of dflockd v1.14+ with v2.1 fence tokens:
 * strict FIFO locks (`l r n e w`), semaphores with limits in their own key
 * space (`sl sr sn se sw`), two-phase acquisition, `max_locks` / `max_waiters`,
 * `stats`, `auth` and `ping`. Closing a connection drops its waiters and
 * releases what it holds (`--auto-release-on-disconnect`). Not modelled: the
 * server's read timeout, TLS, draining and cluster mode.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as DflockdClient from "./DflockdClient.ts"
import { ConnectionError, InvalidArgumentError } from "./Errors.ts"
import { parseAddress } from "./internal/options/address.ts"
import * as Codec from "./internal/protocol/codec.ts"
import { show } from "./internal/util/show.ts"
import * as Internal from "./internal/memory/server.ts"
import type { ServerConfig } from "./internal/memory/state.ts"
import * as MemoryWire from "./internal/memory/wire.ts"
import * as ServerAddress from "./ServerAddress.ts"
import type * as Stats from "./Stats.ts"
import type * as Transport from "./Transport.ts"

/**
 * Marks the {@link MemoryServer} service (see {@link isMemoryServer}).
 *
 * **Example** (The identifier)
 *
 * ```ts
 * import { Memory } from "effect-dflockd"
 *
 * Memory.TypeId // "~effect-dflockd/Memory"
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId = "~effect-dflockd/Memory"

/**
 * Options of {@link layer}. Every field is optional.
 *
 * **Example** (Two servers with short default leases, authenticated)
 *
 * ```ts
 * import { Redacted } from "effect"
 * import { Memory } from "effect-dflockd"
 *
 * const options: Memory.MemoryOptions = {
 *   servers: 2,
 *   defaultLeaseTtl: "10 seconds",
 *   maxWaiters: 100,
 *   authToken: "s3cret",
 *   client: { auth: Redacted.make("s3cret"), heartbeatInterval: "5 seconds" }
 * }
 * const TestLive = Memory.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /**
   * How many servers (named `memory-0`, `memory-1`, … on port `ServerAddress.DEFAULT_PORT`), or their
   * `host:port` names (e.g. your production list, to exercise its sharding).
   * Keys are sharded across them as by the real client. Default 1.
   */
  readonly servers?: number | ReadonlyArray<string> | undefined
  /** Lease of grants that ask for none (`--default-lease-ttl`); whole seconds. Default 33 seconds. */
  readonly defaultLeaseTtl?: Duration.Input | undefined
  /** Keys a server tracks, idle ones included until forgotten 60 s after last use (`--max-locks`). Default 1024. */
  readonly maxLocks?: number | undefined
  /** Waiters per key (`--max-waiters`); 0 = unlimited. Default 0. */
  readonly maxWaiters?: number | undefined
  /**
   * Token the servers require as the first command (`--auth-token`). The client
   * authenticates only with its own `client.auth`: set both, or set a different
   * one to test `AuthError`.
   */
  readonly authToken?: string | undefined
  /** The client's options (everything but `servers`). */
  readonly client?: Omit<DflockdClient.ClientOptions, "servers"> | undefined
}

/**
 * Which key space {@link MemoryServer} `expire` and `releaseAll` act on:
 * locks, semaphores, or (the default) both.
 *
 * **Example** (Only the semaphore named "pool")
 *
 * ```ts
 * import { Memory } from "effect-dflockd"
 *
 * const ended = Memory.expire("pool", { kind: "semaphore" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TargetOptions {
  readonly kind?: "lock" | "semaphore" | undefined
}

/**
 * Test control of the in-memory servers.
 *
 * - `stats(server?)`: one entry per server (`{ server, stats }`, in sharding
 *   order), or only the named one's; shaped like `DflockdClient.stats`.
 * - `expire(key)`: ends every lease on `key` as if it ran out now; the next
 *   waiters are granted, and a holder's next renewal is refused, so its `lost`
 *   fails with `LockLostError`. Returns how many leases ended.
 * - `releaseAll(key)`: releases every lease on `key` as another client's `r`
 *   with the token would. Returns how many leases ended.
 * - `disconnectAll`: a server crash and instant restart. Every connection
 *   breaks (in-flight and later exchanges fail with `ConnectionError`, held
 *   locks report `LockLostError` at their next renewal), and all lock state is
 *   gone. New connections are accepted at once.
 *
 * **Example** (Using the service directly)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Memory } from "effect-dflockd"
 *
 * const report = Effect.gen(function*() {
 *   const memory = yield* Memory.MemoryServer
 *   const all = yield* memory.stats()
 *   const locks = all.reduce((n, { stats }) => n + stats.locks.length, 0)
 *   return `${memory.servers.length} servers, ${locks} locks held or awaited`
 * })
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class MemoryServer extends Context.Service<MemoryServer, {
  readonly [TypeId]: typeof TypeId
  /** The servers' `host:port` names, in sharding order. */
  readonly servers: ReadonlyArray<string>
  readonly stats: (server?: string) => Effect.Effect<ReadonlyArray<Stats.ServerStats>, InvalidArgumentError>
  readonly expire: (key: string, options?: TargetOptions) => Effect.Effect<number>
  readonly releaseAll: (key: string, options?: TargetOptions) => Effect.Effect<number>
  readonly disconnectAll: Effect.Effect<void>
}>()("effect-dflockd/MemoryServer") {}

/**
 * Whether a value is a {@link MemoryServer} service.
 *
 * **Example** (Checking a service)
 *
 * ```ts
 * import { Memory } from "effect-dflockd"
 *
 * Memory.isMemoryServer({}) // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isMemoryServer = (u: unknown): u is MemoryServer["Service"] => Predicate.hasProperty(u, TypeId)

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

interface Resolved {
  readonly servers: ReadonlyArray<ServerConfig>
}

const invalid = (argument: string, value: unknown, detail: string) =>
  Result.fail(new InvalidArgumentError({ argument, value: show(value), detail }))

const resolve = (options: MemoryOptions): Result.Result<Resolved, InvalidArgumentError> =>
  Result.gen(function*() {
    const names = options.servers ?? 1
    let labels: Array<string>
    if (typeof names === "number") {
      if (!Number.isInteger(names) || names < 1 || names > 1024) {
        return yield* invalid("servers", names, "must be an integer from 1 to 1024, or a list of host:port names")
      }
      labels = Array.from({ length: names }, (_, i) => `memory-${i}:${ServerAddress.DEFAULT_PORT}`)
    } else {
      labels = []
      for (const name of names) labels.push((yield* parseAddress(name)).label)
      if (labels.length === 0) return yield* invalid("servers", names, "must not be empty")
      if (new Set(labels).size !== labels.length) return yield* invalid("servers", labels, "must not repeat a name")
    }
    const defaultLeaseSeconds = yield* Codec.validateLease(options.defaultLeaseTtl ?? "33 seconds")
    const maxLocks = options.maxLocks ?? 1024
    if (!Number.isInteger(maxLocks) || maxLocks < 1) {
      return yield* invalid("maxLocks", maxLocks, "must be a positive integer")
    }
    const maxWaiters = options.maxWaiters ?? 0
    if (!Number.isInteger(maxWaiters) || maxWaiters < 0) {
      return yield* invalid("maxWaiters", maxWaiters, "must be a non-negative integer")
    }
    const authToken = options.authToken === undefined ? undefined : yield* Codec.validateAuthToken(options.authToken)
    return {
      servers: labels.map((label) => ({ label, defaultLeaseSeconds, maxLocks, maxWaiters, authToken }))
    }
  })

// ---------------------------------------------------------------------------
// in-memory connections
// ---------------------------------------------------------------------------

/**
 * A transport to an in-memory server. The client runs the same connection
 * state machine over it as over a socket: one exchange at a time; an
 * interrupted exchange leaves it unusable; closing its scope is a hang-up (the
 * server drops its waiters, releases its grants).
 */
const connectTo = Effect.fnUntraced(function*(server: Internal.MemoryEngine) {
  const label = server.config.label
  const closedByServer = () =>
    new ConnectionError({
      server: label,
      reason: "Closed",
      cause: new Error("the in-memory server closed the connection")
    })

  const session = yield* Effect.acquireRelease(server.open, (s) => server.disconnect(s.id))
  // The deadline is a race, whose contender runs in a fiber of its own: it ends
  // the exchange on time even when the caller is uninterruptible.
  const exchange = (frame: string, timeoutMillis: number) =>
    MemoryWire.request(server, session.id, frame).pipe(
      Effect.timeoutOrElse({
        duration: timeoutMillis,
        orElse: () =>
          Effect.fail(
            new ConnectionError({
              server: label,
              reason: "Timeout",
              cause: new Error(`no reply within ${timeoutMillis} ms`)
            })
          )
      }),
      Effect.flatMap(Option.match({ onNone: () => Effect.fail(closedByServer()), onSome: Effect.succeed }))
    )
  return {
    server: label,
    exchange,
    probe: () => Deferred.isDoneUnsafe(session.closed) ? closedByServer() : undefined,
    // the server hanging up (crash, failed auth) breaks the connection at once
    hangup: Effect.as(Deferred.await(session.closed), closedByServer())
  } satisfies Transport.Transport
})

const dialer = (servers: ReadonlyMap<string, Internal.MemoryEngine>): DflockdClient.Dialer => (address) => {
  const server = servers.get(address.label)
  return server === undefined
    ? Effect.fail(
      new ConnectionError({
        server: address.label,
        reason: "Refused",
        cause: new Error("no in-memory server by this name")
      })
    )
    : connectTo(server)
}

const kindsOf = (options: TargetOptions | undefined): ReadonlyArray<Codec.Kind> =>
  options?.kind === undefined ? ["lock", "semaphore"] : [options.kind]

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * Builds the in-memory servers and a client wired to them, for the current
 * scope: the servers' lease timers and request handlers are fibers of that
 * scope. Invalid options are a defect, as for `DflockdClient.layer`.
 *
 * **Example** (Both services in a scope)
 *
 * ```ts
 * import { Context, Effect } from "effect"
 * import { Memory } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const services = yield* Memory.make({ servers: 2 })
 *   const server = Context.get(services, Memory.MemoryServer)
 *   return server.servers // ["memory-0:6388", "memory-1:6388"]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options?: MemoryOptions
) => Effect.Effect<
  Context.Context<DflockdClient.DflockdClient | MemoryServer>,
  InvalidArgumentError,
  Scope.Scope
> = Effect.fnUntraced(
  function*(options: MemoryOptions = {}) {
    const resolved = yield* Effect.fromResult(resolve(options))
    const servers = new Map<string, Internal.MemoryEngine>()
    for (const config of resolved.servers) servers.set(config.label, yield* Internal.make(config))
    const labels = resolved.servers.map((c) => c.label)

    // built after the servers, so it closes first: its idle connections hang up cleanly
    const client = yield* DflockdClient.makeWith({ ...options.client, servers: labels }, dialer(servers))

    const all = [...servers.values()]
    const statsOf = (engine: Internal.MemoryEngine) =>
      Effect.map(engine.stats, (stats): Stats.ServerStats => ({ server: engine.config.label, stats }))
    const stats = (server?: string): Effect.Effect<ReadonlyArray<Stats.ServerStats>, InvalidArgumentError> => {
      if (server === undefined) return Effect.forEach(all, statsOf)
      const target = servers.get(server)
      return target === undefined
        ? Effect.fail(
          new InvalidArgumentError({
            argument: "server",
            value: show(server),
            detail: `is not one of the in-memory servers (${labels.join(", ")})`
          })
        )
        : Effect.map(statsOf(target), (one) => [one])
    }
    const sum = (f: (s: Internal.MemoryEngine) => Effect.Effect<number>) =>
      Effect.map(Effect.forEach(all, f), (counts) => counts.reduce((a, b) => a + b, 0))

    const control = MemoryServer.of({
      [TypeId]: TypeId,
      servers: labels,
      stats,
      expire: (key, o) => sum((s) => s.expire(key, kindsOf(o))),
      releaseAll: (key, o) => sum((s) => s.releaseAll(key, kindsOf(o))),
      disconnectAll: Effect.forEach(all, (s) => s.crash, { discard: true })
    })
    return Context.make(DflockdClient.DflockdClient, client).pipe(Context.add(MemoryServer, control))
  }
)

/**
 * The real `DflockdClient`, served by in-memory dflockd servers, plus the
 * {@link MemoryServer} that controls them. Provide it instead of
 * `DflockdClient.layer` in tests; nothing else changes.
 *
 * **Example** (A test of code that takes a lock)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Lock, Memory } from "effect-dflockd"
 *
 * const chargeCustomer = Effect.succeed("charged").pipe(Lock.withLock("customer-42"))
 *
 * const test = Effect.gen(function*() {
 *   const result = yield* chargeCustomer
 *   const [only] = yield* Memory.stats()
 *   return [result, only?.stats.locks.length] // ["charged", 0]: released afterwards
 * }).pipe(Effect.provide(Memory.layer({ defaultLeaseTtl: "10 seconds" })))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: MemoryOptions = {}
): Layer.Layer<DflockdClient.DflockdClient | MemoryServer, InvalidArgumentError> => Layer.effectContext(make(options))

// ---------------------------------------------------------------------------
// accessors
// ---------------------------------------------------------------------------

/**
 * Statistics of every in-memory server, one entry each (or only the named
 * one's), shaped like `DflockdClient.stats`.
 *
 * **Example** (Nobody holds or waits for anything)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Memory } from "effect-dflockd"
 *
 * const settled = Effect.map(
 *   Memory.stats(),
 *   (all) => all.every(({ stats }) => stats.locks.length === 0 && stats.semaphores.length === 0)
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const stats = (
  server?: string
): Effect.Effect<ReadonlyArray<Stats.ServerStats>, InvalidArgumentError, MemoryServer> =>
  MemoryServer.use((m) => m.stats(server))

/**
 * Ends every lease on `key` now, as if it had run out: the next waiters are
 * granted and the holders' next renewal is refused (`LockLostError`).
 *
 * **Example** (Testing the lost-lease path)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TestClock } from "effect/testing"
 * import { Lock, Memory } from "effect-dflockd"
 *
 * const test = Effect.gen(function*() {
 *   const lock = yield* Lock.acquire("ledger", { leaseTtl: "20 seconds" })
 *   yield* Memory.expire("ledger")
 *   yield* TestClock.adjust("10 seconds") // the next renewal is refused
 *   return yield* Effect.flip(lock.lost) // LockLostError
 * }).pipe(Effect.scoped, Effect.provide(Memory.layer()))
 * ```
 *
 * @since 0.1.0
 * @category test control
 */
export const expire = (key: string, options?: TargetOptions): Effect.Effect<number, never, MemoryServer> =>
  MemoryServer.use((m) => m.expire(key, options))

/**
 * Releases every lease on `key`, as another client sending `r` with each token
 * would.
 *
 * **Example** (Handing a lock to the next waiter)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { Memory } from "effect-dflockd"
 *
 * const released = Memory.releaseAll("orders", { kind: "lock" }) // Effect<number>
 * ```
 *
 * @since 0.1.0
 * @category test control
 */
export const releaseAll = (key: string, options?: TargetOptions): Effect.Effect<number, never, MemoryServer> =>
  MemoryServer.use((m) => m.releaseAll(key, options))

/**
 * A crash and instant restart of every in-memory server: all connections
 * break, all locks and waiters are gone.
 *
 * **Example** (Holders learn that they lost their locks)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { TestClock } from "effect/testing"
 * import { Lock, Memory } from "effect-dflockd"
 *
 * const test = Effect.gen(function*() {
 *   const lock = yield* Lock.acquire("orders")
 *   yield* Memory.disconnectAll
 *   yield* TestClock.adjust("10 seconds") // the next renewal finds the connection gone
 *   return yield* Effect.flip(lock.lost) // LockLostError
 * }).pipe(Effect.scoped, Effect.provide(Memory.layer()))
 * ```
 *
 * @since 0.1.0
 * @category test control
 */
export const disconnectAll: Effect.Effect<void, never, MemoryServer> = MemoryServer.use((m) => m.disconnectAll)
