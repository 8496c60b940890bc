/**
 * File descriptors of the memory modes: the budget of locks `ulimit -n` allows, the sockets of this
 * process, and a local server's descriptors (to wait until it has closed a cycle's connections).
 */
import { spawnSync } from "node:child_process"
import { readdirSync, readlinkSync } from "node:fs"
import { Effect } from "effect"

/** The soft limit on open files of this process (`ulimit -n`, inherited by children). */
const openFileLimit = (): number | undefined => {
  const out = spawnSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" })
  const n = Number(out.stdout?.trim())
  return Number.isInteger(n) && n > 0 ? n : undefined
}

/** File descriptors kept free for everything else (stdio, pool, server's own files). */
const FD_HEADROOM = 256

export const lockBudget = (requested: number, label: string): number => {
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
export const serverFds = (pids: ReadonlyArray<number>): number | undefined => {
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
export const waitForServer = (pids: ReadonlyArray<number>, baselineFds: number | undefined) =>
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

/** Open sockets of this process (its /proc/self/fd entries that are sockets); undefined off Linux. */
export const socketCount = (): number | undefined => {
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
