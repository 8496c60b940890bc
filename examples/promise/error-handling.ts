/**
 * Error handling with `instanceof`: `AcquireTimeoutError` and `AuthError` both
 * extend `LockError`, so test the specific classes first. Each case below is
 * provoked for real against the example server (dflockd 0.5.0).
 */
import { AcquireTimeoutError, AuthError, DistributedLock, LockError } from "effect-dflockd/promise"
import * as Net from "node:net"
import { server } from "./_servers.ts"

const classify = async (what: string, lock: DistributedLock) => {
  try {
    await lock.withLock(async () => {})
    console.log(`${what}: no error`)
  } catch (err) {
    if (err instanceof AcquireTimeoutError) {
      console.log(`${what}: AcquireTimeoutError, could not acquire within acquireTimeoutS (${err.message})`)
    } else if (err instanceof AuthError) {
      console.log(`${what}: AuthError, bad or missing token (${err.message})`)
    } else if (err instanceof LockError) {
      const cause = err.cause as { readonly _tag?: string } | undefined
      console.log(`${what}: LockError (cause ${cause?._tag ?? "none"}): ${err.message}`)
    } else {
      throw err
    }
  } finally {
    lock.close()
  }
}

// 1. Busy key: someone holds it longer than we wait.
const holder = new DistributedLock({ key: "errors-busy", servers: [server] })
await holder.acquire()
await classify("busy key", new DistributedLock({ key: "errors-busy", acquireTimeoutS: 1, servers: [server] }))
await holder.release()

// 2. Token refused (this server has no auth at all, so it refuses every token).
await classify("auth token", new DistributedLock({ key: "errors-auth", auth: "secret-token", servers: [server] }))

// 3. Nobody listening: a port that was free a moment ago.
const port = await new Promise<number>((resolve) => {
  const probe = Net.createServer().listen(0, "127.0.0.1", () => {
    const address = probe.address() as Net.AddressInfo
    probe.close(() => resolve(address.port))
  })
})
await classify(
  "server down",
  new DistributedLock({ key: "errors-down", servers: [["127.0.0.1", port]], connectTimeoutMs: 500 })
)

// 4. Misuse: acquire() on an instance that already holds (pass { force: true } to re-acquire).
const twice = new DistributedLock({ key: "errors-twice", servers: [server] })
await twice.acquire()
try {
  await twice.acquire()
} catch (err) {
  if (err instanceof LockError) console.log(`acquire() twice: ${err.name}: ${err.message}`)
}
console.log(`acquire({ force: true }) -> ${await twice.acquire({ force: true })}`)
await twice.release()

// 5. Invalid options are refused at construction, before any I/O (1.11's checks);
//    what only the server forbids (a space in a key) is refused when used, still before any I/O.
try {
  new DistributedLock({ key: "two\nlines", servers: [server] })
} catch (err) {
  if (err instanceof LockError) console.log(`invalid key: ${err.name}: ${err.message}`)
}
await classify("key with a space", new DistributedLock({ key: "has spaces", servers: [server] }))
