/**
 * Every failure is a tagged error, handled with Effect.catchTag / catchTags.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { server } from "./_servers.ts"

const program = Effect.gen(function*() {
  // 1. the lock is busy: AcquireTimeoutError
  yield* Effect.gen(function*() {
    yield* Lock.acquire("busy-key") // held for this scope
    const message = yield* Effect.succeed("did the work").pipe(
      Lock.withLock("busy-key", { acquireTimeout: "1 second" }),
      Effect.catchTag("AcquireTimeoutError", (e) => Effect.succeed(`gave up waiting for ${e.key}`))
    )
    yield* Effect.log(message)
  }).pipe(Effect.scoped)

  // 2. bad input is refused before any I/O: InvalidArgumentError
  const invalid = yield* Lock.withLock(Effect.void, "no\nnewlines").pipe(
    Effect.as("accepted?"),
    Effect.catchTag("InvalidArgumentError", (e) => Effect.succeed(`refused: ${e.message}`))
  )
  yield* Effect.log(invalid)

  // 3. nothing listens there: ConnectionError (after the retry schedule)
  const unreachable = yield* Lock.withLock(Effect.void, "k").pipe(
    Effect.provide(DflockdClient.layer({ servers: ["127.0.0.1:1"], connectTimeout: "1 second" })),
    Effect.as("connected?"),
    Effect.catchTags({
      ConnectionError: (e) => Effect.succeed(`cannot reach ${e.server}`),
      AuthError: (e) => Effect.succeed(`rejected by ${e.server}`)
    })
  )
  yield* Effect.log(unreachable)
}).pipe(Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
