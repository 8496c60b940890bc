/**
 * A critical region that FAILS when its lease is lost. Here another process
 * releases the lock with its token (as an operator or a lease expiry would take
 * it away); the next renewal is refused, the region is interrupted, and the
 * whole fails with LockLostError instead of running on unprotected.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Deferred, Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import * as Net from "node:net"
import { server } from "./_servers.ts"

/** Another process releases the lock: `r <key> <token>` on its own connection. */
const releaseFromElsewhere = (key: string, token: string) =>
  Effect.callback<void>((resume) => {
    const [host, port] = server.split(":")
    const socket = Net.createConnection({ host: host!, port: Number(port) }, () => {
      socket.write(`r\n${key}\n${token}\n`)
    })
    socket.once("data", () => {
      socket.destroy()
      resume(Effect.void)
    })
  })

const program = Effect.gen(function*() {
  const token = yield* Deferred.make<string>()
  const region = Effect.gen(function*() {
    const lock = yield* Lock.acquire("ledger", { leaseTtl: "2 seconds" })
    yield* Deferred.succeed(token, lock.token)
    yield* Effect.log("writing to the ledger... (for a long time)")
    const writing = Effect.never.pipe(Effect.onInterrupt(() => Effect.log("region interrupted: stopped writing")))
    return yield* Effect.raceFirst(writing, lock.lost)
  }).pipe(
    Effect.scoped,
    Effect.catchTag("LockLostError", (e) => Effect.log(`LockLostError: ${e.message}`))
  )
  yield* Effect.all([
    region,
    Effect.flatMap(Deferred.await(token), (t) => releaseFromElsewhere("ledger", t))
  ], { concurrency: "unbounded" })
}).pipe(Effect.provide(DflockdClient.layer({ servers: [server] })))

NodeRuntime.runMain(program)
