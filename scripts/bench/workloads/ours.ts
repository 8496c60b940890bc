/**
 * `uncontended` and `contended`: N workers (fibers), each `Lock.withLock` on its own key (contended: all
 * on one key, FIFO hand-offs), through one `DflockdClient.layer` (pooled connections).
 */
import { Effect } from "effect"
import { Lock } from "effect-dflockd"
import type { Args } from "../cli.ts"
import { startMeter } from "../meters.ts"
import { summarize } from "../statistics.ts"
import { clientLayer, keyPrefix, type Measured, warmupRounds } from "./shared.ts"

export const runOurs = (args: Args, servers: ReadonlyArray<string>, contended: boolean): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const prefix = keyPrefix()
  const keyOf = (worker: number) => contended ? `${prefix}_shared` : `${prefix}_${worker}`
  const ids = Array.from({ length: workers }, (_, i) => i)
  const latencies = new Float64Array(workers * rounds)
  const options = { acquireTimeout: "60 seconds" } as const
  const once = (key: string) => Lock.withLock(Effect.void, key, options)

  const program = Effect.gen(function*() {
    for (let w = 0; w < warmup; w++) {
      yield* Effect.forEach(ids, (i) => once(keyOf(i)), { concurrency: "unbounded", discard: true })
    }
    const stop = startMeter(servers)
    yield* Effect.forEach(
      ids,
      (i) =>
        Effect.gen(function*() {
          const key = keyOf(i)
          const base = i * rounds
          for (let r = 0; r < rounds; r++) {
            const t0 = performance.now()
            yield* once(key)
            latencies[base + r] = performance.now() - t0
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    return stop(workers * rounds)
  })

  return Effect.runPromise(Effect.provide(program, clientLayer(args, servers))).then((extra) => ({
    summary: summarize(contended ? "contended" : "uncontended", workers, rounds, latencies, extra.wallMs),
    extra
  }))
}
