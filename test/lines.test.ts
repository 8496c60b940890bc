/**
 * The reply line splitter: bytes in, whole UTF-8 lines out, with a bounded buffer.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import type { ProtocolError } from "../src/Errors.ts"
import { makeLineSplitter } from "../src/internal/protocol/lines.ts"
import { params } from "./support/fastCheck.ts"

const utf8 = (s: string) => new TextEncoder().encode(s)
const concat = (...parts: ReadonlyArray<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

type Outcome =
  | { readonly _tag: "Lines"; readonly lines: ReadonlyArray<string> }
  | { readonly _tag: "Failed"; readonly error: ProtocolError }

/** Feeds chunks into a fresh splitter; stops at the first failure. */
const feed = (maxLineBytes: number, chunks: ReadonlyArray<Uint8Array>): Outcome => {
  const splitter = makeLineSplitter(maxLineBytes)
  const lines: Array<string> = []
  for (const chunk of chunks) {
    const result = splitter.push(chunk)
    if (Result.isFailure(result)) return { _tag: "Failed", error: result.failure }
    lines.push(...result.success)
  }
  return { _tag: "Lines", lines }
}

const linesOf = (outcome: Outcome): ReadonlyArray<string> => {
  if (outcome._tag === "Failed") return assert.fail(`unexpected failure: ${outcome.error.message}`)
  return outcome.lines
}

const assertProtocolError = (outcome: Outcome, detail: RegExp) => {
  assert.strictEqual(outcome._tag, "Failed", `expected a ProtocolError, got ${JSON.stringify(outcome)}`)
  if (outcome._tag === "Failed") {
    assert.strictEqual(outcome.error._tag, "ProtocolError")
    assert.match(outcome.error.detail, detail)
  }
}

/** Splits `bytes` at the given offsets (sorted, deduplicated, within range). */
const splitAt = (bytes: Uint8Array, cuts: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(bytes.length, c))))].sort((a, b) => a - b)
  const chunks: Array<Uint8Array> = []
  let start = 0
  for (const p of points) {
    chunks.push(bytes.slice(start, p))
    start = p
  }
  chunks.push(bytes.slice(start))
  return chunks
}

const TOKEN = "0123456789abcdef0123456789abcdef"
const replies = [
  `ok ${TOKEN} 20`,
  "queued",
  "",
  "error_max_locks",
  "café é",
  "日本語",
  "🔒 lock",
  `ok {"locks":[{"key":"日本語🔒"}]}`
]
const stream = utf8(replies.map((line, i) => (i % 2 === 0 ? `${line}\r\n` : `${line}\n`)).join(""))

describe("makeLineSplitter: splitting", () => {
  it("yields the replies from one chunk, trailing \\r stripped", () => {
    assert.deepStrictEqual(linesOf(feed(1024, [stream])), replies)
  })

  it("yields the same lines when split at every byte boundary (two chunks)", () => {
    for (let i = 0; i <= stream.length; i++) {
      assert.deepStrictEqual(linesOf(feed(1024, splitAt(stream, [i]))), replies, `split at byte ${i}`)
    }
  })

  it("yields the same lines when split at every pair of byte boundaries (three chunks)", () => {
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        assert.deepStrictEqual(linesOf(feed(1024, splitAt(stream, [i, j]))), replies, `split at ${i}, ${j}`)
      }
    }
  })

  it("yields the same lines when fed one byte at a time, including inside é, 日 and 🔒", () => {
    const bytes = Array.from(stream, (b) => Uint8Array.of(b))
    assert.deepStrictEqual(linesOf(feed(1024, bytes)), replies)
    for (const char of ["é", "日", "🔒"]) {
      const line = utf8(`${char}\n`)
      assert.isAbove(line.length, 2, "a multi-byte character")
      assert.deepStrictEqual(linesOf(feed(16, Array.from(line, (b) => Uint8Array.of(b)))), [char])
    }
  })

  it("returns lines as they complete and keeps the partial one", () => {
    const splitter = makeLineSplitter(64)
    assert.deepStrictEqual(splitter.push(utf8("ok 1\nque")), Result.succeed(["ok 1"]))
    assert.deepStrictEqual(splitter.push(utf8("ued")), Result.succeed([]))
    assert.deepStrictEqual(splitter.push(utf8("\n\nx\r")), Result.succeed(["queued", ""]))
    assert.deepStrictEqual(splitter.push(utf8("\n")), Result.succeed(["x"]))
    assert.deepStrictEqual(splitter.push(new Uint8Array(0)), Result.succeed([]))
  })

  it("strips one trailing \\r only; a \\r elsewhere stays", () => {
    assert.deepStrictEqual(linesOf(feed(64, [utf8("a\r\r\nb\rc\n\r\n")])), ["a\r", "b\rc", ""])
  })

  it("does not depend on the caller keeping the chunk intact", () => {
    const splitter = makeLineSplitter(64)
    const chunk = utf8("queu")
    assert.deepStrictEqual(splitter.push(chunk), Result.succeed([]))
    chunk.fill(0x78) // a socket may reuse its buffer
    assert.deepStrictEqual(splitter.push(utf8("ed\n")), Result.succeed(["queued"]))
  })
})

describe("makeLineSplitter: the cap", () => {
  it("accepts a line of exactly the cap", () => {
    assert.deepStrictEqual(linesOf(feed(16, [utf8(`${"x".repeat(16)}\n`)])), ["x".repeat(16)])
    assert.deepStrictEqual(linesOf(feed(16, [utf8("x".repeat(10)), utf8(`${"x".repeat(6)}\n`)])), ["x".repeat(16)])
  })

  it("fails a line of cap + 1 bytes, in one chunk or split", () => {
    const line = utf8(`${"x".repeat(17)}\n`)
    assertProtocolError(feed(16, [line]), /exceeds 16 bytes/)
    for (let i = 0; i <= line.length; i++) assertProtocolError(feed(16, splitAt(line, [i])), /exceeds 16 bytes/)
  })

  it("fails as soon as the partial line passes the cap, without waiting for a newline", () => {
    const splitter = makeLineSplitter(16)
    for (let i = 0; i < 16; i++) assert.deepStrictEqual(splitter.push(utf8("x")), Result.succeed([]))
    const over = splitter.push(utf8("x"))
    assert.isTrue(Result.isFailure(over))
  })

  it("fails a 2 MiB line at the first chunk past the cap", () => {
    const cap = 1024
    const chunk = new Uint8Array(64 * 1024).fill(0x61)
    const splitter = makeLineSplitter(cap)
    // the first 64 KiB chunk is already past the cap: the splitter rejects it rather than buffer it
    const first = splitter.push(chunk)
    assert.isTrue(Result.isFailure(first))
    if (Result.isFailure(first)) assert.match(first.failure.detail, /exceeds 1024 bytes/)
    // in small chunks too: at most cap bytes are ever held
    const small = makeLineSplitter(cap)
    let pushed = 0
    let failedAt = -1
    for (let i = 0; i < (2 * 1024 * 1024) / 100 && failedAt < 0; i++) {
      const r = small.push(chunk.subarray(0, 100))
      pushed += 100
      if (Result.isFailure(r)) failedAt = pushed
    }
    assert.strictEqual(failedAt, 1100)
  })

  it("checks a complete line against the cap, newline in the same chunk", () => {
    assertProtocolError(feed(8, [utf8("ok\nabcdefghijk\nok\n")]), /exceeds 8 bytes/)
  })

  it("counts bytes, not characters", () => {
    assert.deepStrictEqual(linesOf(feed(6, [utf8("日本\n")])), ["日本"]) // 6 bytes
    assertProtocolError(feed(6, [utf8("日本a\n")]), /exceeds 6 bytes/) // 7 bytes
  })
})

describe("makeLineSplitter: invalid UTF-8", () => {
  it.each<[string, ReadonlyArray<number>]>([
    ["a lone 0xff", [0xff]],
    ["a continuation byte without a lead", [0x80]],
    ["a bad continuation", [0xc3, 0x28]],
    ["a truncated 3-byte sequence", [0xe6, 0x97]],
    ["a truncated 4-byte sequence", [0xf0, 0x9f, 0x94]],
    ["an overlong encoding of /", [0xc0, 0xaf]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["a code point above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]]
  ])("fails on %s", (_, bad) => {
    const line = concat(utf8("ok "), Uint8Array.from(bad), utf8(" 5\n"))
    assertProtocolError(feed(64, [line]), /not valid UTF-8/)
    // byte by byte too
    assertProtocolError(feed(64, Array.from(line, (b) => Uint8Array.of(b))), /not valid UTF-8/)
  })

  it("fails when a line ends inside a multi-byte character", () => {
    const lock = utf8("🔒")
    assertProtocolError(feed(64, [concat(lock.subarray(0, 2), utf8("\n"), lock.subarray(2), utf8("\n"))]), /UTF-8/)
  })
})

// ---------------------------------------------------------------------------
// properties
// ---------------------------------------------------------------------------

/** The reference model: what a byte stream should produce, independent of chunking. */
const model = (maxLineBytes: number, bytes: Uint8Array): "fail" | ReadonlyArray<string> => {
  const lines: Array<string> = []
  let start = 0
  for (let nl = bytes.indexOf(0x0a); nl !== -1; nl = bytes.indexOf(0x0a, start)) {
    if (nl - start > maxLineBytes) return "fail"
    let end = nl
    if (end > start && bytes[end - 1] === 0x0d) end--
    try {
      lines.push(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, end)))
    } catch {
      return "fail"
    }
    start = nl + 1
  }
  return bytes.length - start > maxLineBytes ? "fail" : lines
}

/** Byte streams rich in newlines, carriage returns and (broken) multi-byte sequences. */
const bytesArb = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 8 }),
      fc.constantFrom(utf8("\n"), utf8("\r\n"), utf8("\r"), utf8("é"), utf8("日"), utf8("🔒"), utf8("ok ")),
      fc.constantFrom(Uint8Array.of(0xff), Uint8Array.of(0xc3), Uint8Array.of(0xf0, 0x9f))
    ),
    { maxLength: 40 }
  )
  .map((parts) => concat(...parts))

const cutsArb = fc.array(fc.nat({ max: 400 }), { maxLength: 12 })

describe("makeLineSplitter: properties", () => {
  it("property: never throws; returns lines or a ProtocolError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), cutsArb, fc.integer({ min: 1, max: 64 }), (bytes, cuts, cap) => {
        const splitter = makeLineSplitter(cap)
        for (const chunk of splitAt(bytes, cuts)) {
          const result = splitter.push(chunk)
          if (Result.isFailure(result)) {
            assert.strictEqual(result.failure._tag, "ProtocolError")
            return
          }
          for (const line of result.success) {
            assert.isString(line)
            assert.notInclude(line, "\n")
            assert.isAtMost(new TextEncoder().encode(line).length, cap)
          }
        }
      }),
      params(500)
    )
  })

  it("property: the outcome matches the reference model, however the stream is chunked", () => {
    fc.assert(
      fc.property(bytesArb, cutsArb, fc.integer({ min: 1, max: 40 }), (bytes, cuts, cap) => {
        const expected = model(cap, bytes)
        const actual = feed(cap, splitAt(bytes, cuts))
        if (expected === "fail") {
          assert.strictEqual(actual._tag, "Failed")
          if (actual._tag === "Failed") assert.strictEqual(actual.error._tag, "ProtocolError")
        } else {
          assert.deepStrictEqual(linesOf(actual), expected)
        }
      }),
      params(1000)
    )
  })

  it("property: valid UTF-8 lines round-trip at any chunking", () => {
    // U+FEFF included: a byte-order mark at the start of a line is kept, not dropped
    const lineArb = fc.string({ unit: fc.constantFrom("a", "é", "日", "🔒", "\uFEFF", " "), maxLength: 20 })
    fc.assert(
      fc.property(fc.array(lineArb, { maxLength: 8 }), cutsArb, (lines, cuts) => {
        const bytes = utf8(lines.map((l) => `${l}\n`).join(""))
        assert.deepStrictEqual(linesOf(feed(1024, splitAt(bytes, cuts))), lines)
        assert.deepStrictEqual(linesOf(feed(1024, Array.from(bytes, (b) => Uint8Array.of(b)))), lines)
      }),
      params()
    )
  })
})
