/**
 * The state and operations of one `DistributedLock` / `DistributedSemaphore`
 * of `effect-dflockd/promise`, with dflockd-client 1.11's lifecycle:
 *
 *   Open ──acquire/enqueue──▶ Busy ──▶ Held | Queued ──wait──▶ Busy ──▶ Held
 *     ▲                        │ timeout, failure, release(), close(), lease lost
 *     └──acquire/enqueue── Closed ◀─────────────────────────────────────────┘
 *
 * `Closed` is 1.11's `closed` flag: `release()` and `wait()` refuse it, while
 * `acquire()`/`enqueue()` start over from it. The state is one `MutableRef`
 * (read and swapped synchronously, at the edge or in `Effect.sync`); the
 * public methods (the Promise edge) move it, and the effects they run install
 * their result only if the state is still the `Busy` they started from (a
 * `close()` meanwhile wins).
 *
 * What an instance holds lives in a `Scope` of the Effect core: `Lock.acquire`
 * (or `Semaphore.acquire`, `enqueue`, `wait`) runs in it, so the core's
 * renewal, watchdog, release and connection are tied to it. `release()` closes
 * it (the core sends `r`); `close()` closes it with `Abandoning` set (no `r`,
 * the connection is closed). When the lease is lost, `onLockLost` is called,
 * as 1.11's failed renewal does: by the core, in the step that loses it (an
 * acquired lease), or by a fiber of the same scope waiting on the lease's
 * `lost` (a lease from a ticket's `wait`). `withLock` runs its acquire, `fn`
 * and release as one run of the runtime.
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Predicate from "effect/Predicate"
import * as MutableRef from "effect/MutableRef"
import * as Scope from "effect/Scope"
import type { DflockdClient } from "../../DflockdClient.ts"
import type { LockLostError } from "../../Errors.ts"
import * as Lock from "../../Lock.ts"
import * as Semaphore from "../../Semaphore.ts"
import * as Core from "../lease/lease.ts"
import { AcquireTimeoutError, type Failure, fromCause, LockError } from "./errors.ts"
import * as Options from "./options.ts"
import * as Shared from "./runtime.ts"

type Lease = Core.Lease
type Ticket = Lock.Ticket | Semaphore.Ticket

/** A ticket's `wait`, whichever kind the ticket is. */
const waitFor = (ticket: Ticket, timeout: Duration.Input): Effect.Effect<Lease, Lock.WaitError> => ticket.wait(timeout)

/** A held lease: its scope (connection, renewal, watchdog, loss watcher) and the runtime it uses. */
export interface Holding {
  readonly scope: Scope.Closeable
  readonly handle: Shared.Handle
  readonly lease: Lease
  /** Whether the lease was lost, and the signal handed to `withLock`'s `fn`, if it asked for one. */
  readonly loss: MutableRef.MutableRef<Loss>
}

/**
 * A holding's loss: `Holding` until the lease is lost, then `Lost` with the
 * `LockError` (cause: `LockLostError`) that `withLock` rejects with. The
 * `AbortSignal` of `fn` is made only for a callback that declares a parameter
 * (as `Effect.promise` does): an `EventTarget` per lock costs.
 */
type Loss =
  | { readonly _tag: "Holding"; readonly controller: AbortController | undefined }
  | { readonly _tag: "Lost"; readonly error: LockError }

const holdingNoSignal: Loss = { _tag: "Holding", controller: undefined }

/** The signal of `fn`: aborted when the lease is lost (at once, if it already is). */
const signalOf = (held: Holding): AbortSignal => {
  const loss = MutableRef.get(held.loss)
  if (loss._tag === "Lost") return AbortSignal.abort(loss.error)
  if (loss.controller !== undefined) return loss.controller.signal
  const controller = new AbortController()
  MutableRef.set(held.loss, { _tag: "Holding", controller })
  return controller.signal
}

const markLost = (held: Holding, error: LockError): void => {
  const loss = MutableRef.get(held.loss)
  if (loss._tag === "Lost") return
  MutableRef.set(held.loss, { _tag: "Lost", error })
  loss.controller?.abort(error)
}

const lostError = (held: Holding): LockError | undefined => {
  const loss = MutableRef.get(held.loss)
  return loss._tag === "Lost" ? loss.error : undefined
}

interface Busy {
  readonly _tag: "Busy"
  readonly scope: Scope.Closeable
  readonly handle: Shared.Handle
  /** The run of the operation, once started: `close()` interrupts it. */
  readonly fiber: MutableRef.MutableRef<Fiber.Fiber<unknown, unknown> | undefined>
}

type Phase =
  | { readonly _tag: "Open" }
  | Busy
  | {
    readonly _tag: "Queued"
    readonly scope: Scope.Closeable
    readonly handle: Shared.Handle
    readonly ticket: Ticket
  }
  | { readonly _tag: "Held"; readonly holding: Holding }
  | { readonly _tag: "Closed" }

interface State {
  readonly phase: Phase
  /** 1.11's writable `lease`: the granted lease in seconds, 0 after `close()`. */
  readonly lease: number
}

const closedState: State = { phase: { _tag: "Closed" }, lease: 0 }

/** What an instance was built with, after 1.11's validation. */
export interface Spec extends Options.ConnectionSettings {
  readonly kind: "lock" | "semaphore"
  readonly key: string
  readonly limit: number
  readonly acquireTimeoutS: number
  readonly leaseTtlS: number | undefined
  readonly servers: ReadonlyArray<readonly [string, number]>
  readonly shardingStrategy: (key: string, numServers: number) => number
  /** The server every key goes to, when that needs no hashing (one server, the default strategy). */
  readonly onlyServer: number | undefined
  readonly onLockLost: ((key: string, token: string) => void) | undefined
}

export interface Instance {
  readonly spec: Spec
  readonly state: MutableRef.MutableRef<State>
}

/**
 * The core's options for a timeout and a lease, one object per distinct pair:
 * the core decodes an options object once (by identity), and 1.11's pattern
 * builds a new instance, with the same two numbers, for every lock.
 */
const sharedOptions = new Map<string, Lock.AcquireOptions>()

const optionsFor = (acquireTimeoutS: number, leaseTtlS: number | undefined): Lock.AcquireOptions => {
  const key = `${acquireTimeoutS}/${leaseTtlS}`
  let options = sharedOptions.get(key)
  if (options === undefined) {
    options = {
      acquireTimeout: Duration.seconds(acquireTimeoutS),
      leaseTtl: leaseTtlS === undefined ? undefined : Duration.seconds(leaseTtlS)
    }
    // a program uses a few pairs; one that makes up many gets fresh objects past this bound
    if (sharedOptions.size < 256) sharedOptions.set(key, options)
  }
  return options
}

/** The core's acquire into a scope (the operation's own: no child scope), with its loss heard without a fiber (`Held.onLost`). */
const coreAcquire = (spec: Spec, scope: Scope.Scope): Effect.Effect<Core.Held, Lock.AcquireError, DflockdClient> =>
  // the spec is the core's target as it is: `kind`, `key` and (for a semaphore) `limit`
  Core.acquireHeld(spec, optionsFor(spec.acquireTimeoutS, spec.leaseTtlS), scope, "own")

/** The core's enqueue for the instance's key. */
const coreEnqueue = (spec: Spec): Effect.Effect<Ticket, Lock.AcquireError, Scope.Scope | DflockdClient> => {
  const { leaseTtl } = optionsFor(spec.acquireTimeoutS, spec.leaseTtlS)
  return spec.kind === "lock"
    ? Lock.enqueue(spec.key, { leaseTtl })
    : Semaphore.enqueue(spec.key, { limit: spec.limit, leaseTtl })
}

/** What every instance starts from (states are replaced, never changed). */
const openState: State = { phase: { _tag: "Open" }, lease: 0 }

export const make = (spec: Spec): Instance => ({ spec, state: MutableRef.make(openState) })

// ---------------------------------------------------------------------------
// reading and moving the state (the Promise edge)
// ---------------------------------------------------------------------------

export const state = (instance: Instance): State => MutableRef.get(instance.state)

const setState = (instance: Instance, next: State): State => {
  const previous = MutableRef.get(instance.state)
  MutableRef.set(instance.state, next)
  return previous
}

/** Swaps the state when `decide` says so; returns whether it did. */
const modify = (instance: Instance, decide: (current: State) => State | undefined): Effect.Effect<boolean> =>
  Effect.sync(() => {
    const next = decide(MutableRef.get(instance.state))
    if (next === undefined) return false
    MutableRef.set(instance.state, next)
    return true
  })

export const token = (instance: Instance): string | null => {
  const { phase } = state(instance)
  return phase._tag === "Held" ? phase.holding.lease.token : null
}

export const setLease = (instance: Instance, lease: number): void => {
  setState(instance, { ...state(instance), lease })
}

/** The holding, if the instance holds. */
export const holding = (instance: Instance): Holding | undefined => {
  const { phase } = state(instance)
  return phase._tag === "Held" ? phase.holding : undefined
}

const what = (instance: Instance) => instance.spec.kind === "lock" ? "lock" : "semaphore"

/** Closes a scope without a release (the connection closes, the server frees), then lets the runtime go. */
const abandon = (scope: Scope.Closeable, handle: Shared.Handle): Effect.Effect<void> =>
  Scope.close(scope, Exit.void).pipe(
    Effect.provideService(Shared.Abandoning, true),
    Effect.ensuring(Effect.sync(handle.release))
  )

/** Ends what a phase holds or waits for, in the background, sending no release. */
const abandonPhase = (phase: Phase): void => {
  switch (phase._tag) {
    case "Busy":
      MutableRef.get(phase.fiber)?.interruptUnsafe()
      phase.handle.runtime.runFork(abandon(phase.scope, phase.handle))
      return
    case "Queued":
      phase.handle.runtime.runFork(abandon(phase.scope, phase.handle))
      return
    case "Held":
      phase.holding.handle.runtime.runFork(abandon(phase.holding.scope, phase.holding.handle))
      return
    case "Open":
    case "Closed":
      return
  }
}

/** 1.11's `close()`: synchronous, idempotent, no release; the instance may acquire again. */
export const close = (instance: Instance): void => {
  const previous = setState(instance, closedState)
  abandonPhase(previous.phase)
}

const isConnected = (phase: Phase) => phase._tag === "Busy" || phase._tag === "Queued" || phase._tag === "Held"

/** 1.11's guard of `acquire()`/`enqueue()`: refuse while connected, unless forced (then close first). */
const guard = (instance: Instance, force: boolean): void => {
  if (!isConnected(state(instance).phase)) return
  if (!force) throw new LockError("already connected; call release() or close() first, or pass { force: true }")
  close(instance)
}

const pickServer = (instance: Instance): number => {
  const { key, servers, shardingStrategy, onlyServer } = instance.spec
  if (onlyServer !== undefined) return onlyServer
  const index = shardingStrategy(key, servers.length)
  if (!Number.isInteger(index) || index < 0 || index >= servers.length) {
    throw new LockError(`shardingStrategy returned invalid index ${index} for ${servers.length} server(s)`)
  }
  return index
}

const closedWhileBusy = (instance: Instance) => () =>
  new LockError(`the ${what(instance)} on '${instance.spec.key}' was closed while connecting or waiting`)

/** Starts an operation: the Busy phase with a fresh scope, on the runtime of the key's server. */
const begin = (instance: Instance, handle: Shared.Handle, scope: Scope.Closeable): Busy => {
  const busy: Busy = { _tag: "Busy", scope, handle, fiber: MutableRef.make(undefined) }
  setState(instance, { ...state(instance), phase: busy })
  return busy
}

// ---------------------------------------------------------------------------
// effects
// ---------------------------------------------------------------------------

const closeOnFailure = (scope: Scope.Closeable) => <A, E>(exit: Exit.Exit<A, E>) =>
  Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void

/** Moves Busy → next, unless the instance left `busy` meanwhile (then fails: `close()` owns the scope now). */
const install = (instance: Instance, busy: Busy, next: State): Effect.Effect<void, LockError> =>
  Effect.flatMap(
    modify(instance, (current) => current.phase === busy ? next : undefined),
    (installed) => installed ? Effect.void : Effect.fail(closedWhileBusy(instance)())
  )

/** What `onLockLost` threw or rejected with, for the log. */
class CallbackError extends Data.TaggedError("CallbackError")<{ readonly cause: unknown }> {}

const logged = (what: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchCause(Effect.asVoid(effect), (cause) => Effect.logError(`dflockd: onLockLost ${what}`, cause))

/**
 * The lease was lost (renewal refused, connection gone, deadline passed): as
 * 1.11 does, forget the token, call `onLockLost(key, token)`, and close.
 * Runs in the step that loses the lease (or on the watcher fiber of a ticket's lease), inside
 * the scope it closes: the closing is detached.
 */
const onLost = (instance: Instance, held: Holding, error: LockLostError): Effect.Effect<void> =>
  Effect.gen(function*() {
    markLost(held, new LockError(`the lease on '${held.lease.key}' was lost: ${error.reason}`, { cause: error }))
    const mine = yield* modify(
      instance,
      (current) => current.phase._tag === "Held" && current.phase.holding === held ? closedState : undefined
    )
    if (!mine) return
    const callback = instance.spec.onLockLost
    if (callback !== undefined) {
      const returned = yield* Effect.try({
        try: (): unknown => callback(held.lease.key, held.lease.token),
        catch: (cause) => new CallbackError({ cause })
      }).pipe(Effect.catchCause((cause) => Effect.as(Effect.logError("dflockd: onLockLost threw", cause), undefined)))
      if (Predicate.isPromiseLike(returned)) {
        yield* Effect.tryPromise({
          try: () => Promise.resolve(returned),
          catch: (cause) => new CallbackError({ cause })
        }).pipe(
          logged("rejected"),
          // started now, so the promise has its rejection handler before this tick ends
          Effect.forkDetach({ startImmediately: true })
        )
      }
    }
    yield* Effect.forkDetach(abandon(held.scope, held.handle))
  })

/**
 * Installs the Held phase for `lease`, and has `onLost` run when it is lost:
 * told by the core in the losing step (`core`), or by a fiber of the scope
 * waiting on `lease.lost` (a ticket's lease).
 */
const hold = (
  instance: Instance,
  busy: Busy,
  lease: Lease,
  core?: Core.Held
): Effect.Effect<Holding, LockError> =>
  Effect.suspend(() => {
    // installed in this synchronous step, unless the instance left `busy` meanwhile (`install`)
    if (state(instance).phase !== busy) return Effect.fail(closedWhileBusy(instance)())
    const held: Holding = { scope: busy.scope, handle: busy.handle, lease, loss: MutableRef.make(holdingNoSignal) }
    setState(instance, { phase: { _tag: "Held", holding: held }, lease: Duration.toSeconds(lease.leaseTtl) })
    const watch = core !== undefined
      ? core.onLost((error) => onLost(instance, held, error))
      : lease.lost.pipe(Effect.catch((error) => onLost(instance, held, error)), Effect.forkIn(busy.scope))
    return Effect.as(watch, held)
  })

const acquireEffect = (instance: Instance, busy: Busy) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.matchCauseEffect(restore(coreAcquire(instance.spec, busy.scope)), {
      onFailure: (cause) => Effect.andThen(Scope.close(busy.scope, Exit.failCause(cause)), Effect.failCause(cause)),
      onSuccess: (core) => hold(instance, busy, core.lease, core)
    })
  )

const enqueueEffect = (instance: Instance, busy: Busy) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const ticket = yield* restore(coreEnqueue(instance.spec)).pipe(
        Scope.provide(busy.scope),
        Effect.onExit(closeOnFailure(busy.scope))
      )
      if (ticket.status === "queued") {
        yield* install(instance, busy, {
          phase: { _tag: "Queued", scope: busy.scope, handle: busy.handle, ticket },
          lease: state(instance).lease
        })
        return "queued" as const
      }
      // granted at once: the core already holds and renews it; `wait` returns it without a round trip
      const lease = yield* restore(waitFor(ticket, 0)).pipe(Effect.onExit(closeOnFailure(busy.scope)))
      yield* hold(instance, busy, lease)
      return "acquired" as const
    })
  )

const waitEffect = (instance: Instance, busy: Busy, ticket: Ticket, timeoutS: number) =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(
      restore(waitFor(ticket, Duration.seconds(timeoutS))).pipe(Effect.onExit(closeOnFailure(busy.scope))),
      (lease) => hold(instance, busy, lease)
    )
  )

// ---------------------------------------------------------------------------
// operations (the Promise edge)
// ---------------------------------------------------------------------------

const isTimeout = (error: LockError) => error instanceof AcquireTimeoutError

/**
 * Runs an operation started by `begin`, and settles the promise it returns with
 * `onSuccess` of its value or `onFailure` of its error (each may throw, to
 * reject). On success the effect has installed its phase. On failure the
 * instance is closed (1.11's `close()` in its `catch`), unless something else
 * moved it meanwhile; the scope was closed by the effect.
 */
const runThen = <A, B>(
  instance: Instance,
  busy: Busy,
  effect: Effect.Effect<A, Failure, DflockdClient>,
  onSuccess: (value: A) => B | PromiseLike<B>,
  onFailure: (error: LockError) => B | PromiseLike<B>
): Promise<B> => {
  const { runtime } = busy.handle
  const context = runtime.cachedContext
  // A run counts as a use of its runtime (`Shared.retain`), which is not disposed while
  // one is in flight: once the runtime is built, a run starts from its context and skips
  // the runtime's bookkeeping of the fibers it must interrupt on disposal.
  const fiber = context === undefined ? runtime.runFork(effect) : Effect.runForkWith(context)(effect)
  MutableRef.set(busy.fiber, fiber)
  return new Promise<B>((resolve, reject) =>
    fiber.addObserver((exit) => {
      try {
        if (Exit.isSuccess(exit)) return resolve(onSuccess(exit.value))
        if (state(instance).phase === busy) setState(instance, closedState)
        busy.handle.release()
        resolve(onFailure(fromCause(exit.cause, closedWhileBusy(instance))))
      } catch (error) {
        reject(error)
      }
    })
  )
}

const rethrow = (error: LockError): never => {
  throw error
}

const returned = <A>(value: A): A => value

const run = <A>(instance: Instance, busy: Busy, effect: Effect.Effect<A, Failure, DflockdClient>): Promise<A> =>
  runThen(instance, busy, effect, returned, rethrow)

const start = (instance: Instance): Busy => {
  const index = pickServer(instance)
  const { key, config } = Options.configEntry(instance.spec.servers[index]!, instance.spec)
  return begin(instance, Shared.retain(key, config), Scope.makeUnsafe())
}

export const acquire = async (instance: Instance, force: boolean): Promise<boolean> => {
  guard(instance, force)
  const busy = start(instance)
  try {
    await run(instance, busy, acquireEffect(instance, busy))
    return true
  } catch (error) {
    if (error instanceof LockError && isTimeout(error)) return false
    throw error
  }
}

export const enqueue = async (instance: Instance, force: boolean): Promise<"acquired" | "queued"> => {
  guard(instance, force)
  const busy = start(instance)
  return run(instance, busy, enqueueEffect(instance, busy))
}

export const wait = async (instance: Instance, timeoutS: number): Promise<boolean> => {
  const { phase } = state(instance)
  switch (phase._tag) {
    case "Held":
      return true
    case "Closed":
      throw new LockError("connection closed; call enqueue() again")
    case "Open":
      throw new LockError("not connected; call enqueue() first")
    case "Busy":
      throw new LockError("an acquire(), enqueue() or wait() of this instance is still in progress")
    case "Queued":
      break
  }
  if (!Options.isWaitSeconds(timeoutS)) {
    close(instance)
    throw new LockError("waitTimeoutS must be a finite number >= 0")
  }
  const busy = begin(instance, phase.handle, phase.scope)
  try {
    await run(instance, busy, waitEffect(instance, busy, phase.ticket, timeoutS))
    return true
  } catch (error) {
    if (error instanceof LockError && isTimeout(error)) return false
    throw error
  }
}

/** What `fn` of `withLock` did: its value or what it threw (never rejected: its error is the caller's). */
type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown }

const settle = async <T>(returned: PromiseLike<T>): Promise<Outcome<T>> => {
  try {
    return { ok: true, value: await returned }
  } catch (error) {
    return { ok: false, error }
  }
}

/**
 * Calls `fn` (with its signal, if it declares a parameter) and waits for what
 * it returns. A callback that returns a value, not a promise, is done at once:
 * no microtask, and the run goes on to the release in the same step.
 */
const region = <T>(fn: (signal: AbortSignal) => T | Promise<T>, held: Holding): Effect.Effect<Outcome<T>> =>
  Effect.suspend(() => {
    let returned: T | Promise<T>
    try {
      returned = fn.length === 0 ? (fn as () => T | Promise<T>)() : fn(signalOf(held))
    } catch (error) {
      return Effect.succeed({ ok: false, error })
    }
    // `fn` is the caller's: a promise runs to its end (it cannot be interrupted)
    return Predicate.isPromiseLike(returned)
      ? Effect.promise(() => settle(returned))
      : Effect.succeed({ ok: true, value: returned })
  })

/**
 * Releases `held` if the instance still holds it (then `true`): the common end
 * of `withLock`, in the same run as its acquire. Otherwise (lost, `close()`d,
 * or moved by `fn` itself) `false`: the caller's `release()` says why.
 */
const releaseHeld = (instance: Instance, held: Holding): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const { phase } = state(instance)
    if (phase._tag !== "Held" || phase.holding !== held) return Effect.succeed(false)
    setState(instance, closedState)
    return Effect.as(Effect.ensuring(Scope.close(held.scope, Exit.void), Effect.sync(held.handle.release)), true)
  })

/**
 * How a `withLock` run ended: the outcome of `fn` once released, or, when the
 * instance no longer held the lease at the end (lost, `close()`d, or moved by
 * `fn` itself), the outcome and the holding, for the caller's `release()` to say why.
 */
type Ended<T> = Outcome<T> | { readonly ok: "unreleased"; readonly outcome: Outcome<T>; readonly held: Holding }

/** What `withLock` resolves with (or rejects with) once its run has ended. */
const settleEnded = <T>(instance: Instance, ended: Ended<T>): T | Promise<T> => {
  if (ended.ok === true) return ended.value
  if (ended.ok === false) throw ended.error
  const { outcome, held } = ended
  return release(instance).then(
    () => {
      if (!outcome.ok) throw outcome.error
      return outcome.value
    },
    (releaseError: unknown) => {
      // fn's own error wins; a lost lease explains itself better than "nothing to release"
      throw outcome.ok ? lostError(held) ?? releaseError : outcome.error
    }
  )
}

/**
 * 1.11's `withLock`: acquire, `fn`, release, also when `fn` throws (its error
 * wins over a failed release). The acquire, the wait for `fn` and the release
 * are one run on the shared runtime: one fiber and one promise per lock.
 * Rejects (never throws) when the instance is busy or the strategy fails.
 */
export const withLock = <T>(
  instance: Instance,
  fn: (signal: AbortSignal) => T | Promise<T>
): Promise<T> => {
  let busy: Busy
  try {
    guard(instance, false)
    busy = start(instance)
  } catch (error) {
    return Promise.reject(error)
  }
  return runThen(
    instance,
    busy,
    Effect.flatMap(acquireEffect(instance, busy), (held) =>
      Effect.flatMap(region(fn, held), (outcome) =>
        Effect.map(
          releaseHeld(instance, held),
          (released): Ended<T> => released ? outcome : { ok: "unreleased", outcome, held }
        ))),
    (ended) => settleEnded(instance, ended),
    (error) => {
      // as 1.11 throws it: the key, no cause
      throw isTimeout(error) ? new AcquireTimeoutError(instance.spec.key) : error
    }
  )
}

/** 1.11's `release()`: refuses a closed instance; otherwise releases (or leaves the queue) and closes. */
export const release = async (instance: Instance): Promise<void> => {
  const { phase } = state(instance)
  if (phase._tag === "Closed") throw new LockError("not connected; nothing to release")
  setState(instance, closedState)
  switch (phase._tag) {
    case "Held": {
      const { handle, lease, scope } = phase.holding
      // 1.11 resolves on the server's reply: the release is awaited here, not pipelined
      await handle.runtime.runPromise(
        Effect.ensuring(
          Effect.andThen(Core.releaseAwaited(lease), Scope.close(scope, Exit.void)),
          Effect.sync(handle.release)
        )
      )
      return
    }
    case "Queued":
      await phase.handle.runtime.runPromise(
        Effect.ensuring(Scope.close(phase.scope, Exit.void), Effect.sync(phase.handle.release))
      )
      return
    case "Busy":
      // nothing granted yet: as 1.11, no release; the pending call rejects
      abandonPhase(phase)
      return
    case "Open":
      return
  }
}
