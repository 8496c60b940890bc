/**
 * dflockd-client 1.11's options and arguments, checked as 1.11 checks them (same
 * `LockError` messages): the one place of those checks, for the instances and
 * the low-level functions alike. And the options turned into the connection
 * configuration of the shared runtimes (`runtime.ts`).
 */
import type * as Tls from "node:tls"
import * as Result from "effect/Result"
import * as ServerAddress from "../options/address.ts"
import type * as Connection from "../transport/connection.ts"
import { LockError } from "./errors.ts"
import * as Shared from "./runtime.ts"

export const { DEFAULT_HOST, DEFAULT_PORT } = ServerAddress

/** 1.11's check of a key or a token: non-empty, no NUL, CR or LF. (The server's own rules for a key are checked when it is used.) */
const validateField = (name: "key" | "token", value: unknown): string => {
  if (typeof value !== "string" || value === "") throw new LockError(`${name} must not be empty`)
  if (/[\0\n\r]/.test(value)) {
    throw new LockError(`${name} must not contain NUL, newline, or carriage return characters`)
  }
  return value
}

export const validateKey = (key: unknown): string => validateField("key", key)

export const validateToken = (token: unknown): string => validateField("token", token)

const isInteger = (n: unknown, min: number): n is number => typeof n === "number" && Number.isInteger(n) && n >= min

/** An instance's wait in seconds: finite, 0 or more; a fraction is kept exact (1.11 took whole seconds only). */
const validateSeconds = (name: "acquireTimeoutS" | "waitTimeoutS", seconds: unknown): number => {
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds < 0) {
    throw new LockError(`${name} must be a finite number >= 0`)
  }
  return seconds
}

export const validateAcquireTimeout = (seconds: unknown): number => validateSeconds("acquireTimeoutS", seconds)

export const validateWaitTimeout = (seconds: unknown): number => validateSeconds("waitTimeoutS", seconds)

/** A low-level function's wait: whole seconds, 0 or more, as 1.11 sends them. */
export const validateWholeSeconds = (name: "acquireTimeoutS" | "waitTimeoutS", seconds: unknown): number => {
  if (!isInteger(seconds, 0)) throw new LockError(`${name} must be an integer >= 0`)
  return seconds
}

export const validateLeaseTtl = (seconds: unknown): number | undefined => {
  if (seconds === undefined || seconds === null) return undefined
  if (!isInteger(seconds, 1)) throw new LockError("leaseTtlS must be an integer >= 1")
  return seconds
}

export const validateRenewRatio = (ratio: unknown): number => {
  if (typeof ratio !== "number" || !Number.isFinite(ratio) || ratio <= 0 || ratio >= 1) {
    throw new LockError("renewRatio must be a finite number between 0 and 1 (exclusive)")
  }
  return ratio
}

/** The server's `--read-timeout` the Go dflockd starts with, as `serverReadTimeoutMs` defaults to it. */
export const DEFAULT_SERVER_READ_TIMEOUT_MS = 23_000

/** This client's `serverReadTimeoutMs` (not in 1.11), checked in 1.11's style. */
export const validateServerReadTimeout = (millis: unknown): number => {
  if (millis === undefined || millis === null) return DEFAULT_SERVER_READ_TIMEOUT_MS
  if (!isInteger(millis, 1)) throw new LockError("serverReadTimeoutMs must be an integer >= 1")
  return millis
}

export const validateLimit = (limit: unknown): number => {
  if (!isInteger(limit, 1)) throw new LockError("limit must be an integer >= 1")
  return limit
}

/** `[host, port]` pairs as given (1.11), `"host:port"` strings parsed; `host`/`port` when `servers` is absent. */
export const normalizeServers = (
  servers: ReadonlyArray<readonly [string, number] | string> | undefined,
  host: string | undefined,
  port: number | undefined
): Array<[string, number]> => {
  if (servers === undefined || servers === null) return [[host ?? DEFAULT_HOST, port ?? DEFAULT_PORT]]
  if (servers.length === 0) throw new LockError("servers list must not be empty")
  return servers.map((server): [string, number] => {
    if (typeof server !== "string") return [server[0], server[1]]
    const parsed = ServerAddress.parseAddress(server)
    if (Result.isFailure(parsed)) throw new LockError(parsed.failure.message)
    return [parsed.success.host, parsed.success.port]
  })
}

// ---------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------

/** The `tls.ConnectionOptions` this client honours; `host`/`port` are ignored, as 1.11 overrides them. */
const SUPPORTED_TLS = new Set(["ca", "cert", "key", "servername", "rejectUnauthorized"])
const IGNORED_TLS = new Set(["host", "port"])

export interface TlsSettings {
  readonly tls: Connection.TlsOptions | undefined
  readonly fingerprint: string
}

const noTls: TlsSettings = { tls: undefined, fingerprint: "" }
const cache = new WeakMap<object, TlsSettings>()

type Pem = string | Uint8Array

const isPem = (u: unknown): u is Pem => typeof u === "string" || u instanceof Uint8Array

const pemFingerprint = (value: Pem) =>
  typeof value === "string" ? `s${value}` : `b${Buffer.from(value).toString("base64")}`

const unsupported = (name: string, detail: string) =>
  new LockError(`unsupported tls option ${name}: ${detail} (supported: ${[...SUPPORTED_TLS].join(", ")})`)

/**
 * 1.11 passes `tls` to `tls.connect`; this client's transport takes PEM `ca`,
 * `cert`, `key`, `servername` and `rejectUnauthorized`. Anything else is
 * refused here, at construction, rather than silently ignored.
 */
export const tlsSettings = (tls: Tls.ConnectionOptions | undefined): TlsSettings => {
  if (tls === undefined || tls === null) return noTls
  if (typeof tls !== "object") throw new LockError("tls must be an object of tls.ConnectionOptions")
  const cached = cache.get(tls)
  if (cached !== undefined) return cached
  const parts: Array<string> = []
  let ca: Pem | ReadonlyArray<Pem> | undefined
  let cert: Pem | undefined
  let key: Pem | undefined
  let servername: string | undefined
  let rejectUnauthorized: boolean | undefined
  for (const [name, value] of Object.entries(tls) as ReadonlyArray<readonly [string, unknown]>) {
    if (value === undefined || IGNORED_TLS.has(name)) continue
    if (!SUPPORTED_TLS.has(name)) throw unsupported(name, "not supported by this client")
    switch (name) {
      case "ca":
        if (isPem(value)) ca = value
        else if (Array.isArray(value) && value.every(isPem)) ca = value
        else throw unsupported(name, "must be a PEM string or Buffer, or an array of them")
        parts.push(`ca:${(Array.isArray(ca) ? ca : [ca]).map(pemFingerprint).join(",")}`)
        break
      case "cert":
      case "key":
        if (!isPem(value)) throw unsupported(name, "must be one PEM string or Buffer")
        if (name === "cert") cert = value
        else key = value
        parts.push(`${name}:${pemFingerprint(value)}`)
        break
      case "servername":
        if (typeof value !== "string") throw unsupported(name, "must be a string")
        servername = value
        parts.push(`servername:${value}`)
        break
      case "rejectUnauthorized":
        if (typeof value !== "boolean") throw unsupported(name, "must be a boolean")
        rejectUnauthorized = value
        parts.push(`rejectUnauthorized:${value}`)
        break
    }
  }
  const settings: TlsSettings = {
    tls: { ca, cert, key, servername, rejectUnauthorized },
    fingerprint: `tls|${parts.sort().join("|")}`
  }
  cache.set(tls, settings)
  return settings
}

/** How an instance talks to its servers, besides which server: what `configEntry` reads. */
export interface ConnectionSettings {
  readonly tls: TlsSettings
  readonly auth: string | undefined
  readonly connectTimeoutMs: number | undefined
  readonly socketTimeoutMs: number | undefined
  readonly serverReadTimeoutMs: number
  readonly renewRatio: number
}

/** The shared runtime's configuration for one server. */
export const configFor = (server: readonly [string, number], settings: ConnectionSettings): Shared.Config => ({
  host: server[0],
  port: server[1],
  tls: settings.tls.tls,
  tlsFingerprint: settings.tls.fingerprint,
  auth: settings.auth,
  connectTimeoutMs: settings.connectTimeoutMs,
  socketTimeoutMs: settings.socketTimeoutMs,
  serverReadTimeoutMs: settings.serverReadTimeoutMs,
  renewRatio: settings.renewRatio
})

/** A configuration and its registry key (`runtime.ts`'s `keyFor`). */
export interface ConfigEntry {
  readonly key: string
  readonly config: Shared.Config
}

const sameConfig = (config: Shared.Config, server: readonly [string, number], settings: ConnectionSettings) =>
  config.host === server[0] && config.port === server[1] && config.tlsFingerprint === settings.tls.fingerprint &&
  config.auth === settings.auth && config.connectTimeoutMs === settings.connectTimeoutMs &&
  config.socketTimeoutMs === settings.socketTimeoutMs && config.serverReadTimeoutMs === settings.serverReadTimeoutMs &&
  config.renewRatio === settings.renewRatio

/** The configurations used last, newest first: a program has one or a few (one per server). */
const recent: Array<ConfigEntry> = []
const RECENT = 8

/**
 * The configuration for `server` and its registry key. 1.11's pattern builds
 * an instance per lock, all with the same configuration: the entry made for
 * the first is found again by comparing fields, without building the key
 * (a string of every field) per lock. Equal fields give an equal key, so an
 * entry found here is the one `keyFor` would name.
 */
export const configEntry = (server: readonly [string, number], settings: ConnectionSettings): ConfigEntry => {
  for (let i = 0; i < recent.length; i++) {
    const entry = recent[i]!
    if (sameConfig(entry.config, server, settings)) return entry
  }
  const config = configFor(server, settings)
  const entry: ConfigEntry = { key: Shared.keyFor(config), config }
  recent.unshift(entry)
  if (recent.length > RECENT) recent.pop()
  return entry
}
