/**
 * Where the Promise examples find dflockd, as `[host, port]` pairs like the
 * other dflockd clients take them: DFLOCKD_SERVERS (comma-separated host:port,
 * set by `npm run example` to the servers it starts), default 127.0.0.1:6388.
 */
import { servers as addresses } from "../_servers.ts"

const toPair = (address: string): [string, number] => {
  const colon = address.lastIndexOf(":")
  return [address.slice(0, colon).replace(/^\[|\]$/g, ""), Number(address.slice(colon + 1))]
}

/** Every configured server. */
export const servers: Array<[string, number]> = addresses.map(toPair)

/** The first server, for examples that need only one. */
export const server: [string, number] = servers[0] ?? ["127.0.0.1", 6388]

/** Resolves after `ms` milliseconds (stands in for real work). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
