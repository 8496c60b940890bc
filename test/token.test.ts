/**
 * Fencing tokens (PROTOCOL.md §8): the first 16 hex digits as an unsigned 64-bit bigint.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import * as Token from "../src/Token.ts"
import { params } from "./support/fastCheck.ts"

const SALT = "0123456789abcdef"

const fenceOf = (token: string): bigint => {
  const fence = Token.fence(token)
  if (Option.isNone(fence)) return assert.fail(`no fence for ${JSON.stringify(token)}`)
  return fence.value
}

/** Digit-by-digit parse, independent of BigInt("0x…"). */
const referenceFence = (token: string): bigint => {
  let value = 0n
  for (const digit of token.slice(0, 16)) value = value * 16n + BigInt("0123456789abcdef".indexOf(digit))
  return value
}

describe("Token.fence", () => {
  it("reads the first 16 hex digits", () => {
    assert.strictEqual(fenceOf(`000000000000002a${SALT}`), 42n)
    assert.strictEqual(fenceOf(`0000000000000000${SALT}`), 0n)
    assert.strictEqual(fenceOf(`00000000000000ff${"f".repeat(16)}`), 255n)
    assert.strictEqual(fenceOf(`0123456789abcdef${"0".repeat(16)}`), 0x0123456789abcdefn)
  })

  it("is exact above 2^53", () => {
    assert.strictEqual(fenceOf(`0020000000000001${SALT}`), 2n ** 53n + 1n) // 9007199254740993, not a double
    assert.strictEqual(fenceOf(`17f1c0b5e1a2b3c4${SALT}`), 0x17f1c0b5e1a2b3c4n)
    assert.strictEqual(fenceOf(`ffffffffffffffff${SALT}`), 2n ** 64n - 1n)
    assert.strictEqual(fenceOf(`fffffffffffffffe${SALT}`) + 1n, fenceOf(`ffffffffffffffff${SALT}`))
  })

  it("ignores the salt", () => {
    assert.strictEqual(fenceOf(`00000000000000070000000000000000`), fenceOf(`0000000000000007ffffffffffffffff`))
  })

  it.each([
    ["empty", ""],
    ["31 digits", `000000000000002a${SALT}`.slice(1)],
    ["33 digits", `000000000000002a${SALT}0`],
    ["upper case", `000000000000002A${SALT}`],
    ["non-hex", `000000000000002g${SALT}`],
    ["0x prefix", `0x00000000000002a${SALT}`],
    ["leading space", ` 00000000000002a${SALT}`],
    ["trailing newline", `000000000000002a${SALT.slice(1)}\n`],
    ["16 digits only", "000000000000002a"],
    ["negative", `-00000000000002a${SALT}`]
  ])("rejects a malformed token (%s)", (_, token) => {
    assert.isTrue(Option.isNone(Token.fence(token)))
    assert.isFalse(Token.isToken(token))
  })

  it("isToken rejects non-strings", () => {
    for (const u of [undefined, null, 42, 2n ** 64n, {}, [`000000000000002a${SALT}`]]) assert.isFalse(Token.isToken(u))
  })

  it("property: any 32-hex token has the fence BigInt of its first 16 digits, below 2^64", () => {
    const hex = fc.constantFrom(..."0123456789abcdef")
    fc.assert(
      fc.property(fc.string({ unit: hex, minLength: 32, maxLength: 32 }), (token) => {
        assert.isTrue(Token.isToken(token))
        const fence = fenceOf(token)
        assert.strictEqual(fence, referenceFence(token))
        assert.isTrue(fence >= 0n && fence < 2n ** 64n)
        // the fence prints back to the same 16 digits
        assert.strictEqual(fence.toString(16).padStart(16, "0"), token.slice(0, 16))
      }),
      params()
    )
  })

  it("property: fence order is the order of the 16-digit prefixes", () => {
    const hex = fc.constantFrom(..."0123456789abcdef")
    const tokenArb = fc.string({ unit: hex, minLength: 32, maxLength: 32 })
    fc.assert(
      fc.property(tokenArb, tokenArb, (a, b) => {
        const compare = <T>(x: T, y: T) => (x < y ? -1 : x > y ? 1 : 0)
        // fixed-width lowercase hex sorts like the number it spells
        assert.strictEqual(compare(fenceOf(a), fenceOf(b)), compare(a.slice(0, 16), b.slice(0, 16)))
      }),
      params()
    )
  })

  it("property: a 32-character string has a fence iff it is all lowercase hex", () => {
    const char = fc.constantFrom(..."0123456789abcdefABCDEFgxz -\n")
    fc.assert(
      fc.property(fc.string({ unit: char, minLength: 32, maxLength: 32 }), (s) => {
        const isHex = /^[0-9a-f]{32}$/.test(s)
        assert.strictEqual(Option.isSome(Token.fence(s)), isHex)
        assert.strictEqual(Token.isToken(s), isHex)
      }),
      params()
    )
  })
})
