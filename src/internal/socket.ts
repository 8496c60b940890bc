/**
 * The byte transport of a connection over `node:net` or `node:tls`: one request
 * frame out, one reply line back, with no fiber of its own.
 *
 * The socket is read in flowing mode. Reply lines are handed to the waiting
 * exchange from the `data` listener; lines nobody waits for are kept, so the
 * connection's state machine sees them as unsolicited. End, close and errors
 * are recorded as they happen, so probing an idle connection reads a flag
 * instead of polling the socket.
 *
 * An exchange carries its own deadline (a timer inside the callback): it ends
 * by itself even where it cannot be interrupted, such as in the finalizer that
 * sends `r` for a fiber being interrupted.
 *
 * Lifetime: the socket is created when `connect` runs and destroyed when the
 * scope it runs in closes.
 */
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import { ConnectionError, ProtocolError } from "../Errors.ts"
import type { ServerAddress } from "./address.ts"
import type { ConnectionOptions, Transport } from "./connection.ts"
import { makeLineSplitter } from "./lines.ts"

type Broken = ConnectionError | ProtocolError

/** Longest delay a Node timer takes (about 24.8 days); longer ones fire at once. */
const MAX_TIMER_MILLIS = 2 ** 31 - 1

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
    const connectionError = (cause: unknown) => new ConnectionError({ server, cause })
    const splitter = makeLineSplitter(options.maxReplyBytes)

    // The transport's state, owned by the socket's listeners and the one exchange
    // the connection's state machine lets through at a time.
    let broken: Broken | undefined
    let connected = false
    /** The exchange (or the connect) waiting for the socket, if any. */
    let waiter: ((outcome: Result.Result<string, Broken>) => void) | undefined
    /** Lines received and not yet handed to an exchange. */
    const ready: Array<string> = []

    const wake = (outcome: Result.Result<string, Broken>) => {
      const resume = waiter
      if (resume === undefined) return
      waiter = undefined
      resume(outcome)
    }
    const breakWith = (error: Broken) => {
      if (broken !== undefined) return
      broken = error
      wake(Result.fail(error))
    }

    const attach = (socket: Net.Socket) => {
      socket.on(options.tls === undefined ? "connect" : "secureConnect", () => {
        connected = true
        wake(Result.succeed(""))
      })
      socket.on("data", (chunk: Buffer) => {
        if (broken !== undefined) return
        const lines = splitter.push(chunk)
        if (Result.isFailure(lines)) return breakWith(lines.failure)
        if (lines.success.length === 0) return
        for (const line of lines.success) ready.push(line)
        if (waiter !== undefined && connected) return wake(Result.succeed(ready.shift()!))
        // Nobody asked: the stream cannot be trusted, and nothing more is kept.
        breakWith(new ProtocolError({ reply: ready[0]!, detail: "unsolicited reply" }))
      })
      // Any data sent before the peer's end was delivered before `end`.
      socket.on("end", () => breakWith(connectionError(new Error("the connection was closed by the peer"))))
      socket.on("close", () => breakWith(connectionError(new Error("the connection was closed"))))
      socket.on("error", (error) => breakWith(connectionError(error)))
    }

    const open = Effect.acquireRelease(
      Effect.try({
        try: () => {
          const socket = createSocket(address, options)
          attach(socket)
          return socket
        },
        catch: connectionError // e.g. unreadable TLS material
      }),
      (socket) => Effect.sync(() => socket.destroy())
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
        orElse: () => Effect.fail(connectionError(new Error("timed out connecting")))
      }),
      Effect.mapError((error) => error._tag === "ConnectionError" ? error : connectionError(error))
    )

    return Effect.gen(function*() {
      const socket = yield* open
      yield* awaitConnected

      const exchange = (frame: string, timeoutMillis: number) =>
        Effect.callback<string, Broken>((resume) => {
          if (broken !== undefined) return resume(Effect.fail(broken))
          const settle = (outcome: Result.Result<string, Broken>) => {
            clearTimeout(timer)
            resume(Result.isSuccess(outcome) ? Effect.succeed(outcome.success) : Effect.fail(outcome.failure))
          }
          const timer = setTimeout(() => {
            if (waiter !== settle) return
            waiter = undefined
            resume(Effect.fail(connectionError(new Error(`no reply within ${timeoutMillis} ms`))))
          }, Math.min(Math.max(0, timeoutMillis), MAX_TIMER_MILLIS))
          waiter = settle
          socket.write(frame)
          // interrupted: the exchange is abandoned (the state machine never reuses the connection)
          return Effect.sync(() => {
            clearTimeout(timer)
            if (waiter === settle) waiter = undefined
          })
        })

      const transport: Transport = {
        server,
        exchange,
        unsolicited: () => ready[0],
        probe: () => broken
      }
      return transport
    })
  })
