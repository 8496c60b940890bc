/**
 * The two directions of the wire protocol agree (issue 13): every frame the
 * client encodes parses on the server side (`serverCodec.ts`, what
 * `Memory.layer` speaks through) to the same request, and every reply the
 * server side formats decodes on the client to the same value.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as Result from "effect/Result"
import * as fc from "fast-check"
import { Lock, Memory, ServerError, ServerErrorReason } from "../src/index.ts"
import * as Codec from "../src/internal/protocol/codec.ts"
import * as Wire from "../src/internal/protocol/serverCodec.ts"
import { params } from "./support/fastCheck.ts"

const hexDigit = fc.constantFrom(..."0123456789abcdef")
const tokenArb = fc.string({ unit: hexDigit, minLength: 32, maxLength: 32 })
const keyArb = fc
  .oneof(
    fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 64 }),
    fc.string({ unit: "grapheme", minLength: 1, maxLength: 64 }),
    fc.string({ unit: "binary", minLength: 1, maxLength: 64 }),
    fc.string({ unit: fc.constantFrom("a", "\u00a0", "\u3000", "\u2028", "日", "🔒"), minLength: 1, maxLength: 90 })
  )
  .filter((key) => Result.isSuccess(Codec.validateKey(key)))
const kindArb = fc.constantFrom<Codec.Kind>("lock", "semaphore")
const secondsArb = fc.integer({ min: 0, max: Codec.MAX_SECONDS })
const leaseArb = fc.option(fc.integer({ min: 1, max: Codec.MAX_SECONDS }), { nil: undefined })
const limitArb = fc.integer({ min: 1, max: Codec.MAX_LIMIT })
const reasonArb: fc.Arbitrary<ServerError["reason"]> = fc.constantFrom(...ServerErrorReason.literals)

/** A command the client builds, and the request the server must read from its frame. */
const commandArb: fc.Arbitrary<readonly [Codec.Command<unknown>, Wire.Request]> = fc.oneof(
  fc.tuple(kindArb, keyArb, secondsArb, limitArb, leaseArb).map(([kind, key, t, n, lease]) => {
    const limit = kind === "semaphore" ? n : 1
    return [
      Codec.acquire({ kind, key, limit }, t, lease),
      { _tag: "Acquire", kind, key, timeoutSeconds: t, limit, leaseSeconds: lease }
    ] as const
  }),
  fc.tuple(kindArb, keyArb, limitArb, leaseArb).map(([kind, key, n, lease]) => {
    const limit = kind === "semaphore" ? n : 1
    return [Codec.enqueue({ kind, key, limit }, lease), {
      _tag: "Enqueue",
      kind,
      key,
      limit,
      leaseSeconds: lease
    }] as const
  }),
  fc.tuple(kindArb, keyArb, secondsArb).map(([kind, key, t]) =>
    [Codec.wait(kind, key, t), { _tag: "Wait", kind, key, timeoutSeconds: t }] as const
  ),
  fc.tuple(kindArb, keyArb, tokenArb).map(([kind, key, token]) =>
    [Codec.release(kind, key, token), { _tag: "Release", kind, key, token }] as const
  ),
  fc.tuple(kindArb, keyArb, tokenArb, leaseArb).map(([kind, key, token, lease]) =>
    [Codec.renew(kind, key, token, lease), { _tag: "Renew", kind, key, token, leaseSeconds: lease }] as const
  ),
  fc.constant([Codec.stats, { _tag: "Stats" }] as const),
  fc.constant([Codec.ping, { _tag: "Ping" }] as const),
  fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 64 })
    .filter((t) => Result.isSuccess(Codec.validateAuthToken(t)))
    .map((token) => [Codec.auth(token), { _tag: "Auth", token }] as const)
)

describe("serverCodec", () => {
  it("property: every frame the client encodes parses on the server side to the same request", () => {
    fc.assert(
      fc.property(commandArb, ([command, expected]) => {
        const parsed = Wire.parseRequest(command.frame)
        assert.isTrue(Result.isSuccess(parsed), `${JSON.stringify(command.frame)} did not parse`)
        if (Result.isSuccess(parsed)) assert.deepStrictEqual(parsed.success, expected)
      }),
      params(500)
    )
  })

  /** A reply the server formats, the client decoder for it, and the value it must decode to. */
  const replyArb: fc.Arbitrary<
    readonly [Wire.Reply, (line: string) => Result.Result<unknown, Codec.ReplyFailure>, unknown]
  > = fc.oneof(
    fc.tuple(tokenArb, fc.integer({ min: 1, max: Codec.MAX_SECONDS })).map(([token, leaseSeconds]) =>
      [{ _tag: "Granted", token, leaseSeconds }, Codec.decodeAcquire, Codec.granted(token, leaseSeconds)] as const
    ),
    fc.tuple(tokenArb, fc.integer({ min: 1, max: Codec.MAX_SECONDS })).map(([token, leaseSeconds]) =>
      [{ _tag: "Acquired", token, leaseSeconds }, Codec.decodeEnqueue, Codec.granted(token, leaseSeconds)] as const
    ),
    fc.constant([Wire.queued, Codec.decodeEnqueue, { _tag: "Queued" }] as const),
    fc.constant([Wire.timedOut, Codec.decodeAcquire, { _tag: "TimedOut" }] as const),
    fc.constant([Wire.ok, Codec.decodeOk, { _tag: "Ok" }] as const),
    fc.integer({ min: 1, max: Codec.MAX_SECONDS }).map((leaseSeconds) =>
      [{ _tag: "Renewed", leaseSeconds }, Codec.decodeRenew, { _tag: "Ok" }] as const
    ),
    fc.json().map((json) => [{ _tag: "Stats", json }, Codec.decodeStats, { _tag: "Stats", json }] as const),
    fc.constant([{ _tag: "AuthRejected" }, Codec.decodeOk, { _tag: "AuthRejected", reply: "error_auth" }] as const)
  )

  it("property: every reply the server side formats decodes on the client to the same value", () => {
    fc.assert(
      fc.property(replyArb, ([reply, decode, expected]) => {
        const decoded = decode(Wire.formatReply(reply))
        const value = Result.isSuccess(decoded) ? decoded.success : decoded.failure
        assert.deepStrictEqual(value, expected)
      }),
      params(500)
    )
  })

  it("property: every error status decodes to a ServerError with the same reason, whatever the command", () => {
    const decoders: ReadonlyArray<(line: string) => Result.Result<unknown, Codec.ReplyFailure>> = [
      Codec.decodeAcquire,
      Codec.decodeEnqueue,
      Codec.decodeRenew,
      Codec.decodeOk,
      Codec.decodeStats
    ]
    fc.assert(
      fc.property(reasonArb, fc.constantFrom(...decoders), (reason, decode) => {
        const line = Wire.formatReply(Wire.failed(reason))
        const decoded = decode(line)
        assert.isTrue(Result.isFailure(decoded))
        if (Result.isFailure(decoded)) {
          assert.instanceOf(decoded.failure, ServerError)
          assert.deepStrictEqual([decoded.failure._tag, (decoded.failure as ServerError).reason], [
            "ServerError",
            reason
          ])
        }
      }),
      params()
    )
  })

  it("rejects frames the client never sends: bad keys, integers out of range, extra arguments", () => {
    const frames = [
      "l\n\n5\n",
      "l\na b\n5\n",
      "l\na\tb\n5\n",
      `l\n${"a".repeat(256)}\n5\n`,
      `l\nk\n${Codec.MAX_SECONDS + 1}\n`,
      "l\nk\n-1\n",
      "l\nk\n05\n",
      "l\nk\n5 0\n",
      "l\nk\n5 10 10\n",
      `sl\nk\n5 ${Codec.MAX_LIMIT + 1}\n`,
      "w\nk\n\n",
      "r\nk\n\n",
      "r\nk\na b\n",
      "n\nk\n\n",
      "x\nk\n5\n",
      "l\nk\n",
      "l\nk\n5\nextra\n"
    ]
    for (const frame of frames) {
      const parsed = Wire.parseRequest(frame)
      assert.isTrue(Result.isFailure(parsed), `${JSON.stringify(frame)} parsed as ${JSON.stringify(parsed)}`)
    }
  })

  it.effect("Memory.layer accepts a key with a no-break space, as codec.ts and the real server do", () =>
    Effect.gen(function*() {
      const held = yield* Lock.tryAcquire("a\u00a0b")
      assert.isTrue(Option.isSome(held))
      const [only] = yield* Memory.stats()
      assert.deepStrictEqual(only?.stats.locks.map((l) => l.key), ["a\u00a0b"])
    }).pipe(Effect.scoped, Effect.provide(Memory.layer())))
})
