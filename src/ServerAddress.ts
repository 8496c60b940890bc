/**
 * Server addresses: `host:port` strings (IPv6 in brackets, `[::1]:7000`) or
 * `[host, port]` pairs, with ports from 1 to 65535. The one definition of the
 * rule and of the default server: `DflockdClient` options, `layerConfig`,
 * `dflock --servers`, `Memory` and the Promise API all read addresses here.
 *
 * @since 0.1.0
 */
export {
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_SERVER,
  FromString,
  ListFromString,
  parse,
  parseList,
  type ServerAddress,
  type ServerInput
} from "./internal/options/address.ts"
