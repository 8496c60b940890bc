/** The modes, the defaults of the command line and comparisons, and the server flags each mode needs. */

export const MODES = [
  "uncontended",
  "contended",
  "raw",
  "raw-contended",
  "go",
  "memory",
  "promise",
  "promise-reused",
  "reference",
  "effect-floor",
  "raw-pipelined",
  "effect-floor-pipelined",
  "held"
] as const
export type Mode = (typeof MODES)[number]

export const DEFAULT_ROUNDS = 200
/**
 * Timed ops per `--compare` run, unless `--rounds` fixes the rounds per worker: every worker count
 * gets a timed phase of similar length (10,000 ops: 10000/1000/200 rounds for 1/10/50 workers), long
 * enough to be stable at one worker too. 18 runs take about 3 minutes on 2 cores with the Python server.
 */
export const COMPARE_OPS = 10_000
/**
 * Untimed ops before timing starts, spread over the workers, unless `--warmup` says otherwise: enough for
 * V8 to optimise the hot paths (a few thousand calls) and for every connection to be dialed, so the timed
 * rounds measure the steady state of a long-running process, for every mode alike.
 */
export const DEFAULT_WARMUP_OPS = 5000
export const COMPARE_WORKERS: ReadonlyArray<number> = [1, 10, 50]
/** Repeats of each cell in `--compare` and `--compare-promise`, unless `--repeats`. */
export const COMPARE_REPEATS = 3
/** Locks held at once by `--mode memory`, unless `--locks`. */
export const DEFAULT_MEMORY_LOCKS = 10_000
/** `Lock.withLock` regions held at once by `--mode held` (and by `--compare`'s run of it), unless `--locks`. */
export const DEFAULT_HELD_LOCKS = 3000
/** Modes that measure memory: run with `--expose-gc`, on a server allowing their many keys. */
export const memoryModes: ReadonlyArray<Mode> = ["memory", "held"]

/** The flags of a server for `mode`: the memory modes hold many keys at once. */
export const serverFlagsFor = (mode: Mode, locks: number | undefined) =>
  memoryModes.includes(mode)
    ? { "default-lease-ttl": 33, "max-locks": Math.max(20_000, (locks ?? DEFAULT_MEMORY_LOCKS) + 1024) }
    : { "default-lease-ttl": 33 }
