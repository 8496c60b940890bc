/**
 * Semaphores against the pinned server. dflockd 0.5.0 predates semaphores (`sl`
 * and friends arrived in 1.2): the server answers an unknown command with
 * `error` and closes the connection. What can be proven here is that the client
 * reports this as a typed ServerError at once, never hangs, and stays usable.
 * The semaphore behaviours of issue 2 (limit, limit_mismatch) need dflockd ≥ 1.2.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { inject } from "vitest"
import { Lock, Semaphore } from "../src/index.ts"
import { clientLayer } from "./support/probe.ts"

const server = inject("dflockd").address
const key = (name: string) => `sem-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

describe("semaphores on a server without them", () => {
  it.live("acquire, tryAcquire, enqueue and withPermit fail with a typed ServerError", () =>
    Effect.gen(function*() {
      const k = key("old-server")
      const errors = [
        yield* Effect.flip(Effect.scoped(Semaphore.acquire(k, { limit: 3, acquireTimeout: "1 second" }))),
        yield* Effect.flip(Effect.scoped(Semaphore.tryAcquire(k, { limit: 3 }))),
        yield* Effect.flip(Effect.scoped(Semaphore.enqueue(k, { limit: 3 }))),
        yield* Effect.flip(Effect.void.pipe(Semaphore.withPermit(k, { limit: 3 })))
      ]
      for (const error of errors) {
        assert.strictEqual(error._tag, "ServerError")
        assert.strictEqual(error._tag === "ServerError" && error.reason, "error")
      }
      // the client is still usable: the refused connections were closed, not pooled
      assert.strictEqual(yield* Effect.succeed("ok").pipe(Lock.withLock(k)), "ok")
    }).pipe(Effect.provide(clientLayer(server))))
})
