/**
 * FIFO scenarios shared by the real-server and in-memory tests.
 */
import { assert } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import { Lock } from "../../src/index.ts"

/**
 * Enqueues `count` waiters on `key` one at a time: each must be `queued` (the
 * server's word that it is in line) before the next enqueues. Each waiter, once
 * granted, records its index and holds for `hold` before releasing.
 * `granted` reads the indices in grant order; `join` waits for every waiter.
 */
export const queueInOrder = (
  key: string,
  count: number,
  options: { readonly wait: Duration.Input; readonly hold?: Duration.Input | undefined }
) =>
  Effect.gen(function*() {
    const granted = yield* Ref.make<ReadonlyArray<number>>([])
    const waiters: Array<Fiber.Fiber<void, unknown>> = []
    for (let i = 0; i < count; i++) {
      const inLine = yield* Deferred.make<string>()
      waiters.push(
        yield* Effect.gen(function*() {
          const ticket = yield* Lock.enqueue(key)
          yield* Deferred.succeed(inLine, ticket.status)
          yield* ticket.wait(options.wait)
          yield* Ref.update(granted, (order) => [...order, i])
          if (options.hold !== undefined) yield* Effect.sleep(options.hold)
        }).pipe(Effect.scoped, Effect.forkChild)
      )
      assert.strictEqual(yield* Deferred.await(inLine), "queued")
    }
    return { granted: Ref.get(granted), join: Fiber.joinAll(waiters) }
  })
