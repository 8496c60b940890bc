/** One mode: run in this process against given servers, or in a child process on a server of its own. */
import { DistributedLock } from "effect-dflockd/promise"
import { startServer } from "../dflockd-server.ts"
import { runSelf } from "./child-process.ts"
import type { Args } from "./cli.ts"
import { memoryModes, type Mode, serverFlagsFor } from "./config.ts"
import { ensureGoBench, ensureReference, withTool } from "./external-tools.ts"
import { printRun } from "./run-report.ts"
import { runEffectFloor } from "./workloads/effect-floor.ts"
import { runEffectFloorPipelined } from "./workloads/effect-floor-pipelined.ts"
import { runGo } from "./workloads/go.ts"
import { runHeld } from "./workloads/held.ts"
import { runMemory } from "./workloads/memory.ts"
import { runOurs } from "./workloads/ours.ts"
import { loadReference, runPromiseApi } from "./workloads/promise.ts"
import { runRaw } from "./workloads/raw.ts"
import { runRawPipelined } from "./workloads/raw-pipelined.ts"

/** Runs one mode in this process against `servers`. Returns the exit code. */
export const runHere = async (args: Args, mode: Mode, servers: ReadonlyArray<string>): Promise<number> => {
  switch (mode) {
    case "uncontended":
    case "contended":
      printRun(await runOurs(args, servers, mode === "contended"), args.json)
      return 0
    case "raw":
    case "raw-contended":
      printRun(await runRaw(args, servers, mode === "raw-contended"), args.json)
      return 0
    case "promise":
    case "promise-reused":
      printRun(await runPromiseApi(args, servers, mode === "promise-reused", mode, DistributedLock), args.json)
      return 0
    case "reference":
      return withTool(
        "reference client",
        ensureReference(),
        async (path) => printRun(await runPromiseApi(args, servers, false, mode, await loadReference(path)), args.json)
      )
    case "effect-floor":
      printRun(await runEffectFloor(args, servers), args.json)
      return 0
    case "raw-pipelined":
      printRun(await runRawPipelined(args, servers), args.json)
      return 0
    case "effect-floor-pipelined":
      printRun(await runEffectFloorPipelined(args, servers), args.json)
      return 0
    case "go":
      return withTool(
        "go client",
        ensureGoBench(),
        async (path) => printRun(await runGo(args, servers, path), args.json)
      )
    case "memory":
      return runMemory(args, servers)
    case "held":
      return runHeld(args, servers)
  }
}

/** Starts a server, runs this script on it in a child process, stops the server. */
export const runWithServer = async (args: Args, mode: Mode, argv: ReadonlyArray<string>): Promise<number> => {
  const server = await startServer(serverFlagsFor(mode, args.locks))
  try {
    const out = await runSelf(
      [...argv, "--servers", server.address],
      "inherit",
      memoryModes.includes(mode) ? ["--expose-gc"] : []
    )
    return out.code
  } finally {
    await server.stop()
  }
}
