/**
 * The in-memory server's state, pure: immutable records of keys (holders,
 * waiters), connections and their two-phase state, and the functions that
 * read and rebuild them. No effects here; `server.ts` applies them in
 * transactions.
 */
import type * as Deferred from "effect/Deferred"
import type * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Stats from "../protocol/stats.ts"
import type * as Codec from "../protocol/codec.ts"

/** Idle keys are forgotten after this long (the server's `--gc-max-idle` default). */
export const GC_MAX_IDLE_MILLIS = 60_000

export interface ServerConfig {
  /** `host:port` the client knows this server by. */
  readonly label: string
  readonly defaultLeaseSeconds: number
  readonly maxLocks: number
  /** Waiters per key; 0 = unlimited. */
  readonly maxWaiters: number
  readonly authToken: string | undefined
}

// ---------------------------------------------------------------------------
// state
// ---------------------------------------------------------------------------

export type Kind = Codec.Kind

export type Outcome =
  | { readonly _tag: "Granted"; readonly token: string }
  /** The waiter's connection closed. */
  | { readonly _tag: "Dropped" }

export interface Waiter {
  readonly id: number
  readonly connId: number
  readonly leaseSeconds: number
  readonly outcome: Deferred.Deferred<Outcome>
}

export interface Holder {
  readonly token: string
  readonly connId: number
  readonly leaseSeconds: number
  readonly expiresAt: number
}

export interface Entry {
  readonly limit: number
  readonly holders: ReadonlyArray<Holder>
  readonly waiters: ReadonlyArray<Waiter>
  readonly lastActivity: number
}

/** Two-phase state of one connection on one key: queued (`waiterId`) or granted (`token`). */
export interface Enqueued {
  readonly leaseSeconds: number
  readonly waiterId: number | undefined
  readonly token: string | undefined
}

export interface Conn {
  readonly id: number
  readonly authed: boolean
  /** Completed when the server closes (or forgets) the connection. */
  readonly closed: Deferred.Deferred<void>
  readonly enqueued: ReadonlyMap<string, Enqueued>
}

export interface State {
  readonly lock: ReadonlyMap<string, Entry>
  readonly semaphore: ReadonlyMap<string, Entry>
  readonly conns: ReadonlyMap<number, Conn>
  readonly nextConnId: number
  readonly nextWaiterId: number
  /** The last fence issued. */
  readonly fence: bigint
}

/** A state change: its result and the next state. */
export type Tx<A> = Effect.Effect<readonly [A, State]>

export const enqueuedKey = (kind: Kind, key: string) => `${kind}:${key}`

export const setIn = <K, V>(map: ReadonlyMap<K, V>, key: K, value: V | undefined): ReadonlyMap<K, V> => {
  const next = new Map(map)
  if (value === undefined) next.delete(key)
  else next.set(key, value)
  return next
}

export const entryOf = (s: State, kind: Kind, key: string): Entry | undefined => s[kind].get(key)

export const withEntry = (s: State, kind: Kind, key: string, entry: Entry | undefined): State =>
  kind === "lock" ? { ...s, lock: setIn(s.lock, key, entry) } : { ...s, semaphore: setIn(s.semaphore, key, entry) }

export const withConn = (s: State, conn: Conn): State => ({ ...s, conns: setIn(s.conns, conn.id, conn) })

export const isIdle = (e: Entry) => e.holders.length === 0 && e.waiters.length === 0

/** Forgets keys idle for {@link GC_MAX_IDLE_MILLIS}. */
export const collect = (s: State, now: number): State => {
  const keep = (space: ReadonlyMap<string, Entry>) =>
    new Map([...space].filter(([, e]) => !(isIdle(e) && now - e.lastActivity >= GC_MAX_IDLE_MILLIS)))
  return { ...s, lock: keep(s.lock), semaphore: keep(s.semaphore) }
}

/** Drops a connection's two-phase state on `key` when it refers to `token`. */
export const clearEnqueuedToken = (s: State, connId: number, kind: Kind, key: string, token: string): State => {
  const conn = s.conns.get(connId)
  const k = enqueuedKey(kind, key)
  if (conn === undefined || conn.enqueued.get(k)?.token !== token) return s
  return withConn(s, { ...conn, enqueued: setIn(conn.enqueued, k, undefined) })
}

export const clearEnqueued = (s: State, connId: number, kind: Kind, key: string): State => {
  const conn = s.conns.get(connId)
  if (conn === undefined) return s
  return withConn(s, { ...conn, enqueued: setIn(conn.enqueued, enqueuedKey(kind, key), undefined) })
}

/** The entry for `key`, created if new: `max_locks` counts every key, `limit_mismatch` guards a semaphore's limit. */
export const getOrCreate = (s: State, kind: Kind, key: string, limit: number, now: number) => {
  const existing = entryOf(s, kind, key)
  if (existing !== undefined) {
    return existing.limit === limit
      ? Option.some(withEntry(s, kind, key, { ...existing, lastActivity: now }))
      : Option.none<State>()
  }
  return Option.some(withEntry(s, kind, key, { limit, holders: [], waiters: [], lastActivity: now }))
}

export const keyCount = (s: State) => s.lock.size + s.semaphore.size

/** The `stats` reply of a server in this state. */
export const statsOf = (s: State, now: number): Stats.Stats => {
  const seconds = (millis: number) => Math.max(0, millis) / 1000
  const active = (space: ReadonlyMap<string, Entry>) => [...space].filter(([, e]) => !isIdle(e))
  const idle = (space: ReadonlyMap<string, Entry>) =>
    [...space].filter(([, e]) => isIdle(e)).map(([key, e]) => ({ key, idle_s: seconds(now - e.lastActivity) }))
  return {
    connections: s.conns.size,
    locks: active(s.lock).map(([key, e]) => ({
      key,
      owner_conn_id: e.holders[0]?.connId ?? 0,
      lease_expires_in_s: e.holders[0] === undefined ? 0 : seconds(e.holders[0].expiresAt - now),
      waiters: e.waiters.length
    })),
    semaphores: active(s.semaphore).map(([key, e]) => ({
      key,
      limit: e.limit,
      holders: e.holders.length,
      waiters: e.waiters.length
    })),
    idle_locks: idle(s.lock),
    idle_semaphores: idle(s.semaphore)
  }
}
