/**
 * The runtimes behind `effect-dflockd/promise`: one `ManagedRuntime` (one
 * `DflockdClient`, one connection pool) per distinct connection configuration
 * (server, TLS, auth, timeouts, the server's read timeout, renew ratio), shared by every instance that
 * uses it, so that `new DistributedLock(...)` per lock (dflockd-client 1.x's
 * own pattern) costs an object, not a runtime and a connection.
 *
 * Lifetime: a runtime is built on first use and counts its users (an
 * operation in flight, a lock held or queued). When the count falls to zero an
 * unref'd timer of {@link IDLE_MILLIS} starts; if nobody comes back by then the
 * runtime is disposed, which closes its idle connections and the pool's
 * sweeper. So pooled connections stay warm while a process keeps locking, and a
 * script that releases and does nothing else exits about {@link IDLE_MILLIS}
 * later (the timer itself does not hold the process; the idle sockets do, until
 * it fires).
 *
 * The client accepts grants with opaque tokens (`ok tok1 20`, as mock servers
 * send), as dflockd-client 1.x does (`acceptOpaqueTokens`).
 */
import { createHash } from "node:crypto"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as DflockdClient from "../client/client.ts"

/** How long an unused runtime (and its idle connections) is kept. */
export const IDLE_MILLIS = 200

/** One server and how to talk to it: what a runtime is shared by. */
export interface Config {
  readonly host: string
  readonly port: number
  readonly tls: DflockdClient.TlsOptions | undefined
  /** Identifies `tls` by content (see {@link tlsFingerprint}). */
  readonly tlsFingerprint: string
  readonly auth: string | undefined
  readonly connectTimeoutMs: number | undefined
  readonly socketTimeoutMs: number | undefined
  /** The server's `--read-timeout` in milliseconds (the core's `serverReadTimeout`). */
  readonly serverReadTimeoutMs: number
  readonly renewRatio: number
}

/** Longest delay a Node timer takes: "no timeout" in dflockd-client 1.x terms. */
const NO_TIMEOUT = Duration.millis(2 ** 31 - 1)

const clientLayer = (config: Config): Layer.Layer<DflockdClient.DflockdClient> =>
  Layer.effect(
    DflockdClient.DflockdClient,
    DflockdClient.make(
      {
        servers: [[config.host, config.port]],
        tls: config.tls,
        auth: config.auth === undefined || config.auth === "" ? undefined : Redacted.make(config.auth),
        renewRatio: config.renewRatio,
        connectTimeout: config.connectTimeoutMs === undefined || config.connectTimeoutMs <= 0
          ? NO_TIMEOUT
          : Duration.millis(config.connectTimeoutMs),
        requestTimeout: config.socketTimeoutMs === undefined || config.socketTimeoutMs <= 0
          ? undefined
          : Duration.millis(config.socketTimeoutMs),
        serverReadTimeout: Duration.millis(config.serverReadTimeoutMs),
        // dflockd-client 1.x dials once and reports the failure
        connectRetry: Schedule.recurs(0),
        // as dflockd-client 1.x, and the mock servers written for it (`ok tok1 20`)
        acceptOpaqueTokens: true
      }
    ).pipe(
      // the options were checked as 1.11 checks them when the instance was made
      Effect.orDie
    )
  )

/** A runtime in use: release it exactly once when done. */
export interface Handle {
  readonly runtime: ManagedRuntime.ManagedRuntime<DflockdClient.DflockdClient, never>
  readonly release: () => void
}

interface Entry {
  readonly runtime: ManagedRuntime.ManagedRuntime<DflockdClient.DflockdClient, never>
  /**
   * Users, when the count last fell to zero, and the eviction timer: touched
   * only by `retain`, the handles' `release` and the timer.
   */
  readonly usage: { users: number; idleSince: number; timer: ReturnType<typeof setTimeout> | undefined }
}

/**
 * Evicts `entry` once it has had no user for {@link IDLE_MILLIS}. One timer
 * covers a run of short idle spells: a lock taken and released per call
 * (users 1 → 0 → 1 …) arms no timer per call; when the timer fires it looks
 * at how long the runtime has been idle, and waits for the rest if need be.
 */
const scheduleEviction = (key: string, entry: Entry): void => {
  const { usage } = entry
  usage.idleSince = performance.now()
  if (usage.timer !== undefined) return
  const arm = (delay: number) => {
    usage.timer = setTimeout(() => {
      usage.timer = undefined
      if (usage.users > 0) return // in use again: its next idle spell arms a new timer
      const left = IDLE_MILLIS - (performance.now() - usage.idleSince)
      if (left > 0) arm(left)
      else evict(key, entry)
    }, delay)
    usage.timer.unref()
  }
  arm(IDLE_MILLIS)
}

const entries = new Map<string, Entry>()

/** Hashes of auth tokens (a process uses one or a few), so that a key costs no hash per instance. */
const authHashes = new Map<string, string>()

const authHash = (auth: string): string => {
  let hash = authHashes.get(auth)
  if (hash === undefined) {
    hash = createHash("sha256").update(auth).digest("base64")
    if (authHashes.size < 64) authHashes.set(auth, hash)
  }
  return hash
}

// Built for every new instance (1.11's pattern): a template, not JSON of an array.
const keyOf = (config: Config): string =>
  `${JSON.stringify(config.host)}:${config.port}|${JSON.stringify(config.tlsFingerprint)}|${
    config.auth === undefined ? "" : authHash(config.auth)
  }|${config.connectTimeoutMs ?? ""}|${config.socketTimeoutMs ?? ""}|${config.serverReadTimeoutMs}|${config.renewRatio}`

const evict = (key: string, entry: Entry) => {
  if (entries.get(key) === entry) entries.delete(key)
  Effect.runFork(
    entry.runtime.disposeEffect.pipe(
      Effect.catchCause((cause) => Effect.logError("dflockd: disposing an idle client failed", cause))
    )
  )
}

/**
 * The shared runtime of a configuration, counted as used until the handle's
 * `release`. `key` is {@link keyFor}'s result, computed once per instance.
 */
export const retain = (key: string, config: Config): Handle => {
  let entry = entries.get(key)
  if (entry === undefined) {
    entry = {
      runtime: ManagedRuntime.make(clientLayer(config)),
      usage: { users: 0, idleSince: 0, timer: undefined }
    }
    entries.set(key, entry)
  }
  const { usage } = entry
  const current = entry
  usage.users++
  let released = false
  return {
    runtime: entry.runtime,
    release: () => {
      if (released) return
      released = true
      usage.users--
      if (usage.users === 0) scheduleEviction(key, current)
    }
  }
}

/** The registry key of a configuration (the auth token enters only as a hash). */
export const keyFor: (config: Config) => string = keyOf

/** The registry keys of the runtimes currently kept (for tests). */
export const keys = (): ReadonlyArray<string> => [...entries.keys()]
