/**
 * effect-dflockd: the Effect-native client for dflockd.
 *
 * @since 0.1.0
 */

/**
 * The client service, its layers and `stats`.
 *
 * @since 0.1.0
 */
export * as DflockdClient from "./DflockdClient.ts"

/**
 * Scoped distributed locks.
 *
 * @since 0.1.0
 */
export * as Lock from "./Lock.ts"

/**
 * Leader election on a lock.
 *
 * @since 0.1.0
 */
export * as Election from "./Election.ts"

/**
 * Scoped distributed semaphore permits.
 *
 * @since 0.1.0
 */
export * as Semaphore from "./Semaphore.ts"

/**
 * An in-memory dflockd for testing code that uses this client.
 *
 * @since 0.1.0
 */
export * as Memory from "./Memory.ts"

/**
 * Server addresses (`host:port`, IPv6 in brackets) and the default server.
 *
 * @since 0.1.0
 */
export * as ServerAddress from "./ServerAddress.ts"

/**
 * The transport seam: what a dialer returns, and the connections built on it.
 *
 * @since 0.1.0
 */
export * as Transport from "./Transport.ts"

/**
 * What locks and semaphore permits share: the lease, acquisition options, tickets.
 *
 * @since 0.1.0
 */
export * as Lease from "./Lease.ts"

/**
 * CRC-32 key routing shared with the official clients.
 *
 * @since 0.1.0
 */
export * as Sharding from "./Sharding.ts"

/**
 * Server statistics schema.
 *
 * @since 0.1.0
 */
export * as Stats from "./Stats.ts"

/**
 * Tokens and fencing.
 *
 * @since 0.1.0
 */
export * as Token from "./Token.ts"

/**
 * Typed errors, their union `DflockdError` and its guard.
 *
 * @since 0.1.0
 */
export * from "./Errors.ts"
