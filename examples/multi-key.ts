/**
 * Several locks at once: a transfer needs both accounts. `Lock.withLocks`
 * takes every key or none, in one global order (sorted, whatever their
 * servers), so two processes locking the same accounts in opposite orders
 * never deadlock; `acquireTimeout` bounds the whole acquisition, and the loss
 * of any one lease interrupts the region. `Lock.acquireAll` is the scoped form.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { servers } from "./_servers.ts"

const transfer = (from: string, to: string, amount: number) =>
  Effect.log(`moving ${amount} from ${from} to ${to}: both accounts are ours`).pipe(
    Lock.withLocks([`account-${from}`, `account-${to}`], { acquireTimeout: "5 seconds" })
  )

const program = Effect.gen(function*() {
  // opposite orders, at the same time: no deadlock
  yield* Effect.all([transfer("7", "3", 10), transfer("3", "7", 5)], { concurrency: 2 })

  // the scoped form: the locks come back in the order asked, released with the scope
  yield* Effect.gen(function*() {
    const locks = yield* Lock.acquireAll(["account-3", "account-7"])
    yield* Effect.log(`holding ${locks.map((lock) => `${lock.key} (fence ${lock.fence})`).join(" and ")}`)
  }).pipe(Effect.scoped)
}).pipe(Effect.provide(DflockdClient.layer({ servers })))

NodeRuntime.runMain(program)
