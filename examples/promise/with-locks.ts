/**
 * `withLocks`: several keys at once, all or none, taken in one global order
 * (sorted), so two callers locking the same keys in opposite orders never
 * deadlock. `acquireTimeoutS` bounds them all, and may be a fraction of a
 * second. The callback's `AbortSignal` aborts if any lease is lost.
 */
import { AcquireTimeoutError, DistributedLock, withLocks } from "effect-dflockd/promise"
import { server } from "./_servers.ts"

const transfer = (from: string, to: string, amount: number) =>
  withLocks([`account-${from}`, `account-${to}`], async (signal) => {
    if (signal.aborted) throw signal.reason
    console.log(`moving ${amount} from ${from} to ${to}: both accounts are ours`)
  }, { servers: [server], acquireTimeoutS: 5 })

// opposite orders, at the same time: no deadlock
await Promise.all([transfer("7", "3", 10), transfer("3", "7", 5)])

// all or none: one account is busy for longer than the 0.3 s the caller waits
const holder = new DistributedLock({ key: "account-9", servers: [server] })
await holder.acquire()
try {
  await withLocks(["account-7", "account-9"], () => console.log("never printed"), {
    servers: [server],
    acquireTimeoutS: 0.3
  })
} catch (err) {
  if (!(err instanceof AcquireTimeoutError)) throw err
  console.log(`not granted: ${err.message}; account-7 was released again`)
} finally {
  await holder.release()
}
