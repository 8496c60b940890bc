/**
 * A comparison's matrix: every mode at every worker count, each run in a child process, repeated in the
 * orders of a Williams design, and the median of each cell.
 */
import { runSelf } from "../child-process.ts"
import type { Args } from "../cli.ts"
import { COMPARE_OPS, COMPARE_WORKERS, type Mode } from "../config.ts"
import { parseSample, type Sample } from "../run-report.ts"
import { median, medianOf, round, type Summary } from "../statistics.ts"
import { williamsOrder } from "./williams.ts"

/** The medians of a cell's runs, and the runs. */
export interface Cell {
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

export const cellKey = (mode: Mode, workers: number) => `${mode}/${workers}`

/** Rounds per worker of a run with `workers` workers: `--rounds`, else {@link COMPARE_OPS} spread over them. */
export const roundsPerWorker = (args: Args) => (workers: number) =>
  args.roundsGiven ? args.rounds : Math.ceil(COMPARE_OPS / workers)

/**
 * Runs every mode at every worker count against `address`, each in a child
 * process, `args.repeats` times (in the orders of {@link williamsOrder}), and
 * keeps the median of each cell.
 */
export const measureMatrix = async (
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
