/**
 * Configure the client through effect's Config, so any ConfigProvider works:
 * the environment (the default), a .env file, a JSON object, or a record built
 * in code as here.
 *
 * Variables: DFLOCKD_SERVERS, DFLOCKD_AUTH_TOKEN, DFLOCKD_TLS,
 * DFLOCKD_TLS_CA_FILE, DFLOCKD_CONNECT_TIMEOUT, DFLOCKD_SERVER_READ_TIMEOUT
 * (the server's --read-timeout), DFLOCKD_CLUSTER (rejected: this client version
 * has no cluster mode). An invalid value fails the layer with a ConfigError
 * naming the variable.
 */
import { NodeRuntime } from "@effect/platform-node"
import { ConfigProvider, Duration, Effect, Layer } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { servers } from "./_servers.ts"

/** The client layer, reading its options from the given variables. */
const configured = (env: Record<string, string>) =>
  DflockdClient.layerConfig().pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord(env))))

const env = {
  DFLOCKD_SERVERS: servers.join(","),
  DFLOCKD_CONNECT_TIMEOUT: "2 seconds"
}

const program = Effect.gen(function*() {
  const { options } = yield* DflockdClient.DflockdClient
  yield* Effect.log(
    `servers: ${options.servers.map((s) => s.label).join(", ")}; ` +
      `connect timeout: ${Duration.format(options.connection.connectTimeout)}`
  )
  const lock = yield* Lock.acquire("nightly-report", { leaseTtl: "10 seconds" })
  yield* Effect.log(`acquired ${lock.key} on ${lock.server}`)
}).pipe(Effect.scoped, Effect.provide(configured(env)))

// Bad values fail the layer with a ConfigError that names the variable.
const invalid = (extra: Record<string, string>) =>
  Effect.gen(function*() {
    yield* DflockdClient.DflockdClient
  }).pipe(
    Effect.provide(configured({ ...env, ...extra })),
    Effect.catchTag("ConfigError", (error) => Effect.log(`rejected as expected: ${error.message}`))
  )

NodeRuntime.runMain(
  program.pipe(
    Effect.andThen(invalid({ DFLOCKD_CONNECT_TIMEOUT: "soon" })),
    Effect.andThen(invalid({ DFLOCKD_SERVERS: "no-port" })),
    Effect.andThen(invalid({ DFLOCKD_CLUSTER: servers.join(",") }))
  )
)
