/**
 * The in-memory server's holders and their leases, on the lock and semaphore
 * tables: minting tokens, granting a slot (at once, or to the head of a key's
 * FIFO queue once a slot frees), lease timers, and ending leases (release,
 * expiry, a closed connection), which grants the freed slots.
 *
 * Lease timers: one fiber per grant, in the server's `FiberMap` keyed by token,
 * sleeps (by `Clock`) until the lease deadline, re-reads it (renewals move it)
 * and evicts the holder once it has passed, granting the next waiter. Every
 * operation on a key also evicts expired holders first (as the real server
 * does lazily on acquire), so timing never depends on which fiber runs first.
 *
 * These functions are steps of a transaction (`tx.ts`): they take the
 * state and return the next one; only {@link leaseTimer} runs its own.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import {
  clearEnqueuedToken,
  enqueuedKey,
  type Entry,
  entryOf,
  type Holder,
  type Kind,
  setIn,
  type State,
  type Tx,
  withConn,
  withEntry
} from "./state.ts"
import { notify, pure, type Server, transact } from "./tx.ts"
import * as Wire from "../protocol/serverCodec.ts"

// ---------------------------------------------------------------------------
// tokens
// ---------------------------------------------------------------------------

const hex = (n: number, width: number) => n.toString(16).padStart(width, "0")

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

// ---------------------------------------------------------------------------
// lease timers
// ---------------------------------------------------------------------------

/** Sleeps to the lease deadline, follows renewals, evicts the holder once the deadline has passed. */
const leaseTimer = (server: Server, kind: Kind, key: string, token: string, deadline: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    let due = deadline
    while (true) {
      const now = yield* Clock.currentTimeMillis
      if (now < due) yield* Effect.sleep(Duration.millis(due - now))
      const next = yield* transact(server, (s, at) => {
        const holder = entryOf(s, kind, key)?.holders.find((h) => h.token === token)
        if (holder === undefined) return pure(Option.none<number>(), s)
        if (holder.expiresAt > at) return pure(Option.some(holder.expiresAt), s)
        return Effect.map(
          evictExpired(server, s, kind, key, at),
          ([, next]) => [Option.none<number>(), next] as const
        )
      })
      if (Option.isNone(next)) return
      due = next.value
    }
  })

// Forked from inside a transaction (uninterruptible): the timer itself must stay interruptible.
const startTimer = (server: Server, kind: Kind, key: string, token: string, deadline: number): Effect.Effect<void> =>
  Effect.asVoid(
    FiberMap.run(server.timers, token, Effect.interruptible(leaseTimer(server, kind, key, token, deadline)))
  )

/** Stops the timers of leases that have ended (run after their transaction). */
export const stopTimers = (server: Server, tokens: ReadonlyArray<string>) =>
  Effect.forEach(tokens, (token) => FiberMap.remove(server.timers, token), { discard: true })

// ---------------------------------------------------------------------------
// granting
// ---------------------------------------------------------------------------

/** Adds a holder (a fresh token, its lease timer started) for `connId`; the caller stores the entry. */
export const grant = (
  server: Server,
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
    yield* startTimer(server, kind, key, token, holder.expiresAt)
    const next: Entry = { ...entry, holders: [...entry.holders, holder], lastActivity: now }
    return [token, withEntry(minted, kind, key, next)] as const
  })

/**
 * Grants free slots to the head of the queue, strictly in order. A granted
 * waiter is woken after the commit; a two-phase waiter that has not sent `w`
 * yet also finds its token in its connection's enqueue state.
 */
export const grantNext = (server: Server, s: State, kind: Kind, key: string, now: number): Effect.Effect<State> =>
  Effect.gen(function*() {
    let state = s
    while (true) {
      const entry = entryOf(state, kind, key)
      const waiter = entry?.waiters[0]
      if (entry === undefined || waiter === undefined || entry.holders.length >= entry.limit) return state
      const dequeued: Entry = { ...entry, waiters: entry.waiters.slice(1) }
      const [token, granted] = yield* grant(server, state, kind, key, dequeued, waiter.connId, waiter.leaseSeconds, now)
      state = recordTwoPhaseGrant(granted, kind, key, waiter.connId, waiter.id, token)
      yield* notify(server, waiter.outcome, { _tag: "Granted", token })
    }
  })

/** A two-phase waiter (`e`) that has not sent `w` yet finds its grant in its connection's enqueue state. */
const recordTwoPhaseGrant = (
  s: State,
  kind: Kind,
  key: string,
  connId: number,
  waiterId: number,
  token: string
): State => {
  const conn = s.conns.get(connId)
  const k = enqueuedKey(kind, key)
  const enqueued = conn?.enqueued.get(k)
  if (conn === undefined || enqueued === undefined || enqueued.waiterId !== waiterId) return s
  return withConn(s, { ...conn, enqueued: setIn(conn.enqueued, k, { ...enqueued, waiterId: undefined, token }) })
}

/**
 * A grant the client is about to be told of: its lease restarts now, or
 * `lease_expired` when it has already ended.
 */
export const confirmGrant = (s: State, now: number, kind: Kind, key: string, token: string, leaseSeconds: number) => {
  const entry = entryOf(s, kind, key)
  const holder = entry?.holders.find((h) => h.token === token)
  if (entry === undefined || holder === undefined) return [Option.some(Wire.failed("lease_expired")), s] as const
  return [
    Option.some<Wire.Reply>({ _tag: "Granted", token, leaseSeconds }),
    withEntry(s, kind, key, restartLease(entry, token, now, leaseSeconds))
  ] as const
}

/** The entry with `token`'s lease restarted at `now` (a confirmed grant, a renewal). */
export const restartLease = (entry: Entry, token: string, now: number, leaseSeconds: number): Entry => ({
  ...entry,
  lastActivity: now,
  holders: entry.holders.map((h) => h.token === token ? { ...h, expiresAt: now + leaseSeconds * 1000 } : h)
})

// ---------------------------------------------------------------------------
// ending leases
// ---------------------------------------------------------------------------

/**
 * Removes the holders `which` selects, clears two-phase state pointing at them,
 * grants the freed slots. Returns the ended tokens (for {@link stopTimers}).
 */
export const endLeases = (
  server: Server,
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
    state = yield* grantNext(server, state, kind, key, now)
    return [ended.map((h) => h.token), state] as const
  })

/** Ends the leases on `key` whose deadline has passed. */
export const evictExpired = (
  server: Server,
  s: State,
  kind: Kind,
  key: string,
  now: number
): Tx<ReadonlyArray<string>> => endLeases(server, s, kind, key, now, (h) => h.expiresAt <= now)
