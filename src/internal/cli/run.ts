/**
 * `dflock <key> -- <command>`: take the lock with `Lock.withLock` (or a permit
 * with `Semaphore.withPermit`), run the command as a child process while the
 * lease is renewed, and turn its end into an exit code.
 *
 * The command runs detached: it leads a process group of its own, so everything
 * it starts (a pipeline, `sleep 60 &`, …) can be signalled at once. Whenever
 * dflock stops the command (lease lost, or SIGINT/SIGTERM to dflock) the whole
 * group gets the signal, then SIGKILL {@link KILL_GRACE} after the first signal
 * (one grace period, never restarted, announced on stderr when it runs out);
 * and when the command exits by itself, whatever it left running in its group
 * is stopped the same way. The lock is released as soon as the group is gone.
 *
 * "Gone" means no member of the group still runs: the leader has been reaped
 * (Node's `exit` event) and `kill(-pgid, 0)` finds nobody, or (Linux) every
 * member left is a zombie. A background job killed after its shell exited is
 * reparented to init, which may take its time to reap it (some container
 * inits every second or two); dflock does not wait for that. Node's
 * `child_process` is the edge here, as `process.on` is for signals: effect's
 * spawner waits for such zombies, and restarts the grace period when the
 * leader exits during it.
 *
 * Lifetimes, outermost first:
 *   signal listeners (SIGINT/SIGTERM; removed last, so a late signal never kills
 *   dflock between the command's exit and the release)
 *   → client layer (its sockets) → the lock (`r` when the region ends)
 *   → the SIGKILL timer → the process group (stopped and awaited when the
 *   region ends, however it ends, signals still forwarded meanwhile)
 *   → the signal forwarder.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, readFileSync } from "node:fs"
import { constants } from "node:os"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Lease from "../lease/lease.ts"

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
  /** the lock was not granted within --timeout (the default of -E/--conflict-exit-code) */
  tempFail: 75,
  /** the server sent something this client does not understand */
  protocol: 76,
  /** the command was found but cannot be executed */
  cannotExecute: 126,
  /** the command was not found */
  notFound: 127
} as const

/** How long the command's process group gets between the first signal dflock sends it and SIGKILL. */
export const KILL_GRACE = Duration.seconds(5)

/** How long dflock waits for the group to vanish after SIGKILL before it releases the lock regardless. */
export const KILL_WAIT = Duration.seconds(1)

const seconds = (duration: Duration.Duration): string => `${Duration.toSeconds(duration)} s`

/** How often the group is looked at while members other than the leader still run. */
const POLL_INTERVAL = Duration.millis(5)

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

// ---------------------------------------------------------------------------
// the process group
// ---------------------------------------------------------------------------

/** Why the command could not be started. */
export interface SpawnFailure {
  readonly reason: "NotFound" | "PermissionDenied" | "Other"
  readonly message: string
}

const spawnFailure = (error: Error): SpawnFailure => {
  const code = (error as NodeJS.ErrnoException).code
  return {
    reason: code === "ENOENT" ? "NotFound" : code === "EACCES" ? "PermissionDenied" : "Other",
    message: error.message
  }
}

/** Linux: whether `pid` runs as a member of process group `pgid` (not a zombie), from /proc/<pid>/stat. */
const runsInGroup = (pid: string, pgid: number): boolean => {
  let stat: string
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "latin1")
  } catch {
    return false // gone
  }
  // state, ppid and pgrp follow the command name, in parentheses
  const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ", 3)
  return Number(pgrp) === pgid && state !== "Z" && state !== "X"
}

/** Linux: the running members of process group `pgid`, from /proc; `undefined` where /proc cannot be read. */
const runningMembers = (pgid: number): Array<string> | undefined => {
  let entries: Array<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return undefined
  }
  return entries.filter((entry) => /^\d+$/.test(entry) && runsInGroup(entry, pgid))
}

/**
 * Whether any member of process group `pgid` (its leader already reaped) still
 * runs, asked again and again. `kill(-pgid, 0)`: ESRCH means nobody is left;
 * EPERM, only members dflock cannot signal (on macOS, zombies). A group that
 * answers may hold only zombies waiting for init to reap them: on Linux /proc
 * tells. The members found are watched one by one; /proc is scanned again only
 * once they have all ended (one of them may have forked another before).
 */
const groupWatch = (pgid: number): () => boolean => {
  let members: Array<string> = []
  return () => {
    try {
      process.kill(-pgid, 0)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EPERM" || process.platform !== "linux") return false
    }
    if (process.platform !== "linux") return true
    members = members.filter((pid) => runsInGroup(pid, pgid))
    if (members.length > 0) return true
    const found = runningMembers(pgid)
    if (found === undefined) return true
    members = found
    return members.length > 0
  }
}

/**
 * Sends `signal` to process group `pgid`; a group already gone is not an error.
 * (Windows has no process groups to signal: there, the leader alone.)
 */
const signalGroup = (pgid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(process.platform === "win32" ? pgid : -pgid, signal)
  } catch {
    // ESRCH: nothing left to signal; EPERM: nothing dflock may signal
  }
}

/**
 * Starts the command as the leader of a new process group, with inherited
 * stdio; its exit status (its exit code, or 128 + the number of the signal that
 * killed it) completes `exited`.
 */
const spawnLeader = (
  command: string,
  args: ReadonlyArray<string>,
  exited: Deferred.Deferred<number>
): Effect.Effect<ChildProcess, SpawnFailure> =>
  Effect.callback<ChildProcess, SpawnFailure>((resume) => {
    let child: ChildProcess
    try {
      child = spawn(command, args, { stdio: "inherit", detached: true })
    } catch (error) {
      return resume(Effect.fail(spawnFailure(error instanceof Error ? error : new Error(String(error)))))
    }
    child.once("exit", (code, signal) => {
      Deferred.doneUnsafe(exited, Exit.succeed(code ?? signalExitCode(signal ?? "")))
    })
    const onError = (error: Error) => resume(Effect.fail(spawnFailure(error)))
    child.once("error", onError)
    child.once("spawn", () => {
      child.off("error", onError)
      child.on("error", () => {}) // dflock signals the group with process.kill, never through the handle
      resume(Effect.succeed(child))
    })
    // interrupted while starting: the group cannot have grown yet
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** The command's process group, while it lives. */
interface Group {
  /** The leader's exit status. */
  readonly exited: Effect.Effect<number>
  /** Sends `signal` to the group; the first signal starts the grace period before SIGKILL. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
}

/**
 * Starts the command in a process group of its own, for the current scope. When
 * the scope closes, a group that still runs gets SIGTERM and is awaited, with
 * `signals` still forwarded to it; SIGKILL follows {@link KILL_GRACE} after the
 * first signal, announced through `say`.
 */
const processGroup = (
  command: string,
  args: ReadonlyArray<string>,
  signals: Queue.Dequeue<Forwarded>,
  say: (message: string) => Effect.Effect<void>
): Effect.Effect<Group, SpawnFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<number>()
    const graceStarted = yield* Deferred.make<NodeJS.Signals>()
    const killed = yield* Deferred.make<void>()
    let pgid = 0
    let groupRuns = (): boolean => false

    const runs = Effect.sync(() => pgid !== 0 && (!Deferred.isDoneUnsafe(exited) || groupRuns()))
    const signal = (sig: NodeJS.Signals) =>
      Effect.sync(() => {
        if (pgid !== 0) signalGroup(pgid, sig)
      }).pipe(Effect.andThen(Deferred.succeed(graceStarted, sig)), Effect.asVoid)

    // The SIGKILL timer: KILL_GRACE after the first signal, whatever happens meanwhile.
    // Forked before the group's finalizer is added, so it outlives it.
    yield* Deferred.await(graceStarted).pipe(
      Effect.flatMap((first) =>
        Effect.sleep(KILL_GRACE).pipe(
          Effect.andThen(runs),
          Effect.flatMap((still) =>
            still
              ? Effect.sync(() => signalGroup(pgid, "SIGKILL")).pipe(
                Effect.andThen(
                  say(
                    `process group ${pgid} still running ${seconds(KILL_GRACE)} after ${first}: sent SIGKILL`
                  )
                ),
                Effect.andThen(Deferred.succeed(killed, undefined))
              )
              : Effect.void
          )
        )
      ),
      Effect.forkScoped
    )

    /** Returns once nothing of the group runs: at the leader's exit if it was alone, else polled. */
    const gone: Effect.Effect<void> = Deferred.await(exited).pipe(
      Effect.andThen(runs),
      Effect.flatMap((still) => still ? Effect.sleep(POLL_INTERVAL).pipe(Effect.andThen(gone)) : Effect.void)
    )

    const forward = Queue.take(signals).pipe(Effect.flatMap(signal), Effect.forever)

    const stop = runs.pipe(
      Effect.flatMap((still) =>
        still
          ? signal("SIGTERM").pipe(
            Effect.andThen(Effect.raceFirst(gone, forward)),
            Effect.raceFirst(
              Deferred.await(killed).pipe(
                Effect.andThen(Effect.sleep(KILL_WAIT)),
                Effect.andThen(say(
                  `process group ${pgid} still has members ${seconds(KILL_WAIT)} after SIGKILL; going on`
                ))
              )
            )
          )
          : Effect.void
      )
    )

    yield* Effect.acquireRelease(
      spawnLeader(command, args, exited).pipe(Effect.tap((child) =>
        Effect.sync(() => {
          pgid = child.pid ?? 0
          groupRuns = groupWatch(pgid)
        })
      )),
      () => stop
    )
    return { exited: Deferred.await(exited), signal }
  })

// ---------------------------------------------------------------------------
// the run
// ---------------------------------------------------------------------------

/** The command's outcome, or why it did not run to the end. */
export type Outcome =
  | { readonly _tag: "Exited"; readonly status: number }
  | { readonly _tag: "Signalled"; readonly signal: Forwarded }
  | { readonly _tag: "SpawnFailed"; readonly error: SpawnFailure }

/** What to run, under which lock (or semaphore permit). */
export interface RunOptions {
  readonly key: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly timeout: Duration.Duration
  readonly lease: Duration.Duration | undefined
  /** Hold a permit of a semaphore with this limit instead of the lock. */
  readonly limit: number | undefined
  /** dflock's diagnostics (the SIGKILL escalation). */
  readonly say: (message: string) => Effect.Effect<void>
}

/**
 * Waits for the lock, runs the command under it, and returns how it ended.
 * SIGINT/SIGTERM before the command started abandon the wait; after, they go
 * to the command's process group. Fails only with the lock's errors (lease lost
 * included, after the process group is gone).
 */
export const runLocked = Effect.fnUntraced(function*(options: RunOptions) {
  const signals = yield* trapSignals
  const spawned = yield* Deferred.make<void>()

  // The lock's region: start the command, forward signals to its group, wait for its exit.
  const region = Effect.scoped(
    Effect.gen(function*() {
      const group = yield* processGroup(options.command, options.args, signals, options.say)
      yield* Deferred.succeed(spawned, undefined)
      yield* Queue.take(signals).pipe(Effect.flatMap(group.signal), Effect.forever, Effect.forkScoped)
      return yield* group.exited
    })
  )

  const acquire = { acquireTimeout: options.timeout, leaseTtl: options.lease }
  const held = region.pipe(
    Effect.map((status): Outcome => ({ _tag: "Exited", status })),
    Effect.catch((error: SpawnFailure) => Effect.succeed<Outcome>({ _tag: "SpawnFailed", error }))
  )
  // what `Lock.withLock` and `Semaphore.withPermit` run, under their span names
  const locked = options.limit === undefined
    ? Lease.withLease(held, { kind: "lock", key: options.key }, acquire, "dflockd.Lock.withLock")
    : Lease.withLease(
      held,
      { kind: "semaphore", key: options.key, limit: options.limit },
      acquire,
      "dflockd.Semaphore.withPermit"
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
