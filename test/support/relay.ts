/**
 * A loopback TCP relay between the client and a real dflockd server, for fault
 * tests: it counts connections and the bytes clients send, and can stall (stop
 * forwarding while keeping the connections open), resume, cut every link,
 * partition and heal the network, or leave every link half-open. It never
 * speaks the protocol.
 *
 * A partition is a network that drops everything between the two sides: no
 * byte, no FIN, no RST crosses, and each side sees only silence. What either
 * side writes meanwhile is held, and a side that closes is noted; `heal`
 * delivers the held bytes in order and then the close, as TCP would once the
 * path is back (its retransmissions, then the FIN). A connection accepted during
 * a partition is dialed upstream at the heal (its SYN had not crossed).
 *
 * A half-open link is one whose server side is gone while the client's side
 * stays open and silent: the server saw the connection close (and freed its
 * locks), the client sees nothing at all, and what it writes goes nowhere.
 */
import { Effect } from "effect"
import * as Net from "node:net"

export interface Relay {
  /** `host:port` to point the client at. */
  readonly address: string
  /** Connections accepted so far. */
  readonly accepted: () => number
  /** Connections open now. */
  readonly open: () => number
  /** Bytes the clients have written so far (forwarded, held by a partition, or swallowed). */
  readonly sent: () => number
  /** Resolves, with the time (`performance.timeOrigin + performance.now()`), when a client next writes. */
  readonly nextWrite: () => Promise<number>
  /** Stop forwarding in both directions; connections stay open. */
  readonly stall: () => void
  /** Forward again (bytes held during the stall are delivered). */
  readonly resume: () => void
  /** Destroy every open link (both sides), as a network failure would. */
  readonly cut: () => void
  /**
   * From now on nothing crosses, either way, on any link: bytes are held, and a
   * close (end, close or error) on one side is not passed to the other.
   */
  readonly partition: () => void
  /** Bytes a partition holds now (both ways, every link). */
  readonly held: () => number
  /**
   * The partition ends: held bytes are delivered in order, then a close that
   * happened during the partition is passed on (bytes held for a side that has
   * closed are dropped, as its peer's RST would).
   */
  readonly heal: () => void
  /**
   * Destroys the server side of every open link (the server sees the close and
   * frees its locks); the client side stays open and silent: nothing is written
   * to it, what it writes is swallowed, and no close reaches it.
   */
  readonly halfOpen: () => void
}

/**
 * Forwards bytes both ways between two sockets; when either side ends or fails,
 * both are destroyed (as a network failure would), then `onDrop` runs.
 */
export const splice = (a: Net.Socket, b: Net.Socket, onDrop: () => void = () => {}): void => {
  const drop = () => {
    onDrop()
    a.destroy()
    b.destroy()
  }
  for (const socket of [a, b]) {
    socket.on("error", drop)
    socket.on("close", drop)
  }
  a.pipe(b)
  b.pipe(a)
}

type Side = "client" | "upstream"

interface Link {
  readonly client: Net.Socket
  /** Undefined only while a link accepted during a partition waits for the heal. */
  upstream: Net.Socket | undefined
  /** Bytes a partition holds, by the side they are for, in order. */
  readonly held: Record<Side, Array<Buffer>>
  /** The side that closed during a partition (the first, if both did): passed on at the heal. */
  closed: Side | undefined
  /** `halfOpen()` destroyed the upstream: the client side is kept open and silent. */
  halfOpen: boolean
}

const other = (side: Side): Side => side === "client" ? "upstream" : "client"

const socketOf = (link: Link, side: Side): Net.Socket | undefined => side === "client" ? link.client : link.upstream

export const relay = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.callback<Relay & { readonly close: () => Promise<void> }>((resume) => {
      const links = new Set<Link>()
      let accepted = 0
      let sent = 0
      let stalled = false
      let partitioned = false
      let writeWaiters: Array<(at: number) => void> = []

      const drop = (link: Link) => {
        links.delete(link)
        link.client.destroy()
        link.upstream?.destroy()
      }

      const onData = (link: Link, from: Side, chunk: Buffer) => {
        if (from === "client") {
          sent += chunk.length
          const waiters = writeWaiters
          writeWaiters = []
          const at = performance.timeOrigin + performance.now()
          for (const waiter of waiters) waiter(at)
        }
        if (link.halfOpen) return // swallowed: there is nobody on the other side
        const to = other(from)
        const target = socketOf(link, to)
        if (partitioned || target === undefined) {
          link.held[to].push(chunk)
          return
        }
        if (!target.write(chunk)) {
          const source = socketOf(link, from)!
          source.pause()
          target.once("drain", () => {
            if (!stalled) source.resume()
          })
        }
      }

      /** The peer on `from` sent its FIN: passed on (as `pipe` would), unless partitioned. */
      const onEnd = (link: Link, from: Side) => {
        if (link.halfOpen) {
          if (from === "client") drop(link)
          return
        }
        if (partitioned) {
          link.closed ??= from
          return
        }
        socketOf(link, other(from))?.end()
      }

      /** One side closed or failed: both are destroyed, unless partitioned (then noted for the heal). */
      const onClose = (link: Link, from: Side) => {
        if (link.halfOpen) {
          // the upstream's close is ours (halfOpen destroyed it); the client's ends the link
          if (from === "client") drop(link)
          return
        }
        if (partitioned) {
          link.closed ??= from
          return
        }
        drop(link)
      }

      const wire = (link: Link, side: Side, socket: Net.Socket) => {
        socket.on("data", (chunk: Buffer) => onData(link, side, chunk))
        socket.on("end", () => onEnd(link, side))
        socket.on("error", () => onClose(link, side))
        socket.on("close", () => onClose(link, side))
        if (stalled) socket.pause()
      }

      const dialUpstream = (link: Link) => {
        const upstream = Net.createConnection({ host: target.host, port: target.port })
        link.upstream = upstream
        wire(link, "upstream", upstream)
      }

      const server = Net.createServer((client) => {
        accepted++
        const link: Link = {
          client,
          upstream: undefined,
          held: { client: [], upstream: [] },
          closed: undefined,
          halfOpen: false
        }
        links.add(link)
        wire(link, "client", client)
        if (!partitioned) dialUpstream(link)
      })

      const each = (f: (socket: Net.Socket) => void) => {
        for (const link of links) {
          f(link.client)
          if (link.upstream !== undefined) f(link.upstream)
        }
      }

      const heal = () => {
        partitioned = false
        for (const link of [...links]) {
          if (link.halfOpen) continue
          if (link.upstream === undefined) {
            if (link.closed === "client") {
              drop(link)
              continue
            }
            dialUpstream(link)
          }
          for (const side of ["upstream", "client"] as const) {
            const chunks = link.held[side].splice(0)
            const socket = socketOf(link, side)!
            if (link.closed !== side) { for (const chunk of chunks) socket.write(chunk) }
          }
          if (link.closed !== undefined) {
            // the FIN after the held bytes; the link goes once they are flushed
            const peer = socketOf(link, other(link.closed))!
            if (peer.destroyed) drop(link)
            else peer.end(() => drop(link))
          }
        }
      }

      const control: Relay & { readonly close: () => Promise<void> } = {
        address: "",
        accepted: () => accepted,
        open: () => links.size,
        sent: () => sent,
        nextWrite: () => new Promise<number>((resolve) => writeWaiters.push(resolve)),
        stall: () => {
          stalled = true
          each((s) => s.pause())
        },
        resume: () => {
          stalled = false
          each((s) => s.resume())
        },
        cut: () => {
          for (const link of [...links]) drop(link)
        },
        partition: () => {
          partitioned = true
        },
        held: () => {
          let bytes = 0
          for (const link of links) {
            for (const chunk of [...link.held.client, ...link.held.upstream]) bytes += chunk.length
          }
          return bytes
        },
        heal,
        halfOpen: () => {
          for (const link of links) {
            link.halfOpen = true
            link.held.client.length = 0
            link.held.upstream.length = 0
            link.upstream?.destroy()
            link.client.resume() // keep reading, so that what the client writes is swallowed
          }
        },
        close: () =>
          new Promise<void>((done) => {
            for (const link of [...links]) drop(link)
            server.close(() => done())
          })
      }

      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as Net.AddressInfo
        resume(Effect.succeed({ ...control, address: `127.0.0.1:${port}` }))
      })
    }),
    ({ close }) => Effect.promise(close)
  )
