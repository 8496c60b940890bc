/**
 * Two-phase acquisition: `enqueue()` joins the FIFO queue and returns at once
 * ("acquired" | "queued"), leaving time to notify another system before
 * `wait()` blocks for the grant.
 */
import { DistributedLock } from "effect-dflockd/promise"
import { server, sleep } from "./_servers.ts"

const lock = new DistributedLock({ key: "two-phase-key", acquireTimeoutS: 10, leaseTtlS: 20, servers: [server] })
const status = await lock.enqueue() // "acquired" | "queued", returns at once
console.log(`first client: enqueue() -> "${status}"`)
const granted = await lock.wait(10) // Promise<boolean>
console.log(`first client: wait(10) -> ${granted}, token=${lock.token}`)

// A second client finds the key taken: it is queued, tells someone, then waits.
const second = new DistributedLock({ key: "two-phase-key", leaseTtlS: 20, servers: [server] })
console.log(`second client: enqueue() -> "${await second.enqueue()}"`)
console.log("second client: (notifying the other system that we are in line)")
const waiting = second.wait(10)
await sleep(300)
await lock.release()
console.log("first client: released")
console.log(`second client: wait(10) -> ${await waiting}, token=${second.token}`)
await second.release()
console.log("second client: released")
