/**
 * `promise`, `promise-reused` and `reference`: the uncontended workload through a Promise-style lock
 * class, `effect-dflockd/promise` (a new instance per op, 1.x's pattern, or one reused per worker) or
 * dflockd-client 1.11 itself.
 */
import { pathToFileURL } from "node:url"
import { splitAddress } from "../addresses.ts"
import type { Args } from "../cli.ts"
import { startMeter } from "../meters.ts"
import { summarize } from "../statistics.ts"
import { type Measured, warmupRounds, workerKeys } from "./shared.ts"

/** What the Promise-style modes use of a lock class: dflockd-client 1.11's `DistributedLock` shape. */
interface PromiseLock {
  readonly withLock: (fn: () => unknown) => Promise<unknown>
}
export type PromiseLockClass = new(options: {
  readonly key: string
  readonly servers: Array<[string, number]>
  readonly acquireTimeoutS: number
}) => PromiseLock

export const runPromiseApi = async (
  args: Args,
  servers: ReadonlyArray<string>,
  reuse: boolean,
  mode: "promise" | "promise-reused" | "reference",
  LockClass: PromiseLockClass
): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const keys = workerKeys(workers)
  const latencies = new Float64Array(workers * rounds)
  const serverList = servers.map((address): [string, number] => {
    const { host, port } = splitAddress(address)
    return [host, port]
  })
  const make = (key: string) => new LockClass({ key, servers: serverList, acquireTimeoutS: 60 })
  const reused = keys.map(make)
  const once = (i: number) => (reuse ? reused[i]! : make(keys[i]!)).withLock(() => undefined)
  await Promise.all(keys.map(async (_, i) => {
    for (let w = 0; w < warmup; w++) await once(i)
  }))
  const stop = startMeter(servers)
  await Promise.all(keys.map(async (_, i) => {
    const base = i * rounds
    for (let r = 0; r < rounds; r++) {
      const t0 = performance.now()
      await once(i)
      latencies[base + r] = performance.now() - t0
    }
  }))
  const extra = stop(workers * rounds)
  return { summary: summarize(mode, workers, rounds, latencies, extra.wallMs), extra }
}

/** dflockd-client 1.11's `DistributedLock`, from the built module at `path` (see `ensureReference`). */
export const loadReference = async (path: string): Promise<PromiseLockClass> => {
  const module: unknown = await import(pathToFileURL(path).href)
  const LockClass = typeof module === "object" && module !== null && "DistributedLock" in module
    ? module.DistributedLock
    : undefined
  if (typeof LockClass !== "function") throw new Error(`${path} exports no DistributedLock class`)
  return LockClass as PromiseLockClass
}
