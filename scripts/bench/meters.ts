/**
 * Meters of a timed phase: wall clock, this process's CPU (`process.cpuUsage`) and V8 heap allocation
 * (a `v8.GCProfiler`), and a local server's CPU (from /proc).
 */
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import * as V8 from "node:v8"
import { isLoopback, splitAddress } from "./addresses.ts"

/** What a run measured besides the summary (printed, not in the JSON line). */
export interface Extra {
  readonly wallMs: number
  /** Client CPU (user + system) per op, microseconds. */
  readonly clientCpuUsPerOp: number | undefined
  /** Server CPU during the timed phase, percent of one core. */
  readonly serverCpuPercent: number | undefined
  /** Bytes allocated on this process's V8 heap per op during the timed phase (see {@link startAllocationCounter}). */
  readonly allocBytesPerOp: number | undefined
}

/**
 * The pids of local dflockd processes listening on the given ports (found by
 * their command line in /proc), to read their CPU time. Best effort: Linux only.
 */
export const serverPids = (servers: ReadonlyArray<string>): Array<number> => {
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
export const cpuMillisOf = (pids: ReadonlyArray<number>): number | undefined => {
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
export const serverCpuPercent = (
  start: number | undefined,
  end: number | undefined,
  wallMs: number
): number | undefined =>
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
export const startMeter = (servers: ReadonlyArray<string>) => {
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
