/**
 * The in-memory dflockd server behind `Memory.layer`: the protocol of dflockd
 * v1.14+ (separate lock and semaphore key spaces, `ping`) with v2.1 fence
 * tokens, run on `effect` primitives so `TestClock` drives its leases.
 *
 * - State: one `SynchronizedRef` of immutable records per server. Every change
 *   is a transaction (`transact`) that holds the ref's permit, runs
 *   uninterruptibly, and may start lease timers and wake fibers (a waiter's
 *   grant, a connection's end: once it has committed, see `wakeAll`); nothing
 *   else mutates state.
 * - Requests arrive typed (`memoryWire.ts` parses frames with the codec and
 *   formats replies); the state itself is pure (`memoryState.ts`).
 * - Leases: one timer fiber per grant, in a `FiberMap` keyed by token, sleeps
 *   (by `Clock`) until the lease deadline, re-reads it (renewals move it) and
 *   evicts the holder once it has passed, granting the next waiter. Every
 *   operation on a key also evicts expired holders first (as the real server
 *   does lazily on acquire), so timing never depends on which fiber runs first.
 * - Connections: closing one drops its waiters and releases what it holds
 *   (`--auto-release-on-disconnect`, the default). Idle keys are forgotten 60 s
 *   after their last use (`--gc-max-idle`), until then they keep their
 *   semaphore limit and count towards `max_locks`.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberMap from "effect/FiberMap"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import type * as Scope from "effect/Scope"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type * as Stats from "../Stats.ts"
import {
  clearEnqueued,
  clearEnqueuedToken,
  collect,
  type Conn,
  type Enqueued,
  enqueuedKey,
  type Entry,
  entryOf,
  getOrCreate,
  type Holder,
  keyCount,
  type Kind,
  type Outcome,
  type ServerConfig,
  setIn,
  type State,
  statsOf,
  type Tx,
  type Waiter,
  withConn,
  withEntry
} from "./memoryState.ts"
import * as Wire from "./serverCodec.ts"

// ---------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------

/** What a connection sees of the server. */
export interface Session {
  readonly id: number
  readonly closed: Deferred.Deferred<void>
}

/** One in-memory server: typed requests in, typed replies out (`memoryWire.ts` speaks the wire). */
export interface MemoryEngine {
  readonly config: ServerConfig
  /** Registers a connection. */
  readonly open: Effect.Effect<Session>
  /** The client hung up: drops the connection's waiters and releases what it holds. */
  readonly disconnect: (connId: number) => Effect.Effect<void>
  /**
   * Answers one request (`undefined`: a frame that did not parse); `None` when
   * the connection is closed instead of answered. Run it in {@link scope}.
   */
  readonly handle: (connId: number, request: Wire.Request | undefined) => Effect.Effect<Option.Option<Wire.Reply>>
  /** The scope the server's fibers live in (request handlers, lease timers). */
  readonly scope: Scope.Scope
  readonly stats: Effect.Effect<Stats.Stats>
  /** Ends every lease on `key` as if it had run out. Returns how many ended. */
  readonly expire: (key: string, kinds: ReadonlyArray<Kind>) => Effect.Effect<number>
  /** Releases every lease on `key` as if its token had been sent with `r`. Returns how many ended. */
  readonly releaseAll: (key: string, kinds: ReadonlyArray<Kind>) => Effect.Effect<number>
  /** A crash and instant restart: every connection breaks, all state is lost (fences keep increasing). */
  readonly crash: Effect.Effect<void>
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")

// ---------------------------------------------------------------------------
// waking fibers
// ---------------------------------------------------------------------------

/**
 * Wake-ups owed by committed transactions, of every in-memory server: a
 * waiter's outcome, a connection's end.
 *
 * A transaction that woke a fiber while it still held its server's permit
 * would have that fiber queue for the permit (to settle its own request), and
 * a released permit wakes its queue on a later turn of the scheduler: a grant
 * would reach its waiter a turn late, after a `TestClock.adjust` meant to
 * follow it. So the fibers are woken after the commit, from one loop: a woken
 * fiber runs on at once, and the wake-ups its own transactions owe join the
 * queue instead of starting a loop of their own. A chain of grants (each woken
 * waiter releasing to the next) thus completes in the same synchronous step as
 * the release that began it, at a constant stack depth however long it is.
 */
const wakeUps: Array<() => void> = []
let waking = false

const wakeAll = (): void => {
  if (waking) return // the loop further up the stack wakes these too
  waking = true
  let woken = 0
  try {
    // the queue grows while it is read: a woken fiber's transactions append to it
    while (woken < wakeUps.length) wakeUps[woken++]!()
  } finally {
    wakeUps.splice(0, woken)
    waking = false
  }
}

const wakeNow = Effect.sync(wakeAll)

/** Builds a server whose fibers live in the current scope. */
export const make = Effect.fnUntraced(function*(config: ServerConfig) {
  const scope: Scope.Scope = yield* Effect.scope
  const timers = yield* FiberMap.make<string>()
  const seed = yield* Clock.currentTimeNanos
  const ref = yield* SynchronizedRef.make<State>({
    lock: new Map(),
    semaphore: new Map(),
    conns: new Map(),
    nextConnId: 1,
    nextWaiterId: 1,
    fence: seed
  })

  // Wake-ups owed by the transaction in progress (it holds the ref's permit): queued for
  // `wakeAll` as its last step if it commits, dropped if it dies.
  let owed: Array<() => void> = []

  /** Completes `deferred` with `value` once the current transaction has committed (see {@link transact}). */
  const notify = <A>(deferred: Deferred.Deferred<A>, value: A): Effect.Effect<void> =>
    Effect.sync(() => {
      owed.push(() => Deferred.doneUnsafe(deferred, Exit.succeed(value)))
    })

  /**
   * One atomic state change, with the clock read once for it. The fibers it
   * wakes ({@link notify}: a granted waiter, a closed connection's watcher) are
   * woken once it has committed, with the permit free (see {@link wakeAll}).
   */
  const transact = <A>(f: (s: State, now: number) => Effect.Effect<readonly [A, State]>): Effect.Effect<A> =>
    Effect.uninterruptible(
      Effect.tap(
        SynchronizedRef.modifyEffect(
          ref,
          (s) => Effect.onExit(Effect.flatMap(Clock.currentTimeMillis, (now) => f(collect(s, now), now)), settle)
        ),
        wakeNow
      )
    )

  /** The last step of a transaction, still under the permit: what it owes is queued if it commits. */
  const settle = (exit: Exit.Exit<unknown>) =>
    Effect.sync(() => {
      if (Exit.isSuccess(exit)) {
        for (const wake of owed) wakeUps.push(wake)
      }
      owed = []
    })

  const pure = <A>(a: A, s: State) => Effect.succeed([a, s] as const)

  // -- tokens ---------------------------------------------------------------

  const salt = Effect.map(
    Effect.all([Random.next, Random.next]),
    ([a, b]) => hex(Math.floor(a * 0x1_0000_0000), 8) + hex(Math.floor(b * 0x1_0000_0000), 8)
  )

  /** A v2.1 token: a strictly increasing 64-bit fence, then 16 random hex digits. */
  const mint = (s: State) =>
    Effect.map(salt, (random): readonly [string, State] => {
      const fence = (s.fence + 1n) & 0xffff_ffff_ffff_ffffn
      return [fence.toString(16).padStart(16, "0") + random, { ...s, fence }]
    })

  // -- leases ---------------------------------------------------------------

  /** Sleeps to the lease deadline, follows renewals, evicts the holder once the deadline has passed. */
  const leaseTimer = (kind: Kind, key: string, token: string, deadline: number): Effect.Effect<void> =>
    Effect.gen(function*() {
      let due = deadline
      while (true) {
        const now = yield* Clock.currentTimeMillis
        if (now < due) yield* Effect.sleep(Duration.millis(due - now))
        const next = yield* transact((s, at) => {
          const holder = entryOf(s, kind, key)?.holders.find((h) => h.token === token)
          if (holder === undefined) return pure(Option.none<number>(), s)
          if (holder.expiresAt > at) return pure(Option.some(holder.expiresAt), s)
          return Effect.map(evictExpired(s, kind, key, at), ([, next]) => [Option.none<number>(), next] as const)
        })
        if (Option.isNone(next)) return
        due = next.value
      }
    })

  // Forked from inside a transaction (uninterruptible): the timer itself must stay interruptible.
  const startTimer = (kind: Kind, key: string, token: string, deadline: number): Effect.Effect<void> =>
    Effect.asVoid(FiberMap.run(timers, token, Effect.interruptible(leaseTimer(kind, key, token, deadline))))

  const stopTimers = (tokens: ReadonlyArray<string>) =>
    Effect.forEach(tokens, (token) => FiberMap.remove(timers, token), { discard: true })

  // -- granting -------------------------------------------------------------

  /** Adds a holder (a fresh token) for `connId`; the caller stores the entry. */
  const grant = (
    s: State,
    kind: Kind,
    key: string,
    entry: Entry,
    connId: number,
    leaseSeconds: number,
    now: number
  ): Tx<string> =>
    Effect.gen(function*() {
      const [token, minted] = yield* mint(s)
      const holder: Holder = { token, connId, leaseSeconds, expiresAt: now + leaseSeconds * 1000 }
      yield* startTimer(kind, key, token, holder.expiresAt)
      const next: Entry = { ...entry, holders: [...entry.holders, holder], lastActivity: now }
      return [token, withEntry(minted, kind, key, next)] as const
    })

  /** Grants free slots to the head of the queue, strictly in order. */
  const grantNext = (s: State, kind: Kind, key: string, now: number): Effect.Effect<State> =>
    Effect.gen(function*() {
      let state = s
      while (true) {
        const entry = entryOf(state, kind, key)
        const waiter = entry?.waiters[0]
        if (entry === undefined || waiter === undefined || entry.holders.length >= entry.limit) return state
        const dequeued: Entry = { ...entry, waiters: entry.waiters.slice(1) }
        const [token, granted] = yield* grant(state, kind, key, dequeued, waiter.connId, waiter.leaseSeconds, now)
        state = granted
        // a two-phase waiter that has not sent `w` yet finds its grant there
        const conn = state.conns.get(waiter.connId)
        const k = enqueuedKey(kind, key)
        const enqueued = conn?.enqueued.get(k)
        if (conn !== undefined && enqueued !== undefined && enqueued.waiterId === waiter.id) {
          state = withConn(state, {
            ...conn,
            enqueued: setIn(conn.enqueued, k, { ...enqueued, waiterId: undefined, token })
          })
        }
        yield* notify(waiter.outcome, { _tag: "Granted", token })
      }
    })

  /** Removes the holders `which` selects, clears two-phase state pointing at them, grants the freed slots. */
  const endLeases = (
    s: State,
    kind: Kind,
    key: string,
    now: number,
    which: (h: Holder) => boolean
  ): Tx<ReadonlyArray<string>> =>
    Effect.gen(function*() {
      const entry = entryOf(s, kind, key)
      if (entry === undefined) return [[] as ReadonlyArray<string>, s] as const
      const ended = entry.holders.filter(which)
      if (ended.length === 0) return [[] as ReadonlyArray<string>, s] as const
      let state = withEntry(s, kind, key, {
        ...entry,
        holders: entry.holders.filter((h) => !which(h)),
        lastActivity: now
      })
      for (const h of ended) state = clearEnqueuedToken(state, h.connId, kind, key, h.token)
      state = yield* grantNext(state, kind, key, now)
      return [ended.map((h) => h.token), state] as const
    })

  const evictExpired = (s: State, kind: Kind, key: string, now: number): Tx<ReadonlyArray<string>> =>
    endLeases(s, kind, key, now, (h) => h.expiresAt <= now)

  type Admission =
    | { readonly _tag: "Granted"; readonly token: string }
    | { readonly _tag: "Refused"; readonly reply: Wire.Reply }
    | { readonly _tag: "Queued"; readonly waiter: Waiter }

  const refused = (reply: Wire.Reply): Admission => ({ _tag: "Refused", reply })

  /**
   * The first half of `l`/`sl`/`e`/`se`: grant at once if the key has a free slot
   * and nobody queued, else queue a waiter (`queue`), or refuse.
   */
  const admit = (
    s: State,
    now: number,
    connId: number,
    kind: Kind,
    key: string,
    limit: number,
    leaseSeconds: number,
    queue: boolean
  ) =>
    Effect.gen(function*() {
      if (entryOf(s, kind, key) === undefined && keyCount(s) >= config.maxLocks) {
        return [refused(Wire.failed("max_locks")), s] as const
      }
      const created = getOrCreate(s, kind, key, limit, now)
      if (Option.isNone(created)) return [refused(Wire.failed("limit_mismatch")), s] as const
      const [, swept] = yield* evictExpired(created.value, kind, key, now)
      const entry = entryOf(swept, kind, key)!
      if (entry.holders.length < entry.limit && entry.waiters.length === 0) {
        const [token, granted] = yield* grant(swept, kind, key, entry, connId, leaseSeconds, now)
        return [{ _tag: "Granted", token } as Admission, granted] as const
      }
      if (config.maxWaiters > 0 && entry.waiters.length >= config.maxWaiters) {
        return [refused(Wire.failed("max_waiters")), swept] as const
      }
      if (!queue) return [refused(Wire.timedOut), swept] as const
      const waiter: Waiter = {
        id: swept.nextWaiterId,
        connId,
        leaseSeconds,
        outcome: yield* Deferred.make<Outcome>()
      }
      const queued = withEntry({ ...swept, nextWaiterId: swept.nextWaiterId + 1 }, kind, key, {
        ...entry,
        waiters: [...entry.waiters, waiter]
      })
      return [{ _tag: "Queued", waiter } as Admission, queued] as const
    })

  /** A grant the client is about to be told of: its lease restarts now (or it has already ended). */
  const commit = (s: State, now: number, kind: Kind, key: string, token: string, leaseSeconds: number) => {
    const entry = entryOf(s, kind, key)
    const holder = entry?.holders.find((h) => h.token === token)
    if (entry === undefined || holder === undefined) return [Option.some(Wire.failed("lease_expired")), s] as const
    const renewed: Entry = {
      ...entry,
      lastActivity: now,
      holders: entry.holders.map((h) => h.token === token ? { ...h, expiresAt: now + leaseSeconds * 1000 } : h)
    }
    return [
      Option.some<Wire.Reply>({ _tag: "Granted", token, leaseSeconds }),
      withEntry(s, kind, key, renewed)
    ] as const
  }

  /**
   * Waits up to `timeoutSeconds` for a queued waiter's grant, then settles it in
   * one transaction, by the state: out of the queue (granted, possibly just as
   * the wait timed out) → commit; still queued → removed, `timeout`. `twoPhase`
   * also pops the enqueue state.
   */
  const awaitGrant = (
    connId: number,
    kind: Kind,
    key: string,
    waiter: Waiter,
    timeoutSeconds: number,
    twoPhase: boolean
  ) =>
    Effect.gen(function*() {
      if (timeoutSeconds > 0) {
        yield* Deferred.await(waiter.outcome).pipe(Effect.timeoutOption(Duration.seconds(timeoutSeconds)))
      }
      return yield* transact((s, now) =>
        Effect.gen(function*() {
          if (!s.conns.has(connId)) return [Option.none<Wire.Reply>(), s] as const
          const state = twoPhase ? clearEnqueued(s, connId, kind, key) : s
          const entry = entryOf(state, kind, key)
          if (entry !== undefined && entry.waiters.some((w) => w.id === waiter.id)) {
            const removed = withEntry(state, kind, key, {
              ...entry,
              waiters: entry.waiters.filter((w) => w.id !== waiter.id),
              lastActivity: now
            })
            return [Option.some(Wire.timedOut), removed] as const
          }
          // Out of the queue on an open connection: granted. The state says so; the token
          // comes with the wake-up the committed grant owes. That is queued for `wakeAll` at
          // the latest (its fiber may have yielded between its commit and `wakeAll`): woken
          // here, or by the loop further up the stack once this fiber waits.
          yield* wakeNow
          const outcome = yield* Deferred.await(waiter.outcome)
          if (outcome._tag === "Dropped") return [Option.none<Wire.Reply>(), state] as const
          return commit(state, now, kind, key, outcome.token, waiter.leaseSeconds)
        })
      )
    })

  // -- commands -------------------------------------------------------------

  const acquire = (
    connId: number,
    kind: Kind,
    key: string,
    timeoutSeconds: number,
    limit: number,
    lease: number | undefined
  ): Effect.Effect<Option.Option<Wire.Reply>> =>
    Effect.gen(function*() {
      const leaseSeconds = lease ?? config.defaultLeaseSeconds
      const admission = yield* transact((s, now) =>
        s.conns.has(connId)
          ? Effect.map(
            admit(s, now, connId, kind, key, limit, leaseSeconds, timeoutSeconds > 0),
            ([a, next]) => [Option.some(a), next] as const
          )
          : pure(Option.none<Admission>(), s)
      )
      if (Option.isNone(admission)) return Option.none<Wire.Reply>()
      const a = admission.value
      switch (a._tag) {
        case "Granted":
          return Option.some<Wire.Reply>({ _tag: "Granted", token: a.token, leaseSeconds })
        case "Refused":
          return Option.some(a.reply)
        case "Queued":
          return yield* awaitGrant(connId, kind, key, a.waiter, timeoutSeconds, false)
      }
    })

  const enqueue = (connId: number, kind: Kind, key: string, limit: number, lease: number | undefined) => {
    const leaseSeconds = lease ?? config.defaultLeaseSeconds
    return transact((s, now) =>
      Effect.gen(function*() {
        const conn = s.conns.get(connId)
        if (conn === undefined) return [Option.none<Wire.Reply>(), s] as const
        const k = enqueuedKey(kind, key)
        if (conn.enqueued.has(k)) return [Option.some(Wire.failed("already_enqueued")), s] as const
        const [a, next] = yield* admit(s, now, connId, kind, key, limit, leaseSeconds, true)
        if (a._tag === "Refused") return [Option.some(a.reply), next] as const
        const current = next.conns.get(connId)!
        const enqueued: Enqueued = a._tag === "Granted"
          ? { leaseSeconds, waiterId: undefined, token: a.token }
          : { leaseSeconds, waiterId: a.waiter.id, token: undefined }
        const state = withConn(next, { ...current, enqueued: setIn(current.enqueued, k, enqueued) })
        const reply: Wire.Reply = a._tag === "Granted"
          ? { _tag: "Acquired", token: a.token, leaseSeconds }
          : Wire.queued
        return [Option.some(reply), state] as const
      })
    )
  }

  const wait = (connId: number, kind: Kind, key: string, timeoutSeconds: number) =>
    Effect.gen(function*() {
      type Next =
        | { readonly _tag: "Reply"; readonly line: Option.Option<Wire.Reply> }
        | { readonly _tag: "Wait"; readonly waiter: Waiter }
      const next = yield* transact((s, now): Effect.Effect<readonly [Next, State]> => {
        const conn = s.conns.get(connId)
        if (conn === undefined) return pure({ _tag: "Reply", line: Option.none() }, s)
        const enqueued = conn.enqueued.get(enqueuedKey(kind, key))
        if (enqueued === undefined) return pure({ _tag: "Reply", line: Option.some(Wire.failed("not_enqueued")) }, s)
        if (enqueued.token !== undefined) {
          // granted since `e`: the lease restarts now, unless it already ran out
          const token = enqueued.token
          const state = clearEnqueued(s, connId, kind, key)
          return Effect.gen(function*() {
            const holder = entryOf(state, kind, key)?.holders.find((h) => h.token === token)
            if (holder !== undefined && holder.expiresAt <= now) {
              const [, evicted] = yield* evictExpired(state, kind, key, now)
              return [{ _tag: "Reply", line: Option.some(Wire.failed("lease_expired")) }, evicted] as const
            }
            const [line, committed] = commit(state, now, kind, key, token, enqueued.leaseSeconds)
            return [{ _tag: "Reply", line }, committed] as const
          })
        }
        const waiter = entryOf(s, kind, key)?.waiters.find((w) => w.id === enqueued.waiterId)
        if (waiter === undefined) {
          return pure(
            { _tag: "Reply", line: Option.some(Wire.failed("not_enqueued")) },
            clearEnqueued(s, connId, kind, key)
          )
        }
        return pure({ _tag: "Wait", waiter }, s)
      })
      if (next._tag === "Reply") return next.line
      return yield* awaitGrant(connId, kind, key, next.waiter, timeoutSeconds, true)
    })

  const release = (kind: Kind, key: string, token: string) =>
    Effect.flatMap(
      transact((s, now) => endLeases(s, kind, key, now, (h) => h.token === token)),
      (ended) => Effect.as(stopTimers(ended), Option.some(ended.length > 0 ? Wire.ok : Wire.failed("error")))
    )

  const renew = (kind: Kind, key: string, token: string, lease: number | undefined) => {
    const leaseSeconds = lease ?? config.defaultLeaseSeconds
    return transact((s, now) => {
      const entry = entryOf(s, kind, key)
      const holder = entry?.holders.find((h) => h.token === token)
      if (entry === undefined || holder === undefined) return pure(Option.some(Wire.failed("error")), s)
      if (holder.expiresAt <= now) {
        return Effect.map(
          evictExpired(s, kind, key, now),
          ([, next]) => [Option.some(Wire.failed("error")), next] as const
        )
      }
      const renewed: Entry = {
        ...entry,
        lastActivity: now,
        holders: entry.holders.map((h) => h.token === token ? { ...h, expiresAt: now + leaseSeconds * 1000 } : h)
      }
      return pure(Option.some<Wire.Reply>({ _tag: "Renewed", leaseSeconds }), withEntry(s, kind, key, renewed))
    })
  }

  const stats = transact((s, now) => pure(statsOf(s, now), s))

  // -- connections ----------------------------------------------------------

  const open = transact((s) =>
    Effect.map(Deferred.make<void>(), (closed) => {
      const conn: Conn = { id: s.nextConnId, authed: config.authToken === undefined, closed, enqueued: new Map() }
      return [
        { id: conn.id, closed } satisfies Session,
        withConn({ ...s, nextConnId: s.nextConnId + 1 }, conn)
      ] as const
    })
  )

  /** Forgets a connection: drops its waiters, releases its grants, signals `closed`. */
  const forget = (s: State, connId: number, now: number) =>
    Effect.gen(function*() {
      const conn = s.conns.get(connId)
      if (conn === undefined) return [[] as ReadonlyArray<string>, s] as const
      let state: State = { ...s, conns: setIn(s.conns, connId, undefined) }
      const ended: Array<string> = []
      for (const kind of ["lock", "semaphore"] as const) {
        for (const [key, entry] of state[kind]) {
          const dropped = entry.waiters.filter((w) => w.connId === connId)
          if (dropped.length === 0 && !entry.holders.some((h) => h.connId === connId)) continue
          for (const w of dropped) yield* notify<Outcome>(w.outcome, { _tag: "Dropped" })
          state = withEntry(state, kind, key, {
            ...entry,
            waiters: entry.waiters.filter((w) => w.connId !== connId),
            lastActivity: now
          })
          const [released, next] = yield* endLeases(state, kind, key, now, (h) => h.connId === connId)
          ended.push(...released)
          state = yield* grantNext(next, kind, key, now)
        }
      }
      yield* notify(conn.closed, undefined)
      return [ended as ReadonlyArray<string>, state] as const
    })

  const disconnect = (connId: number) => Effect.flatMap(transact((s, now) => forget(s, connId, now)), stopTimers)

  // -- requests -------------------------------------------------------------

  const error = Effect.succeed(Option.some(Wire.failed("error")))

  const dispatch = (connId: number, request: Wire.Request): Effect.Effect<Option.Option<Wire.Reply>> => {
    switch (request._tag) {
      case "Ping":
        return Effect.succeed(Option.some(Wire.ok))
      case "Auth":
        return error // already authenticated, or the server has no token
      case "Stats":
        return Effect.map(stats, (st) => Option.some<Wire.Reply>({ _tag: "Stats", json: JSON.stringify(st) }))
      case "Acquire":
        return acquire(connId, request.kind, request.key, request.timeoutSeconds, request.limit, request.leaseSeconds)
      case "Enqueue":
        return enqueue(connId, request.kind, request.key, request.limit, request.leaseSeconds)
      case "Wait":
        return wait(connId, request.kind, request.key, request.timeoutSeconds)
      case "Release":
        return release(request.kind, request.key, request.token)
      case "Renew":
        return renew(request.kind, request.key, request.token, request.leaseSeconds)
    }
  }

  /** Answers one request (`undefined`: a frame that did not parse); `None` when the connection is closed instead. */
  const handle = (connId: number, request: Wire.Request | undefined): Effect.Effect<Option.Option<Wire.Reply>> =>
    Effect.flatMap(SynchronizedRef.get(ref), (s) => {
      const conn = s.conns.get(connId)
      if (conn === undefined) return Effect.succeedNone
      if (conn.authed) return request === undefined ? error : dispatch(connId, request)
      const accepted = request?._tag === "Auth" && request.token.trim() === config.authToken
      if (!accepted) return Effect.as(disconnect(connId), Option.some<Wire.Reply>({ _tag: "AuthRejected" })) // then the server hangs up
      return transact((st) => {
        const current = st.conns.get(connId)
        return current === undefined
          ? pure(Option.none<Wire.Reply>(), st)
          : pure(Option.some(Wire.ok), withConn(st, { ...current, authed: true }))
      })
    })

  // -- test control ---------------------------------------------------------

  const endAll = (key: string, kinds: ReadonlyArray<Kind>, how: "expire" | "release") =>
    Effect.flatMap(
      transact((s, now) =>
        Effect.gen(function*() {
          let state = s
          const ended: Array<string> = []
          for (const kind of kinds) {
            const entry = entryOf(state, kind, key)
            if (entry === undefined) continue
            if (how === "expire") {
              // the lease ran out now: as the sweeper would see it
              state = withEntry(state, kind, key, {
                ...entry,
                holders: entry.holders.map((h) => ({ ...h, expiresAt: now }))
              })
            }
            const [tokens, next] = yield* endLeases(state, kind, key, now, () => true)
            ended.push(...tokens)
            state = next
          }
          return [ended as ReadonlyArray<string>, state] as const
        })
      ),
      (ended) => Effect.as(stopTimers(ended), ended.length)
    )

  const crash = Effect.flatMap(
    transact((s, now) =>
      Effect.gen(function*() {
        let state = s
        const ended: Array<string> = []
        for (const id of [...s.conns.keys()]) {
          const [released, next] = yield* forget(state, id, now)
          ended.push(...released)
          state = next
        }
        return [ended as ReadonlyArray<string>, { ...state, lock: new Map(), semaphore: new Map() }] as const
      })
    ),
    stopTimers
  )

  return {
    config,
    open,
    disconnect,
    handle,
    scope,
    stats,
    expire: (key, kinds) => endAll(key, kinds, "expire"),
    releaseAll: (key, kinds) => endAll(key, kinds, "release"),
    crash
  } satisfies MemoryEngine
})
