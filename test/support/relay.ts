/**
 * A loopback TCP relay between the client and a real dflockd server, for fault
 * tests: it counts connections, and can stall (stop forwarding while keeping the
 * connections open), resume, or cut every link. It never speaks the protocol.
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
  /** Stop forwarding in both directions; connections stay open. */
  readonly stall: () => void
  /** Forward again (bytes held during the stall are delivered). */
  readonly resume: () => void
  /** Destroy every open link (both sides), as a network failure would. */
  readonly cut: () => void
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

interface Link {
  readonly client: Net.Socket
  readonly upstream: Net.Socket
}

export const relay = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.callback<Relay & { readonly close: () => Promise<void> }>((resume) => {
      const links = new Set<Link>()
      let accepted = 0
      let stalled = false

      const server = Net.createServer((client) => {
        accepted++
        const upstream = Net.createConnection({ host: target.host, port: target.port })
        const link: Link = { client, upstream }
        links.add(link)
        splice(client, upstream, () => links.delete(link))
        if (stalled) {
          client.pause()
          upstream.pause()
        }
      })

      const each = (f: (socket: Net.Socket) => void) => {
        for (const link of links) {
          f(link.client)
          f(link.upstream)
        }
      }

      const control: Relay & { readonly close: () => Promise<void> } = {
        address: "",
        accepted: () => accepted,
        open: () => links.size,
        stall: () => {
          stalled = true
          each((s) => s.pause())
        },
        resume: () => {
          stalled = false
          each((s) => s.resume())
        },
        cut: () => each((s) => s.destroy()),
        close: () =>
          new Promise<void>((done) => {
            each((s) => s.destroy())
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
