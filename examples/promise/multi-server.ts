/**
 * Several servers: each key lives on one of them, chosen by `stableHashShard`
 * (CRC-32 of the key modulo the number of servers, as in the other dflockd
 * clients) unless `shardingStrategy` says otherwise. `npm run example` starts
 * three servers; their addresses come from DFLOCKD_SERVERS.
 */
import { DistributedLock, stableHashShard } from "effect-dflockd/promise"
import { servers } from "./_servers.ts"

console.log(`servers: ${servers.map(([host, port]) => `${host}:${port}`).join(", ")}`)

const lock = new DistributedLock({ key: "my-resource", servers })
await lock.acquire()
const index = stableHashShard("my-resource", servers.length)
console.log(`"my-resource" -> server ${index} (${servers[index]?.join(":")}), token=${lock.token}`)
await lock.release()

for (const key of ["orders", "payments", "inventory", "emails", "reports", "users"]) {
  const shard = stableHashShard(key, servers.length)
  const keyLock = new DistributedLock({ key, servers })
  await keyLock.withLock(() => console.log(`"${key}" -> server ${shard}, held with token ${keyLock.token}`))
}

// A custom rule: everything on the first server.
const pinned = new DistributedLock({ key: "my-resource", servers, shardingStrategy: () => 0 })
await pinned.withLock(() => console.log(`shardingStrategy () => 0: "my-resource" held on ${servers[0]?.join(":")}`))
