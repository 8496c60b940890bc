/** `effect-floor-pipelined`: `raw-pipelined`'s loop at the Effect runtime's floor, one callback per lock. */
import { Effect } from "effect"
import { shard } from "../addresses.ts"
import type { Args } from "../cli.ts"
import { startMeter } from "../meters.ts"
import { summarize } from "../statistics.ts"
import { floorExchange } from "./effect-floor.ts"
import { grantToken, lockFrame, pipelinedExchange, releaseAndLockFrame, replyError } from "./pipelined-exchange.ts"
import { type RawConnection, rawConnect } from "./raw-connection.ts"
import { type Measured, warmupRounds, workerKeys } from "./shared.ts"

/** A grant's token, or the error it carries, as an Effect. */
const tokenEffect = (token: string | Error): Effect.Effect<string, Error> =>
  typeof token === "string" ? Effect.succeed(token) : Effect.fail(token)

/** The first lock of a pipelined worker: one exchange, one `Effect.callback`. */
const floorLock = (connection: RawConnection, key: string) =>
  Effect.callback<string, Error>((resume) => {
    connection.send(lockFrame(key), (line) => resume(tokenEffect(grantToken(key, line))))
  })

/**
 * One pipelined round as one `Effect.callback`: writes the release of the held lock and the next
 * `l`, checks the release's `ok` when it comes, and resumes on the grant with its token.
 */
const floorPipelinedRound = (connection: RawConnection, key: string, token: string) =>
  Effect.callback<string, Error>((resume) => {
    pipelinedExchange(connection, key, releaseAndLockFrame(key, token), (next) => resume(tokenEffect(next)))
  })

const floorRelease = (connection: RawConnection, key: string, token: string) =>
  Effect.flatMap(
    floorExchange(connection, `r\n${key}\n${token}\n`),
    (released) => released === "ok" ? Effect.void : Effect.fail(replyError("r", key, released))
  )

/** `raw-pipelined`'s loop at the Effect runtime's floor: one fiber per worker, one callback per lock. */
export const runEffectFloorPipelined = async (args: Args, servers: ReadonlyArray<string>): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const keys = workerKeys(workers)
  const ids = keys.map((_, i) => i)
  const tokens = new Array<string>(workers)
  const latencies = new Float64Array(workers * rounds)
  const connections = await Promise.all(keys.map((key) => rawConnect(shard(key, servers))))
  const program = Effect.gen(function*() {
    yield* Effect.forEach(ids, (i) =>
      Effect.gen(function*() {
        const connection = connections[i]!
        const key = keys[i]!
        let token = yield* floorLock(connection, key)
        for (let w = 0; w < warmup; w++) token = yield* floorPipelinedRound(connection, key, token)
        tokens[i] = token
      }), { concurrency: "unbounded", discard: true })
    const stop = startMeter(servers)
    yield* Effect.forEach(ids, (i) =>
      Effect.gen(function*() {
        const connection = connections[i]!
        const key = keys[i]!
        const base = i * rounds
        let token = tokens[i]!
        for (let r = 0; r < rounds; r++) {
          const t0 = performance.now()
          token = yield* floorPipelinedRound(connection, key, token)
          latencies[base + r] = performance.now() - t0
        }
        tokens[i] = token
      }), { concurrency: "unbounded", discard: true })
    const extra = stop(workers * rounds)
    yield* Effect.forEach(ids, (i) => floorRelease(connections[i]!, keys[i]!, tokens[i]!), {
      concurrency: "unbounded",
      discard: true
    })
    return extra
  })
  try {
    const extra = await Effect.runPromise(program)
    return { summary: summarize("effect-floor-pipelined", workers, rounds, latencies, extra.wallMs), extra }
  } finally {
    for (const c of connections) c.close()
  }
}
