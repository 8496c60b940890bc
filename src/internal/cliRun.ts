/**
 * `dflock <key> -- <command>`: take the lock with `Lock.withLock`, run the
 * command as a child process while the lease is renewed, and turn its end into
 * an exit code.
 *
 * The command runs through effect's process module (`ChildProcessSpawner`),
 * detached: it leads a process group of its own, so everything it starts
 * (a pipeline, `sleep 60 &`, …) can be signalled at once. Whenever dflock stops
 * the command (lease lost, or SIGINT/SIGTERM to dflock) the whole group gets the
 * signal, then SIGKILL after {@link KILL_GRACE}; and when the command exits by
 * itself, whatever it left running in its group is stopped the same way. The
 * lock is released only after the group is gone.
 *
 * Lifetimes, outermost first:
 *   signal listeners (SIGINT/SIGTERM; removed last, so a late signal never kills
 *   dflock between the command's exit and the release)
 *   → client layer (its sockets) → the lock (`r` when the region ends)
 *   → the process group (terminated and awaited when the region ends, however
 *   it ends) → the signal forwarder.
 */
import { constants } from "node:os"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as PlatformError from "effect/PlatformError"
import * as ChildProcess from "effect/process/ChildProcess"
import * as ChildProcessSpawner from "effect/process/ChildProcessSpawner"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Lock from "../Lock.ts"

/** Exit codes (sysexits.h), besides the command's own. */
export const ExitCode = {
  ok: 0,
  /** bad arguments or configuration */
  usage: 64,
  /** the CA file cannot be read */
  noInput: 66,
  /** cannot connect, auth rejected, or the server refused the request */
  unavailable: 69,
  /** the lease was lost while the command ran; or an internal error */
  software: 70,
  /** the lock was not granted within --timeout */
  tempFail: 75,
  /** the server sent something this client does not understand */
  protocol: 76,
  /** the command was found but cannot be executed */
  cannotExecute: 126,
  /** the command was not found */
  notFound: 127
} as const

/** How long the command's process group gets between a signal and SIGKILL when dflock stops it. */
export const KILL_GRACE = Duration.seconds(5)

const signalNumbers: Readonly<Record<string, number | undefined>> = constants.signals

/** The shell's convention for a process killed by a signal: 128 + its number. */
export const signalExitCode = (signal: string): number => 128 + (signalNumbers[signal] ?? 0)

type Forwarded = "SIGINT" | "SIGTERM"
const forwarded: ReadonlyArray<Forwarded> = ["SIGINT", "SIGTERM"]

/**
 * SIGINT and SIGTERM, queued instead of killing dflock, for as long as the
 * current scope lasts. (Effect has no signal module: `process.on` is the edge.)
 */
export const trapSignals: Effect.Effect<Queue.Queue<Forwarded>, never, Scope.Scope> = Effect.gen(function*() {
  const signals = yield* Queue.unbounded<Forwarded>()
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === "SIGINT" || signal === "SIGTERM") Queue.offerUnsafe(signals, signal)
  }
  yield* Effect.acquireRelease(
    Effect.sync(() => forwarded.forEach((signal) => process.on(signal, onSignal))),
    () => Effect.sync(() => forwarded.forEach((signal) => process.off(signal, onSignal)))
  )
  return signals
})

/**
 * The spawner reports a command killed by a signal as a failed `exitCode`
 * whose cause names the signal (`…receipt of signal: 'SIGKILL'`): the only place
 * the signal appears. Anything else is not an exit status.
 */
const killedBy = (error: PlatformError.PlatformError): Option.Option<string> => {
  const cause = error.reason._tag === "BadArgument" ? undefined : error.reason.cause
  const match = cause instanceof Error ? /signal: '(SIG[A-Z0-9]+)'/.exec(cause.message) : null
  return match === null ? Option.none() : Option.some(match[1]!)
}

/** The command's exit status: its exit code, or 128 + the number of the signal that killed it. */
const exitStatus = (handle: ChildProcessSpawner.ChildProcessHandle): Effect.Effect<number> =>
  handle.exitCode.pipe(
    Effect.map((code): number => code),
    Effect.catch((error) =>
      Option.match(killedBy(error), {
        onSome: (signal) => Effect.succeed(signalExitCode(signal)),
        onNone: () => Effect.die(error)
      })
    )
  )

/** The command's outcome, or why it did not run to the end. */
export type Outcome =
  | { readonly _tag: "Exited"; readonly status: number }
  | { readonly _tag: "Signalled"; readonly signal: Forwarded }
  | { readonly _tag: "SpawnFailed"; readonly error: PlatformError.PlatformError }

/** What to run, under which lock. */
export interface RunOptions {
  readonly key: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly timeout: Duration.Duration
  readonly lease: Duration.Duration | undefined
}

/**
 * Waits for the lock, runs the command under it, and returns how it ended.
 * SIGINT/SIGTERM before the command started abandon the wait; after, they go
 * to the command's process group. Fails only with the lock's errors (lease lost
 * included, after the process group is gone).
 */
export const runLocked = Effect.fnUntraced(function*(options: RunOptions) {
  const spawner = yield* ChildProcessSpawner.ChildProcessSpawner
  const signals = yield* trapSignals
  const spawned = yield* Deferred.make<void>()

  const command = ChildProcess.make(options.command, options.args, {
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
    // its own process group; the spawner signals the group (killSignal, then SIGKILL after
    // forceKillAfter) and waits for it when the region's scope closes
    detached: true,
    killSignal: "SIGTERM",
    forceKillAfter: KILL_GRACE
  })

  // The lock's region: start the command, forward signals to its group, wait for its exit.
  const region = Effect.scoped(
    Effect.gen(function*() {
      const handle = yield* spawner.spawn(command)
      yield* Deferred.succeed(spawned, undefined)
      yield* Queue.take(signals).pipe(
        Effect.flatMap((signal) =>
          // signalled in a fiber of its own: a second signal is forwarded while the first one's grace runs
          Effect.forkScoped(
            handle.kill({ killSignal: signal, forceKillAfter: KILL_GRACE }).pipe(
              Effect.catch((error) => Effect.logDebug("dflock: signalling the command failed", error))
            )
          )
        ),
        Effect.forever,
        Effect.forkScoped
      )
      return yield* exitStatus(handle)
    })
  )

  const locked = region.pipe(
    Effect.map((status): Outcome => ({ _tag: "Exited", status })),
    Effect.catchTag("PlatformError", (error) => Effect.succeed<Outcome>({ _tag: "SpawnFailed", error })),
    Lock.withLock(options.key, { acquireTimeout: options.timeout, leaseTtl: options.lease })
  )

  // A signal before the command started abandons the wait; after, the forwarder takes it.
  const abandon = Effect.raceFirst(
    Effect.map(Queue.take(signals), Option.some),
    Effect.as(Deferred.await(spawned), Option.none<Forwarded>())
  ).pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.never,
      onSome: (signal) => Effect.succeed<Outcome>({ _tag: "Signalled", signal })
    }))
  )

  return yield* Effect.raceFirst(locked, abandon)
})
