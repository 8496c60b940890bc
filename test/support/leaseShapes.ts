/**
 * Run by `test/heap.test.ts` as its own process, with `--allow-natives-syntax`:
 * acquires leases of both kinds from the in-memory layer and prints whether
 * they all share one hidden class (V8's `%HaveSameMap`).
 */
import { Effect, Option } from "effect"
import * as Lock from "../../src/Lock.ts"
import * as Memory from "../../src/Memory.ts"
import * as Semaphore from "../../src/Semaphore.ts"

// natives syntax is not TypeScript: it is compiled by V8 from a string
const haveSameMap = new Function("a", "b", "return %HaveSameMap(a, b)") as (a: object, b: object) => boolean

const leases = await Effect.runPromise(
  Effect.provide(
    Effect.all([
      Effect.scoped(Lock.acquire("shape-a")),
      Effect.scoped(Lock.acquire("shape-b", { leaseTtl: "7 seconds" })),
      Effect.scoped(Semaphore.acquire("shape-c", { limit: 2 })),
      Effect.scoped(Lock.tryAcquire("shape-d")).pipe(Effect.map(Option.getOrThrow))
    ]),
    Memory.layer()
  )
)
const [first, ...rest] = leases
console.log(JSON.stringify({ count: leases.length, shared: rest.every((lease) => haveSameMap(first, lease)) }))
