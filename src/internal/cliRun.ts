/**
 * The `dflock` program: parse the command line, take the lock with
 * `Lock.withLock`, run the command as a child process while the lease is
 * renewed, and turn every outcome into an exit code.
 *
 * Lifetimes, outermost first:
 *   signal listeners (SIGINT/SIGTERM; removed last, so a late signal never kills
 *   dflock between the command's exit and the release)
 *   → client layer (its sockets) → the lock (`r` when the region ends)
 *   → the child process (terminated if the region is interrupted, and always
 *   awaited before the lock is released) → the signal forwarder.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { constants } from "node:os"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as DflockdClient from "../DflockdClient.ts"
import type { DflockdError } from "../Errors.ts"
import * as Lock from "../Lock.ts"
import * as Args from "./cliArgs.ts"

const { ExitCode } = Args

/** How the child process ended: an exit code, or the signal that killed it. */
export interface ChildExit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

const signalNumbers: Readonly<Record<string, number | undefined>> = constants.signals

/** The shell's convention: the exit code, or 128 + the number of the killing signal. */
export const exitCodeOf = (exit: ChildExit): number =>
  exit.code !== null ? exit.code : 128 + (exit.signal === null ? 0 : signalNumbers[exit.signal] ?? 0)

/** How long a command gets between SIGTERM and SIGKILL when dflock must stop it. */
export const KILL_GRACE = Duration.seconds(5)

const forwarded: ReadonlyArray<NodeJS.Signals> = ["SIGINT", "SIGTERM"]

/** The command could not be started (not found, not executable, ...). */
interface SpawnFailure {
  readonly _tag: "SpawnFailure"
  readonly code: string | undefined
  readonly message: string
}

interface Child {
  readonly process: ChildProcess
  readonly exited: Deferred.Deferred<ChildExit>
}

/**
 * SIGINT and SIGTERM, queued instead of killing dflock, for as long as the
 * current scope lasts.
 */
const trapSignals = Effect.gen(function*() {
  const signals = yield* Queue.unbounded<NodeJS.Signals>()
  const onSignal = (signal: NodeJS.Signals) => {
    Queue.offerUnsafe(signals, signal)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => forwarded.forEach((signal) => process.on(signal, onSignal))),
    () => Effect.sync(() => forwarded.forEach((signal) => process.off(signal, onSignal)))
  )
  return signals
})

/** Sends SIGTERM, then SIGKILL after the grace period, and waits for the exit. */
const terminate = (child: Child): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (yield* Deferred.isDone(child.exited)) return
    yield* Effect.sync(() => child.process.kill("SIGTERM"))
    const exited = yield* Deferred.await(child.exited).pipe(Effect.timeoutOption(KILL_GRACE))
    if (Option.isSome(exited)) return
    yield* Effect.sync(() => child.process.kill("SIGKILL"))
    yield* Deferred.await(child.exited)
  })

/**
 * Starts the command with inherited stdio, in dflock's process group (so it
 * keeps the terminal). Succeeds once the process exists; if the current scope
 * closes while it still runs, it is terminated and awaited.
 */
const spawnChild = (command: string, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.callback<Child, SpawnFailure>((resume) => {
      const exited = Deferred.makeUnsafe<ChildExit>()
      const proc = spawn(command, args, { stdio: "inherit" })
      proc.once("exit", (code, signal) => Deferred.doneUnsafe(exited, Exit.succeed({ code, signal })))
      // `error` also reports a failed kill later on; only the first, before `spawn`, matters
      proc.on("error", (error: NodeJS.ErrnoException) =>
        resume(Effect.fail({ _tag: "SpawnFailure", code: error.code, message: error.message })))
      // (acquireRelease acquires uninterruptibly: this waits for `spawn` or `error`, which come at once)
      proc.once("spawn", () =>
        resume(Effect.succeed({ process: proc, exited })))
    }),
    terminate
  )

/** The command's outcome, or why it did not run to the end. */
type Outcome =
  | { readonly _tag: "Exited"; readonly exit: ChildExit }
  | { readonly _tag: "Signalled"; readonly signal: NodeJS.Signals }
  | { readonly _tag: "SpawnFailed"; readonly failure: SpawnFailure }

const runLocked = Effect.fnUntraced(function*(options: Args.RunOptions) {
  const signals = yield* trapSignals
  const spawned = yield* Deferred.make<Child>()

  // The lock's region: start the command, forward signals to it, wait for its exit.
  const region = Effect.scoped(
    Effect.gen(function*() {
      const child = yield* spawnChild(options.command, options.args)
      yield* Deferred.succeed(spawned, child)
      yield* Queue.take(signals).pipe(
        Effect.flatMap((signal) => Effect.sync(() => child.process.kill(signal))),
        Effect.forever,
        Effect.forkScoped
      )
      return yield* Deferred.await(child.exited)
    })
  )

  const locked = region.pipe(
    Effect.map((exit): Outcome => ({ _tag: "Exited", exit })),
    Effect.catchTag("SpawnFailure", (failure) => Effect.succeed<Outcome>({ _tag: "SpawnFailed", failure })),
    Lock.withLock(options.key, {
      acquireTimeout: Duration.seconds(options.timeoutSeconds),
      leaseTtl: options.leaseSeconds === undefined ? undefined : Duration.seconds(options.leaseSeconds)
    }),
    // However the region ended (lease lost included), the command has exited before we go on.
    Effect.ensuring(Effect.flatMap(
      Deferred.poll(spawned),
      Option.match({
        onNone: () => Effect.void,
        onSome: (child) => Effect.flatMap(child, ({ exited }) => Deferred.await(exited))
      })
    ))
  )

  // A signal before the command started abandons the wait; after, the forwarder takes it.
  const abandon = Effect.raceFirst(
    Effect.map(Queue.take(signals), Option.some),
    Effect.as(Deferred.await(spawned), Option.none<NodeJS.Signals>())
  ).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.never,
      onSome: (signal) => Effect.succeed<Outcome>({ _tag: "Signalled", signal })
    }))
  )

  return yield* Effect.raceFirst(locked, abandon)
})

const clientOptions = (
  options: Args.RunOptions,
  connect: Args.Connect,
  ca: string | undefined
): DflockdClient.ClientOptions => ({
  servers: connect.servers,
  auth: connect.auth,
  tls: ca !== undefined ? { ca } : options.tls,
  // one lock, one connection: nothing idle keeps dflock alive after the release
  pool: false
})

const readCa = (file: string) =>
  Effect.try({
    try: () => readFileSync(file, "utf8"),
    catch: (error) => (error instanceof Error ? error.message : String(error))
  })

/**
 * Runs `dflock` with the arguments after the program name and returns the exit
 * code. Never fails: every error is reported on stderr and mapped to a code.
 */
export const main = (
  argv: ReadonlyArray<string>,
  env: Readonly<Record<string, string | undefined>>,
  version: () => string
): Effect.Effect<number> =>
  Effect.gen(function*() {
    const parsed = Args.parseArgs(argv)
    if (Result.isFailure(parsed)) return yield* usageError(parsed.failure)
    const options = parsed.success
    if (options._tag === "Help") {
      yield* Console.log(Args.helpText.trimEnd())
      return ExitCode.ok
    }
    if (options._tag === "Version") {
      yield* Console.log(`dflock ${version()}`)
      return ExitCode.ok
    }
    const say = (message: string) => options.quiet ? Effect.void : Console.error(`dflock: ${message}`)

    const connect = Args.resolveConnect(options, env)
    if (Result.isFailure(connect)) return yield* usageError(connect.failure)
    let ca: string | undefined
    if (options.tlsCa !== undefined) {
      const read = yield* Effect.result(readCa(options.tlsCa))
      if (Result.isFailure(read)) {
        yield* say(`cannot read --tls-ca ${options.tlsCa}: ${read.failure}`)
        return ExitCode.noInput
      }
      ca = read.success
    }
    const client = clientOptions(options, connect.success, ca)
    const resolved = DflockdClient.resolveOptions(client)
    if (Result.isFailure(resolved)) return yield* usageError(resolved.failure.message)

    const outcome = yield* runLocked(options).pipe(
      Effect.scoped,
      Effect.provide(DflockdClient.layer(client)),
      Effect.result
    )
    if (Result.isSuccess(outcome)) {
      const done = outcome.success
      switch (done._tag) {
        case "Exited":
          return exitCodeOf(done.exit)
        case "Signalled":
          yield* say(`${done.signal} while waiting for ${options.key}`)
          return 128 + (signalNumbers[done.signal] ?? 0)
        case "SpawnFailed":
          yield* say(`cannot run ${options.command}: ${done.failure.message}`)
          return done.failure.code === "ENOENT" ? ExitCode.notFound : ExitCode.cannotExecute
      }
    }
    return yield* reportError(outcome.failure, options.key, say)
  }).pipe(
    // dflock prints its own diagnostics; the library's log lines (e.g. its own
    // "lease lost" warning) would only repeat them, and stdout belongs to the command
    Effect.provideService(References.MinimumLogLevel, "None"),
    Effect.catchCause((cause) =>
      Console.error(`dflock: internal error: ${Cause.pretty(cause)}`).pipe(Effect.as(ExitCode.software))
    )
  )

const usageError = (message: string) =>
  Console.error(`dflock: ${message}\n${Args.usageLine}\nTry 'dflock --help' for more information.`).pipe(
    Effect.as(ExitCode.usage)
  )

const reportError = (
  error: DflockdError,
  key: string,
  say: (message: string) => Effect.Effect<void>
): Effect.Effect<number> => {
  switch (error._tag) {
    case "AcquireTimeoutError":
      return Effect.as(say(`timed out waiting for ${key}`), ExitCode.tempFail)
    case "LockLostError":
      return Effect.as(say(`lease on ${key} lost: ${error.reason}`), ExitCode.software)
    case "ConnectionError":
    case "AuthError":
    case "ServerError":
      return Effect.as(say(error.message), ExitCode.unavailable)
    case "ProtocolError":
      return Effect.as(say(error.message), ExitCode.protocol)
    case "InvalidArgumentError":
      return usageError(error.message)
  }
}
