/**
 * Server addresses: `host:port` strings (IPv6 in brackets) or `[host, port]`
 * pairs, the default server, and their parsing (the public `ServerAddress`
 * module re-exports them), plus `parseAddress`, the rule as an
 * `InvalidArgumentError` for the `servers` option.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaGetter from "effect/SchemaGetter"
import * as SchemaIssue from "effect/SchemaIssue"
import { InvalidArgumentError } from "../errors/errors.ts"
import { show } from "../util/show.ts"

/**
 * The default server's host.
 *
 * **Example** (The default host)
 *
 * ```ts
 * import { ServerAddress } from "effect-dflockd"
 *
 * ServerAddress.DEFAULT_HOST // "127.0.0.1"
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_HOST = "127.0.0.1"

/**
 * The default server's port, which is also dflockd's default `--port`.
 *
 * **Example** (The default port)
 *
 * ```ts
 * import { ServerAddress } from "effect-dflockd"
 *
 * const port: number = ServerAddress.DEFAULT_PORT
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_PORT = 6388

/**
 * The server used when none is configured, as `host:port`.
 *
 * **Example** (Falling back to the default server)
 *
 * ```ts
 * import { ServerAddress } from "effect-dflockd"
 *
 * const servers = process.env["LOCK_SERVERS"]?.split(",") ?? [ServerAddress.DEFAULT_SERVER]
 * ```
 *
 * @since 0.1.0
 * @category defaults
 */
export const DEFAULT_SERVER = `${DEFAULT_HOST}:${DEFAULT_PORT}`

/**
 * A parsed server address. `label` is its canonical `host:port` form (IPv6
 * hosts in brackets), as used in errors, metrics and `stats` results.
 *
 * **Example** (A parsed address)
 *
 * ```ts
 * import { ServerAddress } from "effect-dflockd"
 *
 * const address: ServerAddress.ServerAddress = { host: "::1", port: 7000, label: "[::1]:7000" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerAddress {
  readonly host: string
  readonly port: number
  /** `host:port`, as used in errors and metrics. */
  readonly label: string
}

/**
 * An address as given in options: a `host:port` string or a `[host, port]` pair.
 *
 * **Example** (Both forms)
 *
 * ```ts
 * import { ServerAddress } from "effect-dflockd"
 *
 * const servers: ReadonlyArray<ServerAddress.ServerInput> = ["10.0.0.1:7000", ["10.0.0.2", 7000]]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ServerInput = string | readonly [host: string, port: number]

const labelOf = (host: string, port: number) => host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

/**
 * Parses an address; the failure says what is wrong with it. A host without a
 * port means {@link DEFAULT_PORT} (6388); IPv6 hosts go in brackets.
 *
 * **Example** (Parsing an IPv6 address, and a host alone)
 *
 * ```ts
 * import { ServerAddress } from "effect-dflockd"
 *
 * ServerAddress.parse("[::1]:7000") // Result.succeed({ host: "::1", port: 7000, label: "[::1]:7000" })
 * ServerAddress.parse("localhost") // Result.succeed({ host: "localhost", port: 6388, label: "localhost:6388" })
 * ServerAddress.parse("::1:7000") // Result.fail('expected host, host:port or [ipv6]:port, got "::1:7000" …')
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: ServerInput): Result.Result<ServerAddress, string> => {
  let host: string
  let portText: string
  if (typeof input === "string") {
    const match = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d{1,5}))?$/.exec(input.trim())
    if (match === null) {
      return Result.fail(
        `expected host, host:port or [ipv6]:port, got ${JSON.stringify(input)} ` +
          `(for example "10.0.0.1:${DEFAULT_PORT}"; the port defaults to ${DEFAULT_PORT})`
      )
    }
    host = match[1] ?? match[2] ?? ""
    portText = match[3] ?? String(DEFAULT_PORT)
  } else {
    host = input[0]
    portText = String(input[1])
  }
  const port = Number(portText)
  if (host.length === 0) return Result.fail("empty host")
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return Result.fail(`bad port ${portText}: must be 1 to 65535`)
  }
  return Result.succeed({ host, port, label: labelOf(host, port) })
}

/**
 * A `host:port` string decoded into a {@link ServerAddress} (encoded back as
 * its label): the rule of {@link parse} as a Schema, for `Config.schema` and
 * other decoders.
 *
 * **Example** (Decoding an address)
 *
 * ```ts
 * import { Schema } from "effect"
 * import { ServerAddress } from "effect-dflockd"
 *
 * const address = Schema.decodeUnknownSync(ServerAddress.FromString)("10.0.0.1:7000")
 * address.label // "10.0.0.1:7000"
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const FromString = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Struct({ host: Schema.String, port: Schema.Number, label: Schema.String }),
    {
      decode: SchemaGetter.transformEffect((text: string) =>
        Result.match(parse(text), {
          onFailure: (message) => Effect.fail(new SchemaIssue.InvalidValue({ message }, text)),
          onSuccess: (address) => Effect.succeed(address)
        })
      ),
      encode: SchemaGetter.transform((address: ServerAddress) => address.label)
    }
  )
)

/**
 * Parses a comma-separated `host:port` list into labels: the one server-list
 * rule, behind `DFLOCKD_SERVERS` and `dflock --servers`. Blanks around entries
 * are ignored; an empty entry (`a:1,,b:2`) is an error, and so is a list with
 * no server.
 *
 * **Example** (Two servers)
 *
 * ```ts
 * import { ServerAddress } from "effect-dflockd"
 *
 * ServerAddress.parseList("10.0.0.1:7000, [::1]:7000") // Result.succeed(["10.0.0.1:7000", "[::1]:7000"])
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseList = (text: string): Result.Result<ReadonlyArray<string>, string> => {
  const entries = text.split(",").map((entry) => entry.trim())
  if (entries.every((entry) => entry.length === 0)) return Result.fail("no server given")
  const labels: Array<string> = []
  for (const entry of entries) {
    if (entry.length === 0) return Result.fail(`empty entry in ${JSON.stringify(text)}`)
    const address = parse(entry)
    if (Result.isFailure(address)) return Result.fail(address.failure)
    labels.push(address.success.label)
  }
  return Result.succeed(labels)
}

/**
 * A comma-separated `host:port` list decoded into labels by {@link parseList}
 * (encoded back joined with commas), for `Config.schema`.
 *
 * **Example** (Reading a list of servers from configuration)
 *
 * ```ts
 * import { Config } from "effect"
 * import { ServerAddress } from "effect-dflockd"
 *
 * const servers = Config.schema(ServerAddress.ListFromString, "LOCK_SERVERS")
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ListFromString = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Array(Schema.String),
    {
      decode: SchemaGetter.transformEffect((text: string) =>
        Result.match(parseList(text), {
          onFailure: (message) => Effect.fail(new SchemaIssue.InvalidValue({ message }, text)),
          onSuccess: (labels) => Effect.succeed(labels)
        })
      ),
      encode: SchemaGetter.transform((labels: ReadonlyArray<string>) => labels.join(","))
    }
  )
)

/** `parse`, failing with an `InvalidArgumentError` for the `servers` option. */
export const parseAddress = (
  input: ServerInput
): Result.Result<ServerAddress, InvalidArgumentError> =>
  Result.mapError(
    parse(input),
    (detail) => new InvalidArgumentError({ argument: "servers", value: show(input), detail })
  )
