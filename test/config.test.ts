/**
 * `DflockdClient.layerConfig` and `DflockdClient.config` (issue 3, "Configuration
 * as Effect users expect"): options read through `effect`'s Config from any
 * ConfigProvider, against the real shared server.
 */
import { assert, describe, it } from "@effect/vitest"
import { Config, ConfigProvider, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import { rmSync, writeFileSync } from "node:fs"
import * as Path from "node:path"
import { inspect } from "node:util"
import { afterAll, beforeAll, inject } from "vitest"
import { DflockdClient, Lock } from "../src/index.ts"
import { failedWith, typedFailure } from "./support/exits.ts"
import { isFree } from "./support/probe.ts"
import { type Certificates, makeCertificates, startTlsRelay, type TlsRelay } from "./support/tls.ts"
import { freshKey as fresh } from "./support/keys.ts"

const shared = inject("dflockd")
const freshKey = (name: string) => fresh("config", name)

let certs: Certificates
let relay: TlsRelay
beforeAll(async () => {
  certs = makeCertificates()
  writeFileSync(Path.join(certs.dir, "not-a-cert.txt"), "hello\n")
  relay = await startTlsRelay(shared, certs)
})
afterAll(async () => {
  await relay?.close()
  if (certs !== undefined) rmSync(certs.dir, { recursive: true, force: true })
})

/** layerConfig() reading from exactly these variables. */
const fromEnv = (env: Record<string, string>) =>
  DflockdClient.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))

/** Builds the client layer and hands back the service. */
const client = (layer: Layer.Layer<DflockdClient.DflockdClient, Config.ConfigError>) =>
  Effect.provide(
    Effect.gen(function*() {
      return yield* DflockdClient.DflockdClient
    }),
    layer
  )

/** The ConfigError a layer fails with (a typed failure, never a defect). */
const configError = (layer: Layer.Layer<DflockdClient.DflockdClient, Config.ConfigError>) =>
  Effect.map(Effect.exit(client(layer)), (exit) => {
    const error = typedFailure(exit)
    assert.strictEqual(error._tag, "ConfigError")
    return error
  })

describe("layerConfig against the real server", () => {
  it.live("DFLOCKD_SERVERS from a ConfigProvider: acquires a lock there", () =>
    Effect.gen(function*() {
      const key = freshKey("acquire")
      const lock = yield* Lock.acquire(key)
      assert.strictEqual(lock.server, shared.address)
      assert.isFalse(yield* isFree(shared.address, key))
    }).pipe(Effect.scoped, Effect.provide(fromEnv({ DFLOCKD_SERVERS: shared.address }))))

  it.live("reads every variable: servers (blanks trimmed), connect timeout, TLS", () =>
    Effect.gen(function*() {
      const { options } = yield* client(fromEnv({
        DFLOCKD_SERVERS: ` ${shared.address} , 10.1.2.3:7000,[::1]:6388`,
        DFLOCKD_CONNECT_TIMEOUT: "1500 millis",
        DFLOCKD_TLS: "yes"
      }))
      assert.deepStrictEqual(options.servers.map((s) => s.label), [shared.address, "10.1.2.3:7000", "[::1]:6388"])
      assert.strictEqual(Duration.toMillis(options.connection.connectTimeout), 1500)
      assert.deepStrictEqual(options.connection.tls, {}) // system CAs, verification on
      assert.isUndefined(options.connection.auth)
    }))

  it.live("defaults: 127.0.0.1:6388, no TLS, no auth, 5 second connect timeout", () =>
    Effect.gen(function*() {
      const { options } = yield* client(fromEnv({}))
      assert.deepStrictEqual(options.servers.map((s) => s.label), ["127.0.0.1:6388"])
      assert.isUndefined(options.connection.tls)
      assert.isUndefined(options.connection.auth)
      assert.strictEqual(Duration.toMillis(options.connection.connectTimeout), 5000)
    }))

  it.live("DFLOCKD_SERVER_READ_TIMEOUT: the server's read timeout; the heartbeat defaults to a third of it", () =>
    Effect.gen(function*() {
      const { options } = yield* client(
        fromEnv({ DFLOCKD_SERVERS: shared.address, DFLOCKD_SERVER_READ_TIMEOUT: "9 seconds" })
      )
      assert.strictEqual(Duration.toMillis(options.serverReadTimeout), 9000)
      assert.strictEqual(Duration.toMillis(options.heartbeatInterval), 3000)
      const defaults = (yield* client(fromEnv({ DFLOCKD_SERVERS: shared.address }))).options
      assert.strictEqual(Duration.toMillis(defaults.serverReadTimeout), 23_000, "unset: the Go server's default")
      assert.closeTo(Duration.toMillis(defaults.heartbeatInterval), 23_000 / 3, 0.001)
    }))

  it.live(
    "DFLOCKD_SERVER_READ_TIMEOUT: a client configured with a short one holds past it (heartbeats)",
    () =>
      Effect.gen(function*() {
        const key = freshKey("read-timeout")
        const lock = yield* Lock.acquire(key, { leaseTtl: "10 seconds" })
        const lost = yield* lock.lost.pipe(Effect.flip, Effect.timeoutOption("2500 millis"))
        assert.isTrue(Option.isNone(lost), "not lost past the read timeout")
        assert.isFalse(yield* isFree(shared.address, key))
      }).pipe(
        Effect.scoped,
        Effect.provide(fromEnv({ DFLOCKD_SERVERS: shared.address, DFLOCKD_SERVER_READ_TIMEOUT: "1 seconds" }))
      ),
    15_000
  )

  it.live("DFLOCKD_TLS_CA_FILE: the CA is read from the file and TLS is on; locks through the TLS relay", () =>
    Effect.gen(function*() {
      const key = freshKey("tls")
      const lock = yield* Lock.acquire(key)
      assert.strictEqual(lock.server, relay.address)
      assert.isFalse(yield* isFree(shared.address, key))
    }).pipe(
      Effect.scoped,
      Effect.provide(
        fromEnv({ DFLOCKD_SERVERS: relay.address, DFLOCKD_TLS_CA_FILE: certs.caFile, DFLOCKD_TLS: "true" })
      )
    ))

  it.live("DFLOCKD_TLS=true alone trusts only the system CAs: the test CA's server is rejected", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Lock.acquire(freshKey("tls-system"))))
      failedWith(exit, "ConnectionError")
    }).pipe(Effect.provide(fromEnv({ DFLOCKD_SERVERS: relay.address, DFLOCKD_TLS: "true" }))))

  it.live("a Config record of the caller's works too, with its own variable names", () =>
    Effect.gen(function*() {
      const key = freshKey("record")
      const lock = yield* Lock.acquire(key)
      assert.strictEqual(lock.server, shared.address)
      const { options } = yield* DflockdClient.DflockdClient
      assert.strictEqual(Duration.toMillis(options.requestTimeout), 2000)
    }).pipe(
      Effect.scoped,
      Effect.provide(
        DflockdClient.layerConfig({
          servers: Config.Array(Schema.String, "LOCK_HOSTS"),
          requestTimeout: Config.Duration("LOCK_REQUEST_TIMEOUT")
        }).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
          LOCK_HOSTS: shared.address,
          LOCK_REQUEST_TIMEOUT: "2 seconds"
        }))))
      )
    ))

  it.live("DflockdClient.config composes: map it to add options set in code", () =>
    Effect.gen(function*() {
      const { options } = yield* client(
        DflockdClient.layerConfig(
          DflockdClient.config.pipe(Config.map((o) => ({ ...o, renewRatio: 0.25 })))
        ).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ DFLOCKD_SERVERS: shared.address }))))
      )
      assert.strictEqual(options.renewRatio, 0.25)
    }))
})

describe("invalid values fail the layer with a ConfigError naming the variable", () => {
  const cases: ReadonlyArray<readonly [string, () => Record<string, string>]> = [
    ["DFLOCKD_SERVERS", () => ({ DFLOCKD_SERVERS: "no port:here" })],
    ["DFLOCKD_SERVERS", () => ({ DFLOCKD_SERVERS: "127.0.0.1:70000" })],
    ["DFLOCKD_SERVERS", () => ({ DFLOCKD_SERVERS: `${shared.address},,127.0.0.1:1` })],
    ["DFLOCKD_SERVERS", () => ({ DFLOCKD_SERVERS: " , " })],
    ["DFLOCKD_CONNECT_TIMEOUT", () => ({ DFLOCKD_CONNECT_TIMEOUT: "soon" })],
    ["DFLOCKD_CONNECT_TIMEOUT", () => ({ DFLOCKD_CONNECT_TIMEOUT: "0 seconds" })],
    ["DFLOCKD_CONNECT_TIMEOUT", () => ({ DFLOCKD_CONNECT_TIMEOUT: "Infinity" })],
    ["DFLOCKD_SERVER_READ_TIMEOUT", () => ({ DFLOCKD_SERVER_READ_TIMEOUT: "soon" })],
    ["DFLOCKD_SERVER_READ_TIMEOUT", () => ({ DFLOCKD_SERVER_READ_TIMEOUT: "23" })],
    ["DFLOCKD_SERVER_READ_TIMEOUT", () => ({ DFLOCKD_SERVER_READ_TIMEOUT: "0 seconds" })],
    ["DFLOCKD_SERVER_READ_TIMEOUT", () => ({ DFLOCKD_SERVER_READ_TIMEOUT: "-5 seconds" })],
    ["DFLOCKD_SERVER_READ_TIMEOUT", () => ({ DFLOCKD_SERVER_READ_TIMEOUT: "Infinity" })],
    ["DFLOCKD_TLS", () => ({ DFLOCKD_TLS: "maybe" })],
    ["DFLOCKD_TLS_CA_FILE", () => ({ DFLOCKD_TLS_CA_FILE: Path.join(certs.dir, "missing.pem") })],
    ["DFLOCKD_TLS_CA_FILE", () => ({ DFLOCKD_TLS_CA_FILE: Path.join(certs.dir, "not-a-cert.txt") })],
    ["DFLOCKD_TLS_CA_FILE", () => ({ DFLOCKD_TLS_CA_FILE: certs.caFile, DFLOCKD_TLS: "false" })],
    ["DFLOCKD_CLUSTER", () => ({ DFLOCKD_CLUSTER: "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3" })],
    ["DFLOCKD_CLUSTER", () => ({ DFLOCKD_CLUSTER: "127.0.0.1:1,nope" })]
  ]

  it.live.each(cases)("%s (case %#)", ([variable, env]) =>
    Effect.gen(function*() {
      const error = yield* configError(fromEnv({ DFLOCKD_SERVERS: shared.address, ...env() }))
      assert.include(error.message, variable)
    }))

  it.live("a bad duration's error shows a valid value (DFLOCKD_SERVER_READ_TIMEOUT, DFLOCKD_CONNECT_TIMEOUT)", () =>
    Effect.gen(function*() {
      const unparsable = yield* configError(fromEnv({ DFLOCKD_SERVER_READ_TIMEOUT: "soon" }))
      assert.include(
        unparsable.message,
        `DFLOCKD_SERVER_READ_TIMEOUT: expected a duration such as "30 seconds", got "soon"`
      )
      const zero = yield* configError(fromEnv({ DFLOCKD_SERVER_READ_TIMEOUT: "0 seconds" }))
      assert.include(
        zero.message,
        `DFLOCKD_SERVER_READ_TIMEOUT: must be a positive finite duration such as "30 seconds", got 0`
      )
      const connect = yield* configError(fromEnv({ DFLOCKD_CONNECT_TIMEOUT: "soon" }))
      assert.include(connect.message, `DFLOCKD_CONNECT_TIMEOUT: expected a duration such as "3 seconds", got "soon"`)
    }))

  it.live("a heartbeat set in code must stay below DFLOCKD_SERVER_READ_TIMEOUT: a ConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* configError(
        DflockdClient.layerConfig(
          DflockdClient.config.pipe(Config.map((o) => ({ ...o, heartbeatInterval: "5 seconds" })))
        ).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({
          DFLOCKD_SERVERS: shared.address,
          DFLOCKD_SERVER_READ_TIMEOUT: "5 seconds"
        }))))
      )
      assert.include(error.message, "heartbeatInterval")
      assert.include(error.message, "serverReadTimeout")
    }))

  it.live("DFLOCKD_CLUSTER says cluster mode is not supported by this client version", () =>
    Effect.gen(function*() {
      const error = yield* configError(fromEnv({ DFLOCKD_CLUSTER: "127.0.0.1:1,127.0.0.1:2,127.0.0.1:3" }))
      assert.include(error.message, "cluster mode is not supported by this client version")
    }))

  it.live("a value the option checks reject, from a caller's Config record, is a ConfigError too (not a defect)", () =>
    Effect.gen(function*() {
      const error = yield* configError(
        DflockdClient.layerConfig({ servers: Config.succeed([shared.address]), renewRatio: Config.succeed(2) })
      )
      assert.include(error.message, "renewRatio")
    }))
})

describe("the auth token stays redacted", () => {
  const secret = "s3cret-TOKEN-9d2c"

  it.live("in the resolved options: String, JSON, inspect", () =>
    Effect.gen(function*() {
      const parsed = yield* DflockdClient.config.parse(
        ConfigProvider.fromEnvRecord({ DFLOCKD_SERVERS: shared.address, DFLOCKD_AUTH_TOKEN: secret })
      )
      assert.isTrue(Redacted.isRedacted(parsed.auth))
      assert.strictEqual(Redacted.value(parsed.auth!), secret, "the value is there for the socket write")
      const { options } = yield* client(fromEnv({ DFLOCKD_SERVERS: shared.address, DFLOCKD_AUTH_TOKEN: secret }))
      for (const value of [parsed, options, options.connection, parsed.auth, options.connection.auth]) {
        for (const text of [String(value), JSON.stringify(value), inspect(value, { depth: 10 })]) {
          assert.notInclude(text, secret)
        }
      }
      assert.include(JSON.stringify(parsed), "<redacted>")
    }))

  it.live("in the layer's error messages", () =>
    Effect.gen(function*() {
      for (
        const env of [
          { DFLOCKD_AUTH_TOKEN: secret, DFLOCKD_SERVERS: "bad host" },
          { DFLOCKD_AUTH_TOKEN: secret, DFLOCKD_TLS: "maybe" },
          { DFLOCKD_AUTH_TOKEN: secret, DFLOCKD_CLUSTER: "127.0.0.1:1" },
          { DFLOCKD_AUTH_TOKEN: `${secret}\nsecond-line` }
        ]
      ) {
        const error = yield* configError(fromEnv(env))
        for (const text of [error.message, String(error), inspect(error, { depth: 10 })]) {
          assert.notInclude(text, secret)
        }
      }
      const badToken = yield* configError(fromEnv({ DFLOCKD_AUTH_TOKEN: `${secret}\nsecond-line` }))
      assert.include(badToken.message, "DFLOCKD_AUTH_TOKEN")
    }))

  it.live("in the AuthError the real server's refusal produces (0.5.0 has no auth and answers `error`)", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Lock.acquire(freshKey("auth"))))
      const error = failedWith(exit, "AuthError")
      for (const text of [error.message, String(error), JSON.stringify(error), inspect(error, { depth: 10 })]) {
        assert.notInclude(text, secret)
      }
    }).pipe(Effect.provide(fromEnv({ DFLOCKD_SERVERS: shared.address, DFLOCKD_AUTH_TOKEN: secret }))))
})
