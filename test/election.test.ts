/**
 * Leader election against the real server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref, Schedule } from "effect"
import { inject } from "vitest"
import { Election, Memory } from "../src/index.ts"
import * as Codec from "../src/internal/codec.ts"
import { clientLayer, sendRaw } from "./support/probe.ts"

const server = inject("dflockd").address
const freshKey = () => `election-${process.pid}-${Math.random().toString(36).slice(2, 8)}`

describe("Election.run", () => {
  it.live("one leader at a time; when the leader steps down, the next candidate leads", () =>
    Effect.gen(function*() {
      const key = freshKey()
      const leaders = yield* Ref.make(0)
      const maxLeaders = yield* Ref.make(0)
      const elected = yield* Ref.make<ReadonlyArray<string>>([])
      const candidate = (name: string, started: Deferred.Deferred<void>) =>
        Election.run(
          key,
          () =>
            Effect.gen(function*() {
              const now = yield* Ref.updateAndGet(leaders, (n) => n + 1)
              yield* Ref.update(maxLeaders, (m) => Math.max(m, now))
              yield* Ref.update(elected, (names) => [...names, name])
              yield* Deferred.succeed(started, undefined)
              return yield* Effect.never
            }).pipe(Effect.ensuring(Ref.update(leaders, (n) => n - 1))),
          { leaseTtl: "2 seconds" }
        ).pipe(Effect.provide(clientLayer(server)))

      const aLeads = yield* Deferred.make<void>()
      const bLeads = yield* Deferred.make<void>()
      const a = yield* Effect.forkChild(candidate("a", aLeads))
      yield* Deferred.await(aLeads)
      const b = yield* Effect.forkChild(candidate("b", bLeads))
      yield* Effect.sleep("300 millis")
      assert.deepStrictEqual(yield* Ref.get(elected), ["a"], "b waits while a leads")
      yield* Fiber.interrupt(a) // a steps down: its lock is released
      yield* Deferred.await(bLeads)
      assert.deepStrictEqual(yield* Ref.get(elected), ["a", "b"])
      assert.strictEqual(yield* Ref.get(maxLeaders), 1, "never two leaders at once")
      yield* Fiber.interrupt(b)
    }), 15_000)

  it.live("a leader that loses its lease is interrupted and campaigns again", () =>
    Effect.gen(function*() {
      const key = freshKey()
      const terms = yield* Ref.make<ReadonlyArray<string>>([])
      const interrupted = yield* Ref.make(0)
      const firstTerm = yield* Deferred.make<string>()
      const secondTerm = yield* Deferred.make<string>()
      const fiber = yield* Election.run(
        key,
        (lock) =>
          Effect.gen(function*() {
            const all = yield* Ref.updateAndGet(terms, (t) => [...t, lock.token])
            yield* Deferred.succeed(all.length === 1 ? firstTerm : secondTerm, lock.token)
            return yield* Effect.never
          }).pipe(Effect.onInterrupt(() => Ref.update(interrupted, (n) => n + 1))),
        { leaseTtl: "2 seconds", retryDelay: "100 millis" }
      ).pipe(Effect.provide(clientLayer(server)), Effect.forkChild)
      const token = yield* Deferred.await(firstTerm)
      // someone else ends the term: the next renewal is refused, the lease is lost
      yield* sendRaw(server, Codec.release("lock", key, token))
      const next = yield* Deferred.await(secondTerm)
      assert.notStrictEqual(next, token, "a new term with a new grant")
      assert.strictEqual(yield* Ref.get(interrupted), 1, "the first term was interrupted")
      yield* Fiber.interrupt(fiber)
    }), 15_000)

  it.live(
    "retry is a Schedule: a lost lease campaigns again by it, and a finite one that runs out starts over",
    () =>
      Effect.gen(function*() {
        const key = freshKey()
        const terms = yield* Ref.make<ReadonlyArray<string>>([])
        const third = yield* Deferred.make<void>()
        const fiber = yield* Election.run(
          key,
          (lock) =>
            Ref.updateAndGet(terms, (t) => [...t, lock.token]).pipe(
              Effect.flatMap((all) => all.length === 3 ? Deferred.succeed(third, undefined) : Effect.void),
              Effect.andThen(Effect.never)
            ),
          { retry: Schedule.recurs(0) }
        ).pipe(Effect.forkChild)
        for (let ended = 0; ended < 2; ended++) {
          yield* Effect.repeat(Ref.get(terms), {
            until: (t) => t.length === ended + 1,
            schedule: Schedule.spaced("5 millis")
          })
          assert.strictEqual(yield* Memory.releaseAll(key), 1)
        }
        yield* Deferred.await(third).pipe(Effect.timeout("5 seconds"))
        const all = yield* Ref.get(terms)
        assert.strictEqual(new Set(all).size, 3, "three terms, three grants")
        yield* Fiber.interrupt(fiber)
      }).pipe(Effect.provide(Memory.layer({ defaultLeaseTtl: "2 seconds" }))),
    15_000
  )

  it.live("a leader that finishes returns its value and releases leadership", () =>
    Effect.gen(function*() {
      const key = freshKey()
      const result = yield* Election.run(key, (lock) => Effect.succeed(`done by ${lock.key}`)).pipe(
        Effect.provide(clientLayer(server))
      )
      assert.strictEqual(result, `done by ${key}`)
      const again = yield* Election.run(key, () => Effect.succeed("next")).pipe(
        Effect.provide(clientLayer(server)),
        Effect.timeout("3 seconds")
      )
      assert.strictEqual(again, "next")
    }))
})
