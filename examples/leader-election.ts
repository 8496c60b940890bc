/**
 * Leader election: three candidates, one leader at a time. Each leader works
 * for a while and steps down; the next candidate in line takes over. A leader
 * whose lease is lost would be interrupted and campaign again, after a pause of
 * the `retry` schedule. A leader whose own work fails ends its election with
 * that error, whatever it is: here a timeout on another key, which is not taken
 * for a campaign that timed out.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Election, Lock } from "effect-dflockd"
import { server } from "./_servers.ts"

const candidate = (name: string) =>
  Election.run("scheduler-leader", (term) =>
    Effect.gen(function*() {
      yield* Effect.log(`${name} is the leader (fence ${term.fence})`)
      yield* Effect.sleep("200 millis")
      yield* Effect.log(`${name} steps down`)
      return name
    }), { leaseTtl: "10 seconds" })

// delta's work needs "report-ledger", which another process holds: its term fails, and so does its election
const delta = Election.run("scheduler-leader", (term) =>
  Effect.log(`delta is the leader (fence ${term.fence})`).pipe(
    Effect.andThen(Lock.withLock(Effect.log("writing the report"), "report-ledger", { acquireTimeout: "300 millis" }))
  ), { leaseTtl: "10 seconds" })

const program = Effect.gen(function*() {
  const order = yield* Effect.forEach(["alpha", "beta", "gamma"], candidate, { concurrency: "unbounded" })
  yield* Effect.log(`leaders in turn: ${order.join(" → ")}`)

  yield* Lock.acquire("report-ledger") // held elsewhere, as far as delta can tell
  const error = yield* Effect.flip(delta)
  yield* Effect.log(`delta's election ended with its own error: ${error._tag} (${error.message})`)
}).pipe(Effect.scoped, Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
