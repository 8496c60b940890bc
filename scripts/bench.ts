/**
 * Benchmark of effect-dflockd against a real dflockd server, a hand-written
 * `node:net` floor, and dflockd's own Go bench.
 *
 *   npm run bench -- --mode uncontended --workers 10 --rounds 200 [--servers host:port[,host:port]] [--json]
 *   npm run bench -- --mode contended   --workers 10 --rounds 50
 *   npm run bench -- --mode raw         --workers 10 --rounds 200
 *   npm run bench -- --mode raw-contended --workers 10 --rounds 50
 *   npm run bench -- --mode go          --workers 10 --rounds 200
 *   npm run bench -- --mode memory      --locks 10000 [--cycles 3]
 *   npm run bench -- --mode promise     --workers 10 --rounds 200
 *   npm run bench -- --mode promise-reused --workers 10 --rounds 200
 *   npm run bench -- --mode reference   --workers 10 --rounds 200
 *   npm run bench -- --mode effect-floor --workers 10 --rounds 200
 *   npm run bench -- --mode raw-pipelined --workers 10 --rounds 200
 *   npm run bench -- --mode effect-floor-pipelined --workers 10 --rounds 200
 *   npm run bench -- --mode held        --locks 3000 [--cycles 1]
 *   npm run bench -- --compare [--rounds R] [--locks L]   (default 10,000 timed ops per run, spread over the workers)
 *   npm run bench -- --compare-promise [--rounds R]
 *   (either comparison: --out DIR writes its report there instead of bench/results)
 *
 * Modes
 * - `uncontended`: N workers (fibers), each `Lock.withLock` on its own key, R rounds,
 *   through one `DflockdClient.layer` (pooled connections). The Go bench's workload.
 * - `contended`: N workers on one key: FIFO hand-off latency.
 * - `raw`: the uncontended workload over one persistent `node:net` socket per
 *   worker (`l` then `r`, line parsing, no Effect): the floor for any Node client.
 * - `raw-contended`: `raw` with every worker on one key (the floor for `contended`).
 * - `go`: dflockd's `cmd/bench` (the Go client), found through DFLOCKD_GO_BENCH:
 *   build it beside the Go server yourself; without it the mode says so and
 *   reports no figures.
 *
 * The server is the harness's (scripts/dflockd-server.ts): DFLOCKD_BIN, else the
 * pinned one; the report names it.
 * - `promise`: the uncontended workload through `effect-dflockd/promise` the way
 *   dflockd-client 1.x's own benchmark uses it: `new DistributedLock(...)` and
 *   `withLock` for every op (instances share the runtime and its pool).
 * - `promise-reused`: the same with one `DistributedLock` per worker, reused.
 * - `reference`: `promise`'s workload through dflockd-client 1.11 itself (the
 *   TypeScript client the Promise API replaces: a new TCP connection per lock),
 *   loaded from the built module DFLOCKD_CLIENT_TS names: build it from its
 *   public source yourself; this project never ships it. Without it the mode
 *   says so and reports no figures.
 * - `effect-floor`: the least any Effect client pays: `raw`'s loop, but each
 *   exchange an `Effect.callback` on one fiber per worker (no lease, pool,
 *   timer, scope or metric). What separates it from `raw` is the Effect
 *   runtime's own cost per asynchronous step; what separates `uncontended` from
 *   it is this library's.
 * - `raw-pipelined`, `effect-floor-pipelined`: the same two floors with the
 *   release not waited for. Each worker writes the release of its lock and the
 *   next lock's `l` together, in one write on its one socket, then reads two
 *   lines: the release's `ok` (checked) and the next grant. The Effect one is
 *   one `Effect.callback` per lock (it registers both lines, checks the owed
 *   `ok` and resumes on the grant). A worker's first `l` is sent during the
 *   warm-up and its last `r` after the timed phase, so each timed op is exactly
 *   one release and one acquire, as in `raw`.
 * - `memory`: holds `--locks` locks at once (each owns a connection), reports bytes
 *   per held lock, releases them and checks memory returns near its baseline.
 *   Each lock is a `Lock.acquire` in a scope of its own, acquired 100 at a time.
 * - `held`: the workload a user holds: `--locks` (default 3,000) `Lock.withLock`
 *   regions held at once, each in its own fiber (forked 100 at a time, each
 *   waiting inside its region until told to leave). Reports heap per held lock
 *   (heapUsed with all held, minus the baseline, over the locks; each read after
 *   repeated full collections, see `gc`), RSS and external per held lock, and the
 *   sockets open while held (each held lock owns a connection; all of it is
 *   counted: socket objects, buffers, fibers, leases, timers). The baseline is
 *   taken after a warm-up of the same shape and once the pool's idle connections
 *   have closed (about 15 s), so it holds no socket of the client's. Then it
 *   releases them and checks the heap returns near its baseline. Runs with
 *   `--expose-gc`; `--compare` runs it once, after its matrix, on a server of its own.
 *
 * Latency of one op = acquire + release, measured around each round. In the
 * pipelined floors one op is one release plus one acquire (one write, two reply
 * lines): its latency is from that write to the grant line, which in the worker's
 * tight loop is the time between two consecutive grants on its connection. Each worker
 * runs untimed warm-up rounds first (connections dialed, code warmed): 5000 ops
 * spread over the workers unless `--warmup W` (rounds per worker) says otherwise.
 * Percentiles interpolate linearly, as the Go bench does.
 *
 * Cost per op, over the timed phase of every mode run in this process:
 * - client CPU: `process.cpuUsage()` (user + system) over the ops;
 * - allocation: bytes allocated on the V8 heap over the ops. Node 22 has no
 *   cumulative allocation counter, so it is counted from the heap's own books: a
 *   `v8.GCProfiler` records `usedHeapSize` before and after every collection in
 *   the timed phase, and allocated = (used at the end - used at the start) + the
 *   sum of what each collection freed (before - after). Exact for what lands on
 *   the V8 heap (checked against known object sizes and V8's sampling heap
 *   profiler); memory outside it (Buffer backing stores, native socket state)
 *   is not counted;
 * - server CPU: the dflockd process's utime + stime from /proc (local servers only).
 *
 * Process layout: without `--servers`, this process starts a dflockd server and
 * runs the measurement in a child process (the Python server logs every request
 * to stderr, which the starting process drains; that work must not land in the
 * measured process). `--compare` does the same for every run.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { parseArgs } from "node:util"
import * as V8 from "node:v8"
import * as Zlib from "node:zlib"
import { Cause, Deferred, Effect, Exit, Fiber, Layer, Logger, Scope } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { DistributedLock } from "effect-dflockd/promise"
import { describeServer, startServer } from "./dflockd-server.ts"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const scriptPath = fileURLToPath(import.meta.url)
const defaultResultsDir = Path.join(root, "bench", "results")

const MODES = [
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
type Mode = (typeof MODES)[number]

const DEFAULT_ROUNDS = 200
/**
 * Timed ops per `--compare` run, unless `--rounds` fixes the rounds per worker: every worker count
 * gets a timed phase of similar length (10,000 ops: 10000/1000/200 rounds for 1/10/50 workers), long
 * enough to be stable at one worker too. 18 runs take about 3 minutes on 2 cores with the Python server.
 */
const COMPARE_OPS = 10_000
/**
 * Untimed ops before timing starts, spread over the workers, unless `--warmup` says otherwise: enough for
 * V8 to optimise the hot paths (a few thousand calls) and for every connection to be dialed, so the timed
 * rounds measure the steady state of a long-running process, for every mode alike.
 */
const DEFAULT_WARMUP_OPS = 5000
const COMPARE_WORKERS: ReadonlyArray<number> = [1, 10, 50]
/** Repeats of each cell in `--compare` and `--compare-promise`, unless `--repeats`. */
const COMPARE_REPEATS = 3
/** Locks held at once by `--mode memory`, unless `--locks`. */
const DEFAULT_MEMORY_LOCKS = 10_000
/** `Lock.withLock` regions held at once by `--mode held` (and by `--compare`'s run of it), unless `--locks`. */
const DEFAULT_HELD_LOCKS = 3000
/** Modes that measure memory: run with `--expose-gc`, on a server allowing their many keys. */
const memoryModes: ReadonlyArray<Mode> = ["memory", "held"]

// ---------------------------------------------------------------------------
// command line
// ---------------------------------------------------------------------------

interface Args {
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

const fail = (message: string): never => {
  console.error(`bench: ${message}\n${usage}`)
  process.exit(2)
}

const positiveInt = (name: string, value: string | undefined, fallback: number, min = 1): number => {
  if (value === undefined) return fallback
  const n = Number(value)
  return Number.isInteger(n) && n >= min ? n : fail(`--${name} must be an integer >= ${min}, got ${value}`)
}

const parse = (argv: ReadonlyArray<string>): Args => {
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

// ---------------------------------------------------------------------------
// measurement
// ---------------------------------------------------------------------------

/** The JSON line every run ends with (`--json`). */
interface Summary {
  readonly mode: string
  readonly workers: number
  readonly rounds: number
  readonly ops: number
  readonly throughput: number
  readonly mean_ms: number
  readonly p50_ms: number
  readonly p99_ms: number
}

/** What a run measured besides the summary (printed, not in the JSON line). */
interface Extra {
  readonly wallMs: number
  /** Client CPU (user + system) per op, microseconds. */
  readonly clientCpuUsPerOp: number | undefined
  /** Server CPU during the timed phase, percent of one core. */
  readonly serverCpuPercent: number | undefined
  /** Bytes allocated on this process's V8 heap per op during the timed phase (see {@link startAllocationCounter}). */
  readonly allocBytesPerOp: number | undefined
}

const round = (n: number, digits: number) => Number(n.toFixed(digits))

/** Linear interpolation between closest ranks (as dflockd's Go bench). */
const percentile = (sorted: Float64Array, pct: number): number => {
  if (sorted.length === 0) return Number.NaN
  const rank = (pct / 100) * (sorted.length - 1)
  const lo = Math.floor(rank)
  const hi = Math.min(lo + 1, sorted.length - 1)
  const frac = rank - lo
  return sorted[lo]! * (1 - frac) + sorted[hi]! * frac
}

const summarize = (mode: string, workers: number, rounds: number, latencies: Float64Array, wallMs: number): Summary => {
  const sorted = Float64Array.from(latencies).sort()
  let sum = 0
  for (const v of sorted) sum += v
  return {
    mode,
    workers,
    rounds,
    ops: sorted.length,
    throughput: round(sorted.length / (wallMs / 1000), 1),
    mean_ms: round(sum / sorted.length, 3),
    p50_ms: round(percentile(sorted, 50), 3),
    p99_ms: round(percentile(sorted, 99), 3)
  }
}

const isLoopback = (host: string) => host === "127.0.0.1" || host === "localhost" || host === "::1"

const splitAddress = (address: string): { readonly host: string; readonly port: number } => {
  const colon = address.lastIndexOf(":")
  const port = Number(address.slice(colon + 1))
  if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) fail(`bad server address ${address}`)
  return { host: address.slice(0, colon).replace(/^\[|\]$/g, ""), port }
}

/**
 * The pids of local dflockd processes listening on the given ports (found by
 * their command line in /proc), to read their CPU time. Best effort: Linux only.
 */
const serverPids = (servers: ReadonlyArray<string>): Array<number> => {
  const ports = servers.map(splitAddress).filter((s) => isLoopback(s.host)).map((s) => String(s.port))
  if (ports.length === 0 || !existsSync("/proc")) return []
  const pids: Array<number> = []
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")
      const portIndex = argv.indexOf("--port")
      if (argv.some((a) => a.endsWith("dflockd")) && portIndex !== -1 && ports.includes(argv[portIndex + 1] ?? "")) {
        pids.push(Number(entry))
      }
    } catch {
      // the process went away
    }
  }
  return pids
}

const clockTicks = (() => {
  const out = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" })
  const n = Number(out.stdout?.trim())
  return Number.isInteger(n) && n > 0 ? n : 100
})()

/** utime + stime of the given pids, in milliseconds. */
const cpuMillisOf = (pids: ReadonlyArray<number>): number | undefined => {
  if (pids.length === 0) return undefined
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      ticks += Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14, 15)
    } catch {
      return undefined
    }
  }
  return (ticks * 1000) / clockTicks
}

/** CPU ticks are 10 ms: below a second of wall time the percentage means little. */
const serverCpuPercent = (start: number | undefined, end: number | undefined, wallMs: number): number | undefined =>
  start === undefined || end === undefined || wallMs < 1000 ? undefined : (100 * (end - start)) / wallMs

/**
 * Counts the bytes allocated on this process's V8 heap from now until the returned function is called.
 * Node 22's `v8.getHeapStatistics()` has no cumulative allocation counter, but the heap only shrinks in
 * a collection: a `v8.GCProfiler` records `usedHeapSize` before and after each one, so
 * allocated = (used at the end - used at the start) + the sum over collections of (before - after).
 * Exact for the V8 heap (48 bytes per `{ a, b, c }` literal, 64 per `[a, b]`, in agreement with V8's
 * sampling heap profiler); Buffer backing stores and native memory are outside it. The profiler costs
 * a heap-statistics read per collection and allocates nothing on the JS heap while it records.
 */
const startAllocationCounter = (): () => number => {
  const profiler = new V8.GCProfiler()
  profiler.start()
  const usedStart = V8.getHeapStatistics().used_heap_size
  return () => {
    const usedEnd = V8.getHeapStatistics().used_heap_size
    const profile = profiler.stop()
    let freed = 0
    for (const gc of profile.statistics) {
      freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize
    }
    return usedEnd - usedStart + freed
  }
}

/** Wall clock, own CPU, own allocation and server CPU over the timed phase. */
const startMeter = (servers: ReadonlyArray<string>) => {
  const pids = serverPids(servers)
  const serverStart = cpuMillisOf(pids)
  const allocated = startAllocationCounter()
  const cpuStart = process.cpuUsage()
  const wallStart = performance.now()
  return (ops: number): Extra => {
    const wallMs = performance.now() - wallStart
    const cpu = process.cpuUsage(cpuStart)
    const bytes = allocated()
    const serverEnd = cpuMillisOf(pids)
    return {
      wallMs,
      clientCpuUsPerOp: (cpu.user + cpu.system) / ops,
      serverCpuPercent: serverCpuPercent(serverStart, serverEnd, wallMs),
      allocBytesPerOp: bytes / ops
    }
  }
}

interface Measured {
  readonly summary: Summary
  readonly extra: Extra
}

const warmupRounds = (args: Args) => args.warmup ?? Math.ceil(DEFAULT_WARMUP_OPS / args.workers)

const keyPrefix = () => `bench_${process.pid}_${Math.floor(Math.random() * 1e9).toString(36)}`

// ---------------------------------------------------------------------------
// ours: effect-dflockd
// ---------------------------------------------------------------------------

const runOurs = (args: Args, servers: ReadonlyArray<string>, contended: boolean): Promise<Measured> => {
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

  const layer = DflockdClient.layer({
    servers,
    ...(args.maxIdle === undefined ? {} : { pool: { maxIdle: args.maxIdle } })
  })
  return Effect.runPromise(Effect.provide(program, layer)).then((extra) => ({
    summary: summarize(contended ? "contended" : "uncontended", workers, rounds, latencies, extra.wallMs),
    extra
  }))
}

// ---------------------------------------------------------------------------
// promise: effect-dflockd/promise, new instance per op (1.x's pattern) or reused
// ---------------------------------------------------------------------------

/** What the Promise-style modes use of a lock class: dflockd-client 1.11's `DistributedLock` shape. */
interface PromiseLock {
  readonly withLock: (fn: () => unknown) => Promise<unknown>
}
type PromiseLockClass = new(options: {
  readonly key: string
  readonly servers: Array<[string, number]>
  readonly acquireTimeoutS: number
}) => PromiseLock

const runPromiseApi = async (
  args: Args,
  servers: ReadonlyArray<string>,
  reuse: boolean,
  mode: "promise" | "promise-reused" | "reference",
  LockClass: PromiseLockClass
): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const prefix = keyPrefix()
  const keys = Array.from({ length: workers }, (_, i) => `${prefix}_${i}`)
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

/**
 * dflockd-client 1.11, built from its public source, named by DFLOCKD_CLIENT_TS
 * (the path of its ESM entry, e.g. `dist/client.js`): never shipped here.
 */
const ensureReference = (): Located => locate("DFLOCKD_CLIENT_TS")

const loadReference = async (path: string): Promise<PromiseLockClass> => {
  const module: unknown = await import(pathToFileURL(path).href)
  const LockClass = typeof module === "object" && module !== null && "DistributedLock" in module
    ? module.DistributedLock
    : undefined
  if (typeof LockClass !== "function") throw new Error(`${path} exports no DistributedLock class`)
  return LockClass as PromiseLockClass
}

// ---------------------------------------------------------------------------
// raw: node:net, one persistent connection per worker, no Effect
// ---------------------------------------------------------------------------

interface RawConnection {
  readonly request: (frame: string) => Promise<string>
  /** `request` without a Promise: `onLine` gets the reply line, or the error. */
  readonly send: (frame: string, onLine: (line: string | Error) => void) => void
  /**
   * Waits for one more reply line without writing (for a frame that holds two requests): call it,
   * then `send`; `onLine` gets the first of the two lines.
   */
  readonly expect: (onLine: (line: string | Error) => void) => void
  readonly close: () => void
}

const rawConnect = (address: string): Promise<RawConnection> =>
  new Promise((resolve, reject) => {
    const { host, port } = splitAddress(address)
    const socket = Net.createConnection({ host, port, noDelay: true })
    const pending: Array<{ readonly resolve: (line: string) => void; readonly reject: (e: Error) => void }> = []
    let buffer = ""
    socket.setEncoding("utf8")
    socket.on("data", (text: string) => {
      buffer += text
      let nl = buffer.indexOf("\n")
      while (nl !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        pending.shift()?.resolve(line)
        nl = buffer.indexOf("\n")
      }
    })
    const broken = (error: Error) => {
      for (const p of pending.splice(0)) p.reject(error)
      reject(error)
    }
    socket.on("error", broken)
    socket.on("close", () => broken(new Error(`connection to ${address} closed`)))
    socket.once("connect", () =>
      resolve({
        request: (frame) =>
          new Promise((res, rej) => {
            pending.push({ resolve: res, reject: rej })
            socket.write(frame)
          }),
        send: (frame, onLine) => {
          pending.push({ resolve: onLine, reject: onLine })
          socket.write(frame)
        },
        expect: (onLine) => {
          pending.push({ resolve: onLine, reject: onLine })
        },
        close: () => socket.destroy()
      }))
  })

/** The same routing rule as the library and the official clients: crc32(key) mod n. */
const shard = (key: string, servers: ReadonlyArray<string>) =>
  servers[Zlib.crc32(Buffer.from(key, "utf8")) % servers.length]!

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
const runRaw = async (args: Args, servers: ReadonlyArray<string>, contended = false): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const prefix = keyPrefix()
  const keys = Array.from({ length: workers }, (_, i) => contended ? `${prefix}_shared` : `${prefix}_${i}`)
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

// ---------------------------------------------------------------------------
// raw-pipelined: raw with the release not waited for
// ---------------------------------------------------------------------------

const lockFrame = (key: string) => `l\n${key}\n60\n`
/** The release of the held lock and the next lock's request, in one write. */
const releaseAndLockFrame = (key: string, token: string) => `r\n${key}\n${token}\nl\n${key}\n60\n`

/** The error of an unexpected reply `line` to `command` (`l`, `r`) on `key`; a connection error as it is. */
const replyError = (command: string, key: string, line: string | Error): Error =>
  typeof line === "string" ? new Error(`${command} ${key}: ${line}`) : line

/** The token of a grant line (`ok <token> <lease>`), or the error. */
const grantToken = (key: string, line: string | Error): string | Error => {
  if (typeof line !== "string") return line
  const [status, token] = line.split(" ")
  return status === "ok" && token !== undefined ? token : replyError("l", key, line)
}

/**
 * Writes `frame` (a release, then a lock request) and reads its two reply lines: the release's
 * `ok`, checked, then the grant, whose token `onGrant` gets (or the first error of the two).
 */
const pipelinedExchange = (
  connection: RawConnection,
  key: string,
  frame: string,
  onGrant: (token: string | Error) => void
): void => {
  let owed: Error | undefined
  connection.expect((line) => {
    if (line !== "ok") owed = replyError("r", key, line)
  })
  connection.send(frame, (line) => onGrant(owed ?? grantToken(key, line)))
}

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
const runRawPipelined = async (args: Args, servers: ReadonlyArray<string>): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const prefix = keyPrefix()
  const keys = Array.from({ length: workers }, (_, i) => `${prefix}_${i}`)
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

// ---------------------------------------------------------------------------
// effect-floor: raw's loop with each exchange an Effect.callback
// ---------------------------------------------------------------------------

/** One exchange as an `Effect.callback`: the floor's only asynchronous step. */
const floorExchange = (connection: RawConnection, frame: string) =>
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
const runEffectFloor = async (args: Args, servers: ReadonlyArray<string>): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const prefix = keyPrefix()
  const keys = Array.from({ length: workers }, (_, i) => `${prefix}_${i}`)
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
const runEffectFloorPipelined = async (args: Args, servers: ReadonlyArray<string>): Promise<Measured> => {
  const { rounds, workers } = args
  const warmup = warmupRounds(args)
  const prefix = keyPrefix()
  const keys = Array.from({ length: workers }, (_, i) => `${prefix}_${i}`)
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

// ---------------------------------------------------------------------------
// go: dflockd's cmd/bench
// ---------------------------------------------------------------------------

/** Where a tool this project never builds or ships was found, through an environment variable. */
type Located = { readonly ok: true; readonly path: string } | { readonly ok: false; readonly reason: string }

const locate = (variable: string): Located => {
  const path = process.env[variable]
  if (path === undefined || path === "") return { ok: false, reason: `${variable} is not set` }
  if (!existsSync(path)) return { ok: false, reason: `${variable} names ${path}, which does not exist` }
  return { ok: true, path: Path.resolve(path) }
}

/**
 * The Go client's benchmark (`cmd/bench` in the Go server's source), named by
 * DFLOCKD_GO_BENCH: build it yourself beside the server; this project never
 * builds or ships it.
 */
const ensureGoBench = (): Located => locate("DFLOCKD_GO_BENCH")

const runGo = async (args: Args, servers: ReadonlyArray<string>, binary: string): Promise<Measured> => {
  const pids = serverPids(servers)
  const serverStart = cpuMillisOf(pids)
  const out = await run(binary, [
    "--workers",
    String(args.workers),
    "--rounds",
    String(args.rounds),
    "--servers",
    servers.join(","),
    "--timeout",
    "60"
  ], "pipe")
  if (out.code !== 0) throw new Error(`go bench exited with ${out.code}:\n${out.stderr}${out.stdout}`)
  const field = (name: string): number => {
    const match = new RegExp(`^\\s*${name}\\s*:\\s*([\\d.]+)`, "m").exec(out.stdout)
    if (match === null) throw new Error(`go bench output has no "${name}":\n${out.stdout}`)
    return Number(match[1])
  }
  const ops = field("total ops")
  const wallMs = field("wall time") * 1000
  const serverEnd = cpuMillisOf(pids)
  return {
    summary: {
      mode: "go",
      workers: args.workers,
      rounds: args.rounds,
      ops,
      throughput: round(field("throughput"), 1),
      mean_ms: round(field("mean"), 3),
      p50_ms: round(field("p50"), 3),
      p99_ms: round(field("p99"), 3)
    },
    extra: {
      wallMs,
      clientCpuUsPerOp: undefined,
      serverCpuPercent: serverCpuPercent(serverStart, serverEnd, wallMs),
      allocBytesPerOp: undefined
    }
  }
}

// ---------------------------------------------------------------------------
// memory: many locks held at once
// ---------------------------------------------------------------------------

interface Memory {
  readonly heapUsed: number
  readonly rss: number
  readonly external: number
}

/**
 * Full collections until the heap holds only what is reachable, the same at every reading. Each is
 * V8's "last resort" collection (the one it runs before giving up on memory), which also drops what a
 * regular one keeps: the compilation cache that retains module sources (about 3 MiB of large-object
 * space here) and bytecode not run lately (flushed by age: only the third or fourth collection in a row
 * frees it). V8's memory reducer sometimes drops these in the middle of a measurement; dropped before
 * every reading, they bias none. At least 4 collections, then more while one frees 64 KiB or more (at
 * most 10).
 */
const gc = (): void => {
  const collect = globalThis.gc
  if (collect === undefined) throw new Error("run with --expose-gc")
  let before = V8.getHeapStatistics().used_heap_size
  for (let i = 0; i < 10; i++) {
    collect({ type: "major", execution: "sync", flavor: "last-resort" })
    const after = V8.getHeapStatistics().used_heap_size
    if (i >= 3 && before - after < 64 * 1024) return
    before = after
  }
}

const memoryNow = (): Memory => {
  gc()
  const m = process.memoryUsage()
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`
const signedMib = (bytes: number) => `${bytes >= 0 ? "+" : ""}${mib(bytes)}`

/** The soft limit on open files of this process (`ulimit -n`, inherited by children). */
const openFileLimit = (): number | undefined => {
  const out = spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" })
  const n = Number(out.stdout?.trim())
  return Number.isInteger(n) && n > 0 ? n : undefined
}

/** File descriptors kept free for everything else (stdio, pool, server's own files). */
const FD_HEADROOM = 256

const lockBudget = (requested: number, label: string): number => {
  const limit = openFileLimit()
  if (limit === undefined || limit >= requested + FD_HEADROOM) return requested
  const locks = Math.max(1, limit - FD_HEADROOM)
  console.log(
    `${label}: ulimit -n is ${limit}; each held lock owns one socket here and one in the server (same limit), ` +
      `so holding ${locks} locks instead of ${requested}. Raise it with \`ulimit -n ${requested + FD_HEADROOM}\`.`
  )
  return locks
}

/** Open file descriptors of the given local server processes (undefined when not local). */
const serverFds = (pids: ReadonlyArray<number>): number | undefined => {
  if (pids.length === 0) return undefined
  try {
    return pids.reduce((n, pid) => n + readdirSync(`/proc/${pid}/fd`).length, 0)
  } catch {
    return undefined
  }
}

/**
 * Waits until a local server has closed the connections of the last cycle (the
 * Python server's per-connection cleanup scans every lock key, so closing 10,000
 * connections takes it a while); otherwise the next cycle's connections and the
 * closing ones together exceed the server's file limit.
 */
const waitForServer = (pids: ReadonlyArray<number>, baselineFds: number | undefined) =>
  Effect.gen(function*() {
    if (baselineFds === undefined) return
    const started = performance.now()
    let fds = serverFds(pids) ?? 0
    while (fds > baselineFds + 64 && performance.now() - started < 300_000) {
      yield* Effect.sleep("500 millis")
      fds = serverFds(pids) ?? 0
    }
    const waited = (performance.now() - started) / 1000
    if (waited >= 1) console.log(`  (waited ${waited.toFixed(1)} s for the server to close the released connections)`)
  })

/**
 * Counts log lines by message (keys and numbers folded) instead of printing
 * thousands of them; the first of each kind is kept as an example.
 */
const makeLogTally = () => {
  const counts = new Map<string, { count: number; example: string }>()
  const logger = Logger.make<unknown, void>(({ cause, logLevel, message }) => {
    const parts = Array.isArray(message) ? message : [message]
    const text = parts.map((p) => typeof p === "string" ? p : String(p)).join(" ")
    const kind = `${logLevel}: ${text.replace(/"[^"]*"/g, "<key>")}`
    const entry = counts.get(kind)
    if (entry !== undefined) entry.count++
    else {
      const reason = Cause.hasFails(cause) || Cause.hasDies(cause) ? ` (${Cause.pretty(cause).split("\n")[0]})` : ""
      counts.set(kind, { count: 1, example: `${text}${reason}` })
    }
  })
  const drain = () => {
    const lines = [...counts.values()].map(({ count, example }) => `  ${count} x log: ${example}`)
    counts.clear()
    return lines
  }
  return { layer: Logger.layer([logger]), drain }
}

const runMemory = async (args: Args, servers: ReadonlyArray<string>): Promise<number> => {
  const locks = lockBudget(args.locks ?? DEFAULT_MEMORY_LOCKS, "memory")
  const cycleCount = args.cycles ?? 3
  const pids = serverPids(servers)
  const tally = makeLogTally()
  const prefix = keyPrefix()
  const keys = Array.from({ length: locks }, (_, i) => `${prefix}_${i}`)
  const concurrency = 100
  const holdAll = Effect.forEach(keys, (key) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Scope.provide(Lock.acquire(key, { acquireTimeout: "60 seconds" }), scope).pipe(
        Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
      )
      return scope
    }), { concurrency })
  const releaseAll = (scopes: ReadonlyArray<Scope.Closeable>) =>
    Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { concurrency, discard: true })
  const settle = Effect.sleep("1 second") // let closed sockets' handles go before measuring

  const program = Effect.gen(function*() {
    // warm-up: load and optimise the code paths, fill the pool
    const warm = yield* Effect.forEach(
      keys.slice(0, 200),
      (key) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          yield* Scope.provide(Lock.acquire(key), scope)
          return scope
        }),
      { concurrency }
    )
    yield* releaseAll(warm)
    yield* settle
    for (const line of tally.drain()) console.log(line)
    const baselineFds = serverFds(pids)
    const baseline = memoryNow()
    console.log(
      `memory: ${locks} locks x ${cycleCount} cycles; baseline heapUsed ${mib(baseline.heapUsed)}, rss ${
        mib(baseline.rss)
      }, external ${mib(baseline.external)}`
    )
    const cycles: Array<{ held: Memory; released: Memory; acquireMs: number; releaseMs: number }> = []
    // the scopes stay local to one cycle, so nothing references them when measuring after release
    const cycle = Effect.gen(function*() {
      const t0 = performance.now()
      const scopes = yield* holdAll
      const acquireMs = performance.now() - t0
      const held = memoryNow()
      const t1 = performance.now()
      yield* releaseAll(scopes)
      return { held, acquireMs, releaseMs: performance.now() - t1 }
    })
    for (let c = 1; c <= cycleCount; c++) {
      const { acquireMs, held, releaseMs } = yield* cycle
      yield* settle
      const released = memoryNow()
      const logs = tally.drain()
      cycles.push({ held, released, acquireMs, releaseMs })
      const perLock = (field: keyof Memory) => Math.round((held[field] - baseline[field]) / locks)
      console.log(
        `cycle ${c}: acquired ${locks} in ${(acquireMs / 1000).toFixed(1)} s, released in ${
          (releaseMs / 1000).toFixed(1)
        } s | held: heapUsed ${signedMib(held.heapUsed - baseline.heapUsed)} (${perLock("heapUsed")} B/lock), rss ${
          signedMib(held.rss - baseline.rss)
        } (${perLock("rss")} B/lock), external ${perLock("external")} B/lock | after release: heapUsed ${
          signedMib(released.heapUsed - baseline.heapUsed)
        }, rss ${signedMib(released.rss - baseline.rss)}`
      )
      for (const line of logs) console.log(line)
      if (c < cycleCount) yield* waitForServer(pids, baselineFds)
    }
    return { baseline, cycles }
  })

  const layer = DflockdClient.layer({
    servers,
    ...(args.maxIdle === undefined ? {} : { pool: { maxIdle: args.maxIdle } })
  })
  const { baseline, cycles } = await Effect.runPromise(Effect.provide(program, Layer.merge(layer, tally.layer)))
  const last = cycles.at(-1)!
  const heldHeap = cycles.reduce((a, c) => a + c.held.heapUsed - baseline.heapUsed, 0) / cycles.length
  const heldRss = cycles.reduce((a, c) => a + c.held.rss - baseline.rss, 0) / cycles.length
  const residue = last.released.heapUsed - baseline.heapUsed
  // "near the baseline": what is left after the last release is small next to what the locks held
  const tolerance = Math.max(2 * 1024 * 1024, 0.1 * heldHeap)
  const ok = residue <= tolerance
  const residues = cycles.map((c) => signedMib(c.released.heapUsed - baseline.heapUsed)).join(", ")
  console.log(
    `memory: ${Math.round(heldHeap / locks)} bytes of heap and ${
      Math.round(heldRss / locks)
    } bytes of rss per held lock ` +
      `(mean of ${cycles.length} cycles, ${locks} locks each, client process only)`
  )
  console.log(
    `memory: after releasing, heapUsed is ${signedMib(residue)} from the baseline (tolerance ${mib(tolerance)}): ${
      ok ? "returns to baseline, no unbounded growth" : "DID NOT return near the baseline"
    } (after each cycle: ${residues})`
  )
  if (args.json) {
    console.log(JSON.stringify({
      mode: "memory",
      locks,
      cycles: cycles.length,
      heap_bytes_per_lock: Math.round(heldHeap / locks),
      rss_bytes_per_lock: Math.round(heldRss / locks),
      heap_residue_bytes: residue,
      ok
    }))
  }
  return ok ? 0 : 1
}

// ---------------------------------------------------------------------------
// held: many Lock.withLock regions held at once, each in its own fiber
// ---------------------------------------------------------------------------

/** Open sockets of this process (its /proc/self/fd entries that are sockets); undefined off Linux. */
const socketCount = (): number | undefined => {
  try {
    let n = 0
    for (const fd of readdirSync("/proc/self/fd")) {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")) n++
      } catch {
        // closed meanwhile (the directory's own descriptor)
      }
    }
    return n
  } catch {
    return undefined
  }
}

/** The JSON line `--mode held --json` ends with (read by `--compare`). */
interface HeldSummary {
  readonly mode: "held"
  readonly locks: number
  readonly cycles: number
  /** Sockets of the client process while the locks are held, and at the baseline. */
  readonly sockets_held: number | undefined
  readonly sockets_baseline: number | undefined
  readonly heap_bytes_per_lock: number
  readonly rss_bytes_per_lock: number
  readonly external_bytes_per_lock: number
  readonly acquire_ms: number
  readonly release_ms: number
  readonly heap_residue_bytes: number
  readonly ok: boolean
}

/** Regions forked at a time: each batch is inside its regions before the next is forked. */
const HELD_BATCH = 100

/**
 * The issue's workload for heap per held lock: `locks` fibers, each inside `Lock.withLock` on its own
 * key and waiting there, all held at once. Heap, RSS and external memory are read (after repeated full
 * collections, see {@link gc}) with every region entered, minus the baseline (taken after a warm-up of
 * the same shape, once the pool's idle connections have closed), over the locks; every held lock owns
 * a connection, so its socket is counted too. Then every region is let go, and the heap must return
 * near the baseline.
 */
const runHeld = async (args: Args, servers: ReadonlyArray<string>): Promise<number> => {
  const locks = lockBudget(args.locks ?? DEFAULT_HELD_LOCKS, "held")
  const cycleCount = args.cycles ?? 1
  const pids = serverPids(servers)
  const tally = makeLogTally()
  const prefix = keyPrefix()
  const keys = Array.from({ length: locks }, (_, i) => `${prefix}_${i}`)
  const options = { acquireTimeout: "60 seconds" } as const
  const settle = Effect.sleep("1 second") // let closed sockets' handles go before measuring

  /** Holds `regionKeys` at once, each `Lock.withLock` in its own fiber; `inside` runs with all of them held. */
  const holdAll = <A>(regionKeys: ReadonlyArray<string>, inside: Effect.Effect<A>) =>
    Effect.gen(function*() {
      const leave = yield* Deferred.make<void>()
      let entered = 0
      let failure: Cause.Cause<unknown> | undefined
      const region = (key: string) =>
        Lock.withLock(
          Effect.andThen(Effect.sync(() => void entered++), Deferred.await(leave)),
          key,
          options
        ).pipe(Effect.tapCause((cause) => Effect.sync(() => void (failure = cause))))
      const fibers: Array<Fiber.Fiber<void, unknown>> = []
      const t0 = performance.now()
      for (let start = 0; start < regionKeys.length; start += HELD_BATCH) {
        for (const key of regionKeys.slice(start, start + HELD_BATCH)) fibers.push(yield* Effect.forkChild(region(key)))
        while (entered < fibers.length) {
          if (failure !== undefined) {
            return yield* Effect.die(new Error(`held: a region failed: ${Cause.pretty(failure)}`))
          }
          if (performance.now() - t0 > 120_000) {
            return yield* Effect.die(new Error(`held: ${entered} of ${fibers.length} regions entered after 120 s`))
          }
          yield* Effect.sleep("2 millis")
        }
      }
      const acquireMs = performance.now() - t0
      const result = yield* inside
      const t1 = performance.now()
      yield* Deferred.succeed(leave, undefined)
      yield* Fiber.joinAll(fibers)
      return { result, acquireMs, releaseMs: performance.now() - t1 }
    })

  /**
   * Waits (up to 30 s) until the client's idle pooled connections are gone (closed by the pool's
   * sweeper after its `idleTimeToLive`, 10 s by default): then the baseline holds no socket, and
   * every held lock counts its own socket, none reused from the baseline's pool.
   */
  const drainIdle = (socketsBefore: number | undefined) =>
    Effect.gen(function*() {
      if (socketsBefore === undefined) return
      const started = performance.now()
      while ((socketCount() ?? 0) > socketsBefore && performance.now() - started < 30_000) {
        yield* Effect.sleep("250 millis")
      }
      const left = (socketCount() ?? 0) - socketsBefore
      const waited = ((performance.now() - started) / 1000).toFixed(1)
      console.log(
        left > 0
          ? `  (after ${waited} s, ${left} idle pooled connections are still open: the baseline includes them)`
          : `  (waited ${waited} s for the pool's idle connections to close)`
      )
    })

  const program = Effect.gen(function*() {
    const socketsBefore = socketCount()
    // warm-up: the same shape on fewer keys, to load and optimise the code paths
    yield* holdAll(keys.slice(0, Math.min(200, locks)), Effect.void)
    yield* settle
    yield* drainIdle(socketsBefore)
    for (const line of tally.drain()) console.log(line)
    const baselineFds = serverFds(pids)
    const baselineSockets = socketCount()
    const baseline = memoryNow()
    console.log(
      `held: ${locks} Lock.withLock regions, each in its own fiber, x ${cycleCount} cycle(s); baseline heapUsed ${
        mib(baseline.heapUsed)
      }, rss ${mib(baseline.rss)}, external ${mib(baseline.external)}, ${baselineSockets ?? "n/a"} sockets`
    )
    const cycles: Array<
      { held: Memory; released: Memory; sockets: number | undefined; acquireMs: number; releaseMs: number }
    > = []
    for (let c = 1; c <= cycleCount; c++) {
      const { acquireMs, releaseMs, result } = yield* holdAll(
        keys,
        Effect.sync(() => ({ memory: memoryNow(), sockets: socketCount() }))
      )
      yield* settle
      yield* drainIdle(socketsBefore)
      const released = memoryNow()
      cycles.push({ held: result.memory, sockets: result.sockets, released, acquireMs, releaseMs })
      const perLock = (field: keyof Memory) => Math.round((result.memory[field] - baseline[field]) / locks)
      console.log(
        `cycle ${c}: entered ${locks} regions in ${(acquireMs / 1000).toFixed(1)} s, left in ${
          (releaseMs / 1000).toFixed(1)
        } s | held: ${result.sockets ?? "n/a"} sockets, heapUsed ${
          signedMib(result.memory.heapUsed - baseline.heapUsed)
        } (${perLock("heapUsed")} B/lock), rss ${signedMib(result.memory.rss - baseline.rss)} (${
          perLock("rss")
        } B/lock), external ${perLock("external")} B/lock | after release: heapUsed ${
          signedMib(released.heapUsed - baseline.heapUsed)
        }, rss ${signedMib(released.rss - baseline.rss)}`
      )
      for (const line of tally.drain()) console.log(line)
      if (c < cycleCount) yield* waitForServer(pids, baselineFds)
    }
    return { baseline, baselineSockets, cycles }
  })

  const layer = DflockdClient.layer({
    servers,
    ...(args.maxIdle === undefined ? {} : { pool: { maxIdle: args.maxIdle } })
  })
  const { baseline, baselineSockets, cycles } = await Effect.runPromise(
    Effect.provide(program, Layer.merge(layer, tally.layer))
  )
  const mean = (f: (c: (typeof cycles)[number]) => number) => cycles.reduce((a, c) => a + f(c), 0) / cycles.length
  const last = cycles.at(-1)!
  const heldHeap = mean((c) => c.held.heapUsed - baseline.heapUsed)
  const residue = last.released.heapUsed - baseline.heapUsed
  const tolerance = Math.max(2 * 1024 * 1024, 0.1 * heldHeap)
  const ok = residue <= tolerance
  const summary: HeldSummary = {
    mode: "held",
    locks,
    cycles: cycles.length,
    sockets_held: last.sockets,
    sockets_baseline: baselineSockets,
    heap_bytes_per_lock: Math.round(heldHeap / locks),
    rss_bytes_per_lock: Math.round(mean((c) => c.held.rss - baseline.rss) / locks),
    external_bytes_per_lock: Math.round(mean((c) => c.held.external - baseline.external) / locks),
    acquire_ms: Math.round(mean((c) => c.acquireMs)),
    release_ms: Math.round(mean((c) => c.releaseMs)),
    heap_residue_bytes: residue,
    ok
  }
  console.log(
    `held: ${summary.heap_bytes_per_lock} bytes of heap, ${summary.rss_bytes_per_lock} bytes of rss and ${summary.external_bytes_per_lock} bytes of external memory per held lock ` +
      `(${locks} Lock.withLock regions held at once, each in its own fiber, sockets included: ${
        summary.sockets_held ?? "n/a"
      } open while held, ${
        baselineSockets ?? "n/a"
      } at the baseline (stdio pipes are sockets too); mean of ${cycles.length} cycle(s), client process only)`
  )
  console.log(
    `held: after releasing, heapUsed is ${signedMib(residue)} from the baseline (tolerance ${mib(tolerance)}): ${
      ok ? "returns to baseline" : "DID NOT return near the baseline"
    }`
  )
  if (args.json) console.log(JSON.stringify(summary))
  return ok ? 0 : 1
}

// ---------------------------------------------------------------------------
// child processes
// ---------------------------------------------------------------------------

interface Output {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command without blocking this process's event loop (a server's log pipe keeps draining). */
const run = (command: string, argv: ReadonlyArray<string>, stdio: "pipe" | "inherit"): Promise<Output> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(command, argv, { stdio: ["ignore", stdio, stdio] })
    let stdout = ""
    let stderr = ""
    child.stdout?.setEncoding("utf8").on("data", (t: string) => (stdout += t))
    child.stderr?.setEncoding("utf8").on("data", (t: string) => (stderr += t))
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr }))
  })

/** This script again, on the given servers. */
const runSelf = (argv: ReadonlyArray<string>, stdio: "pipe" | "inherit", nodeFlags: ReadonlyArray<string> = []) =>
  run(process.execPath, [...nodeFlags, "--conditions=effect-dflockd-source", scriptPath, ...argv], stdio)

// ---------------------------------------------------------------------------
// one run
// ---------------------------------------------------------------------------

const report = ({ extra, summary }: Measured, json: boolean) => {
  const lines = [
    `mode       : ${summary.mode}`,
    `workers    : ${summary.workers}`,
    `rounds     : ${summary.rounds}`,
    `total ops  : ${summary.ops}`,
    `wall time  : ${(extra.wallMs / 1000).toFixed(3)} s`,
    `throughput : ${summary.throughput.toFixed(1)} ops/s`,
    `mean       : ${summary.mean_ms.toFixed(3)} ms`,
    `p50        : ${summary.p50_ms.toFixed(3)} ms`,
    `p99        : ${summary.p99_ms.toFixed(3)} ms`,
    `client cpu : ${extra.clientCpuUsPerOp === undefined ? "n/a" : `${extra.clientCpuUsPerOp.toFixed(1)} us/op`}`,
    `server cpu : ${
      extra.serverCpuPercent === undefined ? "n/a" : `${extra.serverCpuPercent.toFixed(0)}% of one core`
    }`,
    `allocation : ${
      extra.allocBytesPerOp === undefined ? "n/a" : `${extra.allocBytesPerOp.toFixed(0)} B/op (V8 heap, client process)`
    }`
  ]
  console.log(lines.join("\n"))
  if (json) console.log(JSON.stringify(summary))
}

/** Runs `use` with a tool found by {@link locate}; without it, says why and exits 3 (no figures). */
const withTool = async (name: string, tool: Located, use: (path: string) => Promise<void>): Promise<number> => {
  if (!tool.ok) {
    console.log(`${name} unavailable: ${tool.reason}`)
    return 3
  }
  await use(tool.path)
  return 0
}

/** Runs one mode in this process against `servers`. Returns the exit code. */
const runHere = async (args: Args, mode: Mode, servers: ReadonlyArray<string>): Promise<number> => {
  switch (mode) {
    case "uncontended":
    case "contended":
      report(await runOurs(args, servers, mode === "contended"), args.json)
      return 0
    case "raw":
    case "raw-contended":
      report(await runRaw(args, servers, mode === "raw-contended"), args.json)
      return 0
    case "promise":
    case "promise-reused":
      report(await runPromiseApi(args, servers, mode === "promise-reused", mode, DistributedLock), args.json)
      return 0
    case "reference":
      return withTool(
        "reference client",
        ensureReference(),
        async (path) => report(await runPromiseApi(args, servers, false, mode, await loadReference(path)), args.json)
      )
    case "effect-floor":
      report(await runEffectFloor(args, servers), args.json)
      return 0
    case "raw-pipelined":
      report(await runRawPipelined(args, servers), args.json)
      return 0
    case "effect-floor-pipelined":
      report(await runEffectFloorPipelined(args, servers), args.json)
      return 0
    case "go":
      return withTool("go client", ensureGoBench(), async (path) => report(await runGo(args, servers, path), args.json))
    case "memory":
      return runMemory(args, servers)
    case "held":
      return runHeld(args, servers)
  }
}

/** The flags of a server for `mode`: the memory modes hold many keys at once. */
const serverFlagsFor = (mode: Mode, locks: number | undefined) =>
  memoryModes.includes(mode)
    ? { "default-lease-ttl": 33, "max-locks": Math.max(20_000, (locks ?? DEFAULT_MEMORY_LOCKS) + 1024) }
    : { "default-lease-ttl": 33 }

/** Starts a server, runs this script on it in a child process, stops the server. */
const runWithServer = async (args: Args, mode: Mode, argv: ReadonlyArray<string>): Promise<number> => {
  const server = await startServer(serverFlagsFor(mode, args.locks))
  try {
    const out = await runSelf(
      [...argv, "--servers", server.address],
      "inherit",
      memoryModes.includes(mode) ? ["--expose-gc"] : []
    )
    return out.code
  } finally {
    await server.stop()
  }
}

// ---------------------------------------------------------------------------
// --compare
// ---------------------------------------------------------------------------

interface Sample {
  readonly summary: Summary
  readonly clientCpuUsPerOp: number | undefined
  readonly serverCpuPercent: number | undefined
  readonly allocBytesPerOp: number | undefined
}

interface Cell {
  readonly throughput: number
  readonly p50_ms: number
  readonly p99_ms: number
  readonly mean_ms: number
  readonly client_cpu_us_per_op: number | undefined
  readonly server_cpu_percent: number | undefined
  /** Bytes allocated on the client's V8 heap per op (median of the runs); undefined for `go`. */
  readonly alloc_bytes_per_op: number | undefined
  readonly runs: ReadonlyArray<Summary>
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const medianOf = (values: ReadonlyArray<number | undefined>): number | undefined => {
  const defined = values.filter((v): v is number => v !== undefined)
  return defined.length === 0 ? undefined : median(defined)
}

const parseSample = (out: Output): Sample => {
  const lines = out.stdout.trim().split("\n")
  const summary = JSON.parse(lines.at(-1) ?? "") as Summary
  const number = (pattern: RegExp) => {
    const match = pattern.exec(out.stdout)
    return match === null ? undefined : Number(match[1])
  }
  return {
    summary,
    clientCpuUsPerOp: number(/^client cpu : ([\d.]+) us\/op/m),
    serverCpuPercent: number(/^server cpu : ([\d.]+)%/m),
    allocBytesPerOp: number(/^allocation : ([\d.]+) B\/op/m)
  }
}

const compareModes = [
  "raw",
  "raw-pipelined",
  "effect-floor",
  "effect-floor-pipelined",
  "uncontended",
  "go",
  "raw-contended",
  "contended"
] as const
type CompareMode = (typeof compareModes)[number]
const modeLabel: Record<CompareMode, string> = {
  raw: "raw (node:net)",
  "raw-pipelined": "raw, pipelined",
  "effect-floor": "Effect floor",
  "effect-floor-pipelined": "Effect floor, pipelined",
  uncontended: "ours (effect-dflockd)",
  go: "go (cmd/bench)",
  "raw-contended": "raw, one key",
  contended: "ours, one key"
}
const modeColor: Record<CompareMode, string> = {
  raw: "#6b7280",
  "raw-pipelined": "#111827",
  "effect-floor": "#a855f7",
  "effect-floor-pipelined": "#6b21a8",
  uncontended: "#2563eb",
  go: "#16a34a",
  "raw-contended": "#d1d5db",
  contended: "#93c5fd"
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

interface Series {
  readonly name: string
  readonly color: string
  readonly dash: boolean
  readonly values: ReadonlyArray<number | undefined>
}

/** One line chart panel: categories on x (worker counts), linear y from 0. */
const panel = (
  x0: number,
  y0: number,
  width: number,
  height: number,
  title: string,
  yLabel: string,
  categories: ReadonlyArray<number>,
  series: ReadonlyArray<Series>,
  legend: ReadonlyArray<string> = []
): string => {
  const left = 64
  const right = 16
  const top = 36
  const bottom = 44
  const plotW = width - left - right
  const plotH = height - top - bottom
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values.filter((v): v is number => v !== undefined)))
  const step = niceStep(max / 5)
  const yMax = Math.ceil((max * 1.05) / step) * step
  const px = (i: number) => x0 + left + ((i + 0.5) * plotW) / categories.length // category band centres
  const py = (v: number) => y0 + top + plotH - (v / yMax) * plotH
  const parts: Array<string> = []
  parts.push(
    `<text x="${x0 + width / 2}" y="${y0 + 20}" text-anchor="middle" font-size="15" font-weight="bold">${
      escapeXml(title)
    }</text>`
  )
  for (let v = 0; v <= yMax + step / 2; v += step) {
    const y = py(v).toFixed(1)
    parts.push(`<line x1="${x0 + left}" y1="${y}" x2="${x0 + left + plotW}" y2="${y}" stroke="#e5e7eb"/>`)
    parts.push(
      `<text x="${x0 + left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${
        formatTick(v)
      }</text>`
    )
  }
  parts.push(`<line x1="${x0 + left}" y1="${y0 + top}" x2="${x0 + left}" y2="${y0 + top + plotH}" stroke="#374151"/>`)
  parts.push(
    `<line x1="${x0 + left}" y1="${y0 + top + plotH}" x2="${x0 + left + plotW}" y2="${
      y0 + top + plotH
    }" stroke="#374151"/>`
  )
  categories.forEach((c, i) => {
    parts.push(
      `<text x="${px(i).toFixed(1)}" y="${y0 + top + plotH + 18}" text-anchor="middle" font-size="12">${c}</text>`
    )
  })
  parts.push(
    `<text x="${x0 + left + plotW / 2}" y="${y0 + height - 6}" text-anchor="middle" font-size="12">workers</text>`
  )
  parts.push(
    `<text transform="translate(${x0 + 14},${y0 + top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="12">${
      escapeXml(yLabel)
    }</text>`
  )
  for (const s of series) {
    const points = s.values.flatMap((v, i) => v === undefined ? [] : [`${px(i).toFixed(1)},${py(v).toFixed(1)}`])
    if (points.length === 0) continue
    const dash = s.dash ? ` stroke-dasharray="6 4"` : ""
    parts.push(`<polyline points="${points.join(" ")}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`)
    for (const p of points) {
      const [cx, cy] = p.split(",")
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="${s.color}"/>`)
    }
  }
  // legend, top-left inside the plot, on a light background
  // series without a name (e.g. a p99 line drawn in its p50 line's colour) are drawn but not listed
  const named = series.filter((s) => s.name !== "")
  const legendWidth = 30 + 6.2 * Math.max(0, ...legend.map((l) => l.length), ...named.map((s) => s.name.length))
  const legendRows = named.length + legend.length
  parts.push(
    `<rect x="${x0 + left + 4}" y="${y0 + top + 2}" width="${legendWidth.toFixed(0)}" height="${
      legendRows * 16 + 4
    }" fill="#ffffff" fill-opacity="0.85" stroke="#e5e7eb"/>`
  )
  legend.forEach((text, i) => {
    const ly = y0 + top + 10 + (named.length + i) * 16
    parts.push(
      `<text x="${
        x0 + left + 10
      }" y="${ly}" dominant-baseline="middle" font-size="11" font-style="italic" fill="#6b7280">${
        escapeXml(text)
      }</text>`
    )
  })
  named.forEach((s, i) => {
    const lx = x0 + left + 10
    const ly = y0 + top + 10 + i * 16
    const dash = s.dash ? ` stroke-dasharray="6 4"` : ""
    parts.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`)
    parts.push(`<text x="${lx + 28}" y="${ly}" dominant-baseline="middle" font-size="11">${escapeXml(s.name)}</text>`)
  })
  return parts.join("\n")
}

const niceStep = (raw: number): number => {
  const power = 10 ** Math.floor(Math.log10(raw))
  const m = raw / power
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power
}

const formatTick = (v: number) =>
  v >= 1000 ? `${(v / 1000).toFixed(v % 1000 === 0 ? 0 : 1)}k` : `${Number(v.toPrecision(3))}`

const cellKey = (mode: Mode, workers: number) => `${mode}/${workers}`

/** Writes a comparison's report, `<dir>/<name>.md` (`--out`, default bench/results), and its data, `<name>.json`. */
const writeResults = (dir: string, name: string, markdown: string, data: unknown): void => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(Path.join(dir, `${name}.md`), markdown)
  writeFileSync(Path.join(dir, `${name}.json`), JSON.stringify(data, null, 2) + "\n")
}

/**
 * The order of `n` modes in repeat `rep`: a row of a Williams design (a
 * balanced Latin square). Over `n` repeats (`2n` for an odd `n`) every mode
 * runs once in every position and once right after every other mode, so
 * neither a cold or warm server nor what the previous run left behind (1.11's
 * pattern leaves thousands of closed connections) keeps favouring one mode.
 */
const williamsOrder = (n: number, rep: number): Array<number> => {
  const base = [0]
  for (let i = 1; base.length < n; i++) {
    base.push(i)
    if (base.length < n) base.push(n - i)
  }
  const row = rep % (n % 2 === 0 ? n : 2 * n)
  const shifted = base.map((b) => (b + row) % n)
  return row >= n ? shifted.reverse() : shifted
}

/**
 * Runs every mode at every worker count against `address`, each in a child
 * process, `args.repeats` times (in the orders of {@link williamsOrder}), and
 * keeps the median of each cell.
 */
const measureMatrix = async (
  args: Args,
  modes: ReadonlyArray<Mode>,
  address: string,
  roundsFor: (workers: number) => number
): Promise<Map<string, Cell>> => {
  const samples = new Map<string, Array<Sample>>()
  for (let rep = 0; rep < args.repeats; rep++) {
    for (const workers of COMPARE_WORKERS) {
      const order = williamsOrder(modes.length, rep).map((i) => modes[i]!)
      for (const mode of order) {
        const argv = [
          "--mode",
          mode,
          "--workers",
          String(workers),
          "--rounds",
          String(roundsFor(workers)),
          ...(args.warmup === undefined ? [] : ["--warmup", String(args.warmup)]),
          "--servers",
          address,
          "--json",
          ...(args.maxIdle === undefined ? [] : ["--max-idle", String(args.maxIdle)])
        ]
        const out = await runSelf(argv, "pipe")
        if (out.code !== 0) {
          throw new Error(`${mode} with ${workers} workers exited with ${out.code}:\n${out.stderr}${out.stdout}`)
        }
        const sample = parseSample(out)
        const list = samples.get(cellKey(mode, workers)) ?? []
        list.push(sample)
        samples.set(cellKey(mode, workers), list)
        const s = sample.summary
        console.log(
          `  [${rep + 1}/${args.repeats}] ${mode.padEnd(22)} workers=${String(workers).padStart(2)}  ${
            s.throughput.toFixed(0).padStart(6)
          } ops/s  p50 ${s.p50_ms.toFixed(2)} ms  p99 ${s.p99_ms.toFixed(2)} ms  client ${
            sample.clientCpuUsPerOp?.toFixed(0) ?? "n/a"
          } us/op  ${sample.allocBytesPerOp?.toFixed(0) ?? "n/a"} B/op  server ${
            sample.serverCpuPercent === undefined ? "n/a" : `${sample.serverCpuPercent.toFixed(0)}%`
          }`
        )
      }
    }
  }
  const cells = new Map<string, Cell>()
  for (const [key, list] of samples) {
    cells.set(key, {
      throughput: round(median(list.map((s) => s.summary.throughput)), 1),
      p50_ms: round(median(list.map((s) => s.summary.p50_ms)), 3),
      p99_ms: round(median(list.map((s) => s.summary.p99_ms)), 3),
      mean_ms: round(median(list.map((s) => s.summary.mean_ms)), 3),
      client_cpu_us_per_op: medianOf(list.map((s) => s.clientCpuUsPerOp)),
      server_cpu_percent: medianOf(list.map((s) => s.serverCpuPercent)),
      alloc_bytes_per_op: medianOf(list.map((s) => s.allocBytesPerOp)),
      runs: list.map((s) => s.summary)
    })
  }
  return cells
}

/** The held-lock figure of `--compare`: `--mode held` once, in a child with `--expose-gc`, on a server of its own. */
type HeldOutcome = { readonly ok: true; readonly summary: HeldSummary } | {
  readonly ok: false
  readonly reason: string
}

const measureHeld = async (args: Args): Promise<HeldOutcome> => {
  const locks = args.locks ?? DEFAULT_HELD_LOCKS
  const server = await startServer(serverFlagsFor("held", locks))
  try {
    console.log(`compare: held, ${locks} Lock.withLock regions at once (server ${server.address})`)
    const out = await runSelf(
      [
        "--mode",
        "held",
        "--locks",
        String(locks),
        "--servers",
        server.address,
        "--json",
        ...(args.maxIdle === undefined ? [] : ["--max-idle", String(args.maxIdle)])
      ],
      "pipe",
      ["--expose-gc"]
    )
    for (const line of out.stdout.trim().split("\n").slice(0, -1)) console.log(`  ${line}`)
    const last = out.stdout.trim().split("\n").at(-1) ?? ""
    try {
      const summary = JSON.parse(last) as HeldSummary
      if (summary.mode === "held") return { ok: true, summary }
    } catch {
      // no summary line: reported below
    }
    return { ok: false, reason: `held exited with ${out.code}:\n${out.stderr}${out.stdout}` }
  } finally {
    await server.stop()
  }
}

const compare = async (args: Args): Promise<number> => {
  const roundsFor = (workers: number) => args.roundsGiven ? args.rounds : Math.ceil(COMPARE_OPS / workers)
  const roundsDesc = args.roundsGiven
    ? `${args.rounds} rounds per worker`
    : `${COMPARE_OPS} timed ops per run (${COMPARE_WORKERS.map(roundsFor).join("/")} rounds per worker)`
  const started = performance.now()
  const loadBefore = Os.loadavg()
  const go = ensureGoBench()
  if (!go.ok) console.log(`go client unavailable: ${go.reason}`)
  const modes: ReadonlyArray<CompareMode> = go.ok
    ? compareModes
    : compareModes.filter((mode) => mode !== "go")
  const server = await startServer({ "default-lease-ttl": 33 })
  const described = await describeServer(server)
  let cells: Map<string, Cell>
  try {
    console.log(
      `compare: server ${server.address} (${described.label}, ${described.binary}), ` +
        `${args.repeats} repeats x workers ${COMPARE_WORKERS.join("/")} x ${modes.join("/")}, ${roundsDesc}`
    )
    cells = await measureMatrix(args, modes, server.address, roundsFor)
  } finally {
    await server.stop()
  }
  const held = await measureHeld(args)
  if (!held.ok) console.log(`compare: no held-lock figure: ${held.reason}`)
  const cell = (mode: CompareMode, workers: number) => cells.get(cellKey(mode, workers))
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? undefined : round(a / b, 2)
  const rows = COMPARE_WORKERS.map((workers) => {
    const raw = cell("raw", workers)
    const rawPipelined = cell("raw-pipelined", workers)
    const floor = cell("effect-floor", workers)
    const floorPipelined = cell("effect-floor-pipelined", workers)
    const ours = cell("uncontended", workers)
    const goCell = cell("go", workers)
    const rawContended = cell("raw-contended", workers)
    const contended = cell("contended", workers)
    return {
      workers,
      raw,
      raw_pipelined: rawPipelined,
      floor,
      floor_pipelined: floorPipelined,
      ours,
      go: goCell,
      raw_contended: rawContended,
      contended,
      ours_over_raw: ratio(ours?.throughput, raw?.throughput),
      ours_over_raw_pipelined: ratio(ours?.throughput, rawPipelined?.throughput),
      floor_over_raw: ratio(floor?.throughput, raw?.throughput),
      floor_pipelined_over_raw_pipelined: ratio(floorPipelined?.throughput, rawPipelined?.throughput),
      ours_over_floor: ratio(ours?.throughput, floor?.throughput),
      ours_over_floor_pipelined: ratio(ours?.throughput, floorPipelined?.throughput),
      ours_over_go: ratio(ours?.throughput, goCell?.throughput),
      ours_p99_over_p50: ratio(ours?.p99_ms, ours?.p50_ms),
      contended_over_raw_contended: ratio(contended?.throughput, rawContended?.throughput)
    }
  })

  const cpus = Os.cpus()
  const machine = `${cpus.length} x ${cpus[0]?.model.trim() ?? "unknown CPU"}, ${
    mib(Os.totalmem())
  } RAM, ${Os.type()} ${Os.release()}, Node ${process.version}`
  const serverDesc = `${described.label} on loopback, same machine`
  const goDesc = go.ok ? `the Go client's cmd/bench (${go.path})` : `unavailable: ${go.reason}`
  const fmt = (n: number | undefined, digits = 0) => n === undefined ? "n/a" : n.toFixed(digits)
  const pct = (n: number | undefined) => n === undefined ? "n/a" : `${n.toFixed(0)}%`
  const latency = (c: Cell | undefined) => c === undefined ? "n/a" : `${c.p50_ms.toFixed(2)} / ${c.p99_ms.toFixed(2)}`
  /** A figure of the five in-process uncontended modes, `raw / raw pipelined / floor / floor pipelined / ours`. */
  const fiveOf = (r: (typeof rows)[number], f: (c: Cell | undefined) => string) =>
    [r.raw, r.raw_pipelined, r.floor, r.floor_pipelined, r.ours].map(f).join(" / ")
  const throughputTable = [
    "| workers | raw ops/s | raw pipelined ops/s | Effect floor ops/s | Effect floor pipelined ops/s | ours ops/s | go ops/s | ours/raw | ours/raw pipelined | ours/floor | ours/floor pipelined | floor/raw | floor pipelined/raw pipelined | ours/go | one key: raw / ours ops/s | one key: ours/raw |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.workers} | ${fmt(r.raw?.throughput)} | ${fmt(r.raw_pipelined?.throughput)} | ${
        fmt(r.floor?.throughput)
      } | ${fmt(r.floor_pipelined?.throughput)} | ${fmt(r.ours?.throughput)} | ${fmt(r.go?.throughput)} | ${
        fmt(r.ours_over_raw, 2)
      } | ${fmt(r.ours_over_raw_pipelined, 2)} | ${fmt(r.ours_over_floor, 2)} | ${
        fmt(r.ours_over_floor_pipelined, 2)
      } | ${fmt(r.floor_over_raw, 2)} | ${fmt(r.floor_pipelined_over_raw_pipelined, 2)} | ${fmt(r.ours_over_go, 2)} | ${
        fmt(r.raw_contended?.throughput)
      } / ${fmt(r.contended?.throughput)} | ${fmt(r.contended_over_raw_contended, 2)} |`
    )
  ].join("\n")
  const latencyTable = [
    "| workers | raw p50/p99 ms | raw pipelined p50/p99 ms | Effect floor p50/p99 ms | Effect floor pipelined p50/p99 ms | ours p50/p99 ms | go p50/p99 ms | ours p99/p50 |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.workers} | ${latency(r.raw)} | ${latency(r.raw_pipelined)} | ${latency(r.floor)} | ${
        latency(r.floor_pipelined)
      } | ${latency(r.ours)} | ${latency(r.go)} | ${fmt(r.ours_p99_over_p50, 2)} |`
    )
  ].join("\n")
  const costTable = [
    "| workers | client CPU us/op: raw / raw pipelined / floor / floor pipelined / ours | allocated B/op: raw / raw pipelined / floor / floor pipelined / ours | ours: CPU us/op over raw / over raw pipelined | server CPU raw / ours |",
    "|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.workers} | ${fiveOf(r, (c) => fmt(c?.client_cpu_us_per_op))} | ${
        fiveOf(r, (c) => fmt(c?.alloc_bytes_per_op))
      } | ${fmt(ratio(r.ours?.client_cpu_us_per_op, r.raw?.client_cpu_us_per_op), 2)} / ${
        fmt(ratio(r.ours?.client_cpu_us_per_op, r.raw_pipelined?.client_cpu_us_per_op), 2)
      } | ${pct(r.raw?.server_cpu_percent)} / ${pct(r.ours?.server_cpu_percent)} |`
    )
  ].join("\n")
  const heldLine = held.ok
    ? `Heap per held lock: **${held.summary.heap_bytes_per_lock} B** (RSS ${held.summary.rss_bytes_per_lock} B, external ${held.summary.external_bytes_per_lock} B), ` +
      `${held.summary.locks} \`Lock.withLock\` regions held at once, each in its own fiber, sockets included ` +
      `(${
        held.summary.sockets_held === undefined || held.summary.sockets_baseline === undefined
          ? "n/a"
          : held.summary.sockets_held - held.summary.sockets_baseline
      } sockets opened while held); after release the heap is ${
        signedMib(held.summary.heap_residue_bytes)
      } from its baseline` +
      `${
        held.summary.ok ? "" : " (NOT back near it)"
      }. Measured by \`--mode held\` (heapUsed and RSS with all held minus the baseline, over the locks, each read after repeated full collections).`
    : `Heap per held lock: not measured (${held.reason.split("\n")[0]}).`
  const tables = [
    "Throughput (acquire + release per second):",
    "",
    throughputTable,
    "",
    "Latency per op (pipelined floors: from the write of a release and the next lock's request to that lock's grant):",
    "",
    latencyTable,
    "",
    "Cost per op in the client process (timed phase):",
    "",
    costTable
  ].join("\n")
  const elapsed = (performance.now() - started) / 1000
  const loadAfter = Os.loadavg()
  const load = `1-min load average ${loadBefore[0]!.toFixed(2)} before, ${
    loadAfter[0]!.toFixed(2)
  } after (${cpus.length} CPUs; includes this run)`
  const markdown = [
    "# effect-dflockd benchmark: ours vs raw node:net vs Go",
    "",
    `Acquire+release, each worker on its own key (one key: every worker on the same key, FIFO hand-offs); median of ${args.repeats} runs per cell, ${roundsDesc} ` +
    `(+${
      args.warmup === undefined
        ? `${DEFAULT_WARMUP_OPS} untimed warm-up ops spread over the workers`
        : `${args.warmup} untimed warm-up rounds per worker`
    }). Generated by \`npm run bench -- --compare${args.roundsGiven ? ` --rounds ${args.rounds}` : ""}${
      args.repeats === COMPARE_REPEATS ? "" : ` --repeats ${args.repeats}`
    }${args.locks === undefined ? "" : ` --locks ${args.locks}`}\` in ${elapsed.toFixed(0)} s.`,
    "",
    `- Machine: ${machine}`,
    `- Server: ${serverDesc}`,
    `- Go client: ${goDesc}`,
    `- Load: ${load}`,
    `- Date: ${new Date().toISOString()}`,
    "",
    tables,
    "",
    heldLine,
    "",
    "Client CPU is user+system time of the bench process per op; server CPU is the dflockd process's CPU during the timed phase, in percent of one core. " +
    "Allocated bytes are those allocated on the bench process's V8 heap during the timed phase, per op: the heap's used size at the end minus at the start, plus what every collection in between freed (before minus after, from a `v8.GCProfiler`); Buffer backing stores and native memory are not counted. " +
    "The Effect floor is raw's loop with each exchange an `Effect.callback` on one fiber per worker (no lease, pool, timer or scope): " +
    "raw to floor is the Effect runtime's own cost per asynchronous step, floor to ours is this library's. " +
    "The pipelined floors do not wait for a release: each worker writes the release and the next lock's request together and reads both replies (the release's `ok` checked before the grant is used), " +
    "one `Promise` (raw) or one `Effect.callback` (Effect floor) per lock.",
    ""
  ].join("\n")

  writeResults(args.out, "compare", markdown, {
    machine,
    server: serverDesc,
    go: goDesc,
    load,
    rounds: Object.fromEntries(COMPARE_WORKERS.map((w) => [String(w), roundsFor(w)])),
    warmup: args.warmup,
    repeats: args.repeats,
    date: new Date().toISOString(),
    rows,
    held: held.ok ? held.summary : { error: held.reason }
  })
  const plotted = modes.map((m) => ({ mode: m, cells: COMPARE_WORKERS.map((w) => cell(m, w)) }))
  const throughputSeries: Array<Series> = plotted.map(({ cells: cs, mode }) => ({
    name: modeLabel[mode],
    color: modeColor[mode],
    dash: false,
    values: cs.map((c) => c?.throughput)
  }))
  // one legend row per mode: the p99 line (dashed) shares its p50 line's colour
  const latencySeries: Array<Series> = plotted.flatMap(({ cells: cs, mode }) => [
    { name: modeLabel[mode], color: modeColor[mode], dash: false, values: cs.map((c) => c?.p50_ms) },
    { name: "", color: modeColor[mode], dash: true, values: cs.map((c) => c?.p99_ms) }
  ])
  const width = 1000
  const height = 440
  const goNote: ReadonlyArray<string> = go.ok ? [] : ["go (cmd/bench): unavailable, not plotted"]
  const heldNote = held.ok
    ? `Heap per held lock: ${held.summary.heap_bytes_per_lock} B (RSS ${held.summary.rss_bytes_per_lock} B), ${held.summary.locks} Lock.withLock regions held at once, each in its own fiber, sockets included.`
    : "Heap per held lock: not measured."
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 56}" viewBox="0 0 ${width} ${
      height + 56
    }" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    panel(
      0,
      0,
      width / 2,
      height,
      `Throughput (median of ${args.repeats})`,
      "acquire+release per second",
      COMPARE_WORKERS,
      throughputSeries,
      goNote
    ),
    panel(
      width / 2,
      0,
      width / 2,
      height,
      "Latency per op: p50 (solid), p99 (dashed)",
      "milliseconds",
      COMPARE_WORKERS,
      latencySeries
    ),
    `<text x="${width / 2}" y="${height + 12}" text-anchor="middle" font-size="11" fill="#4b5563">${
      escapeXml(`Server: ${serverDesc}. Uncontended, ${roundsDesc}, median of ${args.repeats} runs.`)
    }</text>`,
    `<text x="${width / 2}" y="${height + 28}" text-anchor="middle" font-size="11" fill="#4b5563">${
      escapeXml(heldNote)
    }</text>`,
    `<text x="${width / 2}" y="${height + 44}" text-anchor="middle" font-size="11" fill="#4b5563">${
      escapeXml(`Machine: ${machine}. ${load}.`)
    }</text>`,
    `</svg>`,
    ""
  ].join("\n")
  writeFileSync(Path.join(args.out, "compare.svg"), svg)

  console.log(`\n${tables}\n\n${heldLine}\n`)
  console.log(`wrote ${Path.relative(root, args.out) || "."}/compare.{md,json,svg} (${elapsed.toFixed(0)} s)`)
  return held.ok && held.summary.ok ? 0 : 1
}

// ---------------------------------------------------------------------------
// --compare-promise
// ---------------------------------------------------------------------------

/**
 * `effect-dflockd/promise` against dflockd-client 1.11 (a new instance per lock,
 * 1.11's own pattern) and against the Effect core (a reused instance): the
 * figures issue "drop-in Promise API" asks for, in `bench/results/promise.{md,json}`.
 */
const comparePromise = async (args: Args): Promise<number> => {
  const roundsFor = (workers: number) => args.roundsGiven ? args.rounds : Math.ceil(COMPARE_OPS / workers)
  const started = performance.now()
  const reference = ensureReference()
  if (!reference.ok) console.log(`reference client unavailable: ${reference.reason}`)
  const modes: ReadonlyArray<Mode> = reference.ok
    ? ["reference", "promise", "promise-reused", "uncontended"]
    : ["promise", "promise-reused", "uncontended"]
  const server = await startServer({ "default-lease-ttl": 33 })
  const described = await describeServer(server)
  let cells: Map<string, Cell>
  try {
    console.log(`compare-promise: server ${server.address} (${described.label}), modes ${modes.join("/")}`)
    cells = await measureMatrix(args, modes, server.address, roundsFor)
  } finally {
    await server.stop()
  }
  // Each repeat runs the modes back to back: the ratio of two modes is taken per repeat, then the
  // median, so that the machine's drift between repeats does not enter it.
  const pairedRatio = (a: Cell | undefined, b: Cell | undefined) => {
    if (a === undefined || b === undefined || a.runs.length !== b.runs.length) return undefined
    return round(median(a.runs.map((run, i) => run.throughput / b.runs[i]!.throughput)), 2)
  }
  const rows = COMPARE_WORKERS.map((workers) => {
    const ref = cells.get(cellKey("reference", workers))
    const fresh = cells.get(cellKey("promise", workers))
    const reused = cells.get(cellKey("promise-reused", workers))
    const core = cells.get(cellKey("uncontended", workers))
    return {
      workers,
      reference: ref,
      promise: fresh,
      promise_reused: reused,
      core,
      promise_over_reference: pairedRatio(fresh, ref),
      reused_over_core: pairedRatio(reused, core)
    }
  })
  const fmt = (n: number | undefined, digits = 0) => n === undefined ? "n/a" : n.toFixed(digits)
  const cpu = (c: Cell | undefined) => fmt(c?.client_cpu_us_per_op)
  const alloc = (c: Cell | undefined) => fmt(c?.alloc_bytes_per_op)
  const table = [
    "| workers | dflockd-client 1.11, new instance per op | ours, new instance per op | ours / 1.11 | ours, reused instance | Effect core (`Lock.withLock`) | reused / core | client CPU us/op: 1.11 / new / reused / core | allocated B/op: 1.11 / new / reused / core |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((r) =>
      `| ${r.workers} | ${fmt(r.reference?.throughput)} | ${fmt(r.promise?.throughput)} | ${
        fmt(r.promise_over_reference, 2)
      } | ${fmt(r.promise_reused?.throughput)} | ${fmt(r.core?.throughput)} | ${fmt(r.reused_over_core, 2)} | ${
        cpu(r.reference)
      } / ${cpu(r.promise)} / ${cpu(r.promise_reused)} / ${cpu(r.core)} | ${alloc(r.reference)} / ${
        alloc(r.promise)
      } / ${alloc(r.promise_reused)} / ${alloc(r.core)} |`
    )
  ].join("\n")
  const cpus = Os.cpus()
  const machine = `${cpus.length} x ${cpus[0]?.model.trim() ?? "unknown CPU"}, Node ${process.version}`
  const elapsed = (performance.now() - started) / 1000
  const referenceDesc = reference.ok
    ? `dflockd-client 1.11 built from its public source (${reference.path}), through DFLOCKD_CLIENT_TS`
    : `unavailable: ${reference.reason}`
  const markdown = [
    "# effect-dflockd/promise: against dflockd-client 1.11 and the Effect core",
    "",
    `\`withLock\` with an empty callback, each worker on its own key; median of ${args.repeats} runs per cell, ` +
    `${COMPARE_OPS} timed ops per run unless --rounds; the two ratios are the median of their per-repeat ` +
    `ratios (each repeat runs the four modes back to back). Generated by \`npm run bench -- --compare-promise${
      args.repeats === COMPARE_REPEATS ? "" : ` --repeats ${args.repeats}`
    }\` in ${elapsed.toFixed(0)} s.`,
    "",
    `- Machine: ${machine}`,
    `- Server: ${described.label} on loopback, same machine`,
    `- Reference: ${referenceDesc}`,
    `- Date: ${new Date().toISOString()}`,
    "",
    table,
    "",
    "Allocated bytes: allocated on the bench process's V8 heap during the timed phase, per op (used size at the end minus at the start, " +
    "plus what each collection freed, from a `v8.GCProfiler`; Buffer backing stores and native memory not counted).",
    ""
  ].join("\n")
  writeResults(args.out, "promise", markdown, {
    machine,
    server: described.label,
    reference: referenceDesc,
    repeats: args.repeats,
    rows
  })
  console.log(`\n${table}\n`)
  console.log(`wrote ${Path.relative(root, args.out) || "."}/promise.{md,json} (${elapsed.toFixed(0)} s)`)
  return 0
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

const main = async (): Promise<number> => {
  const argv = process.argv.slice(2)
  const args = parse(argv)
  if (args.compare) return compare(args)
  if (args.comparePromise) return comparePromise(args)
  const mode = args.mode!
  const direct = args.servers !== undefined && (!memoryModes.includes(mode) || globalThis.gc !== undefined)
  if (!direct) {
    if (args.servers !== undefined) return (await runSelf(argv, "inherit", ["--expose-gc"])).code
    return runWithServer(args, mode, argv)
  }
  return runHere(args, mode, args.servers!)
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error("bench failed:", error)
    process.exit(1)
  }
)
