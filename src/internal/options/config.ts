/**
 * The default mapping from configuration (environment variables, or any
 * `ConfigProvider`) to client options, behind `DflockdClient.config` and
 * `DflockdClient.layerConfig`.
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | `DFLOCKD_SERVERS` | comma-separated `host:port` list, keys sharded across it | `ServerAddress.DEFAULT_SERVER` |
 * | `DFLOCKD_AUTH_TOKEN` | auth token, kept `Redacted` | none |
 * | `DFLOCKD_TLS` | `true`/`false` (also yes/no, on/off, 1/0): TLS with the system CAs | `false` |
 * | `DFLOCKD_TLS_CA_FILE` | PEM file of the CA(s) to trust; implies TLS | none |
 * | `DFLOCKD_CONNECT_TIMEOUT` | dial + TLS handshake timeout, e.g. `3 seconds` | `5 seconds` |
 * | `DFLOCKD_SERVER_READ_TIMEOUT` | the server's `--read-timeout`, e.g. `30 seconds`: a lease counts as lost that long (less a margin) after the last answered exchange; the heartbeat defaults to a third of it | `23 seconds` |
 * | `DFLOCKD_CLUSTER` | comma-separated cluster members: rejected: this client version has no cluster mode | none |
 *
 * Every invalid value is a `ConfigError` whose message names the variable (a
 * duration's also shows a valid one). The auth token's value never appears in
 * an error.
 */
import { readFileSync } from "node:fs"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import type { InvalidArgumentError } from "../errors/errors.ts"
import * as ServerAddress from "./address.ts"
import * as Codec from "../protocol/codec.ts"

/**
 * The client options configuration sets: a part of `DflockdClient.ClientOptions`,
 * written out here so that this module does not import the client (which
 * imports it).
 */
export interface ClientOptions {
  readonly servers: ReadonlyArray<string>
  readonly auth: Redacted.Redacted<string> | undefined
  readonly tls: true | { readonly ca: string } | undefined
  readonly connectTimeout: Duration.Duration | undefined
  readonly serverReadTimeout: Duration.Duration | undefined
}

/** The environment variables read by {@link config}. */
export const variables = {
  servers: "DFLOCKD_SERVERS",
  authToken: "DFLOCKD_AUTH_TOKEN",
  tls: "DFLOCKD_TLS",
  tlsCaFile: "DFLOCKD_TLS_CA_FILE",
  connectTimeout: "DFLOCKD_CONNECT_TIMEOUT",
  serverReadTimeout: "DFLOCKD_SERVER_READ_TIMEOUT",
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
  invalid(error.argument, describeInvalid(error))

/** The check's detail and the value it refused (shown safely; never a secret's). */
const describeInvalid = (error: InvalidArgumentError): string => `${error.detail}, got ${error.value}`

const fromResult = <A>(
  name: string,
  result: Result.Result<A, InvalidArgumentError>
): Effect.Effect<A, Config.ConfigError> =>
  Result.isSuccess(result)
    ? Effect.succeed(result.success)
    : Effect.fail(invalid(name, describeInvalid(result.failure)))

/**
 * `ServerAddress.parseList` (the one server-list rule) for `DFLOCKD_SERVERS`
 * (and `DFLOCKD_CLUSTER`) here and `dflock --servers`: errors name `name`
 * (`--servers: empty entry in "a:1,,b:2"`).
 */
export const parseServerList = (name: string, text: string): Effect.Effect<ReadonlyArray<string>, Config.ConfigError> =>
  Result.match(ServerAddress.parseList(text), {
    onFailure: (detail) => Effect.fail(invalid(name, detail)),
    onSuccess: Effect.succeed
  })

const serversAt = (name: string): Config.Config<ReadonlyArray<string>> =>
  Config.String(name).pipe(
    Config.withDefault(ServerAddress.DEFAULT_SERVER),
    Config.mapEffect((text) => parseServerList(name, text))
  )

const authTokenAt = (name: string): Config.Config<Redacted.Redacted<string> | undefined> =>
  Config.Redacted(name).pipe(
    Config.option,
    Config.mapEffect(Option.match({
      onNone: () => Effect.succeed(undefined),
      // the check's detail never contains the token
      onSome: (token) => Effect.as(fromResult(name, Codec.validateAuthToken(Redacted.value(token))), token)
    }))
  )

/** Like {@link authTokenAt}, but the variable must be set: a caller named it on purpose. */
const requiredAuthTokenAt = (name: string): Config.Config<Redacted.Redacted<string> | undefined> =>
  authTokenAt(name).pipe(
    Config.mapEffect((token) =>
      token === undefined || Redacted.value(token).length === 0
        ? Effect.fail(invalid(name, "is not set or empty"))
        : Effect.succeed(token)
    )
  )

const tlsAt = (name: string): Config.Config<Option.Option<boolean>> => Config.option(Config.Boolean(name))

/**
 * A CA file that cannot be read is a `ConfigError` whose cause is a
 * `SourceError` (the source of the setting failed), not a `SchemaError`:
 * {@link isUnreadableFile} tells them apart (`dflock` exits 66 on it).
 */
const readCaFile = (name: string, path: string): Effect.Effect<string, Config.ConfigError> =>
  Effect.try({
    try: () => readFileSync(path, "utf8"),
    catch: (cause) =>
      new Config.ConfigError(
        new ConfigProvider.SourceError({
          message: `${name}: cannot read ${JSON.stringify(path)}: ${
            cause instanceof Error ? cause.message : String(cause)
          }`,
          cause
        })
      )
  }).pipe(
    Effect.filterOrFail(
      (pem) => pem.includes("-----BEGIN CERTIFICATE-----"),
      () => invalid(name, `${JSON.stringify(path)} holds no PEM certificate`)
    )
  )

/** The configuration names a file that could not be read (see `readCaFile`). */
export const isUnreadableFile = (error: Config.ConfigError): boolean => error.cause._tag === "SourceError"

const tlsCaAt = (name: string): Config.Config<Option.Option<string>> =>
  Config.String(name).pipe(
    Config.option,
    Config.mapEffect(Option.match({
      onNone: () => Effect.succeedNone,
      onSome: (path) => Effect.map(readCaFile(name, path), Option.some)
    }))
  )

const parseDuration = Schema.decodeUnknownOption(Schema.DurationFromString)

/**
 * An optional positive finite duration, written as `Config.Duration` reads it
 * (`1500 millis`, `3 seconds`, …). Its errors name the variable (or flag) and
 * show `example`, a valid value.
 */
const positiveDurationAt = (name: string, example: string): Config.Config<Duration.Duration | undefined> =>
  Config.String(name).pipe(
    Config.option,
    Config.mapEffect(Option.match({
      onNone: () => Effect.succeed(undefined),
      onSome: (text) =>
        Option.match(parseDuration(text), {
          onNone: () =>
            Effect.fail(
              invalid(name, `expected a duration such as ${JSON.stringify(example)}, got ${JSON.stringify(text)}`)
            ),
          onSome: (d) =>
            Duration.isFinite(d) && Duration.toMillis(d) > 0
              ? Effect.succeed(d)
              : Effect.fail(
                invalid(
                  name,
                  `must be a positive finite duration such as ${JSON.stringify(example)}, got ${Duration.format(d)}`
                )
              )
        })
    }))
  )

const clusterAt = (name: string, serversName: string): Config.Config<undefined> =>
  Config.String(name).pipe(
    Config.option,
    Config.mapEffect(Option.match({
      onNone: () => Effect.succeed(undefined),
      onSome: (text) =>
        Effect.flatMap(parseServerList(name, text), (members) =>
          Effect.fail(
            invalid(
              name,
              `cluster mode is not supported by this client version (${members.length} members given); ` +
                `unset it, or list independent servers in ${serversName} to shard keys across them`
            )
          ))
    }))
  )

/**
 * Where each connection setting is read from: a name per setting, looked up in
 * the current `ConfigProvider`. {@link variables} by default; `dflock` puts a
 * flag's name (`--servers`, …) in place of a variable when the flag is given,
 * and provides the flag's value under that name, so a flag overrides its
 * variable through the same parser, with the same errors, naming the flag.
 */
export interface Sources {
  readonly servers: string
  readonly authToken: string
  /** `authToken` names a variable the user chose (`dflock --auth-token-env`): it must be set. */
  readonly authTokenRequired: boolean
  readonly tls: string
  readonly tlsCaFile: string
  readonly connectTimeout: string
  readonly serverReadTimeout: string
  readonly cluster: string
}

/** The environment variables, as {@link Sources}. */
export const defaultSources: Sources = { ...variables, authTokenRequired: false }

/** The connection settings read from `sources`; see the module comment. */
export const connectionConfig = (sources: Sources = defaultSources): Config.Config<ClientOptions> =>
  Config.all({
    servers: serversAt(sources.servers),
    auth: sources.authTokenRequired ? requiredAuthTokenAt(sources.authToken) : authTokenAt(sources.authToken),
    tls: tlsAt(sources.tls),
    ca: tlsCaAt(sources.tlsCaFile),
    connectTimeout: positiveDurationAt(sources.connectTimeout, "3 seconds"),
    serverReadTimeout: positiveDurationAt(sources.serverReadTimeout, "30 seconds"),
    cluster: clusterAt(sources.cluster, sources.servers)
  }).pipe(
    Config.mapEffect((
      { auth, ca, connectTimeout, serverReadTimeout, servers, tls }
    ): Effect.Effect<ClientOptions, Config.ConfigError> => {
      if (Option.isSome(ca) && Option.isSome(tls) && !tls.value) {
        return Effect.fail(invalid(sources.tlsCaFile, `is set while ${sources.tls} is false; unset one of them`))
      }
      return Effect.succeed({
        servers,
        auth,
        tls: Option.isSome(ca) ? { ca: ca.value } : Option.getOrElse(tls, () => false) ? true : undefined,
        connectTimeout,
        serverReadTimeout
      })
    })
  )

/** The default mapping; see the module comment. */
export const config: Config.Config<ClientOptions> = connectionConfig()
