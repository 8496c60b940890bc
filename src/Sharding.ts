/**
 * Key → server routing, interoperable with the official dflockd clients:
 * `crc32_ieee(utf8(key)) mod serverCount`.
 *
 * @since 0.1.0
 */
export { crc32, pick, stableHashShard, type Strategy } from "./internal/client/sharding.ts"
