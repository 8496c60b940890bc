/**
 * Metrics recorded by the client, one set per kind (`lock` / `semaphore`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { Kind } from "../protocol/codec.ts"

const perKind = <M>(make: (kind: Kind) => M): (kind: Kind) => M => {
  const lock = make("lock")
  const semaphore = make("semaphore")
  return (kind) => kind === "lock" ? lock : semaphore
}

export const acquired = perKind((kind) =>
  Metric.counter("dflockd_acquired_total", {
    description: "Grants received (locks or semaphore permits)",
    attributes: { kind },
    incremental: true
  })
)

export const timeouts = perKind((kind) =>
  Metric.counter("dflockd_acquire_timeouts_total", {
    description: "Acquisitions that timed out in the server's queue",
    attributes: { kind },
    incremental: true
  })
)

export const lost = perKind((kind) =>
  Metric.counter("dflockd_leases_lost_total", {
    description: "Leases lost while held (renewal failed, connection died, or watchdog deadline passed)",
    attributes: { kind },
    incremental: true
  })
)

export const held = perKind((kind) =>
  Metric.gauge("dflockd_leases_held", { description: "Leases currently held by this process", attributes: { kind } })
)

export const acquireDuration = perKind((kind) =>
  Metric.timer("dflockd_acquire_duration", { description: "Time from request to grant", attributes: { kind } })
)

/**
 * A grant: counted and its wait timed, in one step (the metric hooks run
 * synchronously; one effect per lock instead of two).
 */
export const recordGrant = (kind: Kind, waitedMillis: number): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    acquired(kind).updateUnsafe(1, fiber.context)
    acquireDuration(kind).updateUnsafe(Duration.millis(waitedMillis), fiber.context)
    return Effect.void
  })

/** One more lease held, counted in the same step as `then` (the registration of its release). */
export const recordHeld = <A, E, R>(kind: Kind, then: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => {
    held(kind).modifyUnsafe(1, fiber.context)
    return then
  })

/** A lease no longer held. */
export const recordRelease = (kind: Kind): Effect.Effect<void> =>
  Effect.withFiber((fiber) => {
    held(kind).modifyUnsafe(-1, fiber.context)
    return Effect.void
  })
