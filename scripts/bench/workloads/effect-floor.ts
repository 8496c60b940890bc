/**
 * `effect-floor`: `raw`'s loop with each exchange an `Effect.callback` on one fiber per worker (no lease,
 * pool, timer, scope or metric): the least any Effect client pays.
 */
import { Effect } from "effect"
import { shard } from "../addresses.ts"
import type { Args } from "../cli.ts"
import { startMeter } from "../meters.ts"
import { summarize } from "../statistics.ts"
import { type RawConnection, rawConnect } from "./raw-connection.ts"
import { type Measured, warmupRounds, workerKeys } from "./shared.ts"

/** One exchange as an `Effect.callback`: the floor's only asynchronous step. */
export const floorExchange = (connection: RawConnection, frame: string) =>
  Effect.callback<string, Error>((resume) => {
    connection.send(frame, (line) => resume(typeof line === "string" ? Effect.succeed(line) : Effect.fail(line)))
  })

const floorRound = (connection: RawConnection, key: string) =>
  Effect.gen(function*() {
    const granted = yield* floorExchange(connection, `l\n${key}\n60\n`)
    const [status, token] = granted.split(" ")
    if (status !== "ok" || token === undefined) return yield* Effect.fail(new Error(`l ${key}: ${granted}`))
    const released = yield* floorExchange(connection, `r\n${key}\n${token}\n`)
    if (released !== "ok") return yield* Effect.fail(new Error(`r ${key}: ${released}`))
  })

/** The uncontended workload at the Effect runtime's floor (see `effect-floor` above). */
export const runEffectFloor = async (args: Args, servers: ReadonlyArray<string>): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const keys = workerKeys(workers)
  const ids = keys.map((_, i) => i)
  const latencies = new Float64Array(workers * rounds)
  const connections = await Promise.all(keys.map((key) => rawConnect(shard(key, servers))))
  const program = Effect.gen(function*() {
    yield* Effect.forEach(ids, (i) =>
      Effect.gen(function*() {
        for (let w = 0; w < warmup; w++) yield* floorRound(connections[i]!, keys[i]!)
      }), { concurrency: "unbounded", discard: true })
    const stop = startMeter(servers)
    yield* Effect.forEach(ids, (i) =>
      Effect.gen(function*() {
        const base = i * rounds
        for (let r = 0; r < rounds; r++) {
          const t0 = performance.now()
          yield* floorRound(connections[i]!, keys[i]!)
          latencies[base + r] = performance.now() - t0
        }
      }), { concurrency: "unbounded", discard: true })
    return stop(workers * rounds)
  })
  try {
    const extra = await Effect.runPromise(program)
    return { summary: summarize("effect-floor", workers, rounds, latencies, extra.wallMs), extra }
  } finally {
    for (const c of connections) c.close()
  }
}
