/**
 * The byte transport of a connection over `node:net` or `node:tls`: one request
 * frame out, one reply line back, with no fiber of its own.
 *
 * The socket is read in flowing mode. The reply line is handed to the waiting
 * exchange from the `data` listener. Anything else breaks the connection the
 * moment it arrives: a byte while no exchange is in flight, a second line (or
 * the start of one) after the reply, a reply longer than the command's bound.
 * End, close and errors break it too, as they happen, and every break is
 * signalled (`hangup`), so a lease on this connection learns of it at once,
 * and probing an idle connection reads a flag instead of polling the socket.
 *
 * An exchange carries its own deadline (a timer of the transport, re-armed per
 * exchange): it ends by itself even where it cannot be interrupted, such as in
 * the finalizer that sends `r` for a fiber being interrupted.
 *
 * Lifetime: the socket is created when `connect` runs and destroyed when the
 * scope it runs in closes.
 */
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { ConnectionError, type ConnectionErrorReason, ProtocolError } from "../Errors.ts"
import type { ServerAddress } from "../ServerAddress.ts"
import type { ConnectionOptions, Transport } from "../Transport.ts"
import { makeLineSplitter } from "./lines.ts"
import { plainCause } from "./plainCause.ts"

type Broken = ConnectionError | ProtocolError

/** A reply owed to a posted command. */
interface OwedReply {
  /** Reads the reply (or the break that ended the wait); a returned error breaks the connection. */
  readonly read: (outcome: Result.Result<string, Broken>) => Broken | undefined
  readonly timeoutMillis: number
  /** On `performance.now()`'s clock. */
  readonly deadline: number
}

/** Longest delay a Node timer takes (about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/** Deadline timers kept per connection for reuse (one per distinct delay it has seen, at most). */
const MAX_DEADLINE_TIMERS = 4

/** Node error codes of failures to reach a host at all. */
const unreachableCodes = new Set(["ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL"])
/** OpenSSL verification results that Node reports as the error code (no common prefix). */
const certificateCodes = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "HOSTNAME_MISMATCH"
])

/** What a Node socket or TLS error says about the failure. */
export const reasonOf = (error: unknown): ConnectionErrorReason => {
  const code = Predicate.hasProperty(error, "code") && typeof error.code === "string" ? error.code : ""
  if (code === "ECONNREFUSED") return "Refused"
  if (unreachableCodes.has(code)) return "Unreachable"
  if (code === "ETIMEDOUT") return "Timeout"
  if (code === "ECONNRESET" || code === "EPIPE" || code === "ECONNABORTED") return "Reset"
  if (
    code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_") || code.startsWith("CERT_") ||
    code.includes("CERT") || certificateCodes.has(code)
  ) return "Tls"
  return "Unknown"
}

/** OpenSSL's words for a TLS record that is not TLS: the peer speaks plaintext. */
const notTls = /wrong version number|packet length too long|http request|unknown protocol/i

const tlsHint = (tls: boolean): string =>
  tls
    ? "is TLS configured on both sides? The server may not speak TLS: start it with --tls-cert/--tls-key, " +
      "or drop `tls` from the client options"
    : "is TLS configured on both sides? The server may be TLS-only (--tls-cert): set `tls` in the client " +
      "options, or start the server without TLS"

/** What to check when nothing could be reached at the address. */
const hintFor = (reason: ConnectionErrorReason): string | undefined => {
  switch (reason) {
    case "Refused":
      return "is a dflockd server running at that address? Check the `servers` option (DFLOCKD_SERVERS)"
    case "Unreachable":
      return "does the host name resolve, and can this machine reach it? Check the `servers` option (DFLOCKD_SERVERS)"
    default:
      return undefined
  }
}

const toBuffer = (value: string | Uint8Array) => typeof value === "string" ? value : Buffer.from(value)

const createSocket = (address: ServerAddress, options: ConnectionOptions): Net.Socket => {
  const { host, port } = address
  const tls = options.tls
  if (tls === undefined) return Net.createConnection({ host, port, noDelay: true })
  const key = tls.key === undefined ? undefined : Redacted.isRedacted(tls.key) ? Redacted.value(tls.key) : tls.key
  // SNI takes host names only
  const servername = tls.servername ?? (Net.isIP(host) === 0 ? host : undefined)
  const socket = Tls.connect({
    host,
    port,
    ...(tls.ca !== undefined ? { ca: Array.isArray(tls.ca) ? tls.ca.map(toBuffer) : toBuffer(tls.ca as string) } : {}),
    ...(tls.cert !== undefined ? { cert: toBuffer(tls.cert) } : {}),
    ...(key !== undefined ? { key: toBuffer(key) } : {}),
    ...(servername !== undefined ? { servername } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true
  })
  socket.setNoDelay(true)
  return socket
}

/**
 * Opens a socket to `address` (TCP, or TLS when configured), waits until it is
 * connected (and the TLS handshake is done) within `connectTimeout`, and
 * returns its transport. The socket is destroyed when the current scope closes.
 */
export const connect = (
  address: ServerAddress,
  options: ConnectionOptions
): Effect.Effect<Transport, ConnectionError, Scope.Scope> =>
  Effect.suspend(() => {
    const server = address.label
    const tls = options.tls !== undefined
    const connectionError = (cause: unknown, reason: ConnectionErrorReason, hint?: string) =>
      new ConnectionError({ server, reason, cause: plainCause(cause), ...(hint !== undefined ? { hint } : {}) })
    const splitter = makeLineSplitter(options.maxReplyBytes)

    // The transport's state, owned by the socket's listeners and the one exchange
    // the connection's state machine lets through at a time.
    let broken: Broken | undefined
    let connected = false
    /** The TCP connection is up (for TLS: the handshake may still be running). */
    let tcpConnected = false
    /** Some reply has come over this connection: the two sides understand each other. */
    let answered = false
    /** The exchange (or the connect) waiting for the socket, if any. */
    let waiter: ((outcome: Result.Result<string, Broken>) => void) | undefined
    /** The deadline of the exchange in flight: its timer's delay (0: none), and the timeout it was given. */
    let waiterDelay = 0
    let waiterTimeoutMillis = 0
    /** The longest reply the exchange in flight can get, in bytes. */
    let replyBound = options.maxReplyBytes
    /** Who is told when the connection breaks (the connection's hang-up watcher). */
    const onBreak = new Set<(error: Broken) => void>()
    /**
     * Replies owed to commands written without waiting (`post`), oldest first: each
     * arrives before any later reply on this connection, and is handed to its reader.
     * Allocated on the first post.
     */
    let owed: Array<OwedReply> | undefined
    /** The deadline of the oldest owed reply (monotonic ms), and the timer that enforces it. */
    let owedTimer: ReturnType<typeof setTimeout> | undefined
    /** The socket, once made (the owed replies' deadline hangs up on it). */
    let socketRef: Net.Socket | undefined

    const wake = (outcome: Result.Result<string, Broken>) => {
      const resume = waiter
      if (resume === undefined) return
      waiter = undefined
      waiterDelay = 0
      resume(outcome)
    }

    // One timer per distinct deadline (a connection sees a few: its blocking commands' and
    // its short ones'), re-armed by each exchange instead of made and cleared per exchange.
    // A timer that fires for an exchange already answered finds no exchange of its delay
    // and does nothing. Unref'd: while an exchange is in flight its socket holds the process.
    const deadlines = new Map<number, ReturnType<typeof setTimeout>>()
    const armDeadline = (delay: number) => {
      const timer = deadlines.get(delay)
      if (timer !== undefined) return void timer.refresh()
      // one exchange at a time: every other timer is for an exchange that has ended
      if (deadlines.size >= MAX_DEADLINE_TIMERS) clearDeadlines()
      const made = setTimeout(() => {
        if (waiter === undefined || waiterDelay !== delay) return
        const error = new Error(`no reply within ${waiterTimeoutMillis} ms`)
        wake(Result.fail(connectionError(error, "Timeout", mismatchHint())))
      }, delay)
      made.unref()
      deadlines.set(delay, made)
    }
    const clearDeadlines = () => {
      for (const timer of deadlines.values()) clearTimeout(timer)
      deadlines.clear()
    }
    const breakWith = (error: Broken) => {
      if (broken !== undefined) return
      broken = error
      if (owedTimer !== undefined) clearTimeout(owedTimer)
      wake(Result.fail(error))
      // the server frees what these commands held with the connection: their readers hear why
      if (owed !== undefined) { for (const reply of owed.splice(0)) reply.read(Result.fail(error)) }
      for (const listener of onBreak) listener(error)
      onBreak.clear()
    }

    /**
     * Arms the owed replies' timer for the oldest one's deadline: one timer per
     * connection, refreshed rather than made again while the delay stays the same
     * (it does: a connection's releases share the request timeout). A timer that
     * fires early (for a reply already read) finds a later deadline and re-arms.
     */
    let owedDelay = 0
    const armOwed = () => {
      const oldest = owed?.[0]
      if (oldest === undefined) return
      const delay = Math.min(Math.max(1, Math.ceil(oldest.deadline - performance.now())), MAX_TIMER_MILLIS)
      if (owedTimer !== undefined && delay === owedDelay) return void owedTimer.refresh()
      if (owedTimer !== undefined) clearTimeout(owedTimer)
      owedDelay = delay
      owedTimer = setTimeout(owedExpired, delay)
      owedTimer.unref()
    }
    function owedExpired() {
      const oldest = owed?.[0]
      if (oldest === undefined || broken !== undefined) return
      if (performance.now() < oldest.deadline) return armOwed()
      breakWith(connectionError(new Error(`no reply within ${oldest.timeoutMillis} ms`), "Timeout"))
      // useless from now on, and maybe idle in a pool: hung up at once (its scope's end destroys it again)
      socketRef?.destroy()
    }

    /** One complete line: the oldest owed reply's, else the exchange's. */
    const deliver = (line: string): void => {
      const reply = owed?.shift()
      if (reply !== undefined) {
        // the timer may fire for it later: it finds no reply owed (or a later one) then
        answered = true
        const refused = reply.read(Result.succeed(line))
        if (refused !== undefined) breakWith(refused)
        return
      }
      if (waiter === undefined) {
        return breakWith(new ProtocolError({ reply: line, detail: "more than one reply to one request" }))
      }
      answered = true
      wake(Result.succeed(line))
    }

    /**
     * A break before any reply (or, with TLS, before the handshake) is what a TLS
     * mismatch looks like from here: a TLS-only server hangs up on a plaintext
     * client, and a plaintext server cannot complete a TLS handshake.
     */
    const mismatchHint = () => answered ? undefined : tlsHint(tls)
    const socketError = (error: Error) => {
      if (tls && notTls.test(error.message)) return connectionError(error, "Tls", tlsHint(tls))
      const reason = reasonOf(error)
      return connectionError(
        error,
        reason,
        hintFor(reason) ?? (reason === "Reset" || reason === "Unknown" ? mismatchHint() : undefined)
      )
    }

    const attach = (socket: Net.Socket) => {
      if (tls) {
        socket.on("connect", () => {
          tcpConnected = true
        })
      }
      socket.on(options.tls === undefined ? "connect" : "secureConnect", () => {
        connected = true
        wake(Result.succeed(""))
      })
      socket.on("data", (chunk: Buffer) => {
        if (broken !== undefined) return
        if ((waiter === undefined && (owed === undefined || owed.length === 0)) || !connected) {
          // Nobody asked: the stream cannot be trusted from this byte on.
          return breakWith(
            new ProtocolError({ reply: chunk.subarray(0, 120).toString("utf8"), detail: "unsolicited reply" })
          )
        }
        const lines = splitter.push(chunk, replyBound)
        if (Result.isFailure(lines)) return breakWith(lines.failure)
        const replies = lines.success
        for (let i = 0; i < replies.length; i++) {
          // The exchange's reply (no reply owed before it) ends what may come: more than one
          // reply to one request, and which line answers it is anyone's guess.
          const last = i + 1 === replies.length && splitter.pending() === 0
          if (!last && waiter !== undefined && (owed === undefined || owed.length === 0)) {
            return breakWith(
              new ProtocolError({ reply: replies[i + 1] ?? replies[i]!, detail: "more than one reply to one request" })
            )
          }
          deliver(replies[i]!)
          if (broken !== undefined) return
        }
        if (waiter === undefined && (owed === undefined || owed.length === 0) && splitter.pending() > 0) {
          breakWith(new ProtocolError({ reply: "", detail: "unsolicited reply" }))
        }
      })
      // Any data sent before the peer's end was delivered before `end`.
      socket.on("end", () =>
        breakWith(connectionError(
          new Error(
            answered
              ? "the connection was closed by the peer"
              : tls && !connected
              ? "the connection was closed by the peer during the TLS handshake"
              : "the connection was closed by the peer before any reply"
          ),
          "Closed",
          mismatchHint()
        )))
      socket.on("close", () => breakWith(connectionError(new Error("the connection was closed"), "Closed")))
      socket.on("error", (error) => breakWith(socketError(error)))
    }

    const open = Effect.acquireRelease(
      Effect.try({
        try: () => {
          const socket = createSocket(address, options)
          socketRef = socket
          attach(socket)
          return socket
        },
        catch: (error) => connectionError(error, tls ? "Tls" : "Unknown") // e.g. unreadable TLS material
      }),
      (socket) =>
        Effect.sync(() => {
          clearDeadlines()
          if (owedTimer !== undefined) clearTimeout(owedTimer)
          // closed by its owner: a reply still owed needs no answer (the server frees what its
          // command held with the connection), and nobody is told of a break
          owed = undefined
          socket.destroy()
        })
    )

    const awaitConnected = Effect.callback<void, Broken>((resume) => {
      const settle = (outcome: Result.Result<string, Broken>) =>
        resume(Result.isSuccess(outcome) ? Effect.void : Effect.fail(outcome.failure))
      if (broken !== undefined) return settle(Result.fail(broken))
      if (connected) return settle(Result.succeed(""))
      waiter = settle
      return Effect.sync(() => {
        if (waiter === settle) waiter = undefined
      })
    }).pipe(
      Effect.timeoutOrElse({
        duration: options.connectTimeout,
        orElse: () =>
          Effect.fail(
            tls && tcpConnected
              ? connectionError(new Error("timed out in the TLS handshake"), "Timeout", tlsHint(tls))
              : connectionError(new Error("timed out connecting"), "Timeout")
          )
      }),
      Effect.mapError((error) => error._tag === "ConnectionError" ? error : connectionError(error, "Unknown"))
    )

    return Effect.gen(function*() {
      const socket = yield* open
      yield* awaitConnected

      // The exchange in flight is `waiter`: told its reply, its deadline, or the break.
      const request = (
        frame: string,
        timeoutMillis: number,
        maxReplyBytes: number | undefined,
        onReply: (outcome: Result.Result<string, Broken>) => void
      ) => {
        if (broken !== undefined) return onReply(Result.fail(broken))
        replyBound = Math.min(maxReplyBytes ?? options.maxReplyBytes, options.maxReplyBytes)
        const delay = Math.min(Math.max(1, Math.ceil(timeoutMillis)), MAX_TIMER_MILLIS)
        waiter = onReply
        waiterDelay = delay
        waiterTimeoutMillis = timeoutMillis
        armDeadline(delay)
        socket.write(frame)
      }
      // interrupted: the exchange is abandoned (the state machine never reuses the connection)
      const abandon = () => {
        waiter = undefined
        waiterDelay = 0
      }

      const exchange = (frame: string, timeoutMillis: number, maxReplyBytes?: number) =>
        Effect.callback<string, Broken>((resume) => {
          const settle = (outcome: Result.Result<string, Broken>) =>
            resume(Result.isSuccess(outcome) ? Effect.succeed(outcome.success) : Effect.fail(outcome.failure))
          request(frame, timeoutMillis, maxReplyBytes, settle)
          return Effect.sync(() => {
            if (waiter === settle) abandon()
          })
        })

      // Written now; the reply is read (before any later reply) by `read`, which may refuse it.
      const post = (frame: string, timeoutMillis: number, read: OwedReply["read"]) => {
        if (broken !== undefined) return void read(Result.fail(broken))
        if (owed === undefined) owed = []
        owed.push({ read, timeoutMillis, deadline: performance.now() + timeoutMillis })
        if (owed.length === 1) armOwed()
        socket.write(frame)
      }

      const hangup = Effect.callback<Broken>((resume) => {
        if (broken !== undefined) return resume(Effect.succeed(broken))
        const listener = (error: Broken) => resume(Effect.succeed(error))
        onBreak.add(listener)
        return Effect.sync(() => {
          onBreak.delete(listener)
        })
      })

      const onHangup = (listener: (error: Broken) => void) => {
        if (broken !== undefined) return listener(broken)
        onBreak.add(listener)
      }

      const transport: Transport = {
        server,
        exchange,
        request,
        abandon,
        post,
        probe: () => broken,
        hangup,
        onHangup
      }
      return transport
    })
  })
