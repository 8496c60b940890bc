/**
 * Tokens and their fences, pure (the public `Token` module re-exports them).
 */
import * as Option from "effect/Option"
import { isHexToken } from "./codec.ts"

/**
 * The fence of a token: its first 16 hex digits as an unsigned 64-bit bigint.
 * Values exceed 2^53, hence bigint. Compare fences only within one key.
 *
 * **Example** (Reading the fence)
 *
 * ```ts
 * import { Option } from "effect"
 * import { Token } from "effect-dflockd"
 *
 * Token.fence("000000000000002a0123456789abcdef") // Option.some(42n)
 * ```
 *
 * @since 0.1.0
 * @category fencing
 */
export const fence = (token: string): Option.Option<bigint> =>
  isHexToken(token) ? Option.some(BigInt(`0x${token.slice(0, 16)}`)) : Option.none()

/**
 * Whether a string has the shape of a dflockd token (32 lowercase hex digits).
 *
 * **Example** (Checking a token received from elsewhere)
 *
 * ```ts
 * import { Token } from "effect-dflockd"
 *
 * Token.isToken("000000000000002a0123456789abcdef") // true
 * Token.isToken("not-a-token") // false
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const isToken = (u: unknown): u is string => typeof u === "string" && isHexToken(u)
