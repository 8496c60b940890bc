/**
 * The server's `stats` reply, decoded with Schema. Needs dflockd 1.4 or newer.
 *
 * @since 0.1.0
 */
export { ClusterInfo, IdleInfo, LockInfo, SemaphoreInfo, type ServerStats, Stats } from "./internal/protocol/stats.ts"
