/**
 * Lock tokens and fencing. dflockd v2.1+ tokens carry a fence in their first 16
 * hex digits: a uint64 that strictly increases on every grant, to be passed to
 * the resource a lock protects so it can reject writes from a stale holder.
 * Older servers issue random tokens, whose "fence" is random too.
 *
 * @since 0.1.0
 */
export { fence, isToken } from "./internal/protocol/token.ts"
