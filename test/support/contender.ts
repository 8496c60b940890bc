/**
 * Another client in another process, for the chaos tests: it connects straight
 * to a dflockd server (retrying the dial while the server restarts), sends one
 * `l`, and reports on stdout, with the wall-clock time in milliseconds:
 *
 *   sent <ms>       the `l` was written
 *   granted <ms>    the server's grant arrived
 *   released <ms>   after holding for <holdMillis>, `r` was answered
 *
 * Usage: node contender.ts <host> <port> <key> <timeoutSeconds> <holdMillis>
 * A process of its own, so a test that blocks its own event loop cannot delay
 * this client's view of its grant. Plain node:net: it is not the client under test.
 */
import * as Net from "node:net"
import { lineReader } from "./lines.ts"

const [host = "127.0.0.1", portText = "0", key = "k", timeoutText = "30", holdText = "0"] = process.argv.slice(2)
const now = () => performance.timeOrigin + performance.now()
const say = (line: string) => process.stdout.write(`${line}\n`)

const attempt = () => {
  const socket = Net.createConnection({ host, port: Number(portText), noDelay: true })
  let token: string | undefined
  socket.on("error", () => {
    socket.destroy()
    if (token === undefined) setTimeout(attempt, 20) // the server is restarting: dial again
  })
  socket.on("connect", () => {
    socket.write(`l\n${key}\n${timeoutText}\n`)
    say(`sent ${now()}`)
  })
  socket.on(
    "data",
    lineReader((line) => {
      if (token === undefined) {
        const [status, granted] = line.split(" ")
        if (status !== "ok" || granted === undefined) {
          say(`refused ${line}`)
          process.exit(2)
        }
        token = granted
        say(`granted ${now()}`)
        setTimeout(() => socket.write(`r\n${key}\n${token}\n`), Number(holdText))
      } else {
        say(`released ${now()}`)
        socket.destroy()
        process.exit(0)
      }
    })
  )
}
attempt()
