/**
 * Leader election: three candidates, one leader at a time. Each leader works
 * for a while and steps down; the next candidate in line takes over. A leader
 * whose lease is lost would be interrupted and campaign again.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Election } from "effect-dflockd"
import { server } from "./_servers.ts"

const candidate = (name: string) =>
  Election.run("scheduler-leader", (term) =>
    Effect.gen(function*() {
      yield* Effect.log(`${name} is the leader (fence ${term.fence})`)
      yield* Effect.sleep("200 millis")
      yield* Effect.log(`${name} steps down`)
      return name
    }), { leaseTtl: "10 seconds" })

const program = Effect.forEach(["alpha", "beta", "gamma"], candidate, { concurrency: "unbounded" }).pipe(
  Effect.tap((order) => Effect.log(`leaders in turn: ${order.join(" → ")}`)),
  Effect.provide(DflockdClient.layer({ servers: [server] }))
)

NodeRuntime.runMain(program)
