/** `go`: dflockd's `cmd/bench` (the Go client), run as it is, its printed figures read back. */
import { run } from "../child-process.ts"
import type { Args } from "../cli.ts"
import { cpuMillisOf, serverCpuPercent, serverPids } from "../meters.ts"
import { round } from "../statistics.ts"
import type { Measured } from "./shared.ts"

export const runGo = async (args: Args, servers: ReadonlyArray<string>, binary: string): Promise<Measured> => {
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
