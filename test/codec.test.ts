/**
 * The pure codec: argument validation, request frames and reply decoding
 * (PROTOCOL.md §4, §6, §7).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import * as Codec from "../src/internal/protocol/codec.ts"
import { params } from "./support/fastCheck.ts"

const encoder = new TextEncoder()
const bytes = (s: string) => encoder.encode(s).length

const TOKEN = "0123456789abcdef0123456789abcdef"

// ---------------------------------------------------------------------------
// arbitraries
// ---------------------------------------------------------------------------

const hexDigit = fc.constantFrom(..."0123456789abcdef")
const tokenArb = fc.string({ unit: hexDigit, minLength: 32, maxLength: 32 })

/** Keys the client accepts, from several alphabets (incl. multi-byte and near the 255-byte limit). */
const validKeyArb = fc
  .oneof(
    fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 64 }),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 64 }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 64 }),
    fc.string({ unit: "grapheme-ascii", minLength: 200, maxLength: 255 }),
    fc.string({ unit: fc.constantFrom("é", "日", "🔒", "a", "-", ":"), minLength: 1, maxLength: 100 })
  )
  .filter((key) => Result.isSuccess(Codec.validateKey(key)))

const kindArb = fc.constantFrom<Codec.Kind>("lock", "semaphore")
const secondsArb = fc.integer({ min: 0, max: Codec.MAX_SECONDS })
const leaseArb = fc.option(fc.integer({ min: 1, max: Codec.MAX_SECONDS }), { nil: undefined })
const limitArb = fc.integer({ min: 1, max: Codec.MAX_LIMIT })

const assertInvalid = <A>(result: Result.Result<A, unknown>, argument: string) => {
  assert.isTrue(Result.isFailure(result), `expected a failure, got ${JSON.stringify(result)}`)
  if (Result.isFailure(result)) {
    const failure = result.failure as { readonly _tag: string; readonly argument: string }
    assert.strictEqual(failure._tag, "InvalidArgumentError")
    assert.strictEqual(failure.argument, argument)
  }
}

const assertSucceeds = <A>(result: Result.Result<A, unknown>, expected: A) => {
  assert.isTrue(Result.isSuccess(result), `expected a success, got ${JSON.stringify(result)}`)
  if (Result.isSuccess(result)) assert.deepStrictEqual(result.success, expected)
}

/** The three lines of a frame; asserts the frame is exactly three `\n`-terminated lines. */
const linesOf = (frame: string): [string, string, string] => {
  assert.isTrue(frame.endsWith("\n"), "a frame ends with \\n")
  const parts = frame.split("\n")
  assert.strictEqual(parts.length, 4, `expected three lines in ${JSON.stringify(frame)}`)
  assert.strictEqual(parts[3], "")
  return [parts[0]!, parts[1]!, parts[2]!]
}

// ---------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------

describe("validateKey", () => {
  it("accepts ordinary keys unchanged", () => {
    for (const key of ["a", "orders", "my-key", "café", "日本語", "🔒", "a".repeat(255), "é".repeat(127) + "a"]) {
      assertSucceeds(Codec.validateKey(key), key)
    }
  })

  it("rejects the empty key", () => {
    assertInvalid(Codec.validateKey(""), "key")
  })

  it.each(["\n", "\r", "\u0000", " ", "\t", "\r\n"])("rejects a key containing %j", (bad) => {
    for (const key of [bad, `a${bad}`, `${bad}a`, `a${bad}b`]) assertInvalid(Codec.validateKey(key), "key")
  })

  it("rejects keys over 255 UTF-8 bytes, counting bytes not characters", () => {
    assertInvalid(Codec.validateKey("a".repeat(256)), "key")
    assertInvalid(Codec.validateKey("é".repeat(128)), "key") // 128 chars, 256 bytes
    assertInvalid(Codec.validateKey("日".repeat(86)), "key") // 86 chars, 258 bytes
    assertInvalid(Codec.validateKey("🔒".repeat(64)), "key") // 128 UTF-16 units, 256 bytes
    assertSucceeds(Codec.validateKey("日".repeat(85)), "日".repeat(85)) // 255 bytes
    assertSucceeds(Codec.validateKey("🔒".repeat(63) + "abc"), "🔒".repeat(63) + "abc") // 255 bytes
  })

  it("property: a key with a forbidden character anywhere is rejected", () => {
    fc.assert(
      fc.property(
        validKeyArb,
        fc.constantFrom(" ", "\t", "\r", "\n", "\u0000"),
        fc.nat(),
        (key, bad, at) => {
          const position = at % (key.length + 1)
          assertInvalid(Codec.validateKey(key.slice(0, position) + bad + key.slice(position)), "key")
        }
      ),
      params()
    )
  })

  it("rejects lone surrogates (they would alias U+FFFD on the wire)", () => {
    for (const key of ["\ud800", "a\udc00b", "\udbff"]) assertInvalid(Codec.validateKey(key), "key")
    assertSucceeds(Codec.validateKey("\ud83d\udd12"), "\ud83d\udd12") // a proper pair: 🔒
    assertInvalid(Codec.validateAuthToken("tok\ud800en"), "auth")
  })

  it("accepts Unicode whitespace other than space and tab, as the server does", () => {
    for (const key of ["a\u00a0b", "a\u3000b", "a\u2028b", "a\u000bb", "a\u000cb"]) {
      assertSucceeds(Codec.validateKey(key), key)
    }
  })

  it("property: a key without whitespace or NUL is accepted iff it is 1 to 255 bytes", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom("a", "é", "日", "🔒", "_"), maxLength: 300 }),
        (key) => {
          const ok = key.length > 0 && bytes(key) <= Codec.MAX_LINE_BYTES
          if (ok) assertSucceeds(Codec.validateKey(key), key)
          else assertInvalid(Codec.validateKey(key), "key")
        }
      ),
      params()
    )
  })
})

// ---------------------------------------------------------------------------
// frames
// ---------------------------------------------------------------------------

describe("request frames", () => {
  it("encodes each command as CMD, KEY, ARG", () => {
    const lock: Codec.Target = { kind: "lock", key: "k" }
    const sem: Codec.Target = { kind: "semaphore", key: "k", limit: 3 }
    assert.strictEqual(Codec.acquire(lock, 10, undefined).frame, "l\nk\n10\n")
    assert.strictEqual(Codec.acquire(lock, 10, 20).frame, "l\nk\n10 20\n")
    assert.strictEqual(Codec.acquire(sem, 10, undefined).frame, "sl\nk\n10 3\n")
    assert.strictEqual(Codec.acquire(sem, 0, 20).frame, "sl\nk\n0 3 20\n")
    assert.strictEqual(Codec.enqueue(lock, undefined).frame, "e\nk\n\n")
    assert.strictEqual(Codec.enqueue(lock, 20).frame, "e\nk\n20\n")
    assert.strictEqual(Codec.enqueue(sem, undefined).frame, "se\nk\n3\n")
    assert.strictEqual(Codec.enqueue(sem, 20).frame, "se\nk\n3 20\n")
    assert.strictEqual(Codec.wait("lock", "k", 5).frame, "w\nk\n5\n")
    assert.strictEqual(Codec.wait("semaphore", "k", 5).frame, "sw\nk\n5\n")
    assert.strictEqual(Codec.release("lock", "k", TOKEN).frame, `r\nk\n${TOKEN}\n`)
    assert.strictEqual(Codec.release("semaphore", "k", TOKEN).frame, `sr\nk\n${TOKEN}\n`)
    assert.strictEqual(Codec.renew("lock", "k", TOKEN, undefined).frame, `n\nk\n${TOKEN}\n`)
    assert.strictEqual(Codec.renew("semaphore", "k", TOKEN, 30).frame, `sn\nk\n${TOKEN} 30\n`)
    assert.strictEqual(Codec.stats.frame, "stats\n_\n_\n")
    assert.strictEqual(Codec.ping.frame, "ping\n_\n_\n")
    assert.strictEqual(Codec.auth("s3cret").frame, "auth\n_\ns3cret\n")
  })

  it("marks only waiting acquires as blocking", () => {
    const lock: Codec.Target = { kind: "lock", key: "k" }
    assert.isTrue(Codec.acquire(lock, 1, undefined).blocking)
    assert.isFalse(Codec.acquire(lock, 0, undefined).blocking)
    assert.isTrue(Codec.wait("lock", "k", 1).blocking)
    assert.isFalse(Codec.wait("lock", "k", 0).blocking)
    assert.isFalse(Codec.enqueue(lock, undefined).blocking)
    assert.isFalse(Codec.release("lock", "k", TOKEN).blocking)
    assert.isFalse(Codec.renew("lock", "k", TOKEN, undefined).blocking)
  })

  it("property: any valid key encodes every command to exactly three lines, command first, key second", () => {
    fc.assert(
      fc.property(
        validKeyArb,
        kindArb,
        secondsArb,
        leaseArb,
        limitArb,
        tokenArb,
        (key, kind, seconds, lease, limit, token) => {
          const target: Codec.Target = kind === "lock" ? { kind, key } : { kind, key, limit }
          const s = kind === "lock" ? "" : "s"
          const limitPart = kind === "lock" ? [] : [`${limit}`]
          const leasePart = lease === undefined ? [] : [`${lease}`]
          const cases: ReadonlyArray<readonly [Codec.Command<unknown>, string, string]> = [
            [Codec.acquire(target, seconds, lease), `${s}l`, [`${seconds}`, ...limitPart, ...leasePart].join(" ")],
            [Codec.enqueue(target, lease), `${s}e`, [...limitPart, ...leasePart].join(" ")],
            [Codec.wait(kind, key, seconds), `${s}w`, `${seconds}`],
            [Codec.release(kind, key, token), `${s}r`, token],
            [Codec.renew(kind, key, token, lease), `${s}n`, [token, ...leasePart].join(" ")]
          ]
          for (const [command, name, arg] of cases) {
            const [first, second, third] = linesOf(command.frame)
            assert.strictEqual(first, name)
            assert.strictEqual(command.name, name)
            assert.strictEqual(second, key)
            assert.strictEqual(third, arg)
            // every line fits the server's line limit
            assert.isAtMost(bytes(third), Codec.MAX_LINE_BYTES)
            assert.isAtMost(bytes(second), Codec.MAX_LINE_BYTES)
          }
        }
      ),
      params()
    )
  })
})

// ---------------------------------------------------------------------------
// numbers
// ---------------------------------------------------------------------------

describe("validateLease", () => {
  it("accepts whole seconds from 1 to MAX_SECONDS", () => {
    assertSucceeds(Codec.validateLease("1 second"), 1)
    assertSucceeds(Codec.validateLease("20 seconds"), 20)
    assertSucceeds(Codec.validateLease(Duration.minutes(2)), 120)
    assertSucceeds(Codec.validateLease(3000), 3) // a number is millis
    assertSucceeds(Codec.validateLease(Duration.seconds(Codec.MAX_SECONDS)), Codec.MAX_SECONDS)
  })

  it.each<[string, Duration.Input]>([
    ["1.5 seconds", "1.5 seconds"],
    ["1500 millis", 1500],
    ["1 second and 1 nano", Duration.nanos(1_000_000_001n)],
    ["0", 0],
    ["999 millis", "999 millis"],
    ["-1 seconds", "-1 seconds"],
    ["MAX_SECONDS + 1", Duration.seconds(Codec.MAX_SECONDS + 1)],
    ["Infinity", Duration.infinity]
  ])("rejects %s", (_, input) => {
    assertInvalid(Codec.validateLease(input), "leaseTtl")
  })

  it("property: n seconds ↦ n; n seconds plus a sub-second part is rejected", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 999 }), (n, extra) => {
        assertSucceeds(Codec.validateLease(Duration.seconds(n)), n)
        assertInvalid(Codec.validateLease(n * 1000 + extra), "leaseTtl")
      }),
      params()
    )
  })
})

describe("validateTimeout", () => {
  const wait = (seconds: number, clientMillis?: number): Codec.Wait => ({ seconds, clientMillis })

  it("takes whole seconds as they are: the server keeps the wait", () => {
    assertSucceeds(Codec.validateTimeout("acquireTimeout", 0), wait(0))
    assertSucceeds(Codec.validateTimeout("acquireTimeout", "1 second"), wait(1))
    assertSucceeds(Codec.validateTimeout("acquireTimeout", 2000), wait(2))
    assertSucceeds(Codec.validateTimeout("acquireTimeout", "10 seconds"), wait(10))
  })

  it("keeps a sub-second part exact: the server is asked for the whole seconds above, the client gives up at the instant", () => {
    assertSucceeds(Codec.validateTimeout("acquireTimeout", "300 millis"), wait(1, 300))
    assertSucceeds(Codec.validateTimeout("acquireTimeout", "1.5 seconds"), wait(2, 1500))
    assertSucceeds(Codec.validateTimeout("acquireTimeout", "1 nano"), wait(1, 0.000001))
  })

  it("clamps to MAX_SECONDS, where the server's own wait is the bound", () => {
    assertSucceeds(Codec.validateTimeout("timeout", Duration.seconds(Codec.MAX_SECONDS + 5)), wait(Codec.MAX_SECONDS))
    assertSucceeds(
      Codec.validateTimeout("timeout", Duration.millis(Codec.MAX_SECONDS * 1000 + 0.5)),
      wait(Codec.MAX_SECONDS)
    )
  })

  it("rejects negative and infinite durations, naming the argument", () => {
    assertInvalid(Codec.validateTimeout("acquireTimeout", -1), "acquireTimeout")
    assertInvalid(Codec.validateTimeout("acquireTimeout", "-1 seconds"), "acquireTimeout")
    assertInvalid(Codec.validateTimeout("timeout", Duration.nanos(-1n)), "timeout")
    assertInvalid(Codec.validateTimeout("timeout", Duration.infinity), "timeout")
  })

  it("rejects NaN instead of treating it as zero", () => {
    assertInvalid(Codec.validateTimeout("acquireTimeout", Number.NaN), "acquireTimeout")
    assertInvalid(Codec.validateLease(Number.NaN), "leaseTtl")
  })

  it("property: the server's seconds are the least whole seconds not below the wait; only whole seconds leave it to the server", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000_000 }), (millis) => {
        const seconds = Math.ceil(millis / 1000)
        assertSucceeds(Codec.validateTimeout("t", millis), wait(seconds, millis % 1000 === 0 ? undefined : millis))
        if (millis > 0) assertInvalid(Codec.validateTimeout("t", -millis), "t")
      }),
      params()
    )
  })
})

describe("validateLimit", () => {
  it("accepts integers from 1 to MAX_LIMIT", () => {
    assertSucceeds(Codec.validateLimit(1), 1)
    assertSucceeds(Codec.validateLimit(5), 5)
    assertSucceeds(Codec.validateLimit(Codec.MAX_LIMIT), Codec.MAX_LIMIT)
  })

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Codec.MAX_LIMIT + 1])("rejects %d", (limit) => {
    assertInvalid(Codec.validateLimit(limit), "limit")
  })

  it("property: accepted iff an integer in [1, MAX_LIMIT]", () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer(), fc.double()), (limit) => {
        const ok = Number.isInteger(limit) && limit >= 1 && limit <= Codec.MAX_LIMIT
        if (ok) assertSucceeds(Codec.validateLimit(limit), limit)
        else assertInvalid(Codec.validateLimit(limit), "limit")
      }),
      params()
    )
  })
})

describe("validateToken / validateAuthToken", () => {
  it("accepts 32 lowercase hex digits only", () => {
    assertSucceeds(Codec.validateToken(TOKEN), TOKEN)
    for (
      const bad of ["", TOKEN.slice(1), `${TOKEN}0`, TOKEN.toUpperCase(), `${TOKEN.slice(1)}g`, ` ${TOKEN.slice(1)}`]
    ) {
      assertInvalid(Codec.validateToken(bad), "token")
    }
  })

  it("rejects empty, multi-line and over-long auth tokens", () => {
    assertSucceeds(Codec.validateAuthToken("s3cret"), "s3cret")
    for (const bad of ["", "a\nb", "a\rb", "a\u0000b", "x".repeat(256)]) {
      assertInvalid(Codec.validateAuthToken(bad), "auth")
    }
  })
})

// ---------------------------------------------------------------------------
// replies
// ---------------------------------------------------------------------------

type Decoder = (line: string) => Result.Result<unknown, Codec.ReplyFailure>

const decoders: ReadonlyArray<readonly [string, Decoder]> = [
  ["decodeAcquire", Codec.decodeAcquire],
  ["decodeEnqueue", Codec.decodeEnqueue],
  ["decodeRenew", Codec.decodeRenew],
  ["decodeOk", Codec.decodeOk],
  ["decodeStats", Codec.decodeStats]
]

const failureOf = (result: Result.Result<unknown, Codec.ReplyFailure>): Codec.ReplyFailure => {
  if (Result.isSuccess(result)) return assert.fail(`expected a failure, got ${JSON.stringify(result.success)}`)
  return result.failure
}

const assertProtocolError = (result: Result.Result<unknown, Codec.ReplyFailure>, line: string) => {
  const failure = failureOf(result)
  assert.strictEqual(failure._tag, "ProtocolError", `${JSON.stringify(line)} → ${failure._tag}`)
  assert.strictEqual(failure.reply, line)
}

describe("decoders: valid replies", () => {
  it("a granted lease beyond the protocol's range (and past 2^53) is a ProtocolError, never rounded", () => {
    assertSucceeds(Codec.decodeAcquire(`ok ${TOKEN} 9223372036`), Codec.granted(TOKEN, 9_223_372_036))
    for (const lease of ["9223372037", "9223372036854775807"]) {
      const result = Codec.decodeAcquire(`ok ${TOKEN} ${lease}`)
      assert.isTrue(Result.isFailure(result) && result.failure._tag === "ProtocolError", lease)
      assert.isTrue(Result.isFailure(Codec.decodeEnqueue(`acquired ${TOKEN} ${lease}`)), lease)
    }
  })

  it("decodeAcquire: ok TOKEN L and timeout", () => {
    assertSucceeds(Codec.decodeAcquire(`ok ${TOKEN} 20`), Codec.granted(TOKEN, 20))
    assertSucceeds(Codec.decodeAcquire("timeout"), { _tag: "TimedOut" })
    // fields beyond the ones this client knows are ignored (PROTOCOL.md §14)
    assertSucceeds(Codec.decodeAcquire(`ok ${TOKEN} 20 42`), Codec.granted(TOKEN, 20))
  })

  it("decodeEnqueue: acquired TOKEN L and queued", () => {
    assertSucceeds(Codec.decodeEnqueue(`acquired ${TOKEN} 7`), Codec.granted(TOKEN, 7))
    assertSucceeds(Codec.decodeEnqueue("queued"), { _tag: "Queued" })
  })

  it("decodeRenew: ok L, ok 0 (old servers) and bare ok", () => {
    for (const line of ["ok 30", "ok 0", "ok"]) assertSucceeds(Codec.decodeRenew(line), { _tag: "Ok" })
  })

  it("decodeOk: bare ok", () => {
    assertSucceeds(Codec.decodeOk("ok"), { _tag: "Ok" })
  })

  it("decodeStats: ok <json>, the JSON passed through untouched", () => {
    const json = `{"connections":1,"locks":[{"key":"a b","owner_conn_id":18446744073709551615}]}`
    assertSucceeds(Codec.decodeStats(`ok ${json}`), { _tag: "Stats", json })
  })

  it("property: ok TOKEN L round-trips through decodeAcquire and decodeEnqueue", () => {
    fc.assert(
      fc.property(tokenArb, fc.integer({ min: 1, max: Codec.MAX_SECONDS }), (token, lease) => {
        assertSucceeds(Codec.decodeAcquire(`ok ${token} ${lease}`), Codec.granted(token, lease))
        assertSucceeds(Codec.decodeEnqueue(`acquired ${token} ${lease}`), Codec.granted(token, lease))
      }),
      params()
    )
  })
})

describe("decoders: status strings (PROTOCOL.md §6)", () => {
  const statuses: ReadonlyArray<readonly [string, string]> = [
    ["error", "error"],
    ["error_max_locks", "max_locks"],
    ["error_max_waiters", "max_waiters"],
    ["error_limit_mismatch", "limit_mismatch"],
    ["error_not_enqueued", "not_enqueued"],
    ["error_already_enqueued", "already_enqueued"],
    ["error_lease_expired", "lease_expired"],
    ["error_draining", "draining"],
    ["error_not_leader", "not_leader"],
    ["error_not_leader 10.0.0.2:6388", "not_leader"],
    // an unknown error_* word is a generic server error: newer servers add statuses
    ["error_xyz", "error"],
    ["error_something_new with details", "error"]
  ]

  for (const [name, decode] of decoders) {
    it.each(statuses)(`${name}: %s → ServerError(%s)`, (line, reason) => {
      const failure = failureOf(decode(line))
      assert.strictEqual(failure._tag, "ServerError")
      if (failure._tag === "ServerError") {
        assert.strictEqual(failure.reason, reason)
        assert.strictEqual(failure.reply, line)
      }
    })

    it(`${name}: error_auth → AuthRejected`, () => {
      assert.deepStrictEqual(failureOf(decode("error_auth")), { _tag: "AuthRejected", reply: "error_auth" })
    })
  }
})

describe("decoders: malformed or unexpected replies → ProtocolError", () => {
  const garbage = ["", " ", "hello", "OK", " ok", "okay", "ok\u0000", "Error", "err", "timeoutx", "🔒"]

  it("decodeAcquire", () => {
    const lines = [
      ...garbage,
      "ok",
      "ok ",
      `ok ${TOKEN}`,
      `ok ${TOKEN} `,
      `ok  ${TOKEN} 5`,
      `ok ${TOKEN.toUpperCase()} 5`,
      `ok ${TOKEN.slice(1)} 5`,
      `ok ${TOKEN}0 5`,
      `ok ${TOKEN.slice(1)}g 5`,
      `ok 0x${TOKEN.slice(2)} 5`,
      `ok ${TOKEN} five`,
      `ok ${TOKEN} 0`,
      `ok ${TOKEN} -1`,
      `ok ${TOKEN} 1.5`,
      `ok ${TOKEN} 1e3`,
      `ok ${TOKEN} 05`,
      `ok ${TOKEN} 99999999999999999999`,
      "queued",
      `acquired ${TOKEN} 5`,
      "timeout 5",
      "timeout ",
      "ok 5"
    ]
    for (const line of lines) assertProtocolError(Codec.decodeAcquire(line), line)
  })

  it("decodeEnqueue", () => {
    const lines = [
      ...garbage,
      "acquired",
      `acquired ${TOKEN}`,
      `acquired ${TOKEN.toUpperCase()} 5`,
      `acquired ${TOKEN} x`,
      `ok ${TOKEN} 5`,
      "ok",
      "queued 1",
      "queued ",
      "timeout"
    ]
    for (const line of lines) assertProtocolError(Codec.decodeEnqueue(line), line)
  })

  it("decodeRenew", () => {
    const lines = [...garbage, "ok ", "ok five", "ok -1", "ok 1.5", `ok ${TOKEN}`, "queued", "timeout", "acquired"]
    for (const line of lines) assertProtocolError(Codec.decodeRenew(line), line)
  })

  it("decodeOk", () => {
    const lines = [...garbage, "ok ", "ok 5", `ok ${TOKEN} 5`, "queued", "timeout", "acquired"]
    for (const line of lines) assertProtocolError(Codec.decodeOk(line), line)
  })

  it("decodeStats", () => {
    const lines = [...garbage, "ok", "queued", "timeout", `acquired ${TOKEN} 5`]
    for (const line of lines) assertProtocolError(Codec.decodeStats(line), line)
  })
})

describe("decoders: totality", () => {
  const fragment = fc.oneof(
    fc.constantFrom("ok", "timeout", "queued", "acquired", "error", "error_auth", "error_max_locks", "error_", "x"),
    tokenArb,
    fc.integer({ min: -5, max: 1_000 }).map(String),
    fc.string({ unit: "binary", maxLength: 8 })
  )
  const lineArb = fc.oneof(
    fc.string({ unit: "binary", maxLength: 80 }),
    fc.array(fragment, { maxLength: 5 }).map((words) => words.join(" "))
  )

  const expectedSuccess: Readonly<Record<string, ReadonlyArray<string>>> = {
    decodeAcquire: ["Granted", "TimedOut"],
    decodeEnqueue: ["Granted", "Queued"],
    decodeRenew: ["Ok"],
    decodeOk: ["Ok"],
    decodeStats: ["Stats"]
  }

  it("property: decoders never throw; results are an expected reply or a typed failure", () => {
    fc.assert(
      fc.property(lineArb, (line) => {
        for (const [name, decode] of decoders) {
          const result = decode(line)
          if (Result.isSuccess(result)) {
            const tag = (result.success as { readonly _tag: string })._tag
            assert.isTrue((expectedSuccess[name] ?? []).includes(tag), `${name}(${JSON.stringify(line)}) → ${tag}`)
          } else {
            assert.include(["ServerError", "ProtocolError", "AuthRejected"], result.failure._tag)
            assert.strictEqual(result.failure.reply, line)
          }
        }
      }),
      params(1000)
    )
  })
})

describe("opaque tokens (the Promise API, as dflockd-client 1.x)", () => {
  it("decodeOpaque accepts any non-empty token without whitespace in grants; decode keeps the 32-hex rule", () => {
    const lock: Codec.Target = { kind: "lock", key: "k" }
    const sem: Codec.Target = { kind: "semaphore", key: "k", limit: 2 }
    const granting: ReadonlyArray<readonly [Codec.Command<unknown>, string]> = [
      [Codec.acquire(lock, 1, undefined), "ok"],
      [Codec.acquire(sem, 1, undefined), "ok"],
      [Codec.wait("lock", "k", 1), "ok"],
      [Codec.wait("semaphore", "k", 1), "ok"],
      [Codec.enqueue(lock, undefined), "acquired"],
      [Codec.enqueue(sem, undefined), "acquired"]
    ]
    const opaqueOf = (command: Codec.Command<unknown>) => {
      assert.isDefined(command.decodeOpaque)
      return command.decodeOpaque!
    }
    for (const [command, status] of granting) {
      const opaque = opaqueOf(command)
      for (const token of ["tok1", "abc123", "semtok", "Z", "é-🔒", TOKEN]) {
        assertSucceeds(opaque(`${status} ${token} 20`), Codec.granted(token, 20))
      }
      assert.isTrue(Result.isFailure(command.decode(`${status} tok1 20`)), "the Effect API keeps the 32-hex rule")
      for (
        const bad of [`${status}  20`, `${status} tok\u0001 20`, `${status} ${"x".repeat(201)} 20`, `${status} tok1`]
      ) {
        const result = opaque(bad)
        assert.isTrue(Result.isFailure(result) && result.failure._tag === "ProtocolError", JSON.stringify(bad))
      }
    }
    assertSucceeds(opaqueOf(Codec.acquire(lock, 0, undefined))("timeout"), { _tag: "TimedOut" })
    assertSucceeds(opaqueOf(Codec.enqueue(lock, undefined))("queued"), { _tag: "Queued" })
  })

  it("commands without a token in their reply have no opaque decoder", () => {
    for (const command of [Codec.release("lock", "k", "tok1"), Codec.renew("lock", "k", "tok1", 5), Codec.stats]) {
      assert.isUndefined((command as Codec.Command<unknown>).decodeOpaque)
    }
  })
})

describe("decodeLegacy: dflockd-client 1.x's lenient reading (the Promise API's low-level functions)", () => {
  it("grants with any token; a missing or bad lease is 30 s; statuses as 1.x reads them", () => {
    assert.deepStrictEqual(Codec.decodeLegacy("grant", "ok tok1 20"), { _tag: "Granted", token: "tok1", lease: 20 })
    assert.deepStrictEqual(Codec.decodeLegacy("grant", "ok tok1"), { _tag: "Granted", token: "tok1", lease: 30 })
    assert.deepStrictEqual(Codec.decodeLegacy("grant", "ok tok1 x"), { _tag: "Granted", token: "tok1", lease: 30 })
    assert.deepStrictEqual(Codec.decodeLegacy("grant", "ok "), { _tag: "NoToken" })
    assert.deepStrictEqual(Codec.decodeLegacy("grant", "timeout"), { _tag: "TimedOut" })
    assert.deepStrictEqual(Codec.decodeLegacy("grant", "error_max_locks"), { _tag: "Other" })
    assert.deepStrictEqual(Codec.decodeLegacy("enqueue", "acquired t 5"), { _tag: "Granted", token: "t", lease: 5 })
    assert.deepStrictEqual(Codec.decodeLegacy("enqueue", "queued"), { _tag: "Queued" })
    assert.deepStrictEqual(Codec.decodeLegacy("enqueue", "ok t 5"), { _tag: "Other" })
    assert.deepStrictEqual(Codec.decodeLegacy("renew", "ok"), { _tag: "Ok", lease: undefined })
    assert.deepStrictEqual(Codec.decodeLegacy("renew", "ok 12"), { _tag: "Ok", lease: 12 })
    assert.deepStrictEqual(Codec.decodeLegacy("renew", "error"), { _tag: "Other" })
    assert.deepStrictEqual(Codec.decodeLegacy("release", "ok"), { _tag: "Ok", lease: undefined })
    assert.deepStrictEqual(Codec.decodeLegacy("release", "ok 1"), { _tag: "Other" })
  })

  it("never throws, whatever the line (property)", () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom("grant", "enqueue", "renew", "release"), (line, command) => {
        const decoded = Codec.decodeLegacy(command, line)
        assert.include(["Granted", "NoToken", "TimedOut", "Queued", "Ok", "Other"], decoded._tag)
      }),
      params()
    )
  })
})
