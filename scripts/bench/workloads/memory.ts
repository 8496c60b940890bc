/**
 * `memory`: holds `--locks` locks at once (each a `Lock.acquire` in a scope of its own, each owning a
 * connection), reports bytes per held lock, releases them and checks memory returns near its baseline.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { Lock } from "effect-dflockd"
import type { Args } from "../cli.ts"
import { DEFAULT_MEMORY_LOCKS } from "../config.ts"
import { serverFds, waitForServer } from "../file-descriptors.ts"
import { mib, signedMib } from "../format.ts"
import { type Memory, memoryNow } from "../memory-meters.ts"
import { settle, startManyLocks } from "./many-locks.ts"
import { clientLayer } from "./shared.ts"

export const runMemory = async (args: Args, servers: ReadonlyArray<string>): Promise<number> => {
  const { cycleCount, keys, locks, pids, tally } = startManyLocks(args, servers, "memory", {
    locks: DEFAULT_MEMORY_LOCKS,
    cycles: 3
  })
  const concurrency = 100
  const holdAll = Effect.forEach(keys, (key) =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      yield* Scope.provide(Lock.acquire(key, { acquireTimeout: "60 seconds" }), scope).pipe(
        Effect.onExit((exit) => Exit.isFailure(exit) ? Scope.close(scope, exit) : Effect.void)
      )
      return scope
    }), { concurrency })
  const releaseAll = (scopes: ReadonlyArray<Scope.Closeable>) =>
    Effect.forEach(scopes, (scope) => Scope.close(scope, Exit.void), { concurrency, discard: true })

  const program = Effect.gen(function*() {
    // warm-up: load and optimise the code paths, fill the pool
    const warm = yield* Effect.forEach(
      keys.slice(0, 200),
      (key) =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          yield* Scope.provide(Lock.acquire(key), scope)
          return scope
        }),
      { concurrency }
    )
    yield* releaseAll(warm)
    yield* settle
    for (const line of tally.drain()) console.log(line)
    const baselineFds = serverFds(pids)
    const baseline = memoryNow()
    console.log(
      `memory: ${locks} locks x ${cycleCount} cycles; baseline heapUsed ${mib(baseline.heapUsed)}, rss ${
        mib(baseline.rss)
      }, external ${mib(baseline.external)}`
    )
    const cycles: Array<{ held: Memory; released: Memory; acquireMs: number; releaseMs: number }> = []
    // the scopes stay local to one cycle, so nothing references them when measuring after release
    const cycle = Effect.gen(function*() {
      const t0 = performance.now()
      const scopes = yield* holdAll
      const acquireMs = performance.now() - t0
      const held = memoryNow()
      const t1 = performance.now()
      yield* releaseAll(scopes)
      return { held, acquireMs, releaseMs: performance.now() - t1 }
    })
    for (let c = 1; c <= cycleCount; c++) {
      const { acquireMs, held, releaseMs } = yield* cycle
      yield* settle
      const released = memoryNow()
      const logs = tally.drain()
      cycles.push({ held, released, acquireMs, releaseMs })
      const perLock = (field: keyof Memory) => Math.round((held[field] - baseline[field]) / locks)
      console.log(
        `cycle ${c}: acquired ${locks} in ${(acquireMs / 1000).toFixed(1)} s, released in ${
          (releaseMs / 1000).toFixed(1)
        } s | held: heapUsed ${signedMib(held.heapUsed - baseline.heapUsed)} (${perLock("heapUsed")} B/lock), rss ${
          signedMib(held.rss - baseline.rss)
        } (${perLock("rss")} B/lock), external ${perLock("external")} B/lock | after release: heapUsed ${
          signedMib(released.heapUsed - baseline.heapUsed)
        }, rss ${signedMib(released.rss - baseline.rss)}`
      )
      for (const line of logs) console.log(line)
      if (c < cycleCount) yield* waitForServer(pids, baselineFds)
    }
    return { baseline, cycles }
  })

  const layer = clientLayer(args, servers)
  const { baseline, cycles } = await Effect.runPromise(Effect.provide(program, Layer.merge(layer, tally.layer)))
  const last = cycles.at(-1)!
  const heldHeap = cycles.reduce((a, c) => a + c.held.heapUsed - baseline.heapUsed, 0) / cycles.length
  const heldRss = cycles.reduce((a, c) => a + c.held.rss - baseline.rss, 0) / cycles.length
  const residue = last.released.heapUsed - baseline.heapUsed
  // "near the baseline": what is left after the last release is small next to what the locks held
  const tolerance = Math.max(2 * 1024 * 1024, 0.1 * heldHeap)
  const ok = residue <= tolerance
  const residues = cycles.map((c) => signedMib(c.released.heapUsed - baseline.heapUsed)).join(", ")
  console.log(
    `memory: ${Math.round(heldHeap / locks)} bytes of heap and ${
      Math.round(heldRss / locks)
    } bytes of rss per held lock ` +
      `(mean of ${cycles.length} cycles, ${locks} locks each, client process only)`
  )
  console.log(
    `memory: after releasing, heapUsed is ${signedMib(residue)} from the baseline (tolerance ${mib(tolerance)}): ${
      ok ? "returns to baseline, no unbounded growth" : "DID NOT return near the baseline"
    } (after each cycle: ${residues})`
  )
  if (args.json) {
    console.log(JSON.stringify({
      mode: "memory",
      locks,
      cycles: cycles.length,
      heap_bytes_per_lock: Math.round(heldHeap / locks),
      rss_bytes_per_lock: Math.round(heldRss / locks),
      heap_residue_bytes: residue,
      ok
    }))
  }
  return ok ? 0 : 1
}
