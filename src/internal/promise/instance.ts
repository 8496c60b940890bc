/**
 * The state and operations of one `DistributedLock` / `DistributedSemaphore`
 * of `effect-dflockd/promise`: what dflockd-client 1.11's fields need (its
 * connection, `closed`, `token`, `lease`), over the core's lease, which does
 * the holding (renewal, watchdog, loss, release):
 *
 *   Open ──acquire/enqueue/withLock──▶ Busy ──▶ Held | Queued ──wait──▶ Busy ──▶ Held
 *     ▲                                 │ timeout, failure, release(), close(), lease lost
 *     └──acquire/enqueue/withLock── Closed ◀──────────────────────────────────────────┘
 *
 * `Closed` is 1.11's `closed` flag: `release()` and `wait()` refuse it, while
 * `acquire()`/`enqueue()` start over from it. The state is a plain field, read
 * and replaced synchronously (at the edge, or in one step of an effect); an
 * effect installs its result only if the state is still the `Busy` of its
 * session (a `close()` meanwhile wins).
 *
 * A session is one connection of the instance, from the call that opens it to
 * its end: the runtime of the key's server and the call in flight.
 * `acquire()`/`enqueue()` hold in a scope of the session's own (the core's
 * `acquireHeld`, `enqueue`, a ticket's `wait`); `withLock` is the core's
 * `withLease`, which holds in its own. `release()` is the core's awaited
 * release; `close()` the core's `abandon` (no `r`: the connection is closed,
 * and the server frees the lease with it), then the scope closed or the
 * `withLock` region ended. When the lease is lost, as 1.11's failed renewal
 * does, the instance closes and calls `onLockLost`, told by the core in the
 * losing step (a ticket's lease: by a fiber of the scope waiting on `lost`).
 */
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Scope from "effect/Scope"
import type { DflockdClient } from "../client/client.ts"
import type { LockLostError } from "../errors/errors.ts"
import * as Core from "../lease/lease.ts"
import * as TwoPhase from "../lease/twoPhase.ts"
import { AcquireTimeoutError, LockError } from "./errors.ts"
import { type Failure, fromCause } from "./failure.ts"
import * as Options from "./options.ts"
import * as Shared from "./runtime.ts"

/** One connection of an instance: see the module comment. */
interface Session {
  readonly handle: Shared.Handle
  /** Where `acquire()`/`enqueue()` hold (connection, lease); `undefined` under `withLock` (the core's own). */
  readonly scope: Scope.Closeable | undefined
  /** The call in flight, once started: `close()` interrupts it. */
  fiber: Fiber.Fiber<unknown, unknown> | undefined
  /** Under `withLock`: its call of `fn`. */
  readonly called: Called<unknown> | undefined
}

type Phase =
  | { readonly _tag: "Open" }
  | { readonly _tag: "Busy"; readonly session: Session }
  | { readonly _tag: "Queued"; readonly session: Session; readonly ticket: Core.Ticket }
  | { readonly _tag: "Held"; readonly session: Session; readonly lease: Core.Lease }
  | { readonly _tag: "Closed" }

interface State {
  readonly phase: Phase
  /** 1.11's writable `lease`: the granted lease in seconds, 0 after `close()`. */
  readonly lease: number
}

/** What every instance starts from (states are replaced, never changed). */
const openState: State = { phase: { _tag: "Open" }, lease: 0 }
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
  state: State
}

export const make = (spec: Spec): Instance => ({ spec, state: openState })

/**
 * The core's options for a timeout and a lease, one object per distinct pair:
 * the core decodes an options object once (by identity), and 1.11's pattern
 * builds a new instance, with the same two numbers, for every lock.
 */
const sharedOptions = new Map<string, Core.AcquireOptions>()

const optionsFor = ({ acquireTimeoutS, leaseTtlS }: Spec): Core.AcquireOptions => {
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

// ---------------------------------------------------------------------------
// reading and moving the state (the Promise edge)
// ---------------------------------------------------------------------------

export const state = (instance: Instance): State => instance.state

export const token = (instance: Instance): string | null => {
  const { phase } = instance.state
  return phase._tag === "Held" ? phase.lease.token : null
}

export const setLease = (instance: Instance, lease: number): void => {
  instance.state = { ...instance.state, lease }
}

const isBusy = (instance: Instance, session: Session): boolean => {
  const { phase } = instance.state
  return phase._tag === "Busy" && phase.session === session
}

const what = (instance: Instance) => instance.spec.kind === "lock" ? "lock" : "semaphore"

const closedWhileBusy = (instance: Instance) => () =>
  new LockError(`the ${what(instance)} on '${instance.spec.key}' was closed while connecting or waiting`)

/**
 * Ends a session without a release, in the background: `first` (the lease
 * abandoned), then its scope closed, which closes a claimed connection (under
 * `withLock`: its region stopped, or its run interrupted, which closes the core's).
 */
const endSession = (instance: Instance, session: Session, first: Effect.Effect<void>): void => {
  const { handle, scope } = session
  handle.runtime.runFork(
    scope === undefined
      // the run lets the runtime go when it ends
      ? Effect.andThen(first, Effect.sync(() => stopRegion(instance, session)))
      : Effect.ensuring(Effect.andThen(first, Scope.close(scope, Exit.void)), Effect.sync(handle.release))
  )
}

/**
 * Ends a `withLock` run: before `fn` is called, by interrupting it; once it is,
 * by ending its region at once, `fn` running on (its signal untouched), which
 * closes the core's connection (the run settles once `fn` has).
 */
const stopRegion = (instance: Instance, session: Session): void => {
  const called = session.called
  if (called === undefined || !called.called) return session.fiber?.interruptUnsafe()
  const stop = Effect.fail(closedWhileBusy(instance)())
  if (called.resume !== undefined) called.resume(stop)
  // still in `fn`'s synchronous part: stopped as soon as it returns
  else called.stopped = stop
}

/** Ends what a phase holds or waits for, sending no release. */
const abandonPhase = (instance: Instance, phase: Phase): void => {
  switch (phase._tag) {
    case "Busy":
      // its run closes what it opened (a lease granted meanwhile is abandoned, not installed)
      phase.session.fiber?.interruptUnsafe()
      return
    case "Queued":
      return endSession(instance, phase.session, Effect.void)
    case "Held":
      return endSession(instance, phase.session, Core.abandon(phase.lease))
    case "Open":
    case "Closed":
      return
  }
}

/** 1.11's `close()`: synchronous, idempotent, no release; the instance may acquire again. */
export const close = (instance: Instance): void => {
  const { phase } = instance.state
  instance.state = closedState
  abandonPhase(instance, phase)
}

/** 1.11's guard of `acquire()`/`enqueue()`: refuse while connected, unless forced (then close first). */
const guard = (instance: Instance, force: boolean): void => {
  const { phase } = instance.state
  if (phase._tag === "Open" || phase._tag === "Closed") return
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

/**
 * Starts a session on the runtime of the key's server: the Busy phase, with a
 * scope of its own (`acquire()`, `enqueue()`), or for `withLock`'s `called`.
 */
const begin = (instance: Instance, called: Called<unknown> | undefined): Session => {
  const { key, config } = Options.configEntry(instance.spec.servers[pickServer(instance)]!, instance.spec)
  const session: Session = {
    handle: Shared.retain(key, config),
    scope: called === undefined ? Scope.makeUnsafe() : undefined,
    fiber: undefined,
    called
  }
  instance.state = { phase: { _tag: "Busy", session }, lease: instance.state.lease }
  return session
}

/** Runs a call of `session` on its runtime (`close()` interrupts it); the exit is passed to `settle`. */
const run = <A, E>(
  session: Session,
  effect: Effect.Effect<A, E, DflockdClient>,
  settle: (exit: Exit.Exit<A, E>) => void
): void => {
  const { runtime } = session.handle
  const context = runtime.cachedContext
  // A run counts as a use of its runtime (`Shared.retain`), which is not disposed while
  // one is in flight: once the runtime is built, a run starts from its context and skips
  // the runtime's bookkeeping of the fibers it must interrupt on disposal.
  const fiber = context === undefined ? runtime.runFork(effect) : Effect.runForkWith(context)(effect)
  session.fiber = fiber
  fiber.addObserver(settle)
}

/** A failed call: the instance is closed (1.11's `close()` in its `catch`), unless something else moved it. */
const failed = (instance: Instance, session: Session, cause: Cause.Cause<Failure>): LockError => {
  if (isBusy(instance, session)) instance.state = closedState
  session.handle.release()
  return fromCause(cause, closedWhileBusy(instance))
}

/** Runs a call of `acquire()`, `enqueue()` or `wait()`: resolves its value, rejects with its `LockError`. */
const call = <A>(instance: Instance, session: Session, effect: Effect.Effect<A, Failure, DflockdClient>) =>
  new Promise<A>((resolve, reject) =>
    run(
      session,
      effect,
      (exit) => Exit.isSuccess(exit) ? resolve(exit.value) : reject(failed(instance, session, exit.cause))
    )
  )

// ---------------------------------------------------------------------------
// holding
// ---------------------------------------------------------------------------

/** What `onLockLost` threw or rejected with, for the log. */
class CallbackError extends Data.TaggedError("CallbackError")<{ readonly cause: unknown }> {}

/** 1.11's `onLockLost(key, token)`: what it throws, or rejects with, is logged, never rethrown. */
const tellLost = (instance: Instance, lease: Core.Lease): Effect.Effect<void> => {
  const callback = instance.spec.onLockLost
  if (callback === undefined) return Effect.void
  return Effect.try({
    try: (): unknown => callback(lease.key, lease.token),
    catch: (cause) => new CallbackError({ cause })
  }).pipe(
    Effect.flatMap((returned) =>
      Predicate.isPromiseLike(returned)
        ? Effect.tryPromise({ try: () => Promise.resolve(returned), catch: (cause) => new CallbackError({ cause }) })
          .pipe(
            Effect.catchCause((cause) => Effect.logError("dflockd: onLockLost rejected", cause)),
            // started now, so the promise has its rejection handler before this tick ends
            Effect.forkDetach({ startImmediately: true }),
            Effect.asVoid
          )
        : Effect.void
    ),
    Effect.catchCause((cause) => Effect.logError("dflockd: onLockLost threw", cause))
  )
}

/**
 * The lease was lost (renewal refused, connection gone, deadline passed): as
 * 1.11 does, forget the token, call `onLockLost(key, token)`, and close. Runs
 * in the step that loses the lease (or on the watcher fiber of a ticket's
 * lease), inside the scope it closes: the closing is detached. The core's
 * `withLease` ends its own.
 */
const onLost = (instance: Instance, session: Session, lease: Core.Lease) => (_: LockLostError): Effect.Effect<void> =>
  Effect.suspend(() => {
    const { phase } = instance.state
    if (phase._tag !== "Held" || phase.lease !== lease) return Effect.void
    instance.state = closedState
    const { scope } = session
    const told = tellLost(instance, lease)
    return scope === undefined
      ? told
      : Effect.andThen(
        told,
        Effect.forkDetach(Effect.ensuring(Scope.close(scope, Exit.void), Effect.sync(session.handle.release)))
      )
  })

/**
 * Installs the Held phase for `lease` in this step, and has `onLost` told of
 * its loss (through `watch`), unless the instance left the session's Busy
 * meanwhile: then the lease is abandoned (no release) and this fails (the
 * caller closes the connection: `inScope`, or the core's `withLease`).
 */
const hold = (
  instance: Instance,
  session: Session,
  lease: Core.Lease,
  watch: (listener: Core.LostListener) => Effect.Effect<void>
): Effect.Effect<void, LockError> =>
  Effect.suspend(() => {
    if (!isBusy(instance, session)) return Effect.andThen(Core.abandon(lease), Effect.fail(closedWhileBusy(instance)()))
    instance.state = { phase: { _tag: "Held", session, lease }, lease: Duration.toSeconds(lease.leaseTtl) }
    return watch(onLost(instance, session, lease))
  })

/** A ticket's lease is heard of by a fiber of the session's scope waiting on `lost`. */
const watchTicket = (lease: Core.Lease, scope: Scope.Scope) => (listener: Core.LostListener) =>
  Effect.asVoid(Effect.forkIn(Effect.catch(lease.lost, listener), scope))

/** Runs a call in the session's scope, which is closed if the call fails (a held lease was abandoned by then). */
const inScope = <A>(session: Session, effect: (scope: Scope.Closeable) => Effect.Effect<A, Failure, DflockdClient>) => {
  const scope = session.scope!
  return Effect.onExit(effect(scope), (exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
}

const acquireEffect = (instance: Instance, session: Session) =>
  inScope(session, (scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(Core.acquireHeld(instance.spec, optionsFor(instance.spec), scope, "own")),
        (held) => hold(instance, session, held.lease, (listener) => held.onLost(listener))
      )
    ))

const enqueueEffect = (instance: Instance, session: Session) =>
  inScope(session, (scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const ticket = yield* restore(TwoPhase.enqueue(instance.spec, optionsFor(instance.spec))).pipe(
          Scope.provide(scope)
        )
        if (ticket.status === "acquired") {
          // granted at once: the core already holds and renews it; `wait` returns it without a round trip
          const lease = yield* restore(ticket.wait(0))
          yield* hold(instance, session, lease, watchTicket(lease, scope))
          return "acquired" as const
        }
        if (!isBusy(instance, session)) return yield* Effect.fail(closedWhileBusy(instance)())
        instance.state = { phase: { _tag: "Queued", session, ticket }, lease: instance.state.lease }
        return "queued" as const
      })
    ))

const waitEffect = (instance: Instance, session: Session, ticket: Core.Ticket, timeoutS: number) =>
  inScope(session, (scope) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.flatMap(
        restore(ticket.wait(Duration.seconds(timeoutS))),
        (lease) => hold(instance, session, lease, watchTicket(lease, scope))
      )
    ))

// ---------------------------------------------------------------------------
// operations (the Promise edge)
// ---------------------------------------------------------------------------

const timedOut = (error: unknown): boolean => error instanceof AcquireTimeoutError

export const acquire = async (instance: Instance, force: boolean): Promise<boolean> => {
  guard(instance, force)
  const session = begin(instance, undefined)
  try {
    return await call(instance, session, Effect.as(acquireEffect(instance, session), true))
  } catch (error) {
    if (timedOut(error)) return false
    throw error
  }
}

export const enqueue = async (instance: Instance, force: boolean): Promise<"acquired" | "queued"> => {
  guard(instance, force)
  const session = begin(instance, undefined)
  return call(instance, session, enqueueEffect(instance, session))
}

export const wait = async (instance: Instance, timeoutS: number): Promise<boolean> => {
  const { phase } = instance.state
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
  try {
    Options.validateWaitTimeout(timeoutS)
  } catch (error) {
    close(instance)
    throw error
  }
  const { session, ticket } = phase
  instance.state = { phase: { _tag: "Busy", session }, lease: instance.state.lease }
  try {
    return await call(instance, session, Effect.as(waitEffect(instance, session, ticket, timeoutS), true))
  } catch (error) {
    if (timedOut(error)) return false
    throw error
  }
}

/** 1.11's `release()`: refuses a closed instance; otherwise releases (or leaves the queue) and closes. */
export const release = async (instance: Instance): Promise<void> => {
  const { phase } = instance.state
  if (phase._tag === "Closed") throw new LockError("not connected; nothing to release")
  instance.state = closedState
  switch (phase._tag) {
    case "Held": {
      const { session: { handle, scope }, lease } = phase
      // 1.11 resolves on the server's reply: the release is awaited here, not pipelined;
      // under `withLock`, its run ends the rest and lets the runtime go
      const released = Core.releaseAwaited(lease)
      await handle.runtime.runPromise(
        scope === undefined
          ? released
          : Effect.ensuring(Effect.andThen(released, Scope.close(scope, Exit.void)), Effect.sync(handle.release))
      )
      return
    }
    case "Queued": {
      const { handle, scope } = phase.session
      await handle.runtime.runPromise(Effect.ensuring(Scope.close(scope!, Exit.void), Effect.sync(handle.release)))
      return
    }
    case "Busy":
      // nothing granted yet: as 1.11, no release; the pending call rejects
      return abandonPhase(instance, phase)
    case "Open":
      return
  }
}

// ---------------------------------------------------------------------------
// withLock: the core's withLease
// ---------------------------------------------------------------------------

/** What `fn` threw (or rejected with): its error is the caller's, passed through the run as is. */
interface Thrown {
  readonly _tag: "Thrown"
  readonly error: unknown
}

/** What `fn` did, once called: what it returned (a value or a promise) or threw. */
interface Called<T> {
  called: boolean
  returned: T | PromiseLike<T> | undefined
  thrown: Thrown | undefined
  /** Ends the region while `fn`'s promise runs (`stopRegion`). */
  resume: ((effect: Effect.Effect<never, LockError>) => void) | undefined
  /** A stop asked for while `fn` was being called. */
  stopped: Effect.Effect<never, LockError> | undefined
}

/**
 * Calls `fn` (with the region's signal, aborted when the lease is lost, if it
 * declares a parameter: an `AbortController` per lock costs) and ends with
 * what it returns. A callback that returns a value, not a promise, is done at
 * once: no microtask, and the run goes on to the release in the same step.
 */
const callFn = <T>(
  called: Called<T>,
  invoke: () => T | PromiseLike<T>,
  resume: (effect: Effect.Effect<T, Thrown | LockError>) => void
): void => {
  called.called = true
  try {
    called.returned = invoke()
  } catch (error) {
    called.thrown = { _tag: "Thrown", error }
    return resume(Effect.fail(called.thrown))
  }
  const returned = called.returned
  if (!Predicate.isPromiseLike(returned)) return resume(Effect.succeed(returned))
  // `fn` is the caller's: a promise runs to its end (the run may end first: see `unreleased`)
  returned.then(
    (value) => resume(Effect.succeed(value)),
    (error) => resume(Effect.fail({ _tag: "Thrown", error }))
  )
  if (called.stopped !== undefined) resume(called.stopped)
  else called.resume = resume
}

/** The region of `withLock`: installs the Held phase (the token shows, a loss closes), then `fn`. */
const region = <T>(
  instance: Instance,
  session: Session,
  fn: (signal: AbortSignal) => T | PromiseLike<T>,
  called: Called<T>
) =>
(held: Core.Held): Effect.Effect<T, Thrown | LockError> =>
  Effect.andThen(
    hold(instance, session, held.lease, (listener) => held.onLost(listener)),
    fn.length === 0
      ? Effect.callback<T, Thrown | LockError>((resume) => callFn(called, fn as () => T | PromiseLike<T>, resume))
      : Effect.callback<T, Thrown | LockError>((resume, signal) => callFn(called, () => fn(signal), resume))
  )

const isThrown = (error: unknown): error is Thrown => Predicate.isTagged(error, "Thrown")

type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown }

const outcomeOf = async <T>(called: Called<T>): Promise<Outcome<T>> => {
  if (called.thrown !== undefined) return { ok: false, error: called.thrown.error }
  try {
    return { ok: true, value: await called.returned! }
  } catch (error) {
    return { ok: false, error }
  }
}

/**
 * The end of a `withLock` whose instance no longer held the lease at the end
 * of the run (lost, `close()`d, or moved by `fn` itself): 1.11's `finally {
 * await this.release() }`, once `fn` has settled. `fn`'s error wins; then the
 * lost lease, which explains a failed release better than "nothing to release".
 */
const unreleased = async <T>(
  instance: Instance,
  called: Called<T>,
  lost: LockLostError | undefined
): Promise<T> => {
  const outcome = await outcomeOf(called)
  try {
    await release(instance)
  } catch (releaseError) {
    if (outcome.ok) {
      throw lost === undefined
        ? releaseError
        : new LockError(`the lease on '${lost.key}' was lost: ${lost.reason}`, { cause: lost })
    }
  }
  if (!outcome.ok) throw outcome.error
  return outcome.value
}

/**
 * 1.11's `withLock`: acquire, `fn`, release, also when `fn` throws (its error
 * wins over a failed release), as the core's `withLease`, in one run on the
 * shared runtime: one fiber and one promise per lock. Rejects (never throws)
 * when the instance is busy or the strategy fails.
 */
export const withLock = <T>(instance: Instance, fn: (signal: AbortSignal) => T | PromiseLike<T>): Promise<T> => {
  const called: Called<T> = {
    called: false,
    returned: undefined,
    thrown: undefined,
    resume: undefined,
    stopped: undefined
  }
  let session: Session
  try {
    guard(instance, false)
    session = begin(instance, called)
  } catch (error) {
    return Promise.reject(error)
  }
  const effect = Core.withHeldLease(region(instance, session, fn, called), instance.spec, optionsFor(instance.spec))
  return new Promise<T>((resolve, reject) =>
    run(session, effect, (exit) => {
      const { phase } = instance.state
      const lease = phase._tag === "Held" && phase.session === session ? phase.lease : undefined
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.findErrorOption(exit.cause)) : undefined
      const lost = Predicate.isTagged(error, "LockLostError") ? error as LockLostError : undefined
      if (lease !== undefined) {
        // the core interrupts the region before it tells the instance of a loss: heard here first, maybe
        if (lost !== undefined) session.handle.runtime.runFork(onLost(instance, session, lease)(lost))
        else instance.state = closedState
      }
      session.handle.release()
      if (lease !== undefined && lost === undefined) {
        // the common end: the core released the lease (its reply owed), also when fn threw
        if (Exit.isSuccess(exit)) return resolve(exit.value)
        return reject(
          isThrown(error) ? error.error : fromCause(exit.cause as Cause.Cause<Failure>, closedWhileBusy(instance))
        )
      }
      if (!called.called && Exit.isFailure(exit)) {
        const failure = failed(instance, session, exit.cause as Cause.Cause<Failure>)
        // as 1.11 throws it: the key, no cause
        return reject(timedOut(failure) ? new AcquireTimeoutError(instance.spec.key) : failure)
      }
      // lost, close()d, or moved by fn itself
      unreleased(instance, called, lost).then(resolve, reject)
    })
  )
}
