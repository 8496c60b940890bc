/**
 * Five workers contend for one key; the server grants it in the order they
 * queued (strict FIFO per key).
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { server } from "./_servers.ts"

const worker = (id: number) =>
  Effect.gen(function*() {
    yield* Effect.log(`worker ${id}: acquired`)
    yield* Effect.sleep("100 millis")
    yield* Effect.log(`worker ${id}: releasing`)
  }).pipe(Lock.withLock("fifo-demo", { acquireTimeout: "30 seconds" }))

const program = Effect.gen(function*() {
  // start the workers 50 ms apart so they join the queue in order 1..5
  yield* Effect.forEach([1, 2, 3, 4, 5], (id) => Effect.delay(worker(id), `${(id - 1) * 50} millis`), {
    concurrency: "unbounded",
    discard: true
  })
}).pipe(Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
