/**
 * Key → server routing, interoperable with the official clients (PROTOCOL.md §10).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Sharding from "../src/Sharding.ts"
import { params } from "./support/fastCheck.ts"

const utf8 = (s: string) => new TextEncoder().encode(s)
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

/** PROTOCOL.md §10: key, UTF-8 hex, crc32, index for n = 2, 3, 5. */
const vectors: ReadonlyArray<readonly [string, string, number, number, number, number]> = [
  ["my-key", "6d792d6b6579", 0xd6e33ac1, 1, 2, 2],
  ["a", "61", 0xe8b7be43, 1, 0, 2],
  ["café", "636166c3a9", 0x98ad42b5, 1, 2, 2],
  ["日本語", "e697a5e69cace8aa9e", 0xa80b52e5, 1, 1, 0],
  ["🔒", "f09f9492", 0x5a418b00, 0, 0, 4]
]

/** A bit-at-a-time CRC-32 (IEEE, reflected, poly 0xEDB88320): an independent reference for the table version. */
const referenceCrc32 = (bytes: Uint8Array): number => {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

const pickOk = (strategy: Sharding.Strategy, key: string, n: number): number => {
  const result = Sharding.pick(strategy, key, n)
  if (Result.isFailure(result)) return assert.fail(`pick failed: ${result.failure.message}`)
  return result.success
}

const assertRejected = (result: Result.Result<number, unknown>, argument: string) => {
  assert.isTrue(Result.isFailure(result), `expected a failure, got ${JSON.stringify(result)}`)
  if (Result.isFailure(result)) {
    const failure = result.failure as { readonly _tag: string; readonly argument: string }
    assert.strictEqual(failure._tag, "InvalidArgumentError")
    assert.strictEqual(failure.argument, argument)
  }
}

describe("crc32", () => {
  it("has the standard check value crc32(\"123456789\") = 0xCBF43926", () => {
    assert.strictEqual(Sharding.crc32(utf8("123456789")), 0xcbf43926)
  })

  it("is 0 for no bytes, and unsigned", () => {
    assert.strictEqual(Sharding.crc32(new Uint8Array(0)), 0)
    assert.strictEqual(Sharding.crc32(utf8("my-key")), 3605215937) // above 2^31: not a negative int32
  })

  it.each(vectors)("%s: UTF-8 %s, crc32 %i", (key, utf8Hex, crc) => {
    assert.strictEqual(hex(utf8(key)), utf8Hex)
    assert.strictEqual(Sharding.crc32(utf8(key)), crc)
  })

  it("more keys, checked against the bit-at-a-time reference", () => {
    const keys = ["b", "orders", "Ünïcödé", "ключ", "مفتاح", "👩‍👩‍👧", "e\u0301", "\u00e9", "x".repeat(255)]
    for (const key of keys) assert.strictEqual(Sharding.crc32(utf8(key)), referenceCrc32(utf8(key)), key)
    // composed and decomposed "é" are different bytes, hence (here) different hashes
    assert.notStrictEqual(Sharding.crc32(utf8("e\u0301")), Sharding.crc32(utf8("\u00e9")))
  })

  it("property: matches the reference on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        assert.strictEqual(Sharding.crc32(bytes), referenceCrc32(bytes))
      }),
      params()
    )
  })
})

describe("stableHashShard", () => {
  it.each(vectors)("%s → indexes for n = 2, 3, 5", (key, _hex, _crc, n2, n3, n5) => {
    assert.strictEqual(Sharding.stableHashShard(key, 2), n2)
    assert.strictEqual(Sharding.stableHashShard(key, 3), n3)
    assert.strictEqual(Sharding.stableHashShard(key, 5), n5)
    assert.strictEqual(pickOk(Sharding.stableHashShard, key, 2), n2)
    assert.strictEqual(pickOk(Sharding.stableHashShard, key, 3), n3)
    assert.strictEqual(pickOk(Sharding.stableHashShard, key, 5), n5)
  })

  it("n = 1 always routes to 0", () => {
    for (const [key] of vectors) assert.strictEqual(pickOk(Sharding.stableHashShard, key, 1), 0)
  })

  it("non-ASCII keys hash their UTF-8 bytes", () => {
    for (const key of ["ключ", "مفتاح", "Ünïcödé", "👩‍👩‍👧", "日本語のキー"]) {
      for (const n of [2, 3, 5, 7, 16]) {
        assert.strictEqual(Sharding.stableHashShard(key, n), referenceCrc32(utf8(key)) % n, `${key} / ${n}`)
      }
    }
  })

  it("property: the index is an integer in [0, n), equal to crc32 mod n, and stable", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 64 }),
        fc.integer({ min: 1, max: 1000 }),
        (key, n) => {
          const index = pickOk(Sharding.stableHashShard, key, n)
          assert.isTrue(Number.isInteger(index))
          assert.isAtLeast(index, 0)
          assert.isBelow(index, n)
          assert.strictEqual(index, referenceCrc32(utf8(key)) % n)
          assert.strictEqual(pickOk(Sharding.stableHashShard, key, n), index)
        }
      ),
      params()
    )
  })
})

describe("pick", () => {
  it("rejects the empty key before hashing", () => {
    let called = false
    const spy: Sharding.Strategy = () => {
      called = true
      return 0
    }
    assertRejected(Sharding.pick(spy, "", 3), "key")
    assert.isFalse(called)
  })

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects %d servers", (n) => {
    assertRejected(Sharding.pick(Sharding.stableHashShard, "k", n), "servers")
  })

  it.each([-1, 3, 4, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    "rejects a custom strategy returning %d for 3 servers",
    (index) => {
      assertRejected(Sharding.pick(() => index, "k", 3), "sharding")
    }
  )

  it("accepts a custom strategy's in-range index and passes it the key and count", () => {
    const seen: Array<readonly [string, number]> = []
    const last: Sharding.Strategy = (key, n) => {
      seen.push([key, n])
      return n - 1
    }
    assert.strictEqual(pickOk(last, "orders", 4), 3)
    assert.deepStrictEqual(seen, [["orders", 4]])
  })

  it("property: any strategy result is either accepted in [0, n) or rejected as InvalidArgumentError", () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -10, max: 10 }), fc.double()),
        fc.integer({ min: 1, max: 8 }),
        (index, n) => {
          const result = Sharding.pick(() => index, "k", n)
          if (Number.isInteger(index) && index >= 0 && index < n) assert.deepStrictEqual(result, Result.succeed(index))
          else assertRejected(result, "sharding")
        }
      ),
      params()
    )
  })
})
