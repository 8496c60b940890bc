/** The held-lock figure of `--compare`: `--mode held` once, in a child with `--expose-gc`, on a server of its own. */
import { startServer } from "../../dflockd-server.ts"
import { runSelf } from "../child-process.ts"
import type { Args } from "../cli.ts"
import { DEFAULT_HELD_LOCKS, serverFlagsFor } from "../config.ts"
import type { HeldSummary } from "../workloads/held.ts"

export type HeldOutcome = { readonly ok: true; readonly summary: HeldSummary } | {
  readonly ok: false
  readonly reason: string
}

export const measureHeld = async (args: Args): Promise<HeldOutcome> => {
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
