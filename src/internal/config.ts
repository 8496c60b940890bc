/**
 * The default mapping from configuration (environment variables, or any
 * `ConfigProvider`) to client options, behind `DflockdClient.config` and
 * `DflockdClient.layerConfig`.
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `DFLOCKD_SERVERS` | comma-separated `host:port` list, keys sharded across it | `127.0.0.1:6388` |
 * | `DFLOCKD_AUTH_TOKEN` | auth token, kept `Redacted` | none |
 * | `DFLOCKD_TLS` | `true`/`false` (also yes/no, on/off, 1/0): TLS with the system CAs | `false` |
 * | `DFLOCKD_TLS_CA_FILE` | PEM file of the CA(s) to trust; implies TLS | none |
 * | `DFLOCKD_CONNECT_TIMEOUT` | dial + TLS handshake timeout, e.g. `3 seconds` | `5 seconds` |
 * | `DFLOCKD_CLUSTER` | comma-separated cluster members: rejected: this client version has no cluster mode | none |
 *
 * Every invalid value is a `ConfigError` whose message names the variable. The
 * auth token's value never appears in an error.
 */
import { readFileSync } from "node:fs"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { ClientOptions } from "../DflockdClient.ts"
import type { InvalidArgumentError } from "../Errors.ts"
import { parseAddress } from "./address.ts"
import * as Codec from "./codec.ts"

/** The environment variables read by {@link config}. */
export const variables = {
  servers: "DFLOCKD_SERVERS",
  authToken: "DFLOCKD_AUTH_TOKEN",
  tls: "DFLOCKD_TLS",
  tlsCaFile: "DFLOCKD_TLS_CA_FILE",
  connectTimeout: "DFLOCKD_CONNECT_TIMEOUT",
  cluster: "DFLOCKD_CLUSTER"
} as const

/**
 * A `ConfigError` at `name` whose message starts with the name. Never pass a
 * secret's value in `message`.
 */
export const invalid = (name: string, message: string): Config.ConfigError =>
  new Config.ConfigError(
    new Schema.SchemaError(
      new SchemaIssue.Pointer([name], new SchemaIssue.InvalidValue({ message: `${name}: ${message}` }))
    )
  )

/** Turns a failed option check into a `ConfigError` naming the option (for user-supplied configs). */
export const fromInvalidArgument = (error: InvalidArgumentError): Config.ConfigError =>
  invalid(error.argument, error.detail)

const fromResult = <A>(
  name: string,
  result: Result.Result<A, InvalidArgumentError>
): Effect.Effect<A, Config.ConfigError> =>
  Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(invalid(name, result.failure.detail))

/** Parses a comma-separated `host:port` list; blanks around entries are ignored, empty entries are not. */
const addressList = (name: string, text: string): Effect.Effect<ReadonlyArray<string>, Config.ConfigError> =>
  Effect.gen(function*() {
    const entries = text.split(",").map((entry) => entry.trim())
    if (entries.every((entry) => entry.length === 0)) return yield* Effect.fail(invalid(name, "no server given"))
    const servers: Array<string> = []
    for (const entry of entries) {
      if (entry.length === 0) return yield* Effect.fail(invalid(name, `empty entry in ${JSON.stringify(text)}`))
      servers.push((yield* fromResult(name, parseAddress(entry))).label)
    }
    return servers
  })

const servers: Config.Config<ReadonlyArray<string>> = Config.String(variables.servers).pipe(
  Config.withDefault("127.0.0.1:6388"),
  Config.mapEffect((text) => addressList(variables.servers, text))
)

const authToken: Config.Config<Redacted.Redacted<string> | undefined> = Config.Redacted(variables.authToken).pipe(
  Config.option,
  Config.mapEffect(Option.match({
    onNone: () => Effect.succeed(undefined),
    // the check's detail never contains the token
    onSome: (token) => Effect.as(fromResult(variables.authToken, Codec.validateAuthToken(Redacted.value(token))), token)
  }))
)

const tlsFlag: Config.Config<Option.Option<boolean>> = Config.option(Config.Boolean(variables.tls))

const readCaFile = (path: string): Effect.Effect<string, Config.ConfigError> =>
  Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (cause) =>
      invalid(
        variables.tlsCaFile,
        `cannot read ${JSON.stringify(path)}: ${cause instanceof Error ? cause.message : String(cause)}`
      )
  }).pipe(
    Effect.filterOrFail(
      (pem) => pem.includes("-----BEGIN CERTIFICATE-----"),
      () => invalid(variables.tlsCaFile, `${JSON.stringify(path)} holds no PEM certificate`)
    )
  )

const tlsCa: Config.Config<Option.Option<string>> = Config.String(variables.tlsCaFile).pipe(
  Config.option,
  Config.mapEffect(Option.match({
    onNone: () => Effect.succeedNone,
    onSome: (path) => Effect.map(readCaFile(path), Option.some)
  }))
)

const connectTimeout: Config.Config<Duration.Duration | undefined> = Config.Duration(variables.connectTimeout).pipe(
  Config.option,
  Config.mapEffect(Option.match({
    onNone: () => Effect.succeed(undefined),
    onSome: (d) =>
      Duration.isFinite(d) && Duration.toMillis(d) > 0
        ? Effect.succeed(d)
        : Effect.fail(
          invalid(variables.connectTimeout, `must be a positive finite duration, got ${Duration.format(d)}`)
        )
  }))
)

const cluster: Config.Config<undefined> = Config.String(variables.cluster).pipe(
  Config.option,
  Config.mapEffect(Option.match({
    onNone: () => Effect.succeed(undefined),
    onSome: (text) =>
      Effect.flatMap(addressList(variables.cluster, text), (members) =>
        Effect.fail(
          invalid(
            variables.cluster,
            `cluster mode is not supported by this client version (${members.length} members given); ` +
              `unset it, or list independent servers in ${variables.servers} to shard keys across them`
          )
        ))
  }))
)

/** The default mapping; see the module comment. */
export const config: Config.Config<ClientOptions> = Config.all({
  servers,
  auth: authToken,
  tls: tlsFlag,
  ca: tlsCa,
  connectTimeout,
  cluster
}).pipe(
  Config.mapEffect(({ auth, ca, connectTimeout, servers, tls }): Effect.Effect<ClientOptions, Config.ConfigError> => {
    if (Option.isSome(ca) && Option.isSome(tls) && !tls.value) {
      return Effect.fail(invalid(variables.tlsCaFile, `is set while ${variables.tls} is false; unset one of them`))
    }
    return Effect.succeed({
      servers,
      auth,
      tls: Option.isSome(ca) ? { ca: ca.value } : Option.getOrElse(tls, () => false) ? true : undefined,
      connectTimeout
    })
  })
)
