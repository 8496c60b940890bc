/**
 * The Promise API from a classic CommonJS TypeScript project (`module: commonjs`, tsconfig.json), with
 * skipLibCheck off, compiled and run against the packed package by scripts/consumer-types.ts.
 */
import {
  AcquireTimeoutError,
  DistributedLock,
  DistributedSemaphore,
  type DistributedLockOptions,
  LockError,
  stableHashShard
} from "effect-dflockd/promise"

type IsAny<T> = 0 extends 1 & T ? true : false

const options: DistributedLockOptions = { key: "orders", acquireTimeoutS: 5, servers: [["127.0.0.1", 6388]] }
const lock = new DistributedLock(options) // the constructor does not connect
const semaphore = new DistributedSemaphore({ key: "workers", limit: 3 })
export const withOrders = (): Promise<number> => lock.withLock(async (signal) => (signal.aborted ? 0 : 1))
export const isTimeout = (error: unknown): error is AcquireTimeoutError =>
  error instanceof AcquireTimeoutError && error instanceof LockError
// @ts-expect-error: `key` is required
export const noKey = (): DistributedLock => new DistributedLock({})
export const acquireTyped: IsAny<ReturnType<typeof lock.acquire>> = false
export const shard: number = stableHashShard("orders", 2)

// what `require` loaded, at run time
if (lock.key !== "orders" || semaphore.key !== "workers" || !Number.isInteger(shard)) {
  throw new Error("effect-dflockd/promise did not load as expected")
}
lock.close()
semaphore.close()
