/**
 * The server's `stats` reply as a Schema (the public `Stats` module re-exports
 * it).
 */
import * as Schema from "effect/Schema"

/**
 * A lock key the server tracks. `ownerConnId` is 0 for an unheld key with
 * waiters; late v2 servers use 64-bit connection ids, so treat it as approximate.
 *
 * **Example** (Listing contended keys)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient, type Stats } from "effect-dflockd"
 *
 * const contended = (lock: typeof Stats.LockInfo.Type): boolean => lock.waiters > 0
 *
 * const keys = DflockdClient.stats().pipe(
 *   Effect.map((all) => all.flatMap(({ stats }) => stats.locks.filter(contended).map((lock) => lock.key)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const LockInfo = Schema.Struct({
  key: Schema.String,
  owner_conn_id: Schema.Number,
  lease_expires_in_s: Schema.Number,
  waiters: Schema.Number
})

/**
 * A semaphore key the server tracks: its `limit`, how many permits are held
 * (`holders`) and how many clients wait for one (`waiters`).
 *
 * **Example** (Finding full semaphores)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient, type Stats } from "effect-dflockd"
 *
 * const isFull = (semaphore: typeof Stats.SemaphoreInfo.Type): boolean => semaphore.holders >= semaphore.limit
 *
 * const full = DflockdClient.stats().pipe(
 *   Effect.map((all) => all.flatMap(({ stats }) => stats.semaphores.filter(isFull).map((s) => s.key)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const SemaphoreInfo = Schema.Struct({
  key: Schema.String,
  limit: Schema.Number,
  holders: Schema.Number,
  waiters: Schema.Number
})

/**
 * A key with no holder and no waiter that the server still tracks, and for how
 * many seconds it has been idle (`idle_s`).
 *
 * **Example** (Decoding an entry)
 *
 * ```ts
 * import { Schema } from "effect"
 * import { Stats } from "effect-dflockd"
 *
 * const idle = Schema.decodeUnknownSync(Stats.IdleInfo)({ key: "orders", idle_s: 42 })
 * console.log(`${idle.key} idle for ${idle.idle_s} s`)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const IdleInfo = Schema.Struct({
  key: Schema.String,
  idle_s: Schema.Number
})

/**
 * Cluster view of the answering node (v2 cluster mode only).
 *
 * **Example** (The role of each server)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const roles = DflockdClient.stats().pipe(
 *   Effect.map((all) =>
 *     all.map(({ server, stats }) =>
 *       stats.cluster === undefined
 *         ? `${server}: standalone`
 *         : `${server}: ${stats.cluster.role}, term ${stats.cluster.term}`
 *     )
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const ClusterInfo = Schema.Struct({
  node_id: Schema.String,
  role: Schema.String,
  term: Schema.Number,
  leader_id: Schema.optional(Schema.String),
  leader_addr: Schema.optional(Schema.String)
})

/**
 * One server's statistics. Arrays the server omits decode as empty.
 *
 * **Example** (Counting held locks)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const held = DflockdClient.stats().pipe(
 *   Effect.map((all) => all.reduce((n, s) => n + s.stats.locks.filter((l) => l.owner_conn_id !== 0).length, 0))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const Stats = Schema.Struct({
  connections: Schema.Number,
  locks: Schema.Array(LockInfo),
  semaphores: Schema.Array(SemaphoreInfo),
  idle_locks: Schema.optional(Schema.Array(IdleInfo)),
  idle_semaphores: Schema.optional(Schema.Array(IdleInfo)),
  cluster: Schema.optional(ClusterInfo)
})

/**
 * One server's decoded statistics: the type of the {@link Stats} schema.
 *
 * @since 0.1.0
 * @category models
 */
export type Stats = typeof Stats.Type

/**
 * The stats of one server, with its address.
 *
 * **Example** (A one-line summary per server)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient, type Stats } from "effect-dflockd"
 *
 * const summary = ({ server, stats }: Stats.ServerStats): string =>
 *   `${server}: ${stats.connections} connections, ${stats.locks.length} locks, ${stats.semaphores.length} semaphores`
 *
 * const program = DflockdClient.stats().pipe(
 *   Effect.flatMap((all) => Effect.forEach(all, (s) => Effect.log(summary(s))))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerStats {
  readonly server: string
  readonly stats: Stats
}
