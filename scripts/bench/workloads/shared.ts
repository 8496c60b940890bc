/** What the workloads share: their result, warm-up rounds, keys and client layer. */
import { DflockdClient } from "effect-dflockd"
import type { Args } from "../cli.ts"
import { DEFAULT_WARMUP_OPS } from "../config.ts"
import type { Extra } from "../meters.ts"
import type { Summary } from "../statistics.ts"

/** A timed run's figures: its summary (the JSON line) and what was measured besides. */
export interface Measured {
  readonly summary: Summary
  readonly extra: Extra
}

export const warmupRounds = (args: Args) => args.warmup ?? Math.ceil(DEFAULT_WARMUP_OPS / args.workers)

export const keyPrefix = () => `bench_${process.pid}_${Math.floor(Math.random() * 1e9).toString(36)}`

/** One key per worker (or held lock) under a fresh prefix; contended, one shared key for all of them. */
export const workerKeys = (count: number, contended = false): Array<string> => {
  const prefix = keyPrefix()
  return Array.from({ length: count }, (_, i) => contended ? `${prefix}_shared` : `${prefix}_${i}`)
}

/** The library's client on `servers`, with the pool size `--max-idle` gives (else the library's). */
export const clientLayer = (args: Args, servers: ReadonlyArray<string>) =>
  DflockdClient.layer({
    servers,
    ...(args.maxIdle === undefined ? {} : { pool: { maxIdle: args.maxIdle } })
  })
