/**
 * ServerAddress: the one address rule (host:port, IPv6 in brackets, ports 1 to
 * 65535) and the default server, as a function and as a Schema.
 */
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as fc from "fast-check"
import { ServerAddress } from "../src/index.ts"
import { params } from "./support/fastCheck.ts"

const hostArb = fc.oneof(
  fc.domain(),
  fc.ipV4(),
  fc.ipV6()
)
const portArb = fc.integer({ min: 1, max: 65535 })

describe("ServerAddress", () => {
  it("property: a pair's label parses back to the same address, by parse and by the Schema", () => {
    fc.assert(
      fc.property(hostArb, portArb, (host, port) => {
        const fromPair = ServerAddress.parse([host, port])
        assert.isTrue(Result.isSuccess(fromPair))
        if (Result.isFailure(fromPair)) return
        assert.deepStrictEqual(fromPair.success.host, host)
        assert.deepStrictEqual(ServerAddress.parse(fromPair.success.label), fromPair)
        assert.deepStrictEqual(
          Schema.decodeUnknownSync(ServerAddress.FromString)(fromPair.success.label),
          fromPair.success
        )
        assert.strictEqual(Schema.encodeSync(ServerAddress.FromString)(fromPair.success), fromPair.success.label)
      }),
      params()
    )
  })

  it("IPv6 hosts are bracketed in labels", () => {
    assert.deepStrictEqual(
      ServerAddress.parse("[::1]:7000"),
      Result.succeed({ host: "::1", port: 7000, label: "[::1]:7000" })
    )
  })

  it("property: ports outside 1 to 65535 are refused, by parse and by the Schema", () => {
    fc.assert(
      fc.property(fc.oneof(fc.constant(0), fc.integer({ min: 65536, max: 99999 })), (port) => {
        assert.isTrue(Result.isFailure(ServerAddress.parse(`10.0.0.1:${port}`)))
        assert.isTrue(Result.isFailure(ServerAddress.parse(["10.0.0.1", port])))
        assert.isTrue(Result.isFailure(Schema.decodeUnknownResult(ServerAddress.FromString)(`10.0.0.1:${port}`)))
      }),
      params()
    )
  })

  it("refuses an empty host, an empty port, an unbracketed IPv6 address", () => {
    for (const bad of [":7000", "::1:7000", "[]:7000", "a b:7000", "localhost:", "::1"]) {
      assert.isTrue(Result.isFailure(ServerAddress.parse(bad)), bad)
    }
    const failure = ServerAddress.parse("::1:7000")
    assert.isTrue(Result.isFailure(failure))
    if (Result.isFailure(failure)) {
      assert.strictEqual(
        failure.failure,
        `expected host, host:port or [ipv6]:port, got "::1:7000" (for example "10.0.0.1:6388"; the port defaults to 6388)`
      )
    }
  })

  it("a host alone means the default port, 6388", () => {
    assert.deepStrictEqual(
      ServerAddress.parse("localhost"),
      Result.succeed({ host: "localhost", port: 6388, label: "localhost:6388" })
    )
    assert.deepStrictEqual(
      ServerAddress.parse("[::1]"),
      Result.succeed({ host: "::1", port: 6388, label: "[::1]:6388" })
    )
    assert.deepStrictEqual(ServerAddress.parseList("a, b:7000"), Result.succeed(["a:6388", "b:7000"]))
  })

  it("the default server is the default host and port", () => {
    assert.deepStrictEqual(
      ServerAddress.parse(ServerAddress.DEFAULT_SERVER),
      Result.succeed({
        host: ServerAddress.DEFAULT_HOST,
        port: ServerAddress.DEFAULT_PORT,
        label: ServerAddress.DEFAULT_SERVER
      })
    )
  })

  it("lists: blanks trimmed, empty entries and empty lists refused", () => {
    assert.deepStrictEqual(ServerAddress.parseList(" a:1 , [::1]:2"), Result.succeed(["a:1", "[::1]:2"]))
    assert.deepStrictEqual(ServerAddress.parseList("a:1,,b:2"), Result.fail(`empty entry in "a:1,,b:2"`))
    assert.deepStrictEqual(ServerAddress.parseList(" , "), Result.fail("no server given"))
    assert.deepStrictEqual(Schema.decodeUnknownSync(ServerAddress.ListFromString)("a:1,b:2"), ["a:1", "b:2"])
  })
})
