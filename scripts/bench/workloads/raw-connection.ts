/** The floors' connection: one persistent `node:net` socket, its reply lines handed out in order. */
import * as Net from "node:net"
import { splitAddress } from "../addresses.ts"

export interface RawConnection {
  readonly request: (frame: string) => Promise<string>
  /** `request` without a Promise: `onLine` gets the reply line, or the error. */
  readonly send: (frame: string, onLine: (line: string | Error) => void) => void
  /**
   * Waits for one more reply line without writing (for a frame that holds two requests): call it,
   * then `send`; `onLine` gets the first of the two lines.
   */
  readonly expect: (onLine: (line: string | Error) => void) => void
  readonly close: () => void
}

export const rawConnect = (address: string): Promise<RawConnection> =>
  new Promise((resolve, reject) => {
    const { host, port } = splitAddress(address)
    const socket = Net.createConnection({ host, port, noDelay: true })
    const pending: Array<{ readonly resolve: (line: string) => void; readonly reject: (e: Error) => void }> = []
    let buffer = ""
    socket.setEncoding("utf8")
    socket.on("data", (text: string) => {
      buffer += text
      let nl = buffer.indexOf("\n")
      while (nl !== -1) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        pending.shift()?.resolve(line)
        nl = buffer.indexOf("\n")
      }
    })
    const broken = (error: Error) => {
      for (const p of pending.splice(0)) p.reject(error)
      reject(error)
    }
    socket.on("error", broken)
    socket.on("close", () => broken(new Error(`connection to ${address} closed`)))
    socket.once("connect", () =>
      resolve({
        request: (frame) =>
          new Promise((res, rej) => {
            pending.push({ resolve: res, reject: rej })
            socket.write(frame)
          }),
        send: (frame, onLine) => {
          pending.push({ resolve: onLine, reject: onLine })
          socket.write(frame)
        },
        expect: (onLine) => {
          pending.push({ resolve: onLine, reject: onLine })
        },
        close: () => socket.destroy()
      }))
  })
