/**
 * A critical region: acquire, run, release — however the region ends. If the
 * lease were lost meanwhile, the region would be interrupted and the whole
 * would fail with LockLostError.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { server } from "./_servers.ts"

const chargeCustomer = Effect.gen(function*() {
  yield* Effect.log("charging customer 42 (no other process is doing this right now)")
  yield* Effect.sleep("100 millis")
  return "charged"
})

const program = Effect.gen(function*() {
  // data-last, in a pipe
  const first = yield* chargeCustomer.pipe(Lock.withLock("customer-42", { acquireTimeout: "10 seconds" }))
  // data-first
  const second = yield* Lock.withLock(chargeCustomer, "customer-42")
  yield* Effect.log(`results: ${first}, ${second}`)
}).pipe(Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
