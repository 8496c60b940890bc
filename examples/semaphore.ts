/**
 * A semaphore with five concurrent holders: eight jobs, at most five at a time,
 * cluster-wide.
 *
 * Needs dflockd 1.2 or newer. The server pinned for this project's tests is
 * dflockd 0.5.0 (see docs/development.md, "Test server"), which has no semaphores: there the
 * program prints the typed error the server's refusal becomes.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Ref } from "effect"
import { DflockdClient, Semaphore } from "effect-dflockd"
import { server } from "./_servers.ts"

const program = Effect.gen(function*() {
  const running = yield* Ref.make(0)
  const job = (id: number) =>
    Effect.gen(function*() {
      const now = yield* Ref.updateAndGet(running, (n) => n + 1)
      yield* Effect.log(`job ${id} running (${now} of at most 5)`)
      yield* Effect.sleep("200 millis")
      yield* Ref.update(running, (n) => n - 1)
    }).pipe(Semaphore.withPermit("worker-pool", { limit: 5, acquireTimeout: "30 seconds" }))

  yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], job, { concurrency: "unbounded", discard: true })
}).pipe(
  Effect.catchTag(
    "ServerError",
    (e) => Effect.log(`the server refused the semaphore command (${e.reason}): it predates semaphores (dflockd < 1.2)`)
  ),
  Effect.provide(DflockdClient.layer({ servers: [server] }))
)

NodeRuntime.runMain(program)
