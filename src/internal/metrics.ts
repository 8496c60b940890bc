/**
 * Metrics recorded by the client, one set per kind (`lock` / `semaphore`).
 */
import * as Metric from "effect/Metric"
import type { Kind } from "./codec.ts"

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
