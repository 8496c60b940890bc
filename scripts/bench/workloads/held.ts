/**
 * `held`: the workload a user holds, `--locks` `Lock.withLock` regions held at once, each in its own fiber;
 * heap, RSS, external memory and sockets per held lock, and the heap's return to its baseline.
 */
import { Cause, Deferred, Effect, Fiber, Layer } from "effect"
import { Lock } from "effect-dflockd"
import type { Args } from "../cli.ts"
import { DEFAULT_HELD_LOCKS } from "../config.ts"
import { serverFds, socketCount, waitForServer } from "../file-descriptors.ts"
import { mib, signedMib } from "../format.ts"
import { type Memory, memoryNow } from "../memory-meters.ts"
import { settle, startManyLocks } from "./many-locks.ts"
import { clientLayer } from "./shared.ts"

/** The JSON line `--mode held --json` ends with (read by `--compare`). */
export interface HeldSummary {
  readonly mode: "held"
  readonly locks: number
  readonly cycles: number
  /** Sockets of the client process while the locks are held, and at the baseline. */
  readonly sockets_held: number | undefined
  readonly sockets_baseline: number | undefined
  readonly heap_bytes_per_lock: number
  readonly rss_bytes_per_lock: number
  readonly external_bytes_per_lock: number
  readonly acquire_ms: number
  readonly release_ms: number
  readonly heap_residue_bytes: number
  readonly ok: boolean
}

/** Regions forked at a time: each batch is inside its regions before the next is forked. */
const HELD_BATCH = 100

/**
 * The workload for heap per held lock: `locks` fibers, each inside `Lock.withLock` on its own
 * key and waiting there, all held at once. Heap, RSS and external memory are read (after repeated full
 * collections, see {@link memoryNow}) with every region entered, minus the baseline (taken after a warm-up of
 * the same shape, once the pool's idle connections have closed), over the locks; every held lock owns
 * a connection, so its socket is counted too. Then every region is let go, and the heap must return
 * near the baseline.
 */
export const runHeld = async (args: Args, servers: ReadonlyArray<string>): Promise<number> => {
  const { cycleCount, keys, locks, pids, tally } = startManyLocks(args, servers, "held", {
    locks: DEFAULT_HELD_LOCKS,
    cycles: 1
  })
  const options = { acquireTimeout: "60 seconds" } as const

  /** Holds `regionKeys` at once, each `Lock.withLock` in its own fiber; `inside` runs with all of them held. */
  const holdAll = <A>(regionKeys: ReadonlyArray<string>, inside: Effect.Effect<A>) =>
    Effect.gen(function*() {
      const leave = yield* Deferred.make<void>()
      let entered = 0
      let failure: Cause.Cause<unknown> | undefined
      const region = (key: string) =>
        Lock.withLock(
          Effect.andThen(Effect.sync(() => void entered++), Deferred.await(leave)),
          key,
          options
        ).pipe(Effect.tapCause((cause) => Effect.sync(() => void (failure = cause))))
      const fibers: Array<Fiber.Fiber<void, unknown>> = []
      const t0 = performance.now()
      for (let start = 0; start < regionKeys.length; start += HELD_BATCH) {
        for (const key of regionKeys.slice(start, start + HELD_BATCH)) fibers.push(yield* Effect.forkChild(region(key)))
        while (entered < fibers.length) {
          if (failure !== undefined) {
            return yield* Effect.die(new Error(`held: a region failed: ${Cause.pretty(failure)}`))
          }
          if (performance.now() - t0 > 120_000) {
            return yield* Effect.die(new Error(`held: ${entered} of ${fibers.length} regions entered after 120 s`))
          }
          yield* Effect.sleep("2 millis")
        }
      }
      const acquireMs = performance.now() - t0
      const result = yield* inside
      const t1 = performance.now()
      yield* Deferred.succeed(leave, undefined)
      yield* Fiber.joinAll(fibers)
      return { result, acquireMs, releaseMs: performance.now() - t1 }
    })

  /**
   * Waits (up to 30 s) until the client's idle pooled connections are gone (closed by the pool's
   * sweeper after its `idleTimeToLive`, 10 s by default): then the baseline holds no socket, and
   * every held lock counts its own socket, none reused from the baseline's pool.
   */
  const drainIdle = (socketsBefore: number | undefined) =>
    Effect.gen(function*() {
      if (socketsBefore === undefined) return
      const started = performance.now()
      while ((socketCount() ?? 0) > socketsBefore && performance.now() - started < 30_000) {
        yield* Effect.sleep("250 millis")
      }
      const left = (socketCount() ?? 0) - socketsBefore
      const waited = ((performance.now() - started) / 1000).toFixed(1)
      console.log(
        left > 0
          ? `  (after ${waited} s, ${left} idle pooled connections are still open: the baseline includes them)`
          : `  (waited ${waited} s for the pool's idle connections to close)`
      )
    })

  const program = Effect.gen(function*() {
    const socketsBefore = socketCount()
    // warm-up: the same shape on fewer keys, to load and optimise the code paths
    yield* holdAll(keys.slice(0, Math.min(200, locks)), Effect.void)
    yield* settle
    yield* drainIdle(socketsBefore)
    for (const line of tally.drain()) console.log(line)
    const baselineFds = serverFds(pids)
    const baselineSockets = socketCount()
    const baseline = memoryNow()
    console.log(
      `held: ${locks} Lock.withLock regions, each in its own fiber, x ${cycleCount} cycle(s); baseline heapUsed ${
        mib(baseline.heapUsed)
      }, rss ${mib(baseline.rss)}, external ${mib(baseline.external)}, ${baselineSockets ?? "n/a"} sockets`
    )
    const cycles: Array<
      { held: Memory; released: Memory; sockets: number | undefined; acquireMs: number; releaseMs: number }
    > = []
    for (let c = 1; c <= cycleCount; c++) {
      const { acquireMs, releaseMs, result } = yield* holdAll(
        keys,
        Effect.sync(() => ({ memory: memoryNow(), sockets: socketCount() }))
      )
      yield* settle
      yield* drainIdle(socketsBefore)
      const released = memoryNow()
      cycles.push({ held: result.memory, sockets: result.sockets, released, acquireMs, releaseMs })
      const perLock = (field: keyof Memory) => Math.round((result.memory[field] - baseline[field]) / locks)
      console.log(
        `cycle ${c}: entered ${locks} regions in ${(acquireMs / 1000).toFixed(1)} s, left in ${
          (releaseMs / 1000).toFixed(1)
        } s | held: ${result.sockets ?? "n/a"} sockets, heapUsed ${
          signedMib(result.memory.heapUsed - baseline.heapUsed)
        } (${perLock("heapUsed")} B/lock), rss ${signedMib(result.memory.rss - baseline.rss)} (${
          perLock("rss")
        } B/lock), external ${perLock("external")} B/lock | after release: heapUsed ${
          signedMib(released.heapUsed - baseline.heapUsed)
        }, rss ${signedMib(released.rss - baseline.rss)}`
      )
      for (const line of tally.drain()) console.log(line)
      if (c < cycleCount) yield* waitForServer(pids, baselineFds)
    }
    return { baseline, baselineSockets, cycles }
  })

  const layer = clientLayer(args, servers)
  const { baseline, baselineSockets, cycles } = await Effect.runPromise(
    Effect.provide(program, Layer.merge(layer, tally.layer))
  )
  const mean = (f: (c: (typeof cycles)[number]) => number) => cycles.reduce((a, c) => a + f(c), 0) / cycles.length
  const last = cycles.at(-1)!
  const heldHeap = mean((c) => c.held.heapUsed - baseline.heapUsed)
  const residue = last.released.heapUsed - baseline.heapUsed
  const tolerance = Math.max(2 * 1024 * 1024, 0.1 * heldHeap)
  const ok = residue <= tolerance
  const summary: HeldSummary = {
    mode: "held",
    locks,
    cycles: cycles.length,
    sockets_held: last.sockets,
    sockets_baseline: baselineSockets,
    heap_bytes_per_lock: Math.round(heldHeap / locks),
    rss_bytes_per_lock: Math.round(mean((c) => c.held.rss - baseline.rss) / locks),
    external_bytes_per_lock: Math.round(mean((c) => c.held.external - baseline.external) / locks),
    acquire_ms: Math.round(mean((c) => c.acquireMs)),
    release_ms: Math.round(mean((c) => c.releaseMs)),
    heap_residue_bytes: residue,
    ok
  }
  console.log(
    `held: ${summary.heap_bytes_per_lock} bytes of heap, ${summary.rss_bytes_per_lock} bytes of rss and ${summary.external_bytes_per_lock} bytes of external memory per held lock ` +
      `(${locks} Lock.withLock regions held at once, each in its own fiber, sockets included: ${
        summary.sockets_held ?? "n/a"
      } open while held, ${
        baselineSockets ?? "n/a"
      } at the baseline (stdio pipes are sockets too); mean of ${cycles.length} cycle(s), client process only)`
  )
  console.log(
    `held: after releasing, heapUsed is ${signedMib(residue)} from the baseline (tolerance ${mib(tolerance)}): ${
      ok ? "returns to baseline" : "DID NOT return near the baseline"
    }`
  )
  if (args.json) console.log(JSON.stringify(summary))
  return ok ? 0 : 1
}
