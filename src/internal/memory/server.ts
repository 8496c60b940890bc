/**
 * The in-memory dflockd server behind `Memory.layer`: the protocol of dflockd
 * v1.14+ (separate lock and semaphore key spaces, `ping`) with v2.1 fence
 * tokens, run on `effect` primitives so `TestClock` drives its leases.
 *
 * This module builds a server ({@link make}) from its parts:
 *
 * - `state.ts`: the state, pure: immutable records of keys (holders,
 *   waiters) and connections. Idle keys are forgotten 60 s after their last
 *   use (`--gc-max-idle`), until then they keep their semaphore limit and
 *   count towards `max_locks`.
 * - `tx.ts`: transactions: one `SynchronizedRef` of that state per
 *   server; every change holds its permit, runs uninterruptibly, and wakes the
 *   fibers it owes (a waiter's grant, a connection's end) once it has
 *   committed, from one trampoline; nothing else mutates state.
 * - `leases.ts`: tokens, grants, lease timers (one fiber per grant, in a
 *   `FiberMap` keyed by token) and ending leases, which grants the next waiter.
 * - `queues.ts`: admission (grant, queue or refuse) and waiting for a
 *   queued waiter's grant.
 * - `commands.ts`: one function per command (`l`, `e`, `w`, `r`, `n`,
 *   their semaphore forms, `stats`, `ping`).
 * - `sessions.ts`: connections: open, authenticate, route requests,
 *   close (dropping their waiters and releasing what they hold).
 *
 * Requests arrive typed: `wire.ts` parses frames with the codec and
 * formats replies.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberMap from "effect/FiberMap"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type * as Stats from "../protocol/stats.ts"
import { stats } from "./commands.ts"
import { endLeases, stopTimers } from "./leases.ts"
import { disconnect, forget, handle, open, type Session } from "./sessions.ts"
import { entryOf, type Kind, type ServerConfig, type State, withEntry } from "./state.ts"
import { type Server, transact } from "./tx.ts"
import type * as Wire from "../protocol/serverCodec.ts"

export type { Session } from "./sessions.ts"

/** One in-memory server: typed requests in, typed replies out (`wire.ts` speaks the wire). */
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
  const server: Server = { config, ref, timers, owed: [] }
  return {
    config,
    open: open(server),
    disconnect: (connId) => disconnect(server, connId),
    handle: (connId, request) => handle(server, connId, request),
    scope,
    stats: stats(server),
    expire: (key, kinds) => endAll(server, key, kinds, "expire"),
    releaseAll: (key, kinds) => endAll(server, key, kinds, "release"),
    crash: crash(server)
  } satisfies MemoryEngine
})

// ---------------------------------------------------------------------------
// test control
// ---------------------------------------------------------------------------

/** Ends every lease on `key`, as if it had run out (`expire`) or been released. Returns how many ended. */
const endAll = (server: Server, key: string, kinds: ReadonlyArray<Kind>, how: "expire" | "release") =>
  Effect.flatMap(
    transact(server, (s, now) =>
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
          const [tokens, next] = yield* endLeases(server, state, kind, key, now, () => true)
          ended.push(...tokens)
          state = next
        }
        return [ended as ReadonlyArray<string>, state] as const
      })),
    (ended) => Effect.as(stopTimers(server, ended), ended.length)
  )

/** Forgets every connection and every key; the fence carries on. */
const crash = (server: Server) =>
  Effect.flatMap(
    transact(server, (s, now) =>
      Effect.gen(function*() {
        let state = s
        const ended: Array<string> = []
        for (const id of [...s.conns.keys()]) {
          const [released, next] = yield* forget(server, state, id, now)
          ended.push(...released)
          state = next
        }
        return [ended as ReadonlyArray<string>, { ...state, lock: new Map(), semaphore: new Map() }] as const
      })),
    (ended) => stopTimers(server, ended)
  )
