/**
 * The `dflock` command line from a program: run a short command while holding
 * the lock "nightly-report", print what it printed and dflock's exit code (the
 * command's own). In a shell, or from cron, the same is:
 *
 *   DFLOCKD_SERVERS=127.0.0.1:6388 dflock --timeout 5 nightly-report -- node -e "console.log('inside the lock')"
 *
 * Here dflock runs from this repository's sources (`npm run dflock -- ...` does
 * the same); once the package is installed, the `dflock` binary does.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Data, Effect, Stream } from "effect"
import { ChildProcess, ChildProcessSpawner } from "effect/process"
import { fileURLToPath } from "node:url"
import { servers } from "./_servers.ts"

const cli = fileURLToPath(new URL("../src/cli.ts", import.meta.url))

const dflock = (...args: ReadonlyArray<string>) =>
  ChildProcess.make(process.execPath, ["--conditions=effect-dflockd-source", cli, ...args], {
    env: { DFLOCKD_SERVERS: servers.join(",") },
    extendEnv: true,
    stderr: "inherit" // dflock's own diagnostics, if any
  })

class DflockFailed extends Data.TaggedError("DflockFailed")<{ readonly exitCode: number }> {}

const program = Effect.gen(function*() {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const handle = yield* spawner.spawn(
    dflock("--timeout", "5", "nightly-report", "--", process.execPath, "-e", "console.log('inside the lock')")
  )
  const output = yield* handle.stdout.pipe(Stream.decodeText(), Stream.mkString)
  const exitCode = yield* handle.exitCode
  yield* Effect.log(`dflock printed: ${output.trim()}`)
  yield* Effect.log(`dflock exited with ${exitCode}`)
  if (exitCode !== 0) return yield* new DflockFailed({ exitCode })
}).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

NodeRuntime.runMain(program)
