/**
 * Steering a held lease by hand: `Lock.remaining` tells how long the client
 * still counts the lease as held, `Lock.extend` asks the server for a new
 * lease now (a longer one for a job that turned out long), and `Lock.release`
 * lets the lock go before the scope ends (the scope's finalizer then does
 * nothing). Acquire timeouts are exact to the millisecond.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { server } from "./_servers.ts"

const program = Effect.gen(function*() {
  const lock = yield* Lock.acquire("migration", { leaseTtl: "10 seconds", acquireTimeout: "500 millis" })
  yield* Effect.log(`held: ${Duration.format(yield* Lock.remaining(lock))} left`)

  // the job needs longer than it asked for
  yield* Lock.extend(lock, "60 seconds")
  yield* Effect.log(
    `extended: ${Duration.format(yield* Lock.remaining(lock))} left (the read timeout bounds one exchange)`
  )

  // the part that needs the lock is done: let others in while this scope finishes its work
  yield* Lock.release(lock)
  yield* Effect.log(`released early: ${Duration.format(yield* Lock.remaining(lock))} left`)
  yield* Effect.log("uploading the results, without the lock")
}).pipe(Effect.scoped, Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
