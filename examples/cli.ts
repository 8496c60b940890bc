/**
 * The `dflock` command line from a program: run a short command while holding
 * the lock "nightly-report", print what it printed and dflock's exit code (the
 * command's own); then the flock(1)-style options: `-c` (a shell command line),
 * `-n` (do not wait) with `-E 0` (a busy lock is a quiet success, for cron),
 * and `--limit` (a semaphore permit instead of the lock). In a shell, or from
 * cron, the same is:
 *
 *   DFLOCKD_SERVERS=127.0.0.1:6388 dflock --timeout 5 nightly-report -- node -e "console.log('inside the lock')"
 *   dflock -n -q -E 0 -c 'echo never printed' nightly-report
 *   dflock --limit 2 --timeout 300ms encoders -c 'echo encoding'
 *
 * Here dflock runs from this repository's sources (`npm run dflock -- ...` does
 * the same); once the package is installed, the `dflock` binary does.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Data, Effect, Option, Stream } from "effect"
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

/** Runs `dflock args...` to its end: what it printed, and its exit code. */
const run = (...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
    const handle = yield* spawner.spawn(dflock(...args))
    const output = yield* handle.stdout.pipe(Stream.decodeText(), Stream.mkString)
    const exitCode = yield* handle.exitCode
    return { output: output.trim(), exitCode }
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner

  // 1. a command under the lock: its output, and its exit code as dflock's
  const report = yield* run(
    "--timeout",
    "5",
    "nightly-report",
    "--",
    process.execPath,
    "-e",
    "console.log('inside the lock')"
  )
  yield* Effect.log(`dflock printed: ${report.output}`)
  yield* Effect.log(`dflock exited with ${report.exitCode}`)
  if (report.exitCode !== 0) return yield* new DflockFailed({ exitCode: report.exitCode })

  // 2. -c: a shell command line holds the lock; meanwhile -n -E 0 -q gives up at once, quietly, with 0
  const holder = yield* spawner.spawn(dflock("nightly-report", "-c", "echo holding; sleep 1"))
  const first = yield* holder.stdout.pipe(Stream.decodeText(), Stream.splitLines, Stream.runHead)
  yield* Effect.log(`the holder printed: ${Option.getOrElse(first, () => "")}`)
  const skipped = yield* run("-n", "-q", "-E", "0", "-c", "echo never printed", "nightly-report")
  yield* Effect.log(`while it is held, dflock -n -q -E 0 exited with ${skipped.exitCode}, printing nothing`)
  if (skipped.exitCode !== 0 || skipped.output !== "") return yield* new DflockFailed({ exitCode: skipped.exitCode })
  const holderExit = yield* holder.exitCode
  if (holderExit !== 0) return yield* new DflockFailed({ exitCode: holderExit })

  // 3. --limit: one of 2 permits of the semaphore "encoders" (69 where the server has no semaphores)
  const permit = yield* run("--limit", "2", "--timeout", "300ms", "encoders", "-c", "echo encoding")
  yield* Effect.log(
    permit.exitCode === 0
      ? `with a permit of encoders (--limit 2): ${permit.output}`
      : `--limit 2 exited with ${permit.exitCode} (a server without semaphores answers 69)`
  )
  if (permit.exitCode !== 0 && permit.exitCode !== 69) return yield* new DflockFailed({ exitCode: permit.exitCode })
}).pipe(Effect.scoped, Effect.provide(NodeServices.layer))

NodeRuntime.runMain(program)
