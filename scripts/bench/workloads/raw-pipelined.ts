/** `raw-pipelined`: `raw` with the release not waited for (written together with the next lock's request). */
import { shard } from "../addresses.ts"
import type { Args } from "../cli.ts"
import { startMeter } from "../meters.ts"
import { summarize } from "../statistics.ts"
import { grantToken, lockFrame, pipelinedExchange, releaseAndLockFrame } from "./pipelined-exchange.ts"
import { type RawConnection, rawConnect } from "./raw-connection.ts"
import { type Measured, warmupRounds, workerKeys } from "./shared.ts"

const rawLock = (connection: RawConnection, key: string): Promise<string> =>
  new Promise((resolve, reject) => {
    connection.send(lockFrame(key), (line) => {
      const token = grantToken(key, line)
      if (typeof token === "string") resolve(token)
      else reject(token)
    })
  })

/** Releases the held lock (`token`) and takes the next: one write, one Promise; the next token. */
const rawPipelinedRound = (connection: RawConnection, key: string, token: string): Promise<string> =>
  new Promise((resolve, reject) =>
    pipelinedExchange(connection, key, releaseAndLockFrame(key, token), (next) => {
      if (typeof next === "string") resolve(next)
      else reject(next)
    })
  )

const rawRelease = async (connection: RawConnection, key: string, token: string) => {
  const released = await connection.request(`r\n${key}\n${token}\n`)
  if (released !== "ok") throw new Error(`r ${key}: ${released}`)
}

/**
 * `raw` with the release not waited for: each worker's first `l` is sent before the warm-up, every
 * round writes the release and the next `l` together, and the last lock is released after the timed
 * phase. A timed op is one release and one acquire; its latency runs from the write to the grant.
 */
export const runRawPipelined = async (args: Args, servers: ReadonlyArray<string>): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const keys = workerKeys(workers)
  const latencies = new Float64Array(workers * rounds)
  const connections = await Promise.all(keys.map((key) => rawConnect(shard(key, servers))))
  try {
    const tokens = await Promise.all(keys.map(async (key, i) => {
      let token = await rawLock(connections[i]!, key)
      for (let w = 0; w < warmup; w++) token = await rawPipelinedRound(connections[i]!, key, token)
      return token
    }))
    const stop = startMeter(servers)
    await Promise.all(keys.map(async (key, i) => {
      const connection = connections[i]!
      const base = i * rounds
      let token = tokens[i]!
      for (let r = 0; r < rounds; r++) {
        const t0 = performance.now()
        token = await rawPipelinedRound(connection, key, token)
        latencies[base + r] = performance.now() - t0
      }
      tokens[i] = token
    }))
    const extra = stop(workers * rounds)
    await Promise.all(keys.map((key, i) => rawRelease(connections[i]!, key, tokens[i]!)))
    return { summary: summarize("raw-pipelined", workers, rounds, latencies, extra.wallMs), extra }
  } finally {
    for (const c of connections) c.close()
  }
}
