/** What the two memory modes (`memory`, `held`) start from: the locks they hold, their cycles, their keys. */
import { Effect } from "effect"
import type { Args } from "../cli.ts"
import { lockBudget } from "../file-descriptors.ts"
import { serverPids } from "../meters.ts"
import { makeLogTally } from "./log-tally.ts"
import { workerKeys } from "./shared.ts"

/**
 * The locks to hold (`--locks`, else `defaults.locks`, within what `ulimit -n` allows), the cycles
 * (`--cycles`, else `defaults.cycles`), the local server's pids, a log tally and one key per lock.
 */
export const startManyLocks = (
  args: Args,
  servers: ReadonlyArray<string>,
  mode: "memory" | "held",
  defaults: { readonly locks: number; readonly cycles: number }
) => {
  const locks = lockBudget(args.locks ?? defaults.locks, mode)
  const cycleCount = args.cycles ?? defaults.cycles
  const pids = serverPids(servers)
  const tally = makeLogTally()
  return { locks, cycleCount, pids, tally, keys: workerKeys(locks) }
}

/** Lets closed sockets' handles go before measuring. */
export const settle = Effect.sleep("1 second")
