/**
 * `DistributedSemaphore`: up to `limit` concurrent holders of one key. Eight
 * jobs, one instance each (an instance holds at most one slot), at most five
 * running at a time.
 *
 * Needs dflockd 1.2 or newer. The server `npm run example` starts is dflockd
 * 0.5.0, which has no semaphore commands: there the first `withLock` rejects
 * with a `LockError` (its `cause` is the core's `ServerError`), and this
 * example prints that refusal instead of the jobs.
 */
import { DistributedSemaphore, LockError } from "effect-dflockd/promise"
import { server, sleep } from "./_servers.ts"

let running = 0
let most = 0
const job = async (id: number) => {
  const sem = new DistributedSemaphore({ key: "worker-pool", limit: 5, acquireTimeoutS: 30, servers: [server] })
  await sem.withLock(async () => {
    // up to 5 concurrent holders
    running++
    most = Math.max(most, running)
    console.log(`job ${id} running (${running} of at most ${sem.limit})`)
    await sleep(200)
    running--
  })
}

try {
  await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(job))
  console.log(`all jobs done; at most ${most} ran at once`)
} catch (err) {
  if (!(err instanceof LockError)) throw err
  const cause = err.cause as { readonly _tag?: string } | undefined
  console.log(`the server refused the semaphore (${err.name}, cause ${cause?._tag}): ${err.message}`)
  console.log("semaphores need dflockd >= 1.2; this server predates them")
}
