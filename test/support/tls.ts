/**
 * TLS for tests. The pinned dflockd server (Python 0.5.0) predates `--tls-cert`,
 * so a TLS-terminating relay stands in for the server's own TLS listener: it
 * does the handshake with a certificate signed by a throwaway CA made here with
 * the `openssl` command, and forwards the decrypted bytes, unchanged, to a real
 * dflockd server. It never speaks the protocol itself.
 */
import { Effect } from "effect"
import { afterAll, beforeAll } from "vitest"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { splice } from "./relay.ts"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as Tls from "node:tls"

export interface Certificates {
  /** Directory holding the files below. */
  readonly dir: string
  /** The CA certificate (PEM) clients trust. */
  readonly ca: string
  readonly caFile: string
  /** The server certificate (PEM) for `localhost` and `127.0.0.1`, signed by the CA. */
  readonly cert: string
  /** The server's private key (PEM). */
  readonly key: string
}

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })

/** Makes a CA and a server certificate (localhost, 127.0.0.1) in a fresh temp dir. */
export const makeCertificates = (): Certificates => {
  const dir = mkdtempSync(Path.join(tmpdir(), "dflockd-tls-"))
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
  openssl(dir, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=effect-dflockd test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign"
  ])
  openssl(dir, ["req", ...ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"])
  writeFileSync(
    Path.join(dir, "server.ext"),
    [
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth"
    ].join("\n")
  )
  openssl(dir, [
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
    "2",
    "-extfile",
    "server.ext"
  ])
  const read = (name: string) => readFileSync(Path.join(dir, name), "utf8")
  return {
    dir,
    ca: read("ca.pem"),
    caFile: Path.join(dir, "ca.pem"),
    cert: read("server.pem"),
    key: read("server.key")
  }
}

/** {@link makeCertificates} as a scoped resource: the temp dir is removed with the scope. */
export const certificates = Effect.acquireRelease(
  Effect.sync(makeCertificates),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

export interface TlsRelay {
  /** `127.0.0.1:port` to point the client at. */
  readonly address: string
  /** TCP connections accepted (before any handshake). */
  readonly accepted: () => number
  /** Handshakes completed (each then forwarded to the target). */
  readonly secured: () => number
  /** Handshakes that failed (bad client, plain TCP, client rejected our certificate). */
  readonly failedHandshakes: () => number
  readonly close: () => Promise<void>
}

/** Starts a TLS relay on a free loopback port in front of `target`. */
export const startTlsRelay = (
  target: { readonly host: string; readonly port: number },
  credentials: { readonly cert: string; readonly key: string }
): Promise<TlsRelay> =>
  new Promise((resolve, reject) => {
    const sockets = new Set<Net.Socket>()
    let accepted = 0
    let secured = 0
    let failedHandshakes = 0
    const track = (socket: Net.Socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
    }
    const server = Tls.createServer({ cert: credentials.cert, key: credentials.key }, (client) => {
      secured++
      const upstream = Net.createConnection({ host: target.host, port: target.port })
      track(upstream)
      splice(client, upstream)
    })
    server.on("connection", (socket: Net.Socket) => {
      accepted++
      track(socket)
    })
    server.on("tlsClientError", () => {
      failedHandshakes++
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as Net.AddressInfo
      resolve({
        address: `127.0.0.1:${port}`,
        accepted: () => accepted,
        secured: () => secured,
        failedHandshakes: () => failedHandshakes,
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy()
            server.close(() => done())
          })
      })
    })
  })

/** {@link startTlsRelay} as a scoped resource. */
export const tlsRelay = (
  target: { readonly host: string; readonly port: number },
  credentials: { readonly cert: string; readonly key: string }
) =>
  Effect.acquireRelease(
    Effect.promise(() => startTlsRelay(target, credentials)),
    (relay) => Effect.promise(relay.close)
  )

/**
 * A TLS relay in front of `target` for the whole test file, with its
 * certificates: made before the file's tests, removed after them. Read
 * `certs` and `relay` inside tests (they are set once the file starts).
 */
export const tlsRelayForFile = (target: { readonly host: string; readonly port: number }) => {
  const fixture = {} as { certs: Certificates; relay: TlsRelay }
  beforeAll(async () => {
    fixture.certs = makeCertificates()
    fixture.relay = await startTlsRelay(target, fixture.certs)
  })
  afterAll(async () => {
    await fixture.relay?.close()
    if (fixture.certs !== undefined) rmSync(fixture.certs.dir, { recursive: true, force: true })
  })
  return fixture
}
