/**
 * Lock over TLS, verifying the server's certificate against your own CA.
 *
 * With a TLS-capable dflockd (Go server v1.x/v2.x) you would start it with
 * `--tls-cert server.pem --tls-key server.key` and point the client at it. The
 * server pinned for this repository's examples (dflockd 0.5.0) predates TLS, so
 * here a small TLS-terminating relay stands in for dflockd's own --tls-cert: it
 * does the TLS handshake with a certificate signed by a throwaway CA (made with
 * the `openssl` command in a temp dir) and forwards the decrypted bytes,
 * unchanged, to the first server in DFLOCKD_SERVERS. The client side below is
 * exactly what you would write against a real TLS dflockd.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { DflockdClient, Lock } from "effect-dflockd"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as Tls from "node:tls"
import { server } from "./_servers.ts"

// --- stand-in for `dflockd --tls-cert ... --tls-key ...` -------------------

/** A CA and a server certificate for localhost / 127.0.0.1, in a temp dir removed with the scope. */
const certificates = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(Path.join(tmpdir(), "dflockd-example-tls-"))
    const openssl = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })
    const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=example CA")
    openssl("req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    writeFileSync(Path.join(dir, "server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      "-days",
      "1",
      "-extfile",
      "server.ext"
    )
    const read = (name: string) => readFileSync(Path.join(dir, name), "utf8")
    return { dir, ca: read("ca.pem"), cert: read("server.pem"), key: read("server.key") }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** Accepts TLS on a free loopback port and pipes plain bytes to `target` (host:port). */
const tlsRelay = (target: string, credentials: { readonly cert: string; readonly key: string }) => {
  const [host, port] = [target.slice(0, target.lastIndexOf(":")), Number(target.slice(target.lastIndexOf(":") + 1))]
  return Effect.acquireRelease(
    Effect.callback<{ readonly address: string; readonly listener: Tls.Server; readonly sockets: Set<Net.Socket> }>(
      (resume) => {
        const sockets = new Set<Net.Socket>()
        const listener = Tls.createServer(credentials, (client) => {
          const upstream = Net.createConnection({ host, port })
          for (const socket of [client, upstream]) {
            sockets.add(socket)
            socket.on("close", () => sockets.delete(socket))
            socket.on("error", () => {
              client.destroy()
              upstream.destroy()
            })
          }
          client.pipe(upstream).pipe(client)
        })
        listener.listen(0, "127.0.0.1", () => {
          const { port } = listener.address() as Net.AddressInfo
          resume(Effect.succeed({ address: `127.0.0.1:${port}`, listener, sockets }))
        })
      }
    ),
    ({ listener, sockets }) =>
      Effect.callback<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        listener.close(() => resume(Effect.void))
      })
  )
}

// --- the client ---------------------------------------------------------------

const program = Effect.gen(function*() {
  const { ca, cert, key } = yield* certificates
  const { address } = yield* tlsRelay(server, { cert, key })
  yield* Effect.log(`TLS endpoint ${address} in front of dflockd at ${server}`)

  // Trust exactly this CA; the certificate is issued to "localhost". Verification
  // is on by default (`rejectUnauthorized: false` would turn it off: don't).
  yield* Effect.gen(function*() {
    const lock = yield* Lock.acquire("orders", { leaseTtl: "10 seconds" })
    yield* Effect.log(`acquired ${lock.key} over TLS on ${lock.server} (token ${lock.token})`)
  }).pipe(
    Effect.scoped, // released here, over the same TLS connection
    Effect.provide(DflockdClient.layer({ servers: [address], tls: { ca, servername: "localhost" } }))
  )

  // Without the CA (system CAs only) the handshake is refused: a ConnectionError.
  const refused = yield* Lock.acquire("orders").pipe(
    Effect.scoped,
    Effect.provide(DflockdClient.layer({ servers: [address], tls: true })),
    Effect.as("unexpectedly connected"),
    Effect.catchTag("ConnectionError", (error) => Effect.succeed(`refused as expected: ${error.message}`))
  )
  yield* Effect.log(refused)
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
