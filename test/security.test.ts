/**
 * Security (issue 5): no command injection into the three-line protocol, and
 * the auth secret never shows up in errors, logs, spans, or printed values.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Logger, Redacted, Tracer } from "effect"
import { inject } from "vitest"
import { DflockdClient, Lock } from "../src/index.ts"
import { clientLayer, eventuallyFree } from "./support/probe.ts"

const server = inject("dflockd").address
const secret = "s3cr3t-Token-that-must-never-leak"

describe("the auth secret", () => {
  it.live("appears in no error, log line, span attribute, or inspected value", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const spans: Array<Tracer.NativeSpan> = []
      const capture = Logger.make((options) => {
        lines.push(`${String(options.message)} ${Cause.pretty(options.cause)}`)
      })
      const tracer = Tracer.make({
        span: (options) => {
          const span = new Tracer.NativeSpan(options)
          spans.push(span)
          return span
        }
      })
      const layer = clientLayer(server, { auth: Redacted.make(secret), connectRetry: undefined })

      // dflockd 0.5.0 knows no `auth` command: it answers `error` and closes, which the
      // client reports as AuthError, the same as a rejected token on newer servers.
      const exit = yield* Effect.void.pipe(
        Lock.withLock("secret-probe"),
        Effect.tapCause((cause) => Effect.logError("region failed", cause)),
        Effect.provide(layer),
        Effect.withTracer(tracer),
        Effect.provide(Logger.layer([capture])),
        Effect.exit
      )
      assert.isTrue(Exit.isFailure(exit))
      const error = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
      assert.strictEqual((error as { _tag?: string })._tag, "AuthError")

      const client = yield* DflockdClient.DflockdClient.use(Effect.succeed).pipe(Effect.provide(layer))
      const printed = [
        String(error),
        JSON.stringify(error),
        Cause.pretty(Exit.isFailure(exit) ? exit.cause : Cause.empty),
        String(client.options.connection.auth),
        JSON.stringify(client.options),
        ...lines,
        ...spans.flatMap((span) => [span.name, JSON.stringify([...span.attributes.entries()])])
      ]
      assert.isAtLeast(lines.length, 1, "something was logged")
      assert.isAtLeast(spans.length, 1, "spans were recorded")
      for (const text of printed) assert.notInclude(text, secret)
      assert.include(String(client.options.connection.auth), "redacted")
    }))

  it.live("an auth token with CR or LF is refused before any I/O", () =>
    Effect.gen(function*() {
      const error = yield* Effect.void.pipe(
        Lock.withLock("k"),
        Effect.provide(clientLayer(server, { auth: Redacted.make("a\nl\nk\n0\n") })),
        Effect.exit
      )
      // invalid static options are a programming error: the layer dies naming the option
      assert.isTrue(Exit.isFailure(error))
      assert.include(Cause.pretty(Exit.isFailure(error) ? error.cause : Cause.empty), "invalid auth")
    }))
})

describe("command injection", () => {
  it.live("a key smuggling a second command is refused, and nothing reaches the server", () =>
    Effect.gen(function*() {
      const victim = `victim-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
      // would acquire `victim` if the frame were sent as-is
      const injected = `x\n0\nl\n${victim}\n0 30`
      const error = yield* Effect.flip(Effect.scoped(Lock.acquire(injected)))
      assert.strictEqual(error._tag, "InvalidArgumentError")
      assert.isTrue(yield* eventuallyFree(server, victim))
    }).pipe(Effect.provide(clientLayer(server))))
})
