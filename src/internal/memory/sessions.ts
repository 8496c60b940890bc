/**
 * The in-memory server's connections: opening one, authenticating it, routing
 * its requests to the commands (`commands.ts`), and closing it. Closing
 * one drops its waiters and releases what it holds
 * (`--auto-release-on-disconnect`, the default).
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as SynchronizedRef from "effect/SynchronizedRef"
import { dispatch, error } from "./commands.ts"
import { endLeases, grantNext, stopTimers } from "./leases.ts"
import { type Conn, type Outcome, setIn, type State, withConn, withEntry } from "./state.ts"
import { notify, pure, type Server, transact } from "./tx.ts"
import * as Wire from "../protocol/serverCodec.ts"

/** What a connection sees of the server. */
export interface Session {
  readonly id: number
  readonly closed: Deferred.Deferred<void>
}

/** Registers a connection (authenticated already when the server has no token). */
export const open = (server: Server): Effect.Effect<Session> =>
  transact(server, (s) =>
    Effect.map(Deferred.make<void>(), (closed) => {
      const conn: Conn = {
        id: s.nextConnId,
        authed: server.config.authToken === undefined,
        closed,
        enqueued: new Map()
      }
      return [
        { id: conn.id, closed } satisfies Session,
        withConn({ ...s, nextConnId: s.nextConnId + 1 }, conn)
      ] as const
    }))

/**
 * Forgets a connection, as a step of a transaction: drops its waiters, releases
 * its grants, signals `closed`. Returns the ended tokens (for `stopTimers`).
 */
export const forget = (server: Server, s: State, connId: number, now: number) =>
  Effect.gen(function*() {
    const conn = s.conns.get(connId)
    if (conn === undefined) return [[] as ReadonlyArray<string>, s] as const
    let state: State = { ...s, conns: setIn(s.conns, connId, undefined) }
    const ended: Array<string> = []
    for (const kind of ["lock", "semaphore"] as const) {
      for (const [key, entry] of state[kind]) {
        const dropped = entry.waiters.filter((w) => w.connId === connId)
        if (dropped.length === 0 && !entry.holders.some((h) => h.connId === connId)) continue
        for (const w of dropped) yield* notify<Outcome>(server, w.outcome, { _tag: "Dropped" })
        state = withEntry(state, kind, key, {
          ...entry,
          waiters: entry.waiters.filter((w) => w.connId !== connId),
          lastActivity: now
        })
        const [released, next] = yield* endLeases(server, state, kind, key, now, (h) => h.connId === connId)
        ended.push(...released)
        state = yield* grantNext(server, next, kind, key, now)
      }
    }
    yield* notify(server, conn.closed, undefined)
    return [ended as ReadonlyArray<string>, state] as const
  })

/** The client hung up: drops the connection's waiters and releases what it holds. */
export const disconnect = (server: Server, connId: number): Effect.Effect<void> =>
  Effect.flatMap(transact(server, (s, now) => forget(server, s, connId, now)), (ended) => stopTimers(server, ended))

/**
 * Answers one request (`undefined`: a frame that did not parse); `None` when
 * the connection is closed instead. A connection that has not authenticated
 * may only send `auth` with the server's token: anything else is rejected and
 * the server hangs up.
 */
export const handle = (
  server: Server,
  connId: number,
  request: Wire.Request | undefined
): Effect.Effect<Option.Option<Wire.Reply>> =>
  Effect.flatMap(SynchronizedRef.get(server.ref), (s) => {
    const conn = s.conns.get(connId)
    if (conn === undefined) return Effect.succeedNone
    if (conn.authed) return request === undefined ? error : dispatch(server, connId, request)
    const accepted = request?._tag === "Auth" && request.token.trim() === server.config.authToken
    if (!accepted) return Effect.as(disconnect(server, connId), Option.some<Wire.Reply>({ _tag: "AuthRejected" })) // then the server hangs up
    return transact(server, (st) => {
      const current = st.conns.get(connId)
      return current === undefined
        ? pure(Option.none<Wire.Reply>(), st)
        : pure(Option.some(Wire.ok), withConn(st, { ...current, authed: true }))
    })
  })
