/**
 * Key → server routing, CRC-32 as the official clients (the public `Sharding`
 * module re-exports it).
 */
import * as Result from "effect/Result"
import { InvalidArgumentError } from "../errors/errors.ts"
import { show } from "../util/show.ts"

/**
 * Chooses the index of the server that owns a key, given the number of servers.
 *
 * **Example** (Keeping each tenant's keys on one server)
 *
 * ```ts
 * import { DflockdClient, Sharding } from "effect-dflockd"
 *
 * const byTenant: Sharding.Strategy = (key, serverCount) => {
 *   const tenant = /^tenant:(\d+):/.exec(key)?.[1]
 *   return tenant === undefined ? Sharding.stableHashShard(key, serverCount) : Number(tenant) % serverCount
 * }
 *
 * const Live = DflockdClient.layer({ servers: ["10.0.0.1:6388", "10.0.0.2:6388"], sharding: byTenant })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Strategy = (key: string, serverCount: number) => number

const table: Uint32Array = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

const encoder = new TextEncoder()

/**
 * CRC-32 (IEEE 802.3, the zlib one) of bytes, as an unsigned 32-bit integer.
 *
 * **Example** (The check value)
 *
 * ```ts
 * import { Sharding } from "effect-dflockd"
 *
 * Sharding.crc32(new TextEncoder().encode("123456789")) // 0xcbf43926
 * ```
 *
 * @since 0.1.0
 * @category hashing
 */
export const crc32 = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (let i = 0; i < bytes.length; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/**
 * The official clients' rule: CRC-32 of the key's UTF-8 bytes modulo the server count.
 *
 * **Example** (Routing a key among three servers)
 *
 * ```ts
 * import { Sharding } from "effect-dflockd"
 *
 * Sharding.stableHashShard("my-key", 3) // 2
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export const stableHashShard: Strategy = (key, serverCount) => crc32(encoder.encode(key)) % serverCount

/**
 * Applies a strategy with the checks every caller needs: a non-empty key, at least
 * one server, and an index within range.
 *
 * **Example** (Finding the server of a key)
 *
 * ```ts
 * import { Result } from "effect"
 * import { Sharding } from "effect-dflockd"
 *
 * const servers = ["10.0.0.1:6388", "10.0.0.2:6388", "10.0.0.3:6388"]
 * const owner = Result.map(Sharding.pick(Sharding.stableHashShard, "my-key", servers.length), (i) => servers[i])
 * // Result.succeed("10.0.0.3:6388")
 * ```
 *
 * @since 0.1.0
 * @category strategies
 */
export const pick = (
  strategy: Strategy,
  key: string,
  serverCount: number
): Result.Result<number, InvalidArgumentError> => {
  if (key.length === 0) {
    return Result.fail(
      new InvalidArgumentError({ argument: "key", value: show(key), detail: "must be a non-empty string" })
    )
  }
  if (!Number.isInteger(serverCount) || serverCount <= 0) {
    return Result.fail(
      new InvalidArgumentError({
        argument: "servers",
        value: `${show(serverCount)} server(s)`,
        detail: "at least one server is needed"
      })
    )
  }
  const index = strategy(key, serverCount)
  return Number.isInteger(index) && index >= 0 && index < serverCount
    ? Result.succeed(index)
    : Result.fail(
      new InvalidArgumentError({
        argument: "sharding",
        value: show(index),
        detail: `the strategy must return an integer from 0 to ${serverCount - 1} (for ${serverCount} servers)`
      })
    )
}
