/**
 * Observing a real server from the outside, for tests. dflockd 0.5.0 has no
 * `stats`, so "nobody holds or waits for this key" is checked the way any client
 * would see it: a try-once acquire from an independent client succeeds.
 */
import { Duration, Effect, Exit, Option, Schedule } from "effect"
import * as Net from "node:net"
import { restartServer, type ServerFlags, type ServerHandle, startServer } from "../../scripts/dflockd-server.ts"
import * as Scope from "effect/Scope"
import { DflockdClient, Lock } from "../../src/index.ts"
import { parseAddress } from "../../src/internal/options/address.ts"
import * as Codec from "../../src/internal/protocol/codec.ts"
import * as Connection from "../../src/internal/transport/connection.ts"
import * as Socket from "../../src/internal/transport/socket.ts"

export const clientLayer = (address: string, options: DflockdClient.ClientOptions = {}) =>
  DflockdClient.layer({ servers: [address], ...options })

/** True when `key` can be acquired right now by an independent client (which releases it at once). */
export const isFree = (address: string, key: string): Effect.Effect<boolean> =>
  Lock.tryAcquire(key).pipe(
    Effect.map(Option.isSome),
    Effect.scoped,
    Effect.provide(clientLayer(address)),
    Effect.orDie
  )

/**
 * Waits until the key is free, polling every 50 ms, for at most `within`.
 * Old servers (like 0.5.0) notice a hung-up waiter only when they grant it, then
 * release at once, so "free" can lag an interruption by a few milliseconds.
 */
export const eventuallyFree = (address: string, key: string, within: Duration.Input = "5 seconds") =>
  isFree(address, key).pipe(
    Effect.flatMap((free) => free ? Effect.succeed(true) : Effect.fail("held" as const)),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutOrElse({ duration: within, orElse: () => Effect.succeed(false) }),
    Effect.catch(() => Effect.succeed(false))
  )

/** Sends one raw command on a fresh connection (e.g. `r key token` from "another process"). */
export const sendRaw = <A>(address: string, command: Codec.Command<A>) =>
  Effect.gen(function*() {
    const server = yield* Effect.fromResult(parseAddress(address))
    const options = { tls: undefined, auth: undefined, connectTimeout: Duration.seconds(5), maxReplyBytes: 1 << 20 }
    const scope = yield* Scope.make()
    const connection = yield* Scope.provide(
      Effect.flatMap(
        Socket.connect(server, options),
        (transport) => Connection.fromTransport(transport, options)
      ),
      scope
    )
    return yield* connection.send(command, 5_000).pipe(Effect.ensuring(Scope.close(scope, Exit.void)))
  })

/** TCP sockets and timers alive in this process (what a leaked connection or fiber would hold). */
export const openResources = () => {
  const info = process.getActiveResourcesInfo()
  return {
    sockets: info.filter((r) => r === "TCPSocketWrap" || r === "TLSWrap").length,
    timers: info.filter((r) => r === "Timeout").length
  }
}

/** Lets pending socket closes and timer clears settle (real clock), then reads open resources. */
export const settledResources = Effect.sleep("100 millis").pipe(Effect.andThen(Effect.sync(openResources)))

/**
 * A TCP listener that accepts connections and never answers (a stalled peer),
 * counting open connections. Scoped: closed with the scope.
 */
export const silentListener = Effect.acquireRelease(
  Effect.callback<{ readonly address: string; readonly open: () => number; readonly close: () => Promise<void> }>(
    (resume) => {
      const sockets = new Set<Net.Socket>()
      const server = Net.createServer((socket) => {
        sockets.add(socket)
        socket.resume() // read and drop input, so the peer's close is seen
        socket.on("error", () => sockets.delete(socket))
        socket.on("close", () => sockets.delete(socket))
      })
      const close = () =>
        new Promise<void>((done) => {
          for (const socket of sockets) socket.destroy()
          server.close(() => done())
        })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        resume(Effect.succeed({ address: `127.0.0.1:${port}`, open: () => sockets.size, close }))
      })
    }
  ),
  ({ close }) => Effect.promise(close)
)

/**
 * A real dflockd server for the current scope: started on a free port, stopped
 * when the scope closes, even if the test fails (stopping twice is harmless).
 */
export const scopedServer = (flags: ServerFlags = {}) =>
  Effect.acquireRelease(Effect.promise(() => startServer(flags)), (server) => Effect.promise(() => server.kill()))

/** Restarts a stopped server on the same port for the current scope. */
export const scopedRestart = (server: ServerHandle) =>
  Effect.acquireRelease(Effect.promise(() => restartServer(server)), (again) => Effect.promise(() => again.kill()))

/** What the server's `stats` says about one key: held or not, and how many wait (locks and semaphores). */
export interface KeyState {
  readonly held: boolean
  readonly holders: number
  readonly waiters: number
}

/** Reads one key's state from the server's own `stats` (servers ≥ 1.4). */
export const keyState = (address: string, key: string): Effect.Effect<KeyState> =>
  DflockdClient.stats().pipe(
    Effect.map(([entry]) => {
      const lock = entry?.stats.locks.find((l) => l.key === key)
      const semaphore = entry?.stats.semaphores.find((s) => s.key === key)
      const holders = (lock !== undefined && lock.owner_conn_id !== 0 ? 1 : 0) + (semaphore?.holders ?? 0)
      return { held: holders > 0, holders, waiters: (lock?.waiters ?? 0) + (semaphore?.waiters ?? 0) }
    }),
    Effect.provide(clientLayer(address)),
    Effect.orDie
  )

/**
 * Waits until the server's `stats` shows no holder and no waiter for `key`,
 * polling every 50 ms for at most `within`; resolves with the last state seen.
 * (A v1.10 server notices a hung-up waiter only when it would grant it.)
 */
export const eventuallyUntracked = (address: string, key: string, within: Duration.Input = "5 seconds") =>
  keyState(address, key).pipe(
    Effect.repeat({
      until: (state) => !state.held && state.waiters === 0,
      schedule: Schedule.spaced("50 millis")
    }),
    Effect.timeoutOrElse({ duration: within, orElse: () => keyState(address, key) })
  )
