/**
 * `effect-dflockd/promise`: the API of dflockd-client 1.11 (`DistributedLock`,
 * `DistributedSemaphore`, `stats`, `stableHashShard`, the low-level protocol
 * functions, `LockError` and its subclasses), option for option, on the
 * Effect core, plus one option of this client's (`serverReadTimeoutMs`). Changing `from "dflockd-client"` to
 * `from "effect-dflockd/promise"` keeps code, tests and mock servers working;
 * docs/promise.md, "Migrating from dflockd-client", lists what differs and why.
 *
 * Instances are cheap: every instance with the same connection configuration
 * (server, TLS, auth, timeouts, server read timeout, renew ratio) shares one `ManagedRuntime` and
 * one connection pool, built on first use and disposed shortly after the last
 * lock is released, so nothing keeps the process alive. What an instance holds
 * lives in a `Scope` of the core (connection, renewal, lease watchdog).
 *
 * @since 0.1.0
 */
import type * as Net from "node:net"
import type * as Tls from "node:tls"
import * as Exit from "effect/Exit"
import * as DflockdClient from "./DflockdClient.ts"
import * as Instance from "./internal/promise/instance.ts"
import * as Options from "./internal/promise/options.ts"
import { fromCause } from "./internal/promise/failure.ts"
import { AcquireTimeoutError, LockError } from "./PromiseErrors.ts"
import * as Protocol from "./internal/promise/protocol.ts"
import * as Shared from "./internal/promise/runtime.ts"
import * as Sharding from "./Sharding.ts"

export {
  /**
   * The lock (or slot) was not granted within the timeout. See `PromiseErrors.ts`.
   *
   * @since 0.1.0
   */
  AcquireTimeoutError,
  /**
   * The server refused the auth token.
   *
   * @since 0.1.0
   */
  AuthError,
  /**
   * Base class of every error of this module.
   *
   * @since 0.1.0
   */
  LockError
} from "./PromiseErrors.ts"

// ---------------------------------------------------------------------------
// options
// ---------------------------------------------------------------------------

/**
 * Chooses the index of the server that owns a key: `(key, numServers) => index`.
 * The index must be an integer in `[0, numServers)`, or the operation rejects
 * with `LockError`.
 *
 * **Example** (Pinning one key to the first server)
 *
 * ```ts
 * import { DistributedLock, type ShardingStrategy, stableHashShard } from "effect-dflockd/promise"
 *
 * const strategy: ShardingStrategy = (key, n) => key === "billing" ? 0 : stableHashShard(key, n)
 * const lock = new DistributedLock({
 *   key: "billing",
 *   servers: [["10.0.0.1", 6388], ["10.0.0.2", 6388]],
 *   shardingStrategy: strategy
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ShardingStrategy = (key: string, numServers: number) => number

/**
 * A server: `[host, port]` as in dflockd-client, or `"host:port"`.
 *
 * **Example** (Both forms)
 *
 * ```ts
 * import type { ServerAddress } from "effect-dflockd/promise"
 *
 * const servers: Array<ServerAddress> = [["10.0.0.1", 6388], "10.0.0.2:6388"]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ServerAddress = readonly [host: string, port: number] | string

/**
 * Options of {@link DistributedLock}: those of dflockd-client 1.11, plus
 * `serverReadTimeoutMs`. Only `key` is required.
 *
 * **Example** (Every option)
 *
 * ```ts
 * import { type DistributedLockOptions, stableHashShard } from "effect-dflockd/promise"
 *
 * const options: DistributedLockOptions = {
 *   key: "my-key",
 *   acquireTimeoutS: 10,
 *   leaseTtlS: 20,
 *   servers: [["127.0.0.1", 6388]],
 *   shardingStrategy: stableHashShard,
 *   renewRatio: 0.5,
 *   onLockLost: (key, token) => console.error(`lost ${key} (${token})`),
 *   connectTimeoutMs: 5000,
 *   socketTimeoutMs: 5000,
 *   serverReadTimeoutMs: 23000
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DistributedLockOptions {
  /** The lock's name: non-empty, no NUL, CR or LF (the server also refuses spaces and tabs). */
  readonly key: string
  /** Whole seconds to wait in the server's FIFO queue; 0 tries once. Default 10. */
  readonly acquireTimeoutS?: number | undefined
  /** Lease to request, whole seconds ≥ 1. Default: the server's `--default-lease-ttl`. */
  readonly leaseTtlS?: number | undefined
  /** @deprecated Use `servers` instead. Default `127.0.0.1`; ignored when `servers` is given. */
  readonly host?: string | undefined
  /** @deprecated Use `servers` instead. Default `ServerAddress.DEFAULT_PORT`; ignored when `servers` is given. */
  readonly port?: number | undefined
  /** Servers; keys are sharded across them. Default `[[host, port]]`, each defaulting to `ServerAddress.DEFAULT_HOST`/`DEFAULT_PORT`. */
  readonly servers?: ReadonlyArray<ServerAddress> | undefined
  /** Key → server index. Default {@link stableHashShard}. */
  readonly shardingStrategy?: ShardingStrategy | undefined
  /** Renew when this fraction of the lease has passed, in (0, 1). Default 0.5. */
  readonly renewRatio?: number | undefined
  /**
   * TLS (`{}`: the system CAs). Supported: `ca`, `cert`, `key` (PEM strings or
   * Buffers), `servername`, `rejectUnauthorized`; other fields are refused with
   * `LockError` at construction.
   */
  readonly tls?: Tls.ConnectionOptions | undefined
  /** Token for servers started with `--auth-token`; never logged. */
  readonly auth?: string | undefined
  /**
   * Called once when a held lease is lost (renewal refused or unanswered,
   * connection gone, lease deadline passed), with the key and the lost token.
   * By then `token` is `null` and the instance is closed. What it throws (or
   * rejects with) is logged, never rethrown.
   */
  readonly onLockLost?: ((key: string, token: string) => void) | undefined
  /** Connect (and TLS handshake) timeout in milliseconds. Default: none (the OS's). */
  readonly connectTimeoutMs?: number | undefined
  /**
   * Longest wait for a reply in milliseconds: a renewal (or release) the server
   * does not answer within it fails, so the lease is lost and `onLockLost`
   * fires; a blocking acquire or wait gets it beyond its own timeout. Default:
   * 5000.
   */
  readonly socketTimeoutMs?: number | undefined
  /**
   * The server's `--read-timeout` in milliseconds, an integer ≥ 1 (not in 1.11):
   * set it to the server's value. The server frees the locks of a connection
   * silent that long, so a lease counts as lost (and `onLockLost` fires) that
   * long, less a margin, after the last answered exchange, and the holder
   * heartbeats every third of it. Default 23000 (the Go server's default).
   */
  readonly serverReadTimeoutMs?: number | undefined
}

/**
 * Options of {@link DistributedSemaphore}: those of a lock plus `limit`.
 *
 * **Example** (Five slots)
 *
 * ```ts
 * import type { DistributedSemaphoreOptions } from "effect-dflockd/promise"
 *
 * const options: DistributedSemaphoreOptions = { key: "worker-pool", limit: 5, acquireTimeoutS: 30 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DistributedSemaphoreOptions extends DistributedLockOptions {
  /** Most concurrent holders, an integer ≥ 1. The first holder of a key fixes it; a different one is refused. */
  readonly limit: number
}

/**
 * Options of {@link stats}, those of dflockd-client 1.11.
 *
 * **Example** (A TLS server with auth)
 *
 * ```ts
 * import type { StatsOptions } from "effect-dflockd/promise"
 *
 * const options: StatsOptions = { host: "10.0.0.1", port: 6388, tls: {}, auth: "my-secret-token" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatsOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Default `ServerAddress.DEFAULT_PORT`. */
  readonly port?: number | undefined
  /** TLS, as for a lock. */
  readonly tls?: Tls.ConnectionOptions | undefined
  /** Auth token, as for a lock. */
  readonly auth?: string | undefined
  /** Connect timeout in milliseconds. Default: none. */
  readonly connectTimeoutMs?: number | undefined
}

/**
 * A held lock (or a key with waiters) in {@link Stats}.
 *
 * **Example** (Who waits)
 *
 * ```ts
 * import type { StatsLock } from "effect-dflockd/promise"
 *
 * const describe = (lock: StatsLock) => `${lock.key}: ${lock.waiters} waiting`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatsLock {
  key: string
  owner_conn_id: number
  lease_expires_in_s: number
  waiters: number
}

/**
 * A semaphore in {@link Stats}.
 *
 * **Example** (Free slots)
 *
 * ```ts
 * import type { StatsSemaphore } from "effect-dflockd/promise"
 *
 * const free = (sem: StatsSemaphore) => sem.limit - sem.holders
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatsSemaphore {
  key: string
  limit: number
  holders: number
  waiters: number
}

/**
 * An idle lock key in {@link Stats}.
 *
 * **Example** (Idle for a minute)
 *
 * ```ts
 * import type { StatsIdleLock } from "effect-dflockd/promise"
 *
 * const stale = (idle: StatsIdleLock) => idle.idle_s > 60
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatsIdleLock {
  key: string
  idle_s: number
}

/**
 * An idle semaphore key in {@link Stats}.
 *
 * **Example** (Idle for a minute)
 *
 * ```ts
 * import type { StatsIdleSemaphore } from "effect-dflockd/promise"
 *
 * const stale = (idle: StatsIdleSemaphore) => idle.idle_s > 60
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StatsIdleSemaphore {
  key: string
  idle_s: number
}

/**
 * One server's statistics, as {@link stats} returns them (dflockd-client 1.11's
 * shape; `idle_locks`/`idle_semaphores` are `[]` when the server omits them).
 *
 * **Example** (Counting waiters)
 *
 * ```ts
 * import type { Stats } from "effect-dflockd/promise"
 *
 * const waiters = (s: Stats) => s.locks.reduce((n, lock) => n + lock.waiters, 0)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  connections: number
  locks: Array<StatsLock>
  semaphores: Array<StatsSemaphore>
  idle_locks: Array<StatsIdleLock>
  idle_semaphores: Array<StatsIdleSemaphore>
}

// ---------------------------------------------------------------------------
// the classes
// ---------------------------------------------------------------------------

const specOf = (
  kind: "lock" | "semaphore",
  options: DistributedLockOptions,
  limit: number
): Instance.Spec & { readonly servers: Array<[string, number]> } => {
  const key = Options.validateKey(options.key)
  const acquireTimeoutS = Options.validateAcquireTimeout(options.acquireTimeoutS ?? 10)
  const leaseTtlS = Options.validateLeaseTtl(options.leaseTtlS)
  const servers = Options.normalizeServers(options.servers, options.host, options.port)
  const renewRatio = Options.validateRenewRatio(options.renewRatio ?? 0.5)
  const serverReadTimeoutMs = Options.validateServerReadTimeout(options.serverReadTimeoutMs)
  const shardingStrategy = options.shardingStrategy ?? stableHashShard
  return {
    kind,
    key,
    limit,
    acquireTimeoutS,
    leaseTtlS,
    servers,
    shardingStrategy,
    // one server and the default strategy: index 0 for every key, without hashing the key per lock
    onlyServer: servers.length === 1 && shardingStrategy === stableHashShard ? 0 : undefined,
    tls: Options.tlsSettings(options.tls),
    auth: options.auth,
    connectTimeoutMs: options.connectTimeoutMs,
    socketTimeoutMs: options.socketTimeoutMs,
    serverReadTimeoutMs,
    renewRatio,
    onLockLost: options.onLockLost
  }
}

/**
 * What {@link DistributedLock} and {@link DistributedSemaphore} share, as in
 * dflockd-client 1.11: the options as readable properties, `token` and
 * `lease`, and `acquire`, `release`, `enqueue`/`wait`, `withLock`, `close`.
 * Not constructed directly.
 *
 * **Example** (Code that accepts either)
 *
 * ```ts
 * import type { DistributedPrimitive } from "effect-dflockd/promise"
 *
 * const exclusively = (primitive: DistributedPrimitive, job: () => Promise<void>) => primitive.withLock(job)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class DistributedPrimitive {
  readonly #instance: Instance.Instance
  /**
   * The key this instance locks.
   *
   * @since 0.1.0
   */
  readonly key: string
  /**
   * Seconds `acquire()` waits in the queue (default 10).
   *
   * @since 0.1.0
   */
  readonly acquireTimeoutS: number
  /**
   * The lease requested, or `undefined` for the server's default.
   *
   * @since 0.1.0
   */
  readonly leaseTtlS: number | undefined
  /**
   * The servers, as `[host, port]` pairs (from `servers`, or `host`/`port`).
   *
   * @since 0.1.0
   */
  readonly servers: Array<[string, number]>
  /**
   * The key → server rule (default {@link stableHashShard}).
   *
   * @since 0.1.0
   */
  readonly shardingStrategy: ShardingStrategy
  /**
   * The fraction of the lease after which it is renewed (default 0.5).
   *
   * @since 0.1.0
   */
  readonly renewRatio: number
  /**
   * The TLS options as given, or `undefined` for plain TCP.
   *
   * @since 0.1.0
   */
  readonly tls: Tls.ConnectionOptions | undefined
  /**
   * The auth token as given, or `undefined`.
   *
   * @since 0.1.0
   */
  readonly auth: string | undefined
  /**
   * The lost-lease callback as given, or `undefined`.
   *
   * @since 0.1.0
   */
  readonly onLockLost: ((key: string, token: string) => void) | undefined
  /**
   * The connect timeout as given, or `undefined`.
   *
   * @since 0.1.0
   */
  readonly connectTimeoutMs: number | undefined
  /**
   * The reply timeout as given, or `undefined`.
   *
   * @since 0.1.0
   */
  readonly socketTimeoutMs: number | undefined
  /**
   * The server's `--read-timeout` assumed, in milliseconds (default 23000).
   *
   * @since 0.1.0
   */
  readonly serverReadTimeoutMs: number

  /**
   * Checks the options as dflockd-client 1.11 does (throws `LockError`)
   * without connecting.
   *
   * @since 0.1.0
   */
  protected constructor(kind: "lock" | "semaphore", options: DistributedLockOptions, limit: number) {
    if (options === null || typeof options !== "object") throw new LockError("key must not be empty")
    const spec = specOf(kind, options, limit)
    this.#instance = Instance.make(spec)
    this.key = spec.key
    this.acquireTimeoutS = spec.acquireTimeoutS
    this.leaseTtlS = spec.leaseTtlS
    this.servers = spec.servers
    this.shardingStrategy = spec.shardingStrategy
    this.renewRatio = spec.renewRatio
    this.tls = options.tls
    this.auth = options.auth
    this.onLockLost = options.onLockLost
    this.connectTimeoutMs = options.connectTimeoutMs
    this.socketTimeoutMs = options.socketTimeoutMs
    this.serverReadTimeoutMs = spec.serverReadTimeoutMs
  }

  /**
   * The server's token of the current hold, or `null` when nothing is held
   * (before `acquire()`, after `release()`/`close()`, after the lease was lost).
   * Servers issue 32 hex digits; test servers may issue any token without
   * whitespace (`tok1`), which is accepted as is.
   *
   * @since 0.1.0
   */
  get token(): string | null {
    return Instance.token(this.#instance)
  }

  /**
   * The lease the server granted, in seconds; `0` after `close()` (and before
   * any grant). Writable, as in dflockd-client 1.11 (the renewal does not read it).
   *
   * @since 0.1.0
   */
  get lease(): number {
    return Instance.state(this.#instance).lease
  }
  set lease(seconds: number) {
    Instance.setLease(this.#instance, seconds)
  }

  /**
   * Acquires, waiting in the server's FIFO queue up to `acquireTimeoutS`.
   * Resolves `true` once held (the lease then renews in the background until
   * `release()`), `false` on timeout. Rejects with `LockError` if this instance
   * is already connected (holding, queued, or acquiring), unless
   * `{ force: true }`, which first closes that (without a release).
   *
   * **Example** (Manual acquire and release)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key", acquireTimeoutS: 10, leaseTtlS: 20 })
   * if (await lock.acquire()) {
   *   try {
   *     // critical section
   *   } finally {
   *     await lock.release()
   *   }
   * }
   * ```
   *
   * @since 0.1.0
   */
  acquire(opts?: { readonly force?: boolean | undefined }): Promise<boolean> {
    return Instance.acquire(this.#instance, opts?.force === true)
  }

  /**
   * Releases what this instance holds (or leaves the queue after `enqueue()`)
   * and closes its connection. The release itself is best-effort (a failed `r`
   * is logged; the server frees the lock when the connection closes), but
   * `release()` rejects with `LockError` when the instance is already closed:
   * after a previous `release()`, `close()`, a timed-out `acquire()`/`wait()`,
   * or a lost lease.
   *
   * **Example** (Releasing in `finally`)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * if (await lock.acquire()) {
   *   try {
   *     // ...
   *   } finally {
   *     await lock.release()
   *   }
   * }
   * ```
   *
   * @since 0.1.0
   */
  release(): Promise<void> {
    return Instance.release(this.#instance)
  }

  /**
   * Two-phase acquisition, step one: joins the key's FIFO queue and resolves at
   * once with `"acquired"` (the key was free: held now, renewing) or
   * `"queued"`. Same `force` rule as {@link acquire}. Then `wait()`.
   *
   * **Example** (Enqueue, notify, wait)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key", leaseTtlS: 20 })
   * const status = await lock.enqueue()
   * console.log(`in line: ${status}`)
   * if (await lock.wait(10)) {
   *   await lock.release()
   * }
   * ```
   *
   * @since 0.1.0
   */
  enqueue(opts?: { readonly force?: boolean | undefined }): Promise<"acquired" | "queued"> {
    return Instance.enqueue(this.#instance, opts?.force === true)
  }

  /**
   * Two-phase acquisition, step two: waits up to `timeoutS` whole seconds
   * (default `acquireTimeoutS`) for the grant. Resolves `true` once held (at
   * once if already held), `false` on timeout (the instance is then closed).
   * Rejects with `LockError` without a prior `enqueue()`, or after `close()`.
   *
   * **Example** (Bounded wait)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * await lock.enqueue()
   * const granted = await lock.wait(10)
   * ```
   *
   * @since 0.1.0
   */
  wait(timeoutS?: number): Promise<boolean> {
    return Instance.wait(this.#instance, timeoutS ?? this.acquireTimeoutS)
  }

  /**
   * Acquires, runs `fn`, and releases, also when `fn` throws (its error wins
   * over a failed release). Rejects with {@link AcquireTimeoutError} when the
   * key is not granted within `acquireTimeoutS`. `fn` may take an `AbortSignal`
   * (made only for a callback that declares the parameter) that aborts when the
   * lease is lost meanwhile; `withLock` then rejects, once `fn` has settled, with
   * a `LockError` (cause: `LockLostError`) even if `fn` succeeded, as
   * dflockd-client 1.11 rejects when its release finds the instance closed
   * (`fn`'s own error wins). A callback that returns a value rather than a
   * promise releases in the same step, with no microtask.
   *
   * **Example** (A critical section)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * const total = await lock.withLock(async () => {
   *   return 42
   * })
   * ```
   *
   * @since 0.1.0
   */
  withLock<T>(fn: (signal: AbortSignal) => T | Promise<T>): Promise<T> {
    return Instance.withLock(this.#instance, fn)
  }

  /**
   * Closes the instance's connection at once: synchronous and idempotent, as
   * in dflockd-client 1.11. Sends no release (the server frees the lock when
   * the connection ends); a pending `acquire()`/`enqueue()`/`wait()` rejects
   * with `LockError`; `token` becomes `null` and `lease` 0. The instance may
   * `acquire()` again afterwards.
   *
   * **Example** (Shutting down)
   *
   * ```ts
   * import { DistributedLock } from "effect-dflockd/promise"
   *
   * const lock = new DistributedLock({ key: "my-key" })
   * process.once("SIGTERM", () => lock.close())
   * ```
   *
   * @since 0.1.0
   */
  close(): void {
    Instance.close(this.#instance)
  }
}

/**
 * A distributed lock on one key, with dflockd-client 1.11's API. One instance
 * holds the lock at most once at a time; instances are cheap (they share
 * connections), so creating one per lock, as 1.11's examples do, is fine.
 *
 * **Example** (Acquire, look, release)
 *
 * ```ts
 * import { DistributedLock } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "my-key", acquireTimeoutS: 10, leaseTtlS: 20 })
 * if (await lock.acquire()) {
 *   console.log(`acquired key=${lock.key} token=${lock.token} lease=${lock.lease}`)
 *   await lock.release()
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export class DistributedLock extends DistributedPrimitive {
  /**
   * Checks the options as dflockd-client 1.11 does (throws `LockError`)
   * without connecting.
   *
   * @since 0.1.0
   */
  constructor(opts: DistributedLockOptions) {
    super("lock", opts, 1)
  }
}

/**
 * A distributed counting semaphore: up to `limit` concurrent holders of one
 * key, granted in FIFO order. Needs dflockd 1.2 or newer (`sl`/`sr`/`sn`/`se`/`sw`);
 * older servers refuse the commands and the calls reject with `LockError`.
 *
 * **Example** (Up to five concurrent holders)
 *
 * ```ts
 * import { DistributedSemaphore } from "effect-dflockd/promise"
 *
 * const sem = new DistributedSemaphore({ key: "worker-pool", limit: 5 })
 * await sem.withLock(async () => {
 *   // at most 5 of these run at once, cluster-wide
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export class DistributedSemaphore extends DistributedPrimitive {
  /**
   * Most concurrent holders of the key.
   *
   * @since 0.1.0
   */
  readonly limit: number

  /**
   * Checks the options as dflockd-client 1.11 does (throws `LockError`,
   * `limit` included) without connecting.
   *
   * @since 0.1.0
   */
  constructor(opts: DistributedSemaphoreOptions) {
    super("semaphore", opts, Options.validateLimit(opts?.limit))
    this.limit = opts.limit
  }
}

// ---------------------------------------------------------------------------
// functions
// ---------------------------------------------------------------------------

/**
 * The dflockd clients' key routing: CRC-32 (IEEE) of the key's UTF-8 bytes
 * modulo the number of servers. Throws `LockError` when `numServers <= 0`.
 *
 * **Example** (Which of three servers owns a key)
 *
 * ```ts
 * import { stableHashShard } from "effect-dflockd/promise"
 *
 * stableHashShard("my-key", 3) // 2
 * ```
 *
 * @since 0.1.0
 * @category sharding
 */
export const stableHashShard = (key: string, numServers: number): number => {
  if (!(numServers > 0)) throw new LockError("numServers must be greater than 0")
  return Sharding.stableHashShard(key, numServers)
}

/**
 * Statistics of one server (default `ServerAddress.DEFAULT_SERVER`): connections, held
 * locks, semaphores, idle keys. Needs dflockd 1.4 or newer; older servers
 * refuse the command and this rejects with `LockError`.
 *
 * **Example** (Printing held locks)
 *
 * ```ts
 * import { stats } from "effect-dflockd/promise"
 *
 * const s = await stats({ host: "127.0.0.1", port: 6388 })
 * for (const lock of s.locks) console.log(`${lock.key} waiters=${lock.waiters}`)
 * ```
 *
 * @since 0.1.0
 * @category stats
 */
export const stats = async (options?: StatsOptions): Promise<Stats> => {
  const server: [string, number] = [options?.host ?? Options.DEFAULT_HOST, options?.port ?? Options.DEFAULT_PORT]
  const { config, key } = Options.configEntry(server, {
    tls: Options.tlsSettings(options?.tls),
    auth: options?.auth,
    connectTimeoutMs: options?.connectTimeoutMs,
    socketTimeoutMs: undefined,
    // a lock's default: stats shares the runtime of locks with default options
    serverReadTimeoutMs: Options.DEFAULT_SERVER_READ_TIMEOUT_MS,
    renewRatio: 0.5
  })
  const handle = Shared.retain(key, config)
  try {
    const exit = await handle.runtime.runPromiseExit(DflockdClient.stats())
    if (Exit.isFailure(exit)) throw fromCause(exit.cause, () => new LockError("stats was interrupted"))
    const first = exit.value[0]
    if (first === undefined) throw new LockError("stats: the server sent no statistics")
    const s = first.stats
    return {
      connections: s.connections,
      locks: s.locks.map((lock) => ({ ...lock })),
      semaphores: s.semaphores.map((sem) => ({ ...sem })),
      idle_locks: (s.idle_locks ?? []).map((idle) => ({ ...idle })),
      idle_semaphores: (s.idle_semaphores ?? []).map((idle) => ({ ...idle }))
    }
  } finally {
    handle.release()
  }
}

/**
 * Options of {@link withLocks}: a lock's options without `key` (the keys are
 * the first argument) and without `onLockLost` (the callback's `AbortSignal`
 * tells of a loss). `acquireTimeoutS` bounds the acquisition of all the keys.
 *
 * **Example** (Five seconds for both keys)
 *
 * ```ts
 * import type { WithLocksOptions } from "effect-dflockd/promise"
 *
 * const options: WithLocksOptions = { acquireTimeoutS: 5, leaseTtlS: 30 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type WithLocksOptions = Omit<DistributedLockOptions, "key" | "onLockLost">

/**
 * Holds the locks of every key in `keys` while `fn` runs: all or none, taken
 * in one global order (sorted, whatever their servers), so two processes
 * locking the same keys in different orders never deadlock. Rejects with
 * {@link AcquireTimeoutError} (naming the key) when they are not all granted
 * within `acquireTimeoutS`; the locks already taken are released first. `fn`'s
 * `AbortSignal` aborts when any lease is lost, and `withLocks` then rejects
 * with that `LockError`. Every lock is released when `fn` settles; `fn`'s
 * error wins over a failed release. Not in dflockd-client 1.11.
 *
 * **Example** (A transfer between two accounts)
 *
 * ```ts
 * import { withLocks } from "effect-dflockd/promise"
 *
 * await withLocks(["account-7", "account-3"], async (signal) => {
 *   if (signal.aborted) return
 *   // debit one, credit the other
 * }, { acquireTimeoutS: 5 })
 * ```
 *
 * @since 0.1.0
 * @category functions
 */
export const withLocks = async <T>(
  keys: ReadonlyArray<string>,
  fn: (signal: AbortSignal) => T | Promise<T>,
  options: WithLocksOptions = {}
): Promise<T> => {
  if (!Array.isArray(keys) || keys.length === 0) throw new LockError("keys must name at least one key")
  const ordered = [...keys].sort()
  for (let i = 1; i < ordered.length; i++) {
    if (ordered[i] === ordered[i - 1]) throw new LockError(`keys must not repeat a key: ${JSON.stringify(ordered[i])}`)
  }
  const budgetS = Options.validateAcquireTimeout(options.acquireTimeoutS ?? 10)
  // every key is checked before any connection; the other options, by the first lock's constructor (1.11's checks)
  for (const key of ordered) Options.validateKey(key)
  const deadline = performance.now() + budgetS * 1000
  const lost = new AbortController()
  const held: Array<DistributedLock> = []
  let failure: { readonly error: unknown } | undefined
  let result: T | undefined
  try {
    for (const key of ordered) {
      const lock = new DistributedLock({
        ...options,
        key,
        acquireTimeoutS: Math.max(0, deadline - performance.now()) / 1000,
        onLockLost: (lostKey, token) => lost.abort(new LockError(`lock lost: ${lostKey} (token ${token})`))
      })
      if (!(await lock.acquire())) throw new AcquireTimeoutError(key)
      held.push(lock)
    }
    result = await fn(lost.signal)
    if (lost.signal.aborted) throw lost.signal.reason
  } catch (error) {
    failure = { error }
  }
  // released in reverse, each once; the first failure is reported unless fn's came first
  for (const lock of held.reverse()) {
    try {
      await lock.release()
    } catch (error) {
      if (failure === undefined && !lost.signal.aborted) failure = { error }
    }
  }
  if (failure !== undefined) throw failure.error
  return result as T
}

// ---------------------------------------------------------------------------
// low-level protocol functions
// ---------------------------------------------------------------------------

/**
 * Sends `l` (acquire a lock) over a socket you connected, and waits up to
 * `acquireTimeoutS` for the grant. Resolves `{ token, lease }`; rejects with
 * {@link AcquireTimeoutError} on `timeout`, `LockError` on any other reply or
 * an invalid argument. The socket stays yours: nothing renews or closes it.
 *
 * **Example** (Managing the socket yourself)
 *
 * ```ts
 * import * as net from "node:net"
 * import { acquire, release } from "effect-dflockd/promise"
 *
 * const sock = net.createConnection({ host: "127.0.0.1", port: 6388 })
 * await new Promise<void>((resolve) => sock.once("connect", resolve))
 * const { token, lease } = await acquire(sock, "my-key", 10, 20)
 * console.log(`held for ${lease}s`)
 * await release(sock, "my-key", token)
 * sock.destroy()
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const acquire = (
  sock: Net.Socket,
  key: string,
  acquireTimeoutS: number,
  leaseTtlS?: number
): Promise<{ token: string; lease: number }> =>
  Protocol.protoAcquire(sock, "lock", key, acquireTimeoutS, leaseTtlS, undefined)

/**
 * Sends `n` (renew a lock) and resolves the lease the server reports (or
 * `leaseTtlS ?? 30` when it reports none). Rejects with `LockError` on any
 * other reply.
 *
 * **Example** (Renewing by hand)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { renew } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * declare const token: string
 * const lease = await renew(sock, "my-key", token, 20)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const renew = (sock: Net.Socket, key: string, token: string, leaseTtlS?: number): Promise<number> =>
  Protocol.protoRenew(sock, "lock", key, token, leaseTtlS)

/**
 * Sends `e` (two-phase step one for a lock). Resolves `{ status: "acquired",
 * token, lease }` or `{ status: "queued", token: null, lease: null }`; rejects
 * with `LockError` on any other reply.
 *
 * **Example** (Enqueue, then wait on the same socket)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { enqueue, waitForLock } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * const result = await enqueue(sock, "my-key", 20)
 * const grant = result.status === "acquired" ? result : await waitForLock(sock, "my-key", 10)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const enqueue = (
  sock: Net.Socket,
  key: string,
  leaseTtlS?: number
): Promise<{ status: "acquired" | "queued"; token: string | null; lease: number | null }> =>
  Protocol.protoEnqueue(sock, "lock", key, leaseTtlS, undefined)

/**
 * Sends `w` (two-phase step two for a lock) and waits up to `waitTimeoutS`.
 * Resolves `{ token, lease }`; rejects with {@link AcquireTimeoutError} on
 * `timeout`, `LockError` otherwise.
 *
 * **Example** (Waiting for the grant)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { waitForLock } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * const { token } = await waitForLock(sock, "my-key", 10)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const waitForLock = (
  sock: Net.Socket,
  key: string,
  waitTimeoutS: number
): Promise<{ token: string; lease: number }> => Protocol.protoWait(sock, "lock", key, waitTimeoutS)

/**
 * Sends `r` (release a lock). Rejects with `LockError` unless the server
 * answers `ok`.
 *
 * **Example** (Releasing by hand)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { release } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * declare const token: string
 * await release(sock, "my-key", token)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const release = (sock: Net.Socket, key: string, token: string): Promise<void> =>
  Protocol.protoRelease(sock, "lock", key, token)

/**
 * Sends `sl` (acquire a semaphore slot, at most `limit` holders). As
 * {@link acquire}.
 *
 * **Example** (One of three slots)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { semAcquire, semRelease } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * const { token } = await semAcquire(sock, "pool", 10, 3, 20)
 * await semRelease(sock, "pool", token)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const semAcquire = (
  sock: Net.Socket,
  key: string,
  acquireTimeoutS: number,
  limit: number,
  leaseTtlS?: number
): Promise<{ token: string; lease: number }> =>
  Protocol.protoAcquire(sock, "semaphore", key, acquireTimeoutS, leaseTtlS, limit)

/**
 * Sends `sn` (renew a semaphore slot). As {@link renew}.
 *
 * **Example** (Renewing a slot)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { semRenew } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * declare const token: string
 * const lease = await semRenew(sock, "pool", token)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const semRenew = (sock: Net.Socket, key: string, token: string, leaseTtlS?: number): Promise<number> =>
  Protocol.protoRenew(sock, "semaphore", key, token, leaseTtlS)

/**
 * Sends `se` (two-phase step one for a semaphore). As {@link enqueue}.
 *
 * **Example** (Joining a semaphore's queue)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { semEnqueue } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * const { status } = await semEnqueue(sock, "pool", 3)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const semEnqueue = (
  sock: Net.Socket,
  key: string,
  limit: number,
  leaseTtlS?: number
): Promise<{ status: "acquired" | "queued"; token: string | null; lease: number | null }> =>
  Protocol.protoEnqueue(sock, "semaphore", key, leaseTtlS, limit)

/**
 * Sends `sw` (two-phase step two for a semaphore). As {@link waitForLock}.
 *
 * **Example** (Waiting for a slot)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { semWaitForLock } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * const { token } = await semWaitForLock(sock, "pool", 10)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const semWaitForLock = (
  sock: Net.Socket,
  key: string,
  waitTimeoutS: number
): Promise<{ token: string; lease: number }> => Protocol.protoWait(sock, "semaphore", key, waitTimeoutS)

/**
 * Sends `sr` (release a semaphore slot). As {@link release}.
 *
 * **Example** (Giving a slot back)
 *
 * ```ts
 * import type * as net from "node:net"
 * import { semRelease } from "effect-dflockd/promise"
 *
 * declare const sock: net.Socket
 * declare const token: string
 * await semRelease(sock, "pool", token)
 * ```
 *
 * @since 0.1.0
 * @category low-level
 */
export const semRelease = (sock: Net.Socket, key: string, token: string): Promise<void> =>
  Protocol.protoRelease(sock, "semaphore", key, token)
