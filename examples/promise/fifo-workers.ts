/**
 * Five workers, one lock instance each, contend for one key: the server grants
 * it in the order they queued (strict FIFO per key). Each worker joins the
 * queue with `enqueue()` only after the previous one is in it, so the queue
 * order is known; then all of them `wait()` at once, and the grants come in
 * that order.
 */
import { DistributedLock } from "effect-dflockd/promise"
import { server, sleep } from "./_servers.ts"

const key = "shared-key"
const holder = new DistributedLock({ key, servers: [server] })
await holder.acquire() // keep the key busy until every worker is in line

const workers = [1, 2, 3, 4, 5].map((id) => ({
  id,
  lock: new DistributedLock({ key, acquireTimeoutS: 30, servers: [server] })
}))
for (const { id, lock } of workers) console.log(`worker ${id}: ${await lock.enqueue()}`)

const granted: Array<number> = []
const running = workers.map(async ({ id, lock }) => {
  if (!(await lock.wait(30))) throw new Error(`worker ${id} timed out`)
  granted.push(id)
  console.log(`worker ${id}: acquired`)
  await sleep(100)
  console.log(`worker ${id}: releasing`)
  await lock.release()
})
await holder.release()
await Promise.all(running)

const inOrder = granted.join(",") === "1,2,3,4,5"
console.log(`granted in order ${granted.join(", ")}: ${inOrder ? "FIFO, as queued" : "NOT the queue order"}`)
if (!inOrder) process.exitCode = 1
