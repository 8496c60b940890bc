/** `--compare`'s Markdown: its three tables, the held-lock sentence and the report around them. */
import type { Args } from "../cli.ts"
import { COMPARE_REPEATS, DEFAULT_WARMUP_OPS } from "../config.ts"
import { fmt, signedMib } from "../format.ts"
import { ratio } from "../statistics.ts"
import type { HeldOutcome } from "./held.ts"
import type { Cell } from "./matrix.ts"
import type { CompareRow } from "./rows.ts"

const pct = (n: number | undefined) => n === undefined ? "n/a" : `${n.toFixed(0)}%`
const latency = (c: Cell | undefined) => c === undefined ? "n/a" : `${c.p50_ms.toFixed(2)} / ${c.p99_ms.toFixed(2)}`
/** A figure of the five in-process uncontended modes, `raw / raw pipelined / floor / floor pipelined / ours`. */
const fiveOf = (r: CompareRow, f: (c: Cell | undefined) => string) =>
  [r.raw, r.raw_pipelined, r.floor, r.floor_pipelined, r.ours].map(f).join(" / ")

/** The throughput, latency and cost tables, with their captions. */
export const compareTables = (rows: ReadonlyArray<CompareRow>): string => {
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
  return [
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
}

/** The held-lock figure in a sentence (the report's, also printed). */
export const heldSentence = (held: HeldOutcome): string =>
  held.ok
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

/** What `--compare`'s report says of its run besides the figures. */
export interface CompareContext {
  readonly roundsDesc: string
  readonly elapsed: number
  readonly machine: string
  readonly serverDesc: string
  readonly goDesc: string
  readonly load: string
}

/** The report, `compare.md`: how it was made, on what, its tables and the held-lock sentence, and what they mean. */
export const compareMarkdown = (args: Args, context: CompareContext, tables: string, heldLine: string): string => {
  const { elapsed, goDesc, load, machine, roundsDesc, serverDesc } = context
  return [
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
}
