/**
 * The in-memory server's FIFO queues, seen from a request: admission (grant at
 * once, queue a waiter, or refuse) and waiting for a queued waiter's grant.
 * Grants down a queue, as slots free, are `grantNext` in `leases.ts`.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { confirmGrant, evictExpired, grant } from "./leases.ts"
import {
  clearEnqueued,
  entryOf,
  getOrCreate,
  keyCount,
  type Kind,
  type Outcome,
  type State,
  type Waiter,
  withEntry
} from "./state.ts"
import { type Server, transact, wakeNow } from "./tx.ts"
import * as Wire from "../protocol/serverCodec.ts"

/** How a request for a slot was received: a token now, a reply instead, or a place in the queue. */
export type Admission =
  | { readonly _tag: "Granted"; readonly token: string }
  | { readonly _tag: "Refused"; readonly reply: Wire.Reply }
  | { readonly _tag: "Queued"; readonly waiter: Waiter }

const refused = (reply: Wire.Reply): Admission => ({ _tag: "Refused", reply })

/**
 * The first half of `l`/`sl`/`e`/`se`: grant at once if the key has a free slot
 * and nobody queued, else queue a waiter (`queue`), or refuse.
 */
export const admit = (
  server: Server,
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
    const { config } = server
    if (entryOf(s, kind, key) === undefined && keyCount(s) >= config.maxLocks) {
      return [refused(Wire.failed("max_locks")), s] as const
    }
    const created = getOrCreate(s, kind, key, limit, now)
    if (Option.isNone(created)) return [refused(Wire.failed("limit_mismatch")), s] as const
    const [, swept] = yield* evictExpired(server, created.value, kind, key, now)
    const entry = entryOf(swept, kind, key)!
    if (entry.holders.length < entry.limit && entry.waiters.length === 0) {
      const [token, granted] = yield* grant(server, swept, kind, key, entry, connId, leaseSeconds, now)
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

/**
 * Waits up to `timeoutSeconds` for a queued waiter's grant, then settles it in
 * one transaction, by the state: out of the queue (granted, possibly just as
 * the wait timed out) → confirmed; still queued → removed, `timeout`.
 * `twoPhase` also pops the enqueue state.
 */
export const awaitGrant = (
  server: Server,
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
    return yield* transact(server, (s, now) =>
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
        return confirmGrant(state, now, kind, key, outcome.token, waiter.leaseSeconds)
      }))
  })
