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
import { ConnectionError, type ConnectionErrorReason, ProtocolError } from "../errors/errors.ts"
import type { ServerAddress } from "../options/address.ts"
import type { ConnectionOptions, Transport } from "../../Transport.ts"
import { type LineBuffer, makeLineBuffer, pushLines } from "../protocol/lines.ts"
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

/** Who waits for the socket: the exchange in flight, or the connect. */
type Waiter = (outcome: Result.Result<string, Broken>) => void

/**
 * One socket's transport state, as plain data: owned by the socket's listeners
 * and the one exchange the connection's state machine lets through at a time,
 * changed only by the functions below, each in one synchronous step. The
 * listeners and timers are module functions that find it on the socket: a
 * connection costs no closure of its own.
 */
interface SocketState {
  readonly server: string
  readonly options: ConnectionOptions
  readonly tls: boolean
  readonly lines: LineBuffer
  socket: Net.Socket | undefined
  broken: Broken | undefined
  connected: boolean
  /** The TCP connection is up (for TLS: the handshake may still be running). */
  tcpConnected: boolean
  /** Some reply has come over this connection: the two sides understand each other. */
  answered: boolean
  /** The exchange (or the connect) waiting for the socket, if any. */
  waiter: Waiter | undefined
  /** The deadline of the exchange in flight: its timer's delay (0: none), and the timeout it was given. */
  waiterDelay: number
  waiterTimeoutMillis: number
  /** The longest reply the exchange in flight can get, in bytes. */
  replyBound: number
  /**
   * Deadline timers, one per distinct delay (a connection sees a few: its
   * blocking commands' and its short ones'), re-armed by each exchange instead
   * of made and cleared per exchange. Made on the first exchange.
   */
  deadlines: Map<number, ReturnType<typeof setTimeout>> | undefined
  /** Who is told when the connection breaks (the connection's hang-up watcher). */
  listeners: Array<(error: Broken) => void> | undefined
  /**
   * Replies owed to commands written without waiting (`post`), oldest first: each
   * arrives before any later reply on this connection, and is handed to its reader.
   * Allocated on the first post.
   */
  owed: Array<OwedReply> | undefined
  /** The timer of the oldest owed reply's deadline, and its delay. */
  owedTimer: ReturnType<typeof setTimeout> | undefined
  owedDelay: number
  /** Posted frames not yet written: written with the next request, or at the end of the turn (see `post`). */
  unsent: string
  flushing: boolean
}

const stateKey = Symbol.for("effect-dflockd/internal/socket/state")

interface Attached extends Net.Socket {
  [stateKey]?: SocketState
}

const stateOf = (socket: Net.Socket): SocketState | undefined => (socket as Attached)[stateKey]

const connectionError = (state: SocketState, cause: unknown, reason: ConnectionErrorReason, hint?: string) =>
  new ConnectionError({
    server: state.server,
    reason,
    cause: plainCause(cause),
    ...(hint !== undefined ? { hint } : {})
  })

/**
 * A break before any reply (or, with TLS, before the handshake) is what a TLS
 * mismatch looks like from here: a TLS-only server hangs up on a plaintext
 * client, and a plaintext server cannot complete a TLS handshake.
 */
const mismatchHint = (state: SocketState) => state.answered ? undefined : tlsHint(state.tls)

const socketError = (state: SocketState, error: Error) => {
  if (state.tls && notTls.test(error.message)) return connectionError(state, error, "Tls", tlsHint(state.tls))
  const reason = reasonOf(error)
  return connectionError(
    state,
    error,
    reason,
    hintFor(reason) ?? (reason === "Reset" || reason === "Unknown" ? mismatchHint(state) : undefined)
  )
}

const wake = (state: SocketState, outcome: Result.Result<string, Broken>) => {
  const resume = state.waiter
  if (resume === undefined) return
  state.waiter = undefined
  state.waiterDelay = 0
  resume(outcome)
}

const hasOwed = (state: SocketState) => state.owed !== undefined && state.owed.length > 0

const breakWith = (state: SocketState, error: Broken) => {
  if (state.broken !== undefined) return
  state.broken = error
  if (state.owedTimer !== undefined) clearTimeout(state.owedTimer)
  wake(state, Result.fail(error))
  // the server frees what these commands held with the connection: their readers hear why
  if (state.owed !== undefined) { for (const reply of state.owed.splice(0)) reply.read(Result.fail(error)) }
  const listeners = state.listeners
  state.listeners = undefined
  if (listeners !== undefined) { for (const listener of listeners) listener(error) }
}

/** A deadline timer fired: the exchange of that delay, if still in flight, times out. */
function deadlineFired(state: SocketState, delay: number) {
  if (state.waiter === undefined || state.waiterDelay !== delay) return
  const error = new Error(`no reply within ${state.waiterTimeoutMillis} ms`)
  wake(state, Result.fail(connectionError(state, error, "Timeout", mismatchHint(state))))
}

/**
 * Arms the deadline of the exchange in flight. A timer that fires for an
 * exchange already answered finds no exchange of its delay and does nothing.
 * Unref'd: while an exchange is in flight its socket holds the process.
 */
const armDeadline = (state: SocketState, delay: number) => {
  if (state.deadlines === undefined) state.deadlines = new Map()
  const timer = state.deadlines.get(delay)
  if (timer !== undefined) return void timer.refresh()
  // one exchange at a time: every other timer is for an exchange that has ended
  if (state.deadlines.size >= MAX_DEADLINE_TIMERS) clearTimers(state)
  const made = setTimeout(deadlineFired, delay, state, delay)
  made.unref()
  state.deadlines!.set(delay, made)
}

const clearTimers = (state: SocketState) => {
  if (state.deadlines !== undefined) {
    for (const timer of state.deadlines.values()) clearTimeout(timer)
    state.deadlines.clear()
  }
}

/**
 * Arms the owed replies' timer for the oldest one's deadline: one timer per
 * connection, refreshed rather than made again while the delay stays the same
 * (it does: a connection's releases share the request timeout). A timer that
 * fires early (for a reply already read) finds a later deadline and re-arms.
 */
const armOwed = (state: SocketState) => {
  const oldest = state.owed?.[0]
  if (oldest === undefined) return
  const delay = Math.min(Math.max(1, Math.ceil(oldest.deadline - performance.now())), MAX_TIMER_MILLIS)
  if (state.owedTimer !== undefined && delay === state.owedDelay) return void state.owedTimer.refresh()
  if (state.owedTimer !== undefined) clearTimeout(state.owedTimer)
  state.owedDelay = delay
  state.owedTimer = setTimeout(owedExpired, delay, state)
  state.owedTimer.unref()
}

function owedExpired(state: SocketState) {
  const oldest = state.owed?.[0]
  if (oldest === undefined || state.broken !== undefined) return
  if (performance.now() < oldest.deadline) return armOwed(state)
  breakWith(state, connectionError(state, new Error(`no reply within ${oldest.timeoutMillis} ms`), "Timeout"))
  // useless from now on, and maybe idle in a pool: hung up at once (its scope's end destroys it again)
  state.socket?.destroy()
}

/** Writes what was posted in this turn, unless a request took it along already. */
function flushUnsent(state: SocketState) {
  state.flushing = false
  if (state.unsent === "" || state.broken !== undefined) return
  const out = state.unsent
  state.unsent = ""
  state.socket?.write(out)
}

/** One complete line: the oldest owed reply's, else the exchange's. */
const deliver = (state: SocketState, line: string): void => {
  const reply = state.owed?.shift()
  if (reply !== undefined) {
    // the timer may fire for it later: it finds no reply owed (or a later one) then
    state.answered = true
    const refused = reply.read(Result.succeed(line))
    if (refused !== undefined) breakWith(state, refused)
    return
  }
  if (state.waiter === undefined) {
    return breakWith(state, new ProtocolError({ reply: line, detail: "more than one reply to one request" }))
  }
  state.answered = true
  wake(state, Result.succeed(line))
}

// The socket's listeners: module functions, called with the socket as `this`.

function onTcpConnect(this: Net.Socket) {
  const state = stateOf(this)
  if (state !== undefined) state.tcpConnected = true
}

function onConnect(this: Net.Socket) {
  const state = stateOf(this)
  if (state === undefined) return
  state.connected = true
  wake(state, Result.succeed(""))
}

function onData(this: Net.Socket, chunk: Buffer) {
  const state = stateOf(this)
  if (state === undefined || state.broken !== undefined) return
  if ((state.waiter === undefined && !hasOwed(state)) || !state.connected) {
    // Nobody asked: the stream cannot be trusted from this byte on.
    return breakWith(
      state,
      new ProtocolError({ reply: chunk.subarray(0, 120).toString("utf8"), detail: "unsolicited reply" })
    )
  }
  const lines = pushLines(state.lines, chunk, state.replyBound)
  if (Result.isFailure(lines)) return breakWith(state, lines.failure)
  const replies = lines.success
  for (let i = 0; i < replies.length; i++) {
    // The exchange's reply (no reply owed before it) ends what may come: more than one
    // reply to one request, and which line answers it is anyone's guess.
    const last = i + 1 === replies.length && state.lines.partialBytes === 0
    if (!last && state.waiter !== undefined && !hasOwed(state)) {
      return breakWith(
        state,
        new ProtocolError({ reply: replies[i + 1] ?? replies[i]!, detail: "more than one reply to one request" })
      )
    }
    deliver(state, replies[i]!)
    if (state.broken !== undefined) return
  }
  if (state.waiter === undefined && !hasOwed(state) && state.lines.partialBytes > 0) {
    breakWith(state, new ProtocolError({ reply: "", detail: "unsolicited reply" }))
  }
}

// Any data sent before the peer's end was delivered before `end`.
function onEnd(this: Net.Socket) {
  const state = stateOf(this)
  if (state === undefined) return
  breakWith(
    state,
    connectionError(
      state,
      new Error(
        state.answered
          ? "the connection was closed by the peer"
          : state.tls && !state.connected
          ? "the connection was closed by the peer during the TLS handshake"
          : "the connection was closed by the peer before any reply"
      ),
      "Closed",
      mismatchHint(state)
    )
  )
}

function onClose(this: Net.Socket) {
  const state = stateOf(this)
  if (state !== undefined) breakWith(state, connectionError(state, new Error("the connection was closed"), "Closed"))
}

function onError(this: Net.Socket, error: Error) {
  const state = stateOf(this)
  if (state !== undefined) breakWith(state, socketError(state, error))
}

const attach = (state: SocketState, socket: Net.Socket) => {
  ;(socket as Attached)[stateKey] = state
  state.socket = socket
  if (state.tls) socket.on("connect", onTcpConnect)
  socket.on(state.tls ? "secureConnect" : "connect", onConnect)
  socket.on("data", onData)
  socket.on("end", onEnd)
  socket.on("close", onClose)
  socket.on("error", onError)
}

/** Closed by its owner (the scope's end). */
const destroy = (state: SocketState) => {
  clearTimers(state)
  if (state.owedTimer !== undefined) clearTimeout(state.owedTimer)
  // closed by its owner: a reply still owed needs no answer (the server frees what its
  // command held with the connection), and nobody is told of a break
  state.owed = undefined
  state.socket?.destroy()
}

/** The exchange in flight is `waiter`: told its reply, its deadline, or the break. */
const request = (
  state: SocketState,
  frame: string,
  timeoutMillis: number,
  maxReplyBytes: number | undefined,
  onReply: Waiter
) => {
  if (state.broken !== undefined) return onReply(Result.fail(state.broken))
  const cap = state.options.maxReplyBytes
  state.replyBound = Math.min(maxReplyBytes ?? cap, cap)
  const delay = Math.min(Math.max(1, Math.ceil(timeoutMillis)), MAX_TIMER_MILLIS)
  state.waiter = onReply
  state.waiterDelay = delay
  state.waiterTimeoutMillis = timeoutMillis
  armDeadline(state, delay)
  if (state.unsent === "") return void state.socket!.write(frame)
  const out = state.unsent + frame
  state.unsent = ""
  state.socket!.write(out)
}

/** Interrupted: the exchange is abandoned (the state machine never reuses the connection). */
const abandon = (state: SocketState) => {
  state.waiter = undefined
  state.waiterDelay = 0
}

/**
 * Written in this turn of the event loop; the reply is read (before any later
 * reply) by `read`, which may refuse it. The frame waits for the end of the
 * turn, so that the next command on this connection (the next lock, most often,
 * in the same turn) goes out in the same write: one system call for a release
 * and the next request.
 */
const post = (state: SocketState, frame: string, timeoutMillis: number, read: OwedReply["read"]) => {
  if (state.broken !== undefined) return void read(Result.fail(state.broken))
  if (state.owed === undefined) state.owed = []
  state.owed.push({ read, timeoutMillis, deadline: performance.now() + timeoutMillis })
  if (state.owed.length === 1) armOwed(state)
  state.unsent += frame
  if (!state.flushing) {
    state.flushing = true
    process.nextTick(flushUnsent, state)
  }
}

/**
 * The transport of a connected socket. Its fields are fixed; what changes is
 * the socket's plain state (above), and every method is one of the functions
 * above: one hidden class, no closure per connection.
 */
class SocketTransport implements Transport {
  readonly server: string
  readonly state: SocketState
  constructor(state: SocketState) {
    this.server = state.server
    this.state = state
  }
  exchange(frame: string, timeoutMillis: number, maxReplyBytes?: number): Effect.Effect<string, Broken> {
    const state = this.state
    return Effect.callback<string, Broken>((resume) => {
      const settle: Waiter = (outcome) =>
        resume(Result.isSuccess(outcome) ? Effect.succeed(outcome.success) : Effect.fail(outcome.failure))
      request(state, frame, timeoutMillis, maxReplyBytes, settle)
      return Effect.sync(() => {
        if (state.waiter === settle) abandon(state)
      })
    })
  }
  request(frame: string, timeoutMillis: number, maxReplyBytes: number | undefined, onReply: Waiter): void {
    request(this.state, frame, timeoutMillis, maxReplyBytes, onReply)
  }
  abandon(): void {
    abandon(this.state)
  }
  post(frame: string, timeoutMillis: number, read: OwedReply["read"]): void {
    post(this.state, frame, timeoutMillis, read)
  }
  probe(): Broken | undefined {
    return this.state.broken
  }
  get hangup(): Effect.Effect<Broken> {
    const state = this.state
    return Effect.callback<Broken>((resume) => {
      if (state.broken !== undefined) return resume(Effect.succeed(state.broken))
      const listener = (error: Broken) => resume(Effect.succeed(error))
      onHangup(state, listener)
      return Effect.sync(() => {
        const at = state.listeners?.indexOf(listener) ?? -1
        if (at !== -1) state.listeners!.splice(at, 1)
      })
    })
  }
  onHangup(listener: (error: Broken) => void): void {
    onHangup(this.state, listener)
  }
}

const onHangup = (state: SocketState, listener: (error: Broken) => void) => {
  if (state.broken !== undefined) return listener(state.broken)
  if (state.listeners === undefined) state.listeners = []
  state.listeners.push(listener)
}

/** Waits until the socket is connected (and the TLS handshake is done) within the connect timeout. */
const awaitConnected = (state: SocketState): Effect.Effect<void, ConnectionError> =>
  Effect.callback<void, Broken>((resume) => {
    const settle: Waiter = (outcome) => resume(Result.isSuccess(outcome) ? Effect.void : Effect.fail(outcome.failure))
    if (state.broken !== undefined) return settle(Result.fail(state.broken))
    if (state.connected) return settle(Result.succeed(""))
    state.waiter = settle
    return Effect.sync(() => {
      if (state.waiter === settle) state.waiter = undefined
    })
  }).pipe(
    Effect.timeoutOrElse({
      duration: state.options.connectTimeout,
      orElse: () =>
        Effect.fail(
          state.tls && state.tcpConnected
            ? connectionError(state, new Error("timed out in the TLS handshake"), "Timeout", tlsHint(state.tls))
            : connectionError(state, new Error("timed out connecting"), "Timeout")
        )
    }),
    Effect.mapError((error) => error._tag === "ConnectionError" ? error : connectionError(state, error, "Unknown"))
  )

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
    const state: SocketState = {
      server: address.label,
      options,
      tls: options.tls !== undefined,
      lines: makeLineBuffer(options.maxReplyBytes),
      socket: undefined,
      broken: undefined,
      connected: false,
      tcpConnected: false,
      answered: false,
      waiter: undefined,
      waiterDelay: 0,
      waiterTimeoutMillis: 0,
      replyBound: options.maxReplyBytes,
      deadlines: undefined,
      listeners: undefined,
      owed: undefined,
      owedTimer: undefined,
      owedDelay: 0,
      unsent: "",
      flushing: false
    }
    const open = Effect.acquireRelease(
      Effect.try({
        try: () => attach(state, createSocket(address, options)),
        // e.g. unreadable TLS material
        catch: (error) => connectionError(state, error, state.tls ? "Tls" : "Unknown")
      }),
      () => Effect.sync(() => destroy(state))
    )
    return Effect.as(Effect.andThen(open, awaitConnected(state)), new SocketTransport(state))
  })
