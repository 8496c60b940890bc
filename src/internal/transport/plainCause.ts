/**
 * Foreign errors (Node socket and TLS errors) reduced to plain data before they
 * become an error's `cause`: name, message, code and, for TLS, the reason. A
 * Node TLS error holds live objects (the peer's certificate chain, with cycles),
 * which `JSON.stringify` cannot serialise and which never belong in a log.
 */
import * as Predicate from "effect/Predicate"

/** What is kept of a foreign error. */
export interface PlainCause {
  readonly name: string
  readonly message: string
  readonly code?: string
  /** Node's TLS verification reason (e.g. a hostname mismatch), when given. */
  readonly reason?: string
  readonly syscall?: string
  readonly cause?: PlainCause
}

const text = (u: unknown, key: string): string | undefined =>
  Predicate.hasProperty(u, key) && typeof u[key] === "string" ? u[key] : undefined

/** Keeps name, message, code, TLS reason and syscall of an error (and of its cause, two levels deep). */
export const plainCause = (cause: unknown, depth = 0): PlainCause => {
  if (typeof cause === "string") return { name: "Error", message: cause }
  if (!Predicate.isObject(cause)) return { name: "Error", message: String(cause) }
  const code = text(cause, "code")
  const reason = text(cause, "reason")
  const syscall = text(cause, "syscall")
  const inner = Predicate.hasProperty(cause, "cause") && cause.cause !== undefined && depth < 2
    ? plainCause(cause.cause, depth + 1)
    : undefined
  return {
    name: text(cause, "name") ?? "Error",
    message: text(cause, "message") ?? String(cause),
    ...(code !== undefined ? { code } : {}),
    ...(reason !== undefined ? { reason } : {}),
    ...(syscall !== undefined ? { syscall } : {}),
    ...(inner !== undefined ? { cause: inner } : {})
  }
}
