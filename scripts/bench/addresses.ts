/** Server addresses: `host:port` parsing, loopback test, and the client's routing of a key to a server. */
import * as Zlib from "node:zlib"
import { fail } from "./cli.ts"

export const isLoopback = (host: string) => host === "127.0.0.1" || host === "localhost" || host === "::1"

export const splitAddress = (address: string): { readonly host: string; readonly port: number } => {
  const colon = address.lastIndexOf(":")
  const port = Number(address.slice(colon + 1))
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) fail(`bad server address ${address}`)
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ""), port }
}

/** The same routing rule as the library and the official clients: crc32(key) mod n. */
export const shard = (key: string, servers: ReadonlyArray<string>) =>
  servers[Zlib.crc32(Buffer.from(key, "utf8")) % servers.length]!
