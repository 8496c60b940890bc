/**
 * The error classes of `effect-dflockd/promise`, with the names, messages and
 * `instanceof` chain of dflockd-client 1.11. Import them from
 * `effect-dflockd/promise`, which re-exports them.
 *
 * @since 0.1.0
 */
export { AcquireTimeoutError, AuthError, LockError } from "./internal/promise/errors.ts"
