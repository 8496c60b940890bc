/**
 * Connection reuse. A lock owns its connection exclusively while it holds or
 * waits (the server ties grants and waiters to the connection); afterwards a
 * connection known clean goes to an idle stack per server, and the next lock
 * on that server takes it instead of dialing (and handshaking, and
 * authenticating) again.
 *
 * - Clean means `reusable`: no exchange pending, nothing broken, no claim (no
 *   grant or waiter the server may still keep for it). Anything else is closed.
 * - A reused connection is probed first (`alive`): one the server closed while
 *   idle (read timeout, restart) is closed and the next is tried.
 * - Idle connections older than `idleTimeToLive` are closed by a sweeper, which
 *   must be shorter than the server's read timeout (23 s by default).
 * - Closing the pool (the client layer's scope) closes every idle connection;
 *   connections in use close with their owners.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type { Connection, ExchangeError } from "./connection.ts"
import * as Connections from "./connection.ts"

export interface PoolOptions {
  /** Idle connections kept per server. 0 disables reuse (one connection per lock). */
  readonly maxIdle: number
  /** How long an idle connection is kept. */
  readonly idleTimeToLive: Duration.Duration
}

/** A pooled connection, as plain data: made once per connection, reused across owners. */
interface Entry {
  readonly connection: Connection
  readonly scope: Scope.Closeable
  /** When it was last given back (on the client's clock). */
  idleSince: number
  /** Its owner's finalizer: gives it back (or closes it). Made once per connection. */
  giveBack: Effect.Effect<void>
}

const none = Effect.succeed(undefined)

export interface ConnectionPool {
  /** A connection for `scope`: reused when a clean one is idle, else dialed. */
  readonly get: (scope: Scope.Scope) => Effect.Effect<Connection, ExchangeError>
  /** Number of idle connections (for tests and metrics). */
  readonly idle: Effect.Effect<number>
}

export const make = Effect.fnUntraced(function*(
  dial: Effect.Effect<Connection, ExchangeError, Scope.Scope>,
  options: PoolOptions
) {
  // The idle stack, newest last. Owned by this pool: changed only in synchronous
  // steps (take, give back, sweep, close), never across a suspension.
  const idle: Array<Entry> = []
  const closed = yield* Ref.make(false)
  const ttl = Duration.toMillis(options.idleTimeToLive)

  const close = (entry: Entry) => Scope.close(entry.scope, Exit.void)

  /** Pops idle entries (newest first) until one is alive. */
  const takeAlive: Effect.Effect<Entry | undefined> = Effect.suspend(() => {
    const entry = idle.pop()
    if (entry === undefined) return none
    // the common case, a healthy connection, costs no further step
    if (entry.connection.healthy()) return Effect.succeed(entry)
    return Effect.flatMap(
      entry.connection.alive,
      (ok) => ok ? Effect.succeed(entry) : Effect.andThen(close(entry), takeAlive)
    )
  })

  const open: Effect.Effect<Entry, ExchangeError> = Effect.gen(function*() {
    const scope = yield* Scope.make()
    const connection = yield* Scope.provide(dial, scope).pipe(
      Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
    )
    const entry: Entry = { connection, scope, idleSince: 0, giveBack: Effect.void }
    entry.giveBack = giveBack(entry)
    return entry
  })

  /** Back on the idle stack (on the client's clock), the oldest beyond `maxIdle` closed. */
  const keep = (entry: Entry, clock: Clock.Clock): Effect.Effect<void> => {
    entry.idleSince = clock.currentTimeMillisUnsafe()
    idle.push(entry)
    const excess = idle.length - options.maxIdle
    return excess <= 0 ? Effect.void : Effect.forEach(idle.splice(0, excess), close, { discard: true })
  }

  // A connection of this library's own is read in one step; any other (a `Connection` made
  // by other means) through its `reusable` effect.
  const giveBack = (entry: Entry): Effect.Effect<void> =>
    Effect.withFiber((fiber) => {
      const internal = Connections.internalOf(entry.connection)
      if (internal !== undefined) {
        if (!Connections.reusableNow(internal) || Ref.getUnsafe(closed)) return close(entry)
        return keep(entry, fiber.getRef(Clock.Clock))
      }
      return Effect.flatMap(entry.connection.reusable, (reusable) =>
        !reusable || Ref.getUnsafe(closed) ? close(entry) : keep(entry, fiber.getRef(Clock.Clock)))
    })

  // Taking an entry and registering its return are one uninterruptible step, so an
  // interruption cannot orphan a connection between them; only the dial is
  // interruptible (it closes its own socket when interrupted).
  const get = (scope: Scope.Scope) =>
    Effect.uninterruptibleMask((restore) => {
      // the common case, a healthy idle connection, in one step
      const top = idle.at(-1)
      if (top !== undefined && top.connection.healthy()) {
        idle.pop()
        return Effect.as(Scope.addFinalizer(scope, top.giveBack), top.connection)
      }
      const register = (entry: Entry) => Effect.as(Scope.addFinalizer(scope, entry.giveBack), entry.connection)
      return Effect.flatMap(
        takeAlive,
        (entry) => entry !== undefined ? register(entry) : Effect.flatMap(restore(open), register)
      )
    })

  const sweep = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const expired = idle.filter((e) => now - e.idleSince >= ttl)
    if (expired.length > 0) {
      const kept = idle.filter((e) => now - e.idleSince < ttl)
      idle.splice(0, idle.length, ...kept)
    }
    yield* Effect.forEach(expired, close, { discard: true })
  })

  if (options.maxIdle > 0) {
    yield* Effect.repeat(sweep, Schedule.spaced(Duration.millis(Math.max(50, ttl / 2)))).pipe(Effect.forkScoped)
  }
  yield* Effect.addFinalizer(() =>
    Effect.andThen(
      Ref.set(closed, true),
      Effect.suspend(() => Effect.forEach(idle.splice(0), close, { discard: true }))
    )
  )

  return { get, idle: Effect.sync(() => idle.length) } satisfies ConnectionPool
})
