/**
 * Multi-server sharding against three real servers (issue 3, "Multi-server
 * sharding"). dflockd 0.5.0 has no `stats`, so "held on server X" is observed
 * the way any other client would see it: a try-once acquire straight to X, by a
 * separate single-server client, finds the key busy (None) there and free
 * (Some) everywhere else.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { afterAll, beforeAll } from "vitest"
import { type ServerHandle, startServer } from "../scripts/dflockd-server.ts"
import { DflockdClient, Lock, Sharding } from "../src/index.ts"
import { failedWith } from "./support/exits.ts"

let servers: ReadonlyArray<ServerHandle> = []
const addresses = () => servers.map((s) => s.address)

beforeAll(async () => {
  servers = await Promise.all([0, 1, 2].map(() => startServer({ "default-lease-ttl": 10 })))
})

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()))
})

const run = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`

/** 50 distinct keys, ASCII and not (accents, CJK, Cyrillic, Arabic, emoji, combining marks). */
const keys: ReadonlyArray<string> = [
  "my-key",
  "a",
  "café",
  "日本語",
  "🔒",
  "ключ",
  "مفتاح",
  "e\u0301",
  "\u00e9",
  "👩‍👩‍👧",
  ...Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `orders/${i}` : `zähler-${i}-✓`))
].map((key) => `${key}#${run}`)

/** Whether `key` is busy on one server, seen by an independent single-server client. */
const busyOn = (address: string, key: string) =>
  Lock.tryAcquire(key).pipe(
    Effect.map(Option.isNone),
    Effect.scoped,
    Effect.provide(DflockdClient.layer({ servers: [address], pool: false }))
  )

/** For each key, the servers where it is busy. */
const whereBusy = (keysToProbe: ReadonlyArray<string>) =>
  Effect.forEach(
    keysToProbe,
    (key) =>
      Effect.map(
        Effect.forEach(addresses(), (address) => busyOn(address, key), { concurrency: 3 }),
        (busy) => addresses().filter((_, i) => busy[i])
      ),
    { concurrency: 8 }
  )

describe("CRC-32 routing across three real servers", () => {
  it("the keys are 50 distinct ones, some non-ASCII", () => {
    assert.strictEqual(new Set(keys).size, 50)
    assert.isTrue(keys.some((key) => /[^\x20-\x7e]/.test(key)))
  })

  it.live("each of 50 held keys is held on the server stableHashShard names, and on no other", () =>
    Effect.gen(function*() {
      const locks = yield* Effect.forEach(keys, (key) => Lock.acquire(key, { acquireTimeout: "5 seconds" }), {
        concurrency: 10
      })
      const expected = keys.map((key) => addresses()[Sharding.stableHashShard(key, 3)]!)
      assert.deepStrictEqual(locks.map((lock) => lock.server), expected, "lock.server is the routed server")
      const busy = yield* whereBusy(keys)
      for (let i = 0; i < keys.length; i++) {
        assert.deepStrictEqual(busy[i], [expected[i]], `${JSON.stringify(keys[i])} is held exactly on ${expected[i]}`)
      }
      // the keys spread over all three servers
      for (const address of addresses()) assert.isTrue(expected.includes(address), `some key lives on ${address}`)
    }).pipe(Effect.scoped, Effect.provide(DflockdClient.layer({ servers: addresses() }))))

  it.live("after the scope closes, every key is free everywhere", () =>
    Effect.gen(function*() {
      const sample = keys.slice(0, 12)
      yield* Effect.forEach(sample, (key) => Lock.acquire(key), { concurrency: 6 }).pipe(
        Effect.scoped,
        Effect.provide(DflockdClient.layer({ servers: addresses() }))
      )
      const busy = yield* whereBusy(sample)
      assert.deepStrictEqual(busy, sample.map(() => []))
    }))

  it.live("route() and PROTOCOL.md's n = 3 vectors agree", () =>
    Effect.gen(function*() {
      const client = yield* DflockdClient.DflockdClient
      const vectors: ReadonlyArray<readonly [string, number]> = [["my-key", 2], ["a", 0], ["café", 2], ["日本語", 1], [
        "🔒",
        0
      ]]
      for (const [key, index] of vectors) {
        assert.strictEqual((yield* client.route(key)).label, addresses()[index], key)
      }
    }).pipe(Effect.provide(DflockdClient.layer({ servers: addresses() }))))
})

/** A caller's own rule: by region prefix. */
const byPrefix: Sharding.Strategy = (key) => key.startsWith("eu/") ? 0 : key.startsWith("us/") ? 1 : 2

describe("custom sharding strategy", () => {
  it.live("routes as told: every key to the last server", () =>
    Effect.gen(function*() {
      const sample = keys.slice(0, 8).map((key) => `custom-${key}`)
      const locks = yield* Effect.forEach(sample, (key) => Lock.acquire(key))
      const last = addresses()[2]!
      assert.deepStrictEqual(locks.map((lock) => lock.server), sample.map(() => last))
      assert.deepStrictEqual(yield* whereBusy(sample), sample.map(() => [last]))
    }).pipe(
      Effect.scoped,
      Effect.provide(DflockdClient.layer({ servers: addresses(), sharding: (_key, count) => count - 1 }))
    ))

  it.live("routes by a rule of the caller's: by prefix", () =>
    Effect.gen(function*() {
      const sample = ["eu/a", "us/b", "ap/c", "eu/ü", "us/日本"].map((key) => `${key}-${run}`)
      yield* Effect.forEach(sample, (key) => Lock.acquire(key))
      const busy = yield* whereBusy(sample)
      assert.deepStrictEqual(busy, sample.map((key) => [addresses()[byPrefix(key, 3)]!]))
    }).pipe(
      Effect.scoped,
      Effect.provide(DflockdClient.layer({
        servers: addresses(),
        sharding: byPrefix
      }))
    ))

  it.live.each([3, -1, 1.5, Number.NaN])(
    "an index out of range (%s) fails with InvalidArgumentError, no I/O",
    (index) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Effect.scoped(Lock.acquire(`bad-index-${run}`)))
        const error = failedWith(exit, "InvalidArgumentError")
        assert.strictEqual(error.argument, "sharding")
      }).pipe(Effect.provide(DflockdClient.layer({ servers: addresses(), sharding: () => index })))
  )
})
