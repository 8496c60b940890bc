/**
 * The server's `stats` reply, decoded with Schema. Needs dflockd 1.4 or newer.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A lock key the server tracks. `ownerConnId` is 0 for an unheld key with
 * waiters; late v2 servers use 64-bit connection ids, so treat it as approximate.
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
 * @since 0.1.0
 * @category models
 */
export type Stats = typeof Stats.Type

/**
 * The stats of one server, with its address.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerStats {
  readonly server: string
  readonly stats: Stats
}
