/**
 * `raw` and `raw-contended`: the uncontended (or one-key) workload over one persistent `node:net` socket
 * per worker (`l` then `r`, line parsing, no Effect): the floor for any Node client.
 */
import { shard } from "../addresses.ts"
import type { Args } from "../cli.ts"
import { startMeter } from "../meters.ts"
import { summarize } from "../statistics.ts"
import { type RawConnection, rawConnect } from "./raw-connection.ts"
import { type Measured, warmupRounds, workerKeys } from "./shared.ts"

const rawRound = async (connection: RawConnection, key: string) => {
  const granted = await connection.request(`l\n${key}\n60\n`)
  const [status, token] = granted.split(" ")
  if (status !== "ok" || token === undefined) throw new Error(`l ${key}: ${granted}`)
  const released = await connection.request(`r\n${key}\n${token}\n`)
  if (released !== "ok") throw new Error(`r ${key}: ${released}`)
}

/**
 * The raw loop: one persistent socket per worker. Contended, every worker locks
 * the same key, so each op is a FIFO hand-off on the server, as in `contended`.
 */
export const runRaw = async (args: Args, servers: ReadonlyArray<string>, contended = false): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const keys = workerKeys(workers, contended)
  const latencies = new Float64Array(workers * rounds)
  const connections = await Promise.all(keys.map((key) => rawConnect(shard(key, servers))))
  try {
    await Promise.all(keys.map(async (key, i) => {
      for (let w = 0; w < warmup; w++) await rawRound(connections[i]!, key)
    }))
    const stop = startMeter(servers)
    await Promise.all(keys.map(async (key, i) => {
      const connection = connections[i]!
      const base = i * rounds
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now()
        await rawRound(connection, key)
        latencies[base + r] = performance.now() - t0
      }
    }))
    const extra = stop(workers * rounds)
    return {
      summary: summarize(contended ? "raw-contended" : "raw", workers, rounds, latencies, extra.wallMs),
      extra
    }
  } finally {
    for (const c of connections) c.close()
  }
}
