import { Effect, ManagedRuntime } from "effect"
import * as DflockdClient from "./src/DflockdClient.ts"
import * as Lock from "./src/Lock.ts"
const workers = Number(process.argv[2] ?? 10), total = Number(process.argv[3] ?? 20000), variant = process.argv[4]
const rounds = Math.ceil(total / workers)
const rt = ManagedRuntime.make(DflockdClient.layer({ servers: [["127.0.0.1", 17388]] }))
const ctx = await rt.context()
const keys = Array.from({ length: workers }, (_, i) => `single_${process.pid}_${i}`)
const opts = { acquireTimeout: "60 seconds" } as const
const region = variant === "void" || variant === "loop" ? Effect.void : Effect.promise(async () => undefined)
const runP = variant === "rt" ? (e: Effect.Effect<void, unknown, DflockdClient.DflockdClient>) => rt.runPromise(e) : (e: Effect.Effect<void, unknown, DflockdClient.DflockdClient>) => Effect.runPromiseWith(ctx)(e)
const once = (i: number) => runP(Lock.withLock(region, keys[i]!, opts))
if (variant === "loop") {
  const t0 = performance.now(); const cpu0 = process.cpuUsage()
  await Effect.runPromiseWith(ctx)(Effect.forEach(keys, (k) => Effect.gen(function*() { for (let r = 0; r < rounds; r++) yield* Lock.withLock(region, k, opts) }), { concurrency: "unbounded" }))
  const ms = performance.now() - t0; const cc = process.cpuUsage(cpu0)
  console.log(`${variant} w=${workers} ops/s ${(workers * rounds / ms * 1000).toFixed(0)} cpu us/op ${((cc.user + cc.system) / (workers * rounds)).toFixed(0)}`)
  process.exit(0)
}
await Promise.all(keys.map(async (_, i) => { for (let w = 0; w < Math.ceil(2000 / workers); w++) await once(i) }))
const t0 = performance.now(); const cpu0 = process.cpuUsage()
await Promise.all(keys.map(async (_, i) => { for (let r = 0; r < rounds; r++) await once(i) }))
const ms = performance.now() - t0; const cc = process.cpuUsage(cpu0)
console.log(`${variant} w=${workers} ops/s ${(workers * rounds / ms * 1000).toFixed(0)} cpu us/op ${((cc.user + cc.system) / (workers * rounds)).toFixed(0)}`)
process.exit(0)
