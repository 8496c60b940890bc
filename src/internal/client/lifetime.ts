/**
 * How long the server keeps what a connection holds: a lease lasts its TTL, or
 * the server's read timeout if that is shorter (the server restarts its read
 * clock after each reply it writes, and frees a silent connection's locks when
 * it passes), less a safety margin. The leases' watchdog and the pool's idle
 * eviction both follow this rule. Times in milliseconds on the monotonic clock.
 */
import type * as Clock from "effect/Clock"

/** Safety margin before the deadline: a tenth of the lease, at most one second. */
export const marginFor = (leaseMillis: number): number => Math.min(leaseMillis / 10, 1000)

/**
 * How long a confirmed exchange keeps a lease: its lease, or the server's read
 * timeout if that is shorter (the server closes a connection it has read nothing
 * from for that long, and frees its locks, with no word to a partitioned client).
 */
export const lifetime = (leaseMillis: number, readTimeoutMillis: number): number =>
  Math.min(leaseMillis, readTimeoutMillis)

/** The time between renewals: as asked, but early enough for a renewal to be confirmed before the deadline. */
export const renewInterval = (lifeMillis: number, renewEvery: number): number =>
  Math.max(1, Math.min(renewEvery, lifeMillis - 2 * marginFor(lifeMillis)))

/** Milliseconds on the monotonic clock, for deadlines. */
export const monotonicMillis = (clock: Clock.Clock): number => Number(clock.monotonicTimeNanosUnsafe()) / 1e6
