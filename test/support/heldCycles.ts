/**
 * Run by `test/heap.test.ts` as its own process, with `--expose-gc`: holds
 * `count` `Lock.withLock` regions at once against the server at `address`
 * (each in its own fiber, each lease on its own connection), releases them,
 * and does it again: one warm-up cycle, then `cycles` measured ones. Prints
 * one JSON line: the heap at the baseline (after the warm-up), and for each
 * cycle the heap while everything is held and once it is released.
 */
import { Deferred, Effect, Fiber } from "effect"
import * as DflockdClient from "../../src/DflockdClient.ts"
import * as Lock from "../../src/Lock.ts"

const [address = "", countArg = "10000", cyclesArg = "3"] = process.argv.slice(2)
const count = Number(countArg)
const cycles = Number(cyclesArg)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error("run with --expose-gc")

/** heapUsed after repeated full collections (what survives them). */
const heap = Effect.sync(() => {
  for (let i = 0; i < 8; i++) gc()
  return process.memoryUsage().heapUsed
})

const prefix = `heap-${process.pid}`

/** One cycle: every region entered and waiting, the heap read, then all released. */
const cycle = Effect.gen(function*() {
  const leave = yield* Deferred.make<void>()
  let entered = 0
  const fibers: Array<Fiber.Fiber<void, unknown>> = []
  for (let i = 0; i < count; i++) {
    const region = Effect.sync(() => void entered++).pipe(Effect.andThen(Deferred.await(leave)))
    fibers.push(yield* Effect.forkChild(Lock.withLock(region, `${prefix}-${i}`, { acquireTimeout: "60 seconds" })))
    // paced, so that the server's accept queue never overflows
    if (i % 250 === 249) { while (entered < i + 1 - 250) yield* Effect.sleep("1 millis") }
  }
  while (entered < count) yield* Effect.sleep("5 millis")
  const held = yield* heap
  yield* Deferred.succeed(leave, undefined)
  yield* Fiber.joinAll(fibers)
  // the pipelined releases' replies are read, and the connections beyond the pool's idle limit closed
  yield* Effect.sleep("300 millis")
  return { entered, held, after: yield* heap }
})

const program = Effect.gen(function*() {
  yield* cycle
  const baseline = yield* heap
  const measured: Array<{ entered: number; held: number; after: number }> = []
  for (let i = 0; i < cycles; i++) measured.push(yield* cycle)
  console.log(JSON.stringify({ count, baseline, cycles: measured }))
}).pipe(Effect.provide(DflockdClient.layer({ servers: [address] })))

await Effect.runPromise(program)
