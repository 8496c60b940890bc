/**
 * A classic CommonJS TypeScript consumer (`module: commonjs`, tsconfig.json), compiled and run against the packed
 * package by scripts/consumer-types.ts. Its `import`s become `require` calls, which load dist/*.cjs.
 */
import { DflockdClient, Lock } from "effect-dflockd"
import { AcquireTimeoutError, DistributedLock, type DistributedLockOptions, LockError } from "effect-dflockd/promise"

type IsAny<T> = 0 extends 1 & T ? true : false

// the Promise API
const options: DistributedLockOptions = { key: "orders", acquireTimeoutS: 5, servers: [["127.0.0.1", 6388]] }
const lock = new DistributedLock(options) // the constructor does not connect
export const withOrders = (): Promise<number> => lock.withLock(async (signal) => (signal.aborted ? 0 : 1))
export const isTimeout = (error: unknown): error is AcquireTimeoutError =>
  error instanceof AcquireTimeoutError && error instanceof LockError
// @ts-expect-error: `key` is required
export const noKey = (): DistributedLock => new DistributedLock({})
export const acquireTyped: IsAny<ReturnType<typeof lock.acquire>> = false

// the Effect API
export const acquireOrders = () => Lock.acquire("orders", { acquireTimeout: "5 seconds" })
export const clientLayer = () => DflockdClient.layer({ servers: ["127.0.0.1:6388"] })
// @ts-expect-error: a key is a string
export const numericKey = () => Lock.acquire(42)
// No `IsAny` check on the Effect API here: node10 resolution cannot see the types of `effect` itself (ESM only,
// reachable through "exports" alone), so `Effect`, `Layer`, … from it are unresolved under `module: commonjs`. The
// package's own declarations resolve (no TS2307) and its parameters are still checked (above).

// what `require` loaded, at run time
if (typeof Lock.acquire !== "function" || typeof DflockdClient.layer !== "function" || lock.key !== "orders") {
  throw new Error("effect-dflockd did not load as expected")
}
lock.close()
