/**
 * Shard keys across several independent dflockd servers. Every key lives on
 * exactly one server, chosen by the rule all official dflockd clients share:
 * CRC-32 of the key's UTF-8 bytes modulo the number of servers. So a Go, Python
 * and TypeScript process given the same server list agree on where a key lives.
 *
 * Servers come from DFLOCKD_SERVERS (`npm run example` starts three).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Lock, Sharding } from "effect-dflockd"
import { servers } from "./_servers.ts"

const keys = ["orders", "invoices", "users/42", "café", "日本語", "🔒", "reports/2026-05", "a"]

const program = Effect.gen(function*() {
  yield* Effect.log(`${servers.length} servers: ${servers.join(", ")}`)
  // Hold every key at once: each lock owns a connection to the server its key routes to.
  const locks = yield* Effect.forEach(keys, (key) => Lock.acquire(key, { acquireTimeout: "5 seconds" }), {
    concurrency: "unbounded"
  })
  for (const lock of locks) {
    const index = Sharding.stableHashShard(lock.key, servers.length)
    yield* Effect.log(`${JSON.stringify(lock.key).padEnd(18)} → server #${index} ${lock.server}`)
  }
}).pipe(
  Effect.scoped, // every lock is released here
  Effect.andThen(Effect.log("all released")),
  Effect.provide(DflockdClient.layer({ servers }))
)

// A routing rule of your own replaces CRC-32; it must return an index in [0, serverCount)
// (anything else fails the acquire with InvalidArgumentError).
const custom = Effect.gen(function*() {
  const lock = yield* Lock.acquire("eu/orders")
  yield* Effect.log(`custom rule: "eu/orders" → ${lock.server} (the first server holds every eu/ key)`)
}).pipe(
  Effect.scoped,
  Effect.provide(DflockdClient.layer({
    servers,
    sharding: (key, serverCount) => key.startsWith("eu/") ? 0 : Sharding.stableHashShard(key, serverCount)
  }))
)

NodeRuntime.runMain(Effect.andThen(program, custom))
