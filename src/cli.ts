#!/usr/bin/env node
/**
 * `dflock`: runs a command while holding a dflockd lock, or prints the servers'
 * statistics.
 *
 *   dflock [options] <key> -- <command> [args...]
 *   dflock [options] <key> -c <string>
 *   dflock stats [--json] [options]
 *
 * Waits for the lock on `<key>` (or, with `--limit N`, for one of N permits of
 * the semaphore `<key>`), runs the command (`-c`: the string, by /bin/sh -c)
 * with inherited stdio in a process group of its own while the lease is
 * renewed, releases the lock as soon as the command's group has ended, and
 * exits with the command's exit code (see `dflock --help` for options, such as
 * flock(1)'s `-n` and `-E`, and the other exit codes). Installed as the
 * package's `dflock` binary.
 *
 * @since 0.1.0
 */
import { readFileSync, realpathSync } from "node:fs"
import * as Path from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { main } from "./internal/cli/command.ts"

/** The package version, from the package.json next to this script's directory (src/ or dist/). */
const version = (): string => {
  try {
    const script = realpathSync(process.argv[1] ?? "")
    const pkg: unknown = JSON.parse(readFileSync(Path.join(Path.dirname(script), "..", "package.json"), "utf8"))
    return typeof pkg === "object" && pkg !== null && "version" in pkg && typeof pkg.version === "string"
      ? pkg.version
      : "unknown"
  } catch {
    return "unknown"
  }
}

// The edge: run the program, then let Node exit on its own with the program's
// exit code once every handle (sockets, child, timers) is gone. The interval
// keeps Node alive while the program waits on a callback that holds no handle.
const keepAlive = setInterval(() => {}, 2 ** 31 - 1)
Effect.runFork(main(process.argv.slice(2), version()).pipe(Effect.provide(NodeServices.layer))).addObserver((exit) => {
  clearInterval(keepAlive)
  process.exitCode = Exit.isSuccess(exit) ? exit.value : 70
})
