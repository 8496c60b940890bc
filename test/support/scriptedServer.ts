/**
 * A scripted hostile dflockd "server" on a free loopback port, for tests of
 * malformed, unexpected, fragmented, slow or missing replies. It is NOT a model
 * of dflockd: anything about normal server behaviour is tested against the real
 * server (test/support/globalSetup.ts).
 *
 * Each accepted connection reads request frames (three `\n`-terminated lines)
 * and answers each with the steps the test's script returns for it: write bytes,
 * sleep, close the connection, or hang (never answer again). It records every
 * request and notices when the client hangs up.
 *
 * Built with `NodeSocketServer` and run on a fiber of the layer's scope: the
 * listener and every connection close when the layer is released.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as Socket from "effect/socket/Socket"
import type * as SocketServer from "effect/socket/SocketServer"
import * as DflockdClient from "../../src/DflockdClient.ts"
import type { InvalidArgumentError } from "../../src/Errors.ts"
import { lineReader } from "./lines.ts"

// ---------------------------------------------------------------------------
// scripts
// ---------------------------------------------------------------------------

/** One request frame as the client sent it. */
export interface Request {
  readonly command: string
  readonly key: string
  readonly arg: string
}

/** Where a request arrived: the connection (0, 1, … in accept order) and its index on it. */
export interface At {
  readonly connection: number
  readonly index: number
}

export interface Recorded extends Request, At {}

export type Step =
  | { readonly _tag: "Write"; readonly bytes: Uint8Array }
  | { readonly _tag: "Sleep"; readonly duration: Duration.Input }
  /** Half-close and close the connection once written bytes are flushed. */
  | { readonly _tag: "Close" }
  /** Close the connection with a TCP reset, dropping anything unsent. */
  | { readonly _tag: "Reset" }
  /** Never answer again on this connection; keep reading (and discarding) until the client hangs up. */
  | { readonly _tag: "Hang" }

/** What to answer to each request. */
export type Script = (request: Request, at: At) => ReadonlyArray<Step>

const encoder = new TextEncoder()

/** Raw bytes, exactly as given. */
export const raw = (bytes: Uint8Array | ReadonlyArray<number>): Step => ({
  _tag: "Write",
  bytes: bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes)
})
/** A string as UTF-8, exactly as given (no newline added). */
export const text = (s: string): Step => raw(encoder.encode(s))
/** One reply line: the string plus `\n`. */
export const line = (s: string): Step => text(`${s}\n`)
export const sleep = (duration: Duration.Input): Step => ({ _tag: "Sleep", duration })
export const close: Step = { _tag: "Close" }
export const reset: Step = { _tag: "Reset" }
export const hang: Step = { _tag: "Hang" }

/** Writes `s` (UTF-8) one byte at a time, pausing between bytes. */
export const bytewise = (s: string, pause: Duration.Input): ReadonlyArray<Step> =>
  Array.from(encoder.encode(s)).flatMap((b, i) => (i === 0 ? [raw([b])] : [sleep(pause), raw([b])]))

// ---------------------------------------------------------------------------
// the server
// ---------------------------------------------------------------------------

export class ScriptedServer extends Context.Service<ScriptedServer, {
  /** `127.0.0.1:port`, for `DflockdClient.layer({ servers: [address] })`. */
  readonly address: string
  /** Connections accepted so far. */
  readonly connections: Effect.Effect<number>
  /** Every request received, in arrival order. */
  readonly requests: Effect.Effect<ReadonlyArray<Recorded>>
  /**
   * Completes once connection `n` (0-based, accept order) has ended. Unless its
   * script closed it, that means the client hung up.
   */
  readonly closed: (connection: number) => Effect.Effect<void>
}>()("effect-dflockd/test/ScriptedServer") {}

export const make = Effect.fnUntraced(function*(script: Script) {
  const server = yield* NodeSocketServer.make({ host: "127.0.0.1", port: 0 })
  if (server.address._tag === "UnixPathAddress") return yield* Effect.die("expected a TCP address")
  const address = `127.0.0.1:${server.address.port}`

  const accepted = yield* Ref.make(0)
  const requests = yield* Ref.make<ReadonlyArray<Recorded>>([])
  // connection number → completed when that connection ends; created by whichever side asks first
  const ends = new Map<number, Deferred.Deferred<void>>()
  const endOf = (n: number) =>
    Effect.sync(() => {
      let d = ends.get(n)
      if (d === undefined) {
        d = Deferred.makeUnsafe<void>()
        ends.set(n, d)
      }
      return d
    })

  const serve = Effect.fnUntraced(function*(socket: Socket.Socket, connection: number) {
    // SocketServer.run provides the raw net.Socket to each handler (not visible in the types)
    const netSocket = yield* Effect.serviceOption(NodeSocket.NetSocket)
    const pull = yield* Socket.readerBytes(socket)
    const writer = yield* socket.writer
    const pending: Array<string> = []
    const read = lineReader((line) => pending.push(line))

    // the next line from the client; fails once the client closes
    const nextLine: Effect.Effect<string, Socket.SocketError> = Effect.suspend(() => {
      const next = pending.shift()
      if (next !== undefined) return Effect.succeed(next)
      return Effect.flatMap(pull, (chunks) => {
        for (const chunk of chunks) read(chunk)
        return nextLine
      })
    })

    // A write to a socket the client has closed can wait for `drain` forever
    // (NodeSocket), so every step races the client hanging up.
    const clientGone = Deferred.makeUnsafe<void>()
    if (Option.isSome(netSocket)) {
      const raw = netSocket.value
      if (raw.destroyed) Deferred.doneUnsafe(clientGone, Exit.void)
      else raw.once("close", () => Deferred.doneUnsafe(clientGone, Exit.void))
    }

    const conversation = Effect.gen(function*() {
      let index = 0
      while (true) {
        const command = yield* nextLine
        const key = yield* nextLine
        const arg = yield* nextLine
        const request: Request = { command, key, arg }
        const at: At = { connection, index: index++ }
        yield* Ref.update(requests, (all) => [...all, { ...request, ...at }])
        for (const step of script(request, at)) {
          switch (step._tag) {
            case "Write":
              yield* writer.write(step.bytes)
              break
            case "Sleep":
              yield* Effect.sleep(step.duration)
              break
            case "Close":
              return
            case "Reset":
              if (Option.isNone(netSocket)) return yield* Effect.die("no net.Socket to reset")
              netSocket.value.resetAndDestroy()
              return
            case "Hang":
              // read and discard until the client hangs up
              return yield* Effect.forever(pull)
          }
        }
      }
    })

    yield* Effect.raceFirst(conversation, Deferred.await(clientGone))
  })

  const handle = (socket: Socket.Socket) =>
    Effect.gen(function*() {
      const connection = yield* Ref.getAndUpdate(accepted, (n) => n + 1)
      const end = yield* endOf(connection)
      yield* serve(socket, connection).pipe(
        Effect.scoped,
        // the client hanging up mid-script (socket errors here) is what these tests provoke
        Effect.catchCause(() => Effect.void),
        Effect.ensuring(Deferred.succeed(end, undefined))
      )
    })

  yield* Effect.forkScoped(server.run(handle))

  return ScriptedServer.of({
    address,
    connections: Ref.get(accepted),
    requests: Ref.get(requests),
    closed: (n) => Effect.flatMap(endOf(n), Deferred.await)
  })
})

/** The scripted server as a layer: listening while the layer lives. */
export const layer = (script: Script): Layer.Layer<ScriptedServer, SocketServer.SocketServerError> =>
  Layer.effect(ScriptedServer, make(script))

/** The scripted server plus a `DflockdClient` pointed at it (no connect retries unless given). */
export const harness = (
  script: Script,
  options: Omit<DflockdClient.ClientOptions, "servers"> = {}
): Layer.Layer<ScriptedServer | DflockdClient.DflockdClient, SocketServer.SocketServerError | InvalidArgumentError> =>
  Layer.unwrap(
    Effect.gen(function*() {
      const server = yield* ScriptedServer
      return DflockdClient.layer({ servers: [server.address], connectRetry: Schedule.recurs(0), ...options })
    })
  ).pipe(Layer.provideMerge(layer(script)))
