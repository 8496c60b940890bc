/** The command line: its flags, their checks and defaults, and the usage text. */
import * as Path from "node:path"
import { parseArgs } from "node:util"
import {
  COMPARE_REPEATS,
  DEFAULT_HELD_LOCKS,
  DEFAULT_MEMORY_LOCKS,
  DEFAULT_ROUNDS,
  DEFAULT_WARMUP_OPS,
  type Mode,
  MODES
} from "./config.ts"
import { defaultResultsDir } from "./paths.ts"

export interface Args {
  readonly mode: Mode | undefined
  readonly compare: boolean
  readonly comparePromise: boolean
  readonly workers: number
  readonly rounds: number
  /** Whether `--rounds` was given (`--compare` otherwise sizes rounds by {@link COMPARE_OPS}). */
  readonly roundsGiven: boolean
  /** Untimed rounds per worker; undefined: {@link DEFAULT_WARMUP_OPS} spread over the workers. */
  readonly warmup: number | undefined
  readonly servers: ReadonlyArray<string> | undefined
  readonly json: boolean
  /** Locks held at once (`memory`, `held`); undefined: the mode's default. */
  readonly locks: number | undefined
  /** Hold-and-release cycles (`memory`, `held`); undefined: the mode's default (3, 1). */
  readonly cycles: number | undefined
  readonly maxIdle: number | undefined
  /** Repeats of each cell (`--compare`, `--compare-promise`). */
  readonly repeats: number
  /** Where the comparisons write their reports (`--out`, default bench/results). */
  readonly out: string
}

const usage = `usage:
  npm run bench -- --mode <uncontended|contended|raw|raw-contended|raw-pipelined|effect-floor|effect-floor-pipelined|go|promise|promise-reused|reference> --workers N --rounds R [--servers host:port[,host:port]] [--json]
  npm run bench -- --mode memory --locks ${DEFAULT_MEMORY_LOCKS} [--cycles 3] [--servers host:port]
  npm run bench -- --mode held --locks ${DEFAULT_HELD_LOCKS} [--cycles 1] [--servers host:port]
  npm run bench -- --compare [--rounds R] [--repeats N] [--locks L (held locks, default ${DEFAULT_HELD_LOCKS})] [--out DIR]
  npm run bench -- --compare-promise [--rounds R] [--repeats N] [--out DIR]
options: --warmup W (untimed rounds per worker, default ${DEFAULT_WARMUP_OPS} ops spread over the workers), --max-idle M (client pool size, default the library's), --out DIR (where the comparisons write, default bench/results)`

export const fail = (message: string): never => {
  console.error(`bench: ${message}\n${usage}`)
  process.exit(2)
}

const positiveInt = (name: string, value: string | undefined, fallback: number, min = 1): number => {
  if (value === undefined) return fallback
  const n = Number(value)
  return Number.isInteger(n) && n >= min ? n : fail(`--${name} must be an integer >= ${min}, got ${value}`)
}

export const parse = (argv: ReadonlyArray<string>): Args => {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      mode: { type: "string" },
      compare: { type: "boolean", default: false },
      "compare-promise": { type: "boolean", default: false },
      workers: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      servers: { type: "string" },
      json: { type: "boolean", default: false },
      locks: { type: "string" },
      cycles: { type: "string" },
      "max-idle": { type: "string" },
      repeats: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", default: false }
    },
    strict: true
  })
  if (values.help) {
    console.log(usage)
    process.exit(0)
  }
  const mode = values.mode
  if (mode !== undefined && !(MODES as ReadonlyArray<string>).includes(mode)) fail(`unknown mode ${mode}`)
  if (mode === undefined && !values.compare && !values["compare-promise"]) {
    fail("give --mode, --compare or --compare-promise")
  }
  const servers = values.servers?.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  if (servers !== undefined && servers.length === 0) fail("--servers is empty")
  return {
    mode: mode as Mode | undefined,
    compare: values.compare,
    comparePromise: values["compare-promise"],
    workers: positiveInt("workers", values.workers, 10),
    rounds: positiveInt("rounds", values.rounds, DEFAULT_ROUNDS),
    roundsGiven: values.rounds !== undefined,
    warmup: values.warmup === undefined ? undefined : positiveInt("warmup", values.warmup, 1, 0),
    servers,
    json: values.json,
    locks: values.locks === undefined ? undefined : positiveInt("locks", values.locks, DEFAULT_MEMORY_LOCKS),
    cycles: values.cycles === undefined ? undefined : positiveInt("cycles", values.cycles, 3),
    maxIdle: values["max-idle"] === undefined ? undefined : positiveInt("max-idle", values["max-idle"], 32, 0),
    repeats: positiveInt("repeats", values.repeats, COMPARE_REPEATS),
    out: values.out === undefined || values.out === "" ? defaultResultsDir : Path.resolve(values.out)
  }
}
