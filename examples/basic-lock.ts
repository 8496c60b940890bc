/**
 * Acquire a lock in a scope, look at it, and release it when the scope closes.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { server } from "./_servers.ts"

const program = Effect.gen(function*() {
  const lock = yield* Lock.acquire("orders", { acquireTimeout: "10 seconds", leaseTtl: "20 seconds" })
  yield* Effect.log(
    `acquired key=${lock.key} token=${lock.token} lease=${Duration.format(lock.leaseTtl)} server=${lock.server}`
  )
  yield* Effect.log("working while the lease is renewed in the background...")
  yield* Effect.sleep("200 millis")
}).pipe(
  Effect.scoped, // the lock is released here
  Effect.andThen(Effect.log("released")),
  Effect.provide(DflockdClient.layer({ servers: [server] }))
)

NodeRuntime.runMain(program)
