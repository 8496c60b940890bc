/** The figures one timed run prints, and how `--compare` reads them back from a child's output. */
import type { Output } from "./child-process.ts"
import type { Summary } from "./statistics.ts"
import type { Measured } from "./workloads/shared.ts"

export const printRun = ({ extra, summary }: Measured, json: boolean) => {
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

/** One run of a `--compare` cell, read from its output. */
export interface Sample {
  readonly summary: Summary
  readonly clientCpuUsPerOp: number | undefined
  readonly serverCpuPercent: number | undefined
  readonly allocBytesPerOp: number | undefined
}

export const parseSample = (out: Output): Sample => {
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
