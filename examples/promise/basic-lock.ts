/**
 * Acquire, look at the grant, release: the first snippet of the Promise API.
 *
 * The examples pass `servers` because `npm run example` starts its own servers
 * on free ports; without it the lock uses 127.0.0.1:6388.
 */
import { DistributedLock } from "effect-dflockd/promise"
import { server, sleep } from "./_servers.ts"

const lock = new DistributedLock({ key: "my-key", acquireTimeoutS: 10, leaseTtlS: 20, servers: [server] })
const acquired = await lock.acquire() // Promise<boolean>: false on timeout
console.log(`acquire() -> ${acquired}`)
console.log(`acquired key=${lock.key} token=${lock.token} lease=${lock.lease}`)
// lock auto-renews in the background
await sleep(200)

// Someone else waiting at most 1 s gets `false`, not an exception.
const other = new DistributedLock({ key: "my-key", acquireTimeoutS: 1, servers: [server] })
console.log(`another instance: acquire() -> ${await other.acquire()} (timed out after 1 s)`)

await lock.release()
console.log(`released: token=${lock.token} lease=${lock.lease}`)
