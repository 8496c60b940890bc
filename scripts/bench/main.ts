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
 *
 * Modules: `cli.ts` (flags), `run-mode.ts` (one mode, here or on a server of its own), `workloads/`
 * (each mode's workload), `meters.ts`, `memory-meters.ts`, `file-descriptors.ts` (what a run measures),
 * `statistics.ts`, `run-report.ts` (a run's printed figures), `compare/` (`--compare` and
 * `--compare-promise`: the matrix in child processes, its Williams order, report and chart).
 */
import { runSelf } from "./child-process.ts"
import { parse } from "./cli.ts"
import { compare } from "./compare/compare.ts"
import { comparePromise } from "./compare/promise.ts"
import { memoryModes } from "./config.ts"
import { runHere, runWithServer } from "./run-mode.ts"

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
