/**
 * Testing code that uses effect-dflockd without a dflockd server: provide
 * `Memory.layer()` instead of `DflockdClient.layer(...)`. The code under test
 * runs unchanged against an in-memory server; `Memory.stats()` looks inside it.
 *
 * Here the code under test is a report export that may run at most twice at
 * once, cluster-wide. Four exports start together: the check is that no more
 * than two ever run at the same time, and that nothing is left held afterwards.
 * (This program runs on the real clock; with `it.effect` the same code runs on
 * the TestClock and `TestClock.adjust` moves leases, renewals and timeouts.)
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Fiber, Ref, Schedule } from "effect"
import { Memory, Semaphore } from "effect-dflockd"

// --- the code under test --------------------------------------------------

const exportReport = (id: number, running: Ref.Ref<number>, peak: Ref.Ref<number>) =>
  Effect.gen(function*() {
    const now = yield* Ref.updateAndGet(running, (n) => n + 1)
    yield* Ref.update(peak, (p) => Math.max(p, now))
    yield* Effect.log(`export ${id} running (${now} at once)`)
    yield* Effect.sleep("100 millis")
    yield* Ref.update(running, (n) => n - 1)
  }).pipe(Semaphore.withPermit("report-exports", { limit: 2, acquireTimeout: "10 seconds" }))

// --- the test --------------------------------------------------------------

const test = Effect.gen(function*() {
  const running = yield* Ref.make(0)
  const peak = yield* Ref.make(0)
  const exports = yield* Effect.forEach([1, 2, 3, 4], (id) => exportReport(id, running, peak), {
    concurrency: "unbounded",
    discard: true
  }).pipe(Effect.forkChild)

  // while two exports run, the other two wait in the server's FIFO queue
  const during = yield* Memory.stats().pipe(
    Effect.repeat({
      schedule: Schedule.spaced("1 millis"),
      until: ([s]) => s?.stats.semaphores.some((x) => x.holders === 2 && x.waiters === 2) ?? false
    })
  )
  yield* Effect.log(`while running: ${JSON.stringify(during[0]?.stats.semaphores)}`)

  yield* Fiber.join(exports)
  const most = yield* Ref.get(peak)
  yield* Effect.log(`peak concurrency: ${most} (limit 2)`)
  const [after] = yield* Memory.stats()
  yield* Effect.log(`afterwards: ${JSON.stringify(after)}`)

  if (most !== 2) return yield* Effect.die(new Error(`expected 2 exports at once at most, saw ${most}`))
  if (after === undefined || after.stats.semaphores.length > 0) {
    return yield* Effect.die(new Error("a permit was left held"))
  }
  yield* Effect.log("ok")
}).pipe(Effect.provide(Memory.layer()))

NodeRuntime.runMain(test)
