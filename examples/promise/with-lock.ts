/**
 * `withLock`: acquire, run the callback, release, also when the callback throws.
 * It rejects with `AcquireTimeoutError` when the lock cannot be acquired in time.
 */
import { AcquireTimeoutError, DistributedLock } from "effect-dflockd/promise"
import { server, sleep } from "./_servers.ts"

const lock = new DistributedLock({ key: "with-lock-key", acquireTimeoutS: 10, leaseTtlS: 20, servers: [server] })

const result = await lock.withLock(async () => {
  console.log(`in the critical section: key=${lock.key} token=${lock.token}`)
  await sleep(100)
  return "report generated"
})
console.log(`withLock resolved with "${result}"; released: token=${lock.token}`)

// The callback's own error comes out unchanged, and the lock is released anyway.
await lock.withLock(() => {
  throw new Error("the job failed")
}).catch((err: unknown) => {
  console.log(`withLock rejected with the callback's error: ${(err as Error).message}; released: token=${lock.token}`)
})

// Timeout: someone else holds the key for longer than acquireTimeoutS.
const holder = new DistributedLock({ key: "with-lock-key", servers: [server] })
await holder.acquire()
const impatient = new DistributedLock({ key: "with-lock-key", acquireTimeoutS: 1, servers: [server] })
try {
  await impatient.withLock(async () => console.log("never printed"))
} catch (err) {
  if (err instanceof AcquireTimeoutError) console.log(`throws AcquireTimeoutError on timeout: ${err.message}`)
  else throw err
} finally {
  await holder.release()
}
