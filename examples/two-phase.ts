/**
 * Two-phase acquisition: join the queue (step 1), tell someone you are in line,
 * then wait for the grant (step 2). Here a holder keeps the lock for a moment,
 * so the ticket is "queued" and the notification happens before the grant.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Deferred, Effect, Fiber } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { server } from "./_servers.ts"

const program = Effect.gen(function*() {
  const holderReady = yield* Deferred.make<void>()
  const holder = yield* Effect.gen(function*() {
    yield* Effect.log("holder: holding the lock for 300 ms")
    yield* Deferred.succeed(holderReady, undefined)
    yield* Effect.sleep("300 millis")
  }).pipe(Lock.withLock("report", { acquireTimeout: "10 seconds" }), Effect.forkChild)
  yield* Deferred.await(holderReady)

  yield* Effect.gen(function*() {
    const ticket = yield* Lock.enqueue("report", { leaseTtl: "20 seconds" })
    yield* Effect.log(`step 1: enqueued, status=${ticket.status}`)
    yield* Effect.log("between the steps: notifying the scheduler that we are in line")
    const lock = yield* ticket.wait("10 seconds")
    yield* Effect.log(`step 2: granted token=${lock.token}`)
  }).pipe(Effect.scoped)

  yield* Fiber.join(holder)
}).pipe(Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
