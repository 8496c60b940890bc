/**
 * The client service: options and their defaults, routing, the dialer seam
 * (`make`/`makeWith`/`layer`/`layerConfig`), connection pools and `stats`. The
 * public `DflockdClient` module re-exports it.
 */
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import {
  type AuthError,
  type ConnectionError,
  InvalidArgumentError,
  ProtocolError,
  type ServerError
} from "../errors/errors.ts"
import * as InternalConfig from "../options/config.ts"
import * as Codec from "../protocol/codec.ts"
import * as Connection from "../transport/connection.ts"
import * as Renewals from "./renewals.ts"
import * as Pool from "../transport/pool.ts"
import { show } from "../util/show.ts"
import * as Socket from "../transport/socket.ts"
import * as Lifetime from "./lifetime.ts"
import { DEFAULT_SERVER, parseAddress, type ServerAddress, type ServerInput } from "../options/address.ts"
import * as Sharding from "./sharding.ts"
import { Stats, type ServerStats } from "../protocol/stats.ts"
import type * as Transport from "../../Transport.ts"

/**
 * The property that marks a {@link DflockdClient} service; {@link isDflockdClient}
 * checks for it.
 *
 * **Example** (Reading the marker of the client in use)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* DflockdClient.DflockdClient
 *   return client[DflockdClient.TypeId] // "~effect-dflockd/DflockdClient"
 * })
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId = "~effect-dflockd/DflockdClient"

/**
 * TLS settings: PEM strings or buffers. Verification is on unless
 * `rejectUnauthorized: false`.
 *
 * **Example** (Trusting a private CA)
 *
 * ```ts
 * import { DflockdClient } from "effect-dflockd"
 * import { readFileSync } from "node:fs"
 *
 * const tls: DflockdClient.TlsOptions = {
 *   ca: readFileSync("/etc/dflockd/ca.pem", "utf8"),
 *   servername: "locks.internal"
 * }
 * const Live = DflockdClient.layer({ servers: ["locks.internal:6388"], tls })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TlsOptions = Transport.TlsOptions

/**
 * Options of {@link layer}. Every field is optional.
 *
 * **Example** (Two servers, an auth token and a smaller pool)
 *
 * ```ts
 * import { Redacted } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const options: DflockdClient.ClientOptions = {
 *   servers: ["10.0.0.1:6388", ["10.0.0.2", 6388]],
 *   auth: Redacted.make("s3cret"),
 *   connectTimeout: "2 seconds",
 *   pool: { maxIdle: 8 }
 * }
 * const Live = DflockdClient.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /** `host:port` strings or `[host, port]` pairs; keys are sharded across them. Default `[ServerAddress.DEFAULT_SERVER]`. */
  readonly servers?: ReadonlyArray<ServerInput> | undefined
  /** Replaces the CRC-32 routing rule shared with the official clients. */
  readonly sharding?: Sharding.Strategy | undefined
  /** `true` for TLS with the system CAs, or explicit settings. */
  readonly tls?: boolean | TlsOptions | undefined
  /** Sent as the first command on every connection; never logged. */
  readonly auth?: Redacted.Redacted<string> | undefined
  /** Dial (and TLS handshake) timeout. Default 5 seconds. */
  readonly connectTimeout?: Duration.Input | undefined
  /** Bound on short exchanges (renew, release, stats) and on the reply to a blocking one beyond its own timeout. Default 5 seconds. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Retry policy for failures to connect. Default: 3 retries, jittered exponential backoff from 100 ms. Never retries `AuthError`, nor a `ConnectionError` with reason `Tls` (certificates, TLS mismatch). */
  readonly connectRetry?: Schedule.Schedule<unknown, Transport.ExchangeError> | undefined
  /** Renew when this fraction of the lease has passed. Default 0.5. */
  readonly renewRatio?: number | undefined
  /**
   * The server's `--read-timeout`: dflockd closes a connection it has read nothing from
   * for this long and frees its locks at once, with no word to a partitioned client. A
   * lease therefore counts as lost at the send of the last exchange the server answered
   * plus this, less a safety margin, unless a later exchange is answered first. Set it to
   * the server's value (or less). Default 23 seconds, the Go server's default.
   */
  readonly serverReadTimeout?: Duration.Input | undefined
  /**
   * Longest silence on a holding connection: holders renew at least this often, and a
   * renewal unanswered within it (or within `requestTimeout`, if shorter) loses the lease.
   * Must be below `serverReadTimeout`. Default a third of `serverReadTimeout` (7.67 s).
   */
  readonly heartbeatInterval?: Duration.Input | undefined
  /** Cap on one reply line in bytes (stats replies grow with server state). Default 4 MiB. */
  readonly maxReplyBytes?: number | undefined
  /**
   * Accept grant tokens that are not dflockd's 32 hex digits, as mock servers send
   * (`ok tok1 20`): any token without whitespace or control characters, up to 200 bytes. Such a
   * token has no fence (0). For dflockd-client 1.x compatibility (`effect-dflockd/promise` sets
   * it). Default `false`: a grant must carry 32 hex digits, anything else is a `ProtocolError`.
   */
  readonly acceptOpaqueTokens?: boolean | undefined
  /**
   * Connection reuse. A lock always owns its connection while it holds or waits;
   * afterwards a clean connection is kept idle for the next lock on that server.
   * `false` opens one connection per lock and closes it on release.
   * Default `{ maxIdle: 32, idleTimeToLive: "10 seconds" }` (keep `idleTimeToLive`
   * below the server's `--read-timeout`).
   */
  readonly pool?: false | {
    readonly maxIdle?: number | undefined
    readonly idleTimeToLive?: Duration.Input | undefined
  } | undefined
}

/**
 * Options after defaults and validation.
 *
 * **Example** (Logging the settings of the client in use)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const describe = (options: DflockdClient.ResolvedOptions): string =>
 *   `${options.servers.map((server) => server.label).join(", ")}; renew at ${options.renewRatio} of the lease`
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* DflockdClient.DflockdClient
 *   yield* Effect.log(describe(client.options))
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedOptions {
  readonly servers: ReadonlyArray<ServerAddress>
  readonly sharding: Sharding.Strategy
  readonly connection: Transport.ConnectionOptions
  readonly requestTimeout: Duration.Duration
  readonly connectRetry: Schedule.Schedule<unknown, Transport.ExchangeError>
  readonly renewRatio: number
  /** The server's `--read-timeout` as the client assumes it (see {@link ClientOptions}). */
  readonly serverReadTimeout: Duration.Duration
  readonly heartbeatInterval: Duration.Duration
  readonly pool: {
    /** Idle connections kept per server. 0 disables reuse (one connection per lock). */
    readonly maxIdle: number
    /** How long an idle connection is kept. */
    readonly idleTimeToLive: Duration.Duration
  }
}

/**
 * What {@link stats} can fail with: an unknown server name (`InvalidArgumentError`),
 * connecting (`AuthError`, `ConnectionError`), the exchange (`ConnectionError`,
 * `ProtocolError` for a malformed reply or bad JSON), or a server that refuses
 * `stats` (`ServerError`, e.g. dflockd older than 1.4). It holds nothing, so it
 * cannot time out acquiring or lose a lease.
 *
 * **Example** (Stats or nothing)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const describe = (error: DflockdClient.StatsError): string => `${error._tag}: ${error.message}`
 * const program = DflockdClient.stats().pipe(
 *   Effect.catch((error) => Effect.logWarning(describe(error)).pipe(Effect.as([])))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StatsError = InvalidArgumentError | AuthError | ConnectionError | ProtocolError | ServerError

/**
 * The client service. Most code uses it through `Lock`, `Semaphore` and
 * {@link stats}; `connect` is the single place connections come from.
 *
 * **Example** (Which server owns a key)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* DflockdClient.DflockdClient
 *   const server = yield* client.route("orders")
 *   const idle = yield* client.idleConnections
 *   yield* Effect.log(`"orders" lives on ${server.label}; ${idle} idle connection(s)`)
 * }).pipe(Effect.provide(DflockdClient.layer({ servers: ["10.0.0.1:6388", "10.0.0.2:6388"] })))
 * ```
 *
 * @since 0.1.0
 * @category services
 */
export class DflockdClient extends Context.Service<DflockdClient, {
  readonly [TypeId]: typeof TypeId
  readonly options: ResolvedOptions
  /** The server that owns a key. */
  readonly route: (key: string) => Effect.Effect<ServerAddress, InvalidArgumentError>
  /** A connection to a server for as long as the current scope (or the given one) lasts. */
  readonly connect: {
    (server: ServerAddress): Effect.Effect<Transport.Connection, Transport.ExchangeError, Scope.Scope>
    (server: ServerAddress, scope: Scope.Scope): Effect.Effect<Transport.Connection, Transport.ExchangeError>
  }
  /** Stats of one server (by `host:port`) or of all. */
  readonly stats: (server?: string) => Effect.Effect<ReadonlyArray<ServerStats>, StatsError>
  /** Connections kept idle for reuse, across all servers. */
  readonly idleConnections: Effect.Effect<number>
  /**
   * When the leases held through this client start renewing: one fiber for
   * all of them, in the client layer's scope (the machinery of `Lock` and
   * `Semaphore`; its shape may change in any release).
   */
  readonly renewals: Renewals.Renewals
}>()("effect-dflockd/DflockdClient") {}

/**
 * Whether a value is a {@link DflockdClient} service.
 *
 * **Example** (Narrowing an unknown value)
 *
 * ```ts
 * import { DflockdClient } from "effect-dflockd"
 *
 * const describe = (u: unknown): string =>
 *   DflockdClient.isDflockdClient(u) ? `a client of ${u.options.servers.length} server(s)` : "not a client"
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isDflockdClient = (u: unknown): u is DflockdClient["Service"] => Predicate.hasProperty(u, TypeId)

const defaultRetry: Schedule.Schedule<unknown, Transport.ExchangeError> = Schedule.max([
  Schedule.jittered(Schedule.exponential("100 millis")),
  Schedule.recurs(3)
])

const positiveDuration = (argument: string, input: Duration.Input | undefined, fallback: Duration.Input) =>
  Codec.validatePositiveDuration(argument, input ?? fallback)

const resolvePool = (pool: ClientOptions["pool"]): Result.Result<ResolvedOptions["pool"], InvalidArgumentError> => {
  if (pool === false) return Result.succeed({ maxIdle: 0, idleTimeToLive: Duration.seconds(10) })
  const maxIdle = pool?.maxIdle ?? 32
  if (!Number.isInteger(maxIdle) || maxIdle < 0) {
    return Result.fail(
      new InvalidArgumentError({
        argument: "pool.maxIdle",
        value: show(maxIdle),
        detail: "must be a non-negative integer"
      })
    )
  }
  return Result.map(
    positiveDuration("pool.idleTimeToLive", pool?.idleTimeToLive, "10 seconds"),
    (idleTimeToLive) => ({ maxIdle, idleTimeToLive })
  )
}

/**
 * Applies defaults and checks options. Invalid static options are a programming
 * error: the result is a `Result` failure naming the option.
 *
 * **Example** (Checking options before building a layer)
 *
 * ```ts
 * import { Result } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const checked = DflockdClient.resolveOptions({ servers: ["10.0.0.1:6388"], renewRatio: 1.5 })
 * if (Result.isFailure(checked)) {
 *   console.error(checked.failure.message) // invalid renewRatio: must be between 0 and 1 (exclusive)
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolveOptions = (options: ClientOptions = {}): Result.Result<ResolvedOptions, InvalidArgumentError> =>
  Result.gen(function*() {
    const inputs = options.servers ?? [DEFAULT_SERVER]
    const servers: Array<ServerAddress> = []
    for (const input of inputs) servers.push(yield* parseAddress(input))
    yield* Sharding.pick(Sharding.stableHashShard, "probe", servers.length)
    if (options.auth !== undefined) yield* Codec.validateAuthToken(Redacted.value(options.auth))
    const renewRatio = yield* Codec.validateRenewRatio(options.renewRatio ?? 0.5)
    const serverReadTimeout = yield* positiveDuration("serverReadTimeout", options.serverReadTimeout, "23 seconds")
    const heartbeatInterval = options.heartbeatInterval === undefined
      ? Duration.divideUnsafe(serverReadTimeout, 3)
      : yield* Codec.validateHeartbeat(options.heartbeatInterval, serverReadTimeout)
    const tls = options.tls === true ? {} : options.tls === false ? undefined : options.tls
    return {
      servers,
      sharding: options.sharding ?? Sharding.stableHashShard,
      connection: {
        tls,
        auth: options.auth,
        connectTimeout: yield* positiveDuration("connectTimeout", options.connectTimeout, "5 seconds"),
        maxReplyBytes: options.maxReplyBytes ?? 4 * 1024 * 1024,
        acceptOpaqueTokens: options.acceptOpaqueTokens === true
      },
      requestTimeout: yield* positiveDuration("requestTimeout", options.requestTimeout, "5 seconds"),
      connectRetry: options.connectRetry ?? defaultRetry,
      renewRatio,
      serverReadTimeout,
      heartbeatInterval,
      pool: yield* resolvePool(options.pool)
    }
  })

const decodeStats = Schema.decodeUnknownEffect(Schema.fromJsonString(Stats))

/**
 * Builds the client from options. The client's scope owns the idle connection
 * pools; connections in use live in the scopes of the locks that use them.
 *
 * **Example** (A client for the length of one script)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient, ServerAddress } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* DflockdClient.make({ servers: [ServerAddress.DEFAULT_SERVER] })
 *   const [first] = yield* client.stats()
 *   yield* Effect.log(`${first?.stats.connections} connection(s)`)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: ClientOptions = {}) =>
  makeWith(options, (server, resolved) => Socket.connect(server, resolved.connection))

/**
 * A dialer: opens a transport to a server for the current scope (closing the
 * scope hangs up). The default dials TCP/TLS; `Memory.layer` provides one
 * backed by an in-process server. The client runs its connection state
 * machine (one exchange at a time, authentication, break detection) over
 * whatever transport the dialer returns.
 *
 * **Example** (Logging every new connection)
 *
 * ```ts
 * import { Effect } from "effect"
 * import type { DflockdClient } from "effect-dflockd"
 *
 * const logged = (dial: DflockdClient.Dialer): DflockdClient.Dialer => (server, options) =>
 *   dial(server, options).pipe(Effect.tap(() => Effect.logDebug(`connected to ${server.label}`)))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Dialer = (
  server: ServerAddress,
  options: ResolvedOptions
) => Effect.Effect<Transport.Transport, Transport.ExchangeError, Scope.Scope>

/**
 * Builds the client with a custom dialer (everything else as {@link make}):
 * each transport it returns becomes a connection, authenticated when `auth` is set.
 *
 * **Example** (A client whose servers are all unreachable, for testing)
 *
 * ```ts
 * import { Effect, Layer, Schedule } from "effect"
 * import { ConnectionError, DflockdClient } from "effect-dflockd"
 *
 * const unreachable: DflockdClient.Dialer = (server) =>
 *   Effect.fail(new ConnectionError({ server: server.label, reason: "Refused", cause: new Error("connection refused") }))
 *
 * const Offline = Layer.effect(
 *   DflockdClient.DflockdClient,
 *   DflockdClient.makeWith({ connectRetry: Schedule.recurs(0) }, unreachable)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = Effect.fnUntraced(function*(options: ClientOptions, dialer: Dialer) {
  // bad options are the caller's to handle: a typed failure of the layer, never a defect
  const resolved = yield* Effect.fromResult(resolveOptions(options))
  const { servers } = resolved

  // one server and the default strategy: that server owns every key, no hashing
  const only = servers.length === 1 && resolved.sharding === Sharding.stableHashShard
    ? Effect.succeed(servers[0]!)
    : undefined
  const route = (key: string) =>
    only !== undefined && key.length > 0
      ? only
      : Effect.map(Effect.fromResult(Sharding.pick(resolved.sharding, key, servers.length)), (index) => servers[index]!)

  const dial = (server: ServerAddress) =>
    dialer(server, resolved).pipe(
      Effect.flatMap((transport) => Connection.fromTransport(transport, resolved.connection)),
      Effect.retry({
        schedule: resolved.connectRetry,
        // TLS failures (certificates, a peer that does not speak TLS) are permanent:
        // retrying them only delays the error
        while: (e) => e._tag === "ConnectionError" && e.reason !== "Tls"
      })
    )

  // One idle pool per server, living as long as the client layer.
  const pools = new Map<string, Pool.ConnectionPool>()
  // An idle connection is not kept past the server's read timeout (less the margin): the
  // server closes it then, and a partition would not say so.
  const readTimeoutMillis = Duration.toMillis(resolved.serverReadTimeout)
  const poolOptions = {
    ...resolved.pool,
    idleTimeToLive: Duration.min(
      resolved.pool.idleTimeToLive,
      Duration.millis(readTimeoutMillis - Lifetime.marginFor(readTimeoutMillis))
    )
  }
  for (const server of servers) pools.set(server.label, yield* Pool.make(dial(server), poolOptions))

  const connectIn = (server: ServerAddress, scope: Scope.Scope) => {
    const pool = pools.get(server.label)
    return pool === undefined ? Scope.provide(dial(server), scope) : pool.get(scope)
  }
  function connect(server: ServerAddress): Effect.Effect<Transport.Connection, Transport.ExchangeError, Scope.Scope>
  function connect(
    server: ServerAddress,
    scope: Scope.Scope
  ): Effect.Effect<Transport.Connection, Transport.ExchangeError>
  function connect(server: ServerAddress, scope?: Scope.Scope) {
    return scope === undefined
      ? Effect.flatMap(Effect.scope, (current) => connectIn(server, current))
      : connectIn(server, scope)
  }

  const statsOf = (server: ServerAddress) =>
    Effect.scoped(
      Effect.gen(function*() {
        const connection = yield* connect(server)
        const reply = yield* connection.send(Codec.stats, Duration.toMillis(resolved.requestTimeout)).pipe(
          // a server that refuses `stats` (older than 1.4) closes the connection after its `error`:
          // that connection must not go back to the pool, where the next lock would find it closing
          Effect.tapError((error) => error._tag === "ServerError" ? connection.claim : Effect.void)
        )
        const stats = yield* decodeStats(reply.json).pipe(
          Effect.mapError((e) =>
            new ProtocolError({ reply: reply.json.slice(0, 200), detail: `bad stats JSON: ${e.message}` })
          )
        )
        return { server: server.label, stats } satisfies ServerStats
      })
    )

  const stats = (server?: string) => {
    const targets = server === undefined ? servers : servers.filter((s) => s.label === server)
    if (targets.length === 0) {
      return Effect.fail(
        new InvalidArgumentError({
          argument: "server",
          value: show(server),
          detail: `is not one of the configured servers (${servers.map((s) => s.label).join(", ")})`
        })
      )
    }
    return Effect.forEach(targets, statsOf, { concurrency: "unbounded" })
  }

  const idleConnections = Effect.map(
    Effect.forEach([...pools.values()], (pool) => pool.idle),
    (counts) => counts.reduce((a, b) => a + b, 0)
  )

  // when its held leases start renewing: one fiber for all of them, in the layer's scope
  const renewals = yield* Renewals.make
  return DflockdClient.of({ [TypeId]: TypeId, options: resolved, route, connect, stats, idleConnections, renewals })
})

/**
 * A layer of the client.
 *
 * **Example** (Three sharded servers)
 *
 * ```ts
 * import { DflockdClient } from "effect-dflockd"
 *
 * const Live = DflockdClient.layer({ servers: ["10.0.0.1:6388", "10.0.0.2:6388", "10.0.0.3:6388"] })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: ClientOptions = {}): Layer.Layer<DflockdClient, InvalidArgumentError> =>
  Layer.effect(DflockdClient, make(options))

/**
 * Statistics of every server (or of the one named `host:port`), decoded.
 * Needs dflockd 1.4 or newer.
 *
 * **Example** (Printing connection counts)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const program = Effect.gen(function*() {
 *   for (const { server, stats } of yield* DflockdClient.stats()) {
 *     yield* Effect.log(`${server}: ${stats.connections} connections`)
 *   }
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const stats = (server?: string): Effect.Effect<ReadonlyArray<ServerStats>, StatsError, DflockdClient> =>
  DflockdClient.use((client) => client.stats(server))

/**
 * The default configuration of the client, read through `effect`'s `Config`
 * (so any `ConfigProvider` works; by default the environment):
 *
 * - `DFLOCKD_SERVERS`: comma-separated `host:port` list (default `ServerAddress.DEFAULT_SERVER`)
 * - `DFLOCKD_AUTH_TOKEN`: auth token, kept `Redacted`
 * - `DFLOCKD_TLS`: `true` for TLS with the system CAs
 * - `DFLOCKD_TLS_CA_FILE`: PEM file of the CA(s) to trust (implies TLS)
 * - `DFLOCKD_CONNECT_TIMEOUT`: dial and handshake timeout, e.g. `3 seconds`
 * - `DFLOCKD_SERVER_READ_TIMEOUT`: the server's `--read-timeout`, e.g. `30 seconds` (default 23 s)
 * - `DFLOCKD_CLUSTER`: rejected with a `ConfigError`: cluster mode is not
 *   supported by this client version
 *
 * An invalid value fails with a `ConfigError` whose message names the variable.
 *
 * **Example** (Reading the options, then adding some in code)
 *
 * ```ts
 * import { Config } from "effect"
 * import { DflockdClient } from "effect-dflockd"
 *
 * const options = DflockdClient.config.pipe(
 *   Config.map((options): DflockdClient.ClientOptions => ({ ...options, requestTimeout: "2 seconds" }))
 * )
 * const Live = DflockdClient.layerConfig(options)
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<ClientOptions> = InternalConfig.config

/**
 * A layer of the client whose options come from `Config`: {@link config} by
 * default, or any `Config` (or record of `Config`s) of {@link ClientOptions}.
 * Missing or invalid configuration, including options that fail the checks of
 * {@link layer}, fails the layer with a `ConfigError`.
 *
 * **Example** (Configured by the environment)
 *
 * ```ts
 * import { Effect } from "effect"
 * import { DflockdClient, Lock } from "effect-dflockd"
 *
 * // DFLOCKD_SERVERS=10.0.0.1:6388,10.0.0.2:6388 DFLOCKD_CONNECT_TIMEOUT="2 seconds"
 * const program = Lock.withLock(Effect.log("working"), "orders").pipe(
 *   Effect.provide(DflockdClient.layerConfig())
 * )
 * ```
 *
 * **Example** (From a config record)
 *
 * ```ts
 * import { Config, ConfigProvider, Layer } from "effect"
 * import { DflockdClient, ServerAddress } from "effect-dflockd"
 *
 * const Live = DflockdClient.layerConfig({
 *   servers: Config.succeed([ServerAddress.DEFAULT_SERVER]),
 *   auth: Config.Redacted("LOCKS_TOKEN")
 * }).pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnvRecord({ LOCKS_TOKEN: "s3cret" }))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Wrap<ClientOptions> = config
): Layer.Layer<DflockdClient, Config.ConfigError> =>
  Layer.effect(
    DflockdClient,
    Effect.flatMap(
      Config.unwrap(options),
      (resolved) => Effect.mapError(make(resolved), InternalConfig.fromInvalidArgument)
    )
  )
