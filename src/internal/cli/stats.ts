/**
 * `dflock stats`: the servers' statistics as plain-text tables (or JSON).
 * Pure rendering; the command itself is in command.ts.
 */
import type { ServerStats } from "../protocol/stats.ts"

/** Left-aligned columns, two spaces apart; the header row first. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ")
  return [line(header), ...rows.map(line)].join("\n")
}

const seconds = (s: number): string => s.toFixed(1)

/** One server's section: a summary line, then a table per non-empty kind of entry. */
const section = ({ server, stats }: ServerStats): string => {
  const idleLocks = stats.idle_locks ?? []
  const idleSemaphores = stats.idle_semaphores ?? []
  const parts: Array<string> = [
    `${server}: ${stats.connections} connection(s), ${stats.locks.length} lock(s), ` +
    `${stats.semaphores.length} semaphore(s), ${idleLocks.length + idleSemaphores.length} idle key(s)`
  ]
  if (stats.cluster !== undefined) {
    const { leader_addr, node_id, role, term } = stats.cluster
    parts.push(
      `cluster: node ${node_id}, ${role}, term ${term}${leader_addr === undefined ? "" : `, leader ${leader_addr}`}`
    )
  }
  if (stats.locks.length > 0) {
    parts.push(table(
      ["LOCK", "OWNER", "EXPIRES IN (s)", "WAITERS"],
      stats.locks.map((lock) => [
        lock.key,
        lock.owner_conn_id === 0 ? "-" : String(lock.owner_conn_id),
        lock.owner_conn_id === 0 ? "-" : seconds(lock.lease_expires_in_s),
        String(lock.waiters)
      ])
    ))
  }
  if (stats.semaphores.length > 0) {
    parts.push(table(
      ["SEMAPHORE", "HOLDERS", "LIMIT", "WAITERS"],
      stats.semaphores.map((s) => [s.key, String(s.holders), String(s.limit), String(s.waiters)])
    ))
  }
  if (idleLocks.length + idleSemaphores.length > 0) {
    parts.push(table(
      ["IDLE KEY", "KIND", "IDLE FOR (s)"],
      [
        ...idleLocks.map((idle) => [idle.key, "lock", seconds(idle.idle_s)]),
        ...idleSemaphores.map((idle) => [idle.key, "semaphore", seconds(idle.idle_s)])
      ]
    ))
  }
  return parts.join("\n\n")
}

/** Every server's section, a blank line apart. */
export const render = (all: ReadonlyArray<ServerStats>): string => all.map(section).join("\n\n")

/** `--json`: an array of `{ "server": "host:port", "stats": <the server's reply> }`. */
export const renderJson = (all: ReadonlyArray<ServerStats>): string => JSON.stringify(all, null, 2)
