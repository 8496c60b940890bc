/**
 * The server side of the wire protocol, pure: parses a request frame into a
 * {@link Request} and formats a {@link Reply} as its line. The in-memory server
 * speaks through this module only, so its rules (key, integer ranges, lease and
 * limit bounds) are those of `codec.ts`, the client side, by construction; a
 * property test checks that every frame the client encodes parses back to the
 * same request and every reply formatted here decodes to the same value.
 */
import * as Result from "effect/Result"
import type { ServerErrorReason } from "../errors/errors.ts"
import * as Codec from "./codec.ts"

/** A request as the server reads it. Missing optional arguments are `undefined`. */
export type Request =
  | {
    readonly _tag: "Acquire"
    readonly kind: Codec.Kind
    readonly key: string
    readonly timeoutSeconds: number
    readonly limit: number
    readonly leaseSeconds: number | undefined
  }
  | {
    readonly _tag: "Enqueue"
    readonly kind: Codec.Kind
    readonly key: string
    readonly limit: number
    readonly leaseSeconds: number | undefined
  }
  | { readonly _tag: "Wait"; readonly kind: Codec.Kind; readonly key: string; readonly timeoutSeconds: number }
  | { readonly _tag: "Release"; readonly kind: Codec.Kind; readonly key: string; readonly token: string }
  | {
    readonly _tag: "Renew"
    readonly kind: Codec.Kind
    readonly key: string
    readonly token: string
    readonly leaseSeconds: number | undefined
  }
  | { readonly _tag: "Stats" }
  | { readonly _tag: "Ping" }
  | { readonly _tag: "Auth"; readonly token: string }

/** Why a frame is not a request; the server answers `error` (PROTOCOL.md §6). */
export interface BadRequest {
  readonly _tag: "BadRequest"
  readonly detail: string
}

const bad = (detail: string): Result.Result<never, BadRequest> => Result.fail({ _tag: "BadRequest", detail })

const seconds = (text: string | undefined) => Codec.parseInteger(text, 0, Codec.MAX_SECONDS)
const lease = (text: string | undefined) => Codec.parseInteger(text, 1, Codec.MAX_SECONDS)
const limit = (text: string | undefined) => Codec.parseInteger(text, 1, Codec.MAX_LIMIT)

/** An optional trailing lease: absent, or a valid lease and nothing after it. */
const optionalLease = (rest: ReadonlyArray<string>): Result.Result<number | undefined, BadRequest> => {
  if (rest.length === 0) return Result.succeed(undefined)
  const value = lease(rest[0])
  return rest.length === 1 && value !== undefined ? Result.succeed(value) : bad("bad lease")
}

/**
 * Parses one request frame `CMD\nKEY\nARG\n` (a trailing `\r` per line is
 * stripped). Keys of lock and semaphore commands follow `Codec.validateKey`.
 */
export const parseRequest = (frame: string): Result.Result<Request, BadRequest> => {
  const lines = frame.split("\n").map((line) => line.endsWith("\r") ? line.slice(0, -1) : line)
  if (lines.length !== 4 || lines[3] !== "") return bad("expected three lines")
  const [cmd = "", key = "", arg = ""] = lines
  switch (cmd) {
    case "ping":
      return Result.succeed({ _tag: "Ping" })
    case "stats":
      return Result.succeed({ _tag: "Stats" })
    case "auth":
      return Result.succeed({ _tag: "Auth", token: arg })
  }
  const kind: Codec.Kind = cmd.length === 2 && cmd.startsWith("s") ? "semaphore" : "lock"
  const base = kind === "semaphore" ? cmd.slice(1) : cmd
  if (!["l", "e", "w", "r", "n"].includes(base)) return bad(`unknown command ${JSON.stringify(cmd)}`)
  if (Result.isFailure(Codec.validateKey(key))) return bad("bad key")
  const args = arg === "" ? [] : arg.split(" ")
  switch (base) {
    case "l": {
      const [t, ...rest] = args
      const timeoutSeconds = seconds(t)
      const n = kind === "semaphore" ? limit(rest.shift()) : 1
      if (timeoutSeconds === undefined || n === undefined) return bad("bad timeout or limit")
      return Result.map(
        optionalLease(rest),
        (leaseSeconds) => ({ _tag: "Acquire", kind, key, timeoutSeconds, limit: n, leaseSeconds })
      )
    }
    case "e": {
      const rest = [...args]
      const n = kind === "semaphore" ? limit(rest.shift()) : 1
      if (n === undefined) return bad("bad limit")
      return Result.map(optionalLease(rest), (leaseSeconds) => ({ _tag: "Enqueue", kind, key, limit: n, leaseSeconds }))
    }
    case "w": {
      const timeoutSeconds = seconds(args[0])
      if (timeoutSeconds === undefined || args.length !== 1) return bad("bad timeout")
      return Result.succeed({ _tag: "Wait", kind, key, timeoutSeconds })
    }
    case "r": {
      const [token] = args
      if (token === undefined || args.length !== 1) return bad("expected a token")
      return Result.succeed({ _tag: "Release", kind, key, token })
    }
    default: {
      const [token, ...rest] = args
      if (token === undefined) return bad("expected a token")
      return Result.map(optionalLease(rest), (leaseSeconds) => ({ _tag: "Renew", kind, key, token, leaseSeconds }))
    }
  }
}

/** A reply as the server sends it. */
export type Reply =
  /** `ok TOKEN L`: to `l`, `sl`, `w`, `sw`. */
  | { readonly _tag: "Granted"; readonly token: string; readonly leaseSeconds: number }
  /** `acquired TOKEN L`: to `e`, `se`. */
  | { readonly _tag: "Acquired"; readonly token: string; readonly leaseSeconds: number }
  | { readonly _tag: "Queued" }
  | { readonly _tag: "TimedOut" }
  /** A bare `ok`: to `r`, `sr`, `auth`, `ping`. */
  | { readonly _tag: "Ok" }
  /** `ok L`: to `n`, `sn`. */
  | { readonly _tag: "Renewed"; readonly leaseSeconds: number }
  /** `ok <json>`: to `stats`. */
  | { readonly _tag: "Stats"; readonly json: string }
  /** `error` or `error_<reason>`. */
  | { readonly _tag: "Failed"; readonly reason: ServerErrorReason }
  | { readonly _tag: "AuthRejected" }

export const failed = (reason: ServerErrorReason): Reply => ({ _tag: "Failed", reason })
export const ok: Reply = { _tag: "Ok" }
export const timedOut: Reply = { _tag: "TimedOut" }
export const queued: Reply = { _tag: "Queued" }

/** The status word of a server error reason (`error`, `error_max_locks`, …). */
export const statusOf = (reason: ServerErrorReason): string => reason === "error" ? "error" : `error_${reason}`

/** The reply line, without `\n`. */
export const formatReply = (reply: Reply): string => {
  switch (reply._tag) {
    case "Granted":
      return `ok ${reply.token} ${reply.leaseSeconds}`
    case "Acquired":
      return `acquired ${reply.token} ${reply.leaseSeconds}`
    case "Queued":
      return "queued"
    case "TimedOut":
      return "timeout"
    case "Ok":
      return "ok"
    case "Renewed":
      return `ok ${reply.leaseSeconds}`
    case "Stats":
      return `ok ${reply.json}`
    case "Failed":
      return statusOf(reply.reason)
    case "AuthRejected":
      return "error_auth"
  }
}
