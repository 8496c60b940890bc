/**
 * The in-memory server's commands, one function each, over typed requests
 * (`../protocol/serverCodec.ts`): `l`/`sl` ({@link acquire}), `e`/`se` ({@link enqueue}),
 * `w`/`sw` ({@link wait}), `r`/`sr` ({@link release}), `n`/`sn`
 * ({@link renew}), `stats` and `ping`. A `None` reply: the connection closed
 * instead of being answered.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Stats from "../protocol/stats.ts"
import { confirmGrant, endLeases, evictExpired, restartLease, stopTimers } from "./leases.ts"
import { type Admission, admit, awaitGrant } from "./queues.ts"
import {
  clearEnqueued,
  type Enqueued,
  enqueuedKey,
  entryOf,
  type Kind,
  setIn,
  type State,
  statsOf,
  type Waiter,
  withConn,
  withEntry
} from "./state.ts"
import { pure, type Server, transact } from "./tx.ts"
import * as Wire from "../protocol/serverCodec.ts"

/** `l`/`sl`: a slot now, or once granted within `timeoutSeconds` (0: now or `timeout`). */
const acquire = (
  server: Server,
  connId: number,
  kind: Kind,
  key: string,
  timeoutSeconds: number,
  limit: number,
  lease: number | undefined
): Effect.Effect<Option.Option<Wire.Reply>> =>
  Effect.gen(function*() {
    const leaseSeconds = lease ?? server.config.defaultLeaseSeconds
    const admission = yield* transact(server, (s, now) =>
      s.conns.has(connId)
        ? Effect.map(
          admit(server, s, now, connId, kind, key, limit, leaseSeconds, timeoutSeconds > 0),
          ([a, next]) => [Option.some(a), next] as const
        )
        : pure(Option.none<Admission>(), s))
    if (Option.isNone(admission)) return Option.none<Wire.Reply>()
    const a = admission.value
    switch (a._tag) {
      case "Granted":
        return Option.some<Wire.Reply>({ _tag: "Granted", token: a.token, leaseSeconds })
      case "Refused":
        return Option.some(a.reply)
      case "Queued":
        return yield* awaitGrant(server, connId, kind, key, a.waiter, timeoutSeconds, false)
    }
  })

/** `e`/`se`: the first phase of a two-phase acquire, answered at once (`acquired` or `queued`). */
const enqueue = (server: Server, connId: number, kind: Kind, key: string, limit: number, lease: number | undefined) => {
  const leaseSeconds = lease ?? server.config.defaultLeaseSeconds
  return transact(server, (s, now) =>
    Effect.gen(function*() {
      const conn = s.conns.get(connId)
      if (conn === undefined) return [Option.none<Wire.Reply>(), s] as const
      const k = enqueuedKey(kind, key)
      if (conn.enqueued.has(k)) return [Option.some(Wire.failed("already_enqueued")), s] as const
      const [a, next] = yield* admit(server, s, now, connId, kind, key, limit, leaseSeconds, true)
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
    }))
}

/** What `w` does once it has read its enqueue state: reply now, or wait for the queued waiter's grant. */
type WaitStep =
  | { readonly _tag: "Reply"; readonly line: Option.Option<Wire.Reply> }
  | { readonly _tag: "Wait"; readonly waiter: Waiter }

/** `w`/`sw`: the second phase of a two-phase acquire. */
const wait = (server: Server, connId: number, kind: Kind, key: string, timeoutSeconds: number) =>
  Effect.gen(function*() {
    const next = yield* transact(server, (s, now): Effect.Effect<readonly [WaitStep, State]> => {
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
            const [, evicted] = yield* evictExpired(server, state, kind, key, now)
            return [{ _tag: "Reply", line: Option.some(Wire.failed("lease_expired")) }, evicted] as const
          }
          const [line, confirmed] = confirmGrant(state, now, kind, key, token, enqueued.leaseSeconds)
          return [{ _tag: "Reply", line }, confirmed] as const
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
    return yield* awaitGrant(server, connId, kind, key, next.waiter, timeoutSeconds, true)
  })

/** `r`/`sr`: ends the lease `token` holds, granting its slot to the next waiter. */
const release = (server: Server, kind: Kind, key: string, token: string) =>
  Effect.flatMap(
    transact(server, (s, now) => endLeases(server, s, kind, key, now, (h) => h.token === token)),
    (ended) => Effect.as(stopTimers(server, ended), Option.some(ended.length > 0 ? Wire.ok : Wire.failed("error")))
  )

/** `n`/`sn`: restarts the lease `token` holds, unless it already ran out. */
const renew = (server: Server, kind: Kind, key: string, token: string, lease: number | undefined) => {
  const leaseSeconds = lease ?? server.config.defaultLeaseSeconds
  return transact(server, (s, now) => {
    const entry = entryOf(s, kind, key)
    const holder = entry?.holders.find((h) => h.token === token)
    if (entry === undefined || holder === undefined) return pure(Option.some(Wire.failed("error")), s)
    if (holder.expiresAt <= now) {
      return Effect.map(
        evictExpired(server, s, kind, key, now),
        ([, next]) => [Option.some(Wire.failed("error")), next] as const
      )
    }
    return pure(
      Option.some<Wire.Reply>({ _tag: "Renewed", leaseSeconds }),
      withEntry(s, kind, key, restartLease(entry, token, now, leaseSeconds))
    )
  })
}

/** `stats`: the server's keys, holders and waiters, as the real server reports them. */
export const stats = (server: Server): Effect.Effect<Stats.Stats> =>
  transact(server, (s, now) => pure(statsOf(s, now), s))

/** The reply to anything the server does not accept. */
export const error = Effect.succeed(Option.some(Wire.failed("error")))

/** Answers one request of an authenticated connection. */
export const dispatch = (
  server: Server,
  connId: number,
  request: Wire.Request
): Effect.Effect<Option.Option<Wire.Reply>> => {
  switch (request._tag) {
    case "Ping":
      return Effect.succeed(Option.some(Wire.ok))
    case "Auth":
      return error // already authenticated, or the server has no token
    case "Stats":
      return Effect.map(stats(server), (st) => Option.some<Wire.Reply>({ _tag: "Stats", json: JSON.stringify(st) }))
    case "Acquire":
      return acquire(
        server,
        connId,
        request.kind,
        request.key,
        request.timeoutSeconds,
        request.limit,
        request.leaseSeconds
      )
    case "Enqueue":
      return enqueue(server, connId, request.kind, request.key, request.limit, request.leaseSeconds)
    case "Wait":
      return wait(server, connId, request.kind, request.key, request.timeoutSeconds)
    case "Release":
      return release(server, request.kind, request.key, request.token)
    case "Renew":
      return renew(server, request.kind, request.key, request.token, request.leaseSeconds)
  }
}
