/**
 * The Promise API's error classes: 1.11's names, messages and `instanceof`
 * chain (the public `PromiseErrors` module re-exports them). Plain `Error`
 * subclasses with no import, so the Promise API's types never need `effect`'s.
 */

/**
 * Base class of every error `effect-dflockd/promise` throws: invalid options,
 * misuse (`acquire()` while holding, `release()` after `close()`), connection
 * failures, refusals and malformed replies, and the subclasses
 * {@link AcquireTimeoutError} and {@link AuthError}. The message names the
 * cause (never the auth token); when the failure came from the Effect core,
 * `cause` is its tagged error (`ConnectionError`, `ServerError`,
 * `ProtocolError`, `LockLostError`, ...).
 *
 * **Example** (Catching any client error)
 *
 * ```ts
 * import { DistributedLock, LockError } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "my-key" })
 * try {
 *   await lock.acquire()
 * } catch (err) {
 *   if (err instanceof LockError) console.error(`dflockd: ${err.message}`, err.cause)
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LockError extends Error {
  /**
   * A `LockError` with a message (and, optionally, a `cause`).
   *
   * @since 0.1.0
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = "LockError"
  }
}

/**
 * The lock (or semaphore slot) could not be acquired within the timeout: thrown
 * by `withLock` and the low-level `acquire`/`waitForLock`/`semAcquire`/`semWaitForLock`;
 * `acquire()` and `wait()` resolve `false` instead. The message is
 * `timeout acquiring '<key>'`, as in dflockd-client 1.11.
 *
 * **Example** (Busy key)
 *
 * ```ts
 * import { AcquireTimeoutError, DistributedLock } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "nightly-report", acquireTimeoutS: 1 })
 * try {
 *   await lock.withLock(async () => {})
 * } catch (err) {
 *   if (err instanceof AcquireTimeoutError) console.log(err.message) // timeout acquiring 'nightly-report'
 * }
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AcquireTimeoutError extends LockError {
  /**
   * The key that could not be acquired.
   *
   * @since 0.1.0
   */
  readonly key: string
  /**
   * `new AcquireTimeoutError(key)`, as in dflockd-client 1.11.
   *
   * @since 0.1.0
   */
  constructor(key: string, options?: ErrorOptions) {
    super(`timeout acquiring '${key}'`, options)
    this.name = "AcquireTimeoutError"
    this.key = key
  }
}

/**
 * The server refused the `auth` token (wrong, or missing where the server
 * requires one). The message starts with `authentication failed`, as in
 * dflockd-client 1.11, followed by the reason (`: authentication rejected by
 * host:port: …`) when the client knows it; the token never appears in it.
 *
 * **Example** (Bad token)
 *
 * ```ts
 * import { AuthError, DistributedLock } from "effect-dflockd/promise"
 *
 * const lock = new DistributedLock({ key: "my-key", auth: "wrong-token" })
 * await lock.acquire().catch((err) => {
 *   if (err instanceof AuthError) console.error("check DFLOCKD_AUTH")
 * })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends LockError {
  /**
   * `new AuthError()`, as in dflockd-client 1.11.
   *
   * @since 0.1.0
   */
  constructor(options?: ErrorOptions) {
    // 1.11's words, then why, when the cause says (a rejected token, or a server without auth)
    const cause = options?.cause
    super(cause instanceof Error ? `authentication failed: ${cause.message}` : "authentication failed", options)
    this.name = "AuthError"
  }
}
