/**
 * Starts and stops real dflockd servers on free loopback ports, for the tests,
 * the examples and the benchmark. Plain Node (no Effect): it is the harness, not
 * the library.
 *
 * The server binary comes from scripts/install-dflockd.sh (run by `npm install`
 * through the `prepare` script, and by .ci/run).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Net from "node:net"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
export const serverBinary = Path.join(root, ".dflockd", "venv", "bin", "dflockd")

export type ServerFlags = Readonly<Record<string, string | number | boolean>>

export interface ServerHandle {
  readonly host: string
  readonly port: number
  /** `host:port` */
  readonly address: string
  readonly flags: ServerFlags
  /** Graceful stop (SIGTERM, then SIGKILL after 3 s). */
  readonly stop: () => Promise<void>
  /** Hard kill (SIGKILL), as in a crash. */
  readonly kill: () => Promise<void>
  /** Recent server log lines, for failure messages. */
  readonly log: () => string
}

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = Net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** One lock round trip on a probe key: the server is up and speaking the protocol. */
const probe = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = Net.createConnection({ host, port })
    let buffer = ""
    let stage = 0
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.on("error", () => done(false))
    socket.on("connect", () => socket.write("l\n__harness_probe__\n0 1\n"))
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8")
      const nl = buffer.indexOf("\n")
      if (nl === -1) return
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      if (stage === 0) {
        const [status, token] = line.split(" ")
        if (status !== "ok" || token === undefined) return done(false)
        stage = 1
        socket.write(`r\n__harness_probe__\n${token}\n`)
      } else {
        done(line === "ok")
      }
    })
  })

const toArgs = (flags: ServerFlags): Array<string> =>
  Object.entries(flags).flatMap(([name, value]) =>
    typeof value === "boolean" ? (value ? [`--${name}`] : [`--no-${name}`]) : [`--${name}`, String(value)]
  )

/** Environment without DFLOCKD_* variables: the Python server lets them override flags. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DFLOCKD_")))

/**
 * Starts a server with the given flags (`--host` and `--port` are chosen here
 * unless given) and resolves once it answers a lock round trip.
 */
export const startServer = async (flags: ServerFlags = {}): Promise<ServerHandle> => {
  if (!existsSync(serverBinary)) {
    throw new Error(`dflockd is not installed at ${serverBinary}: run \`npm run server:install\``)
  }
  const host = String(flags["host"] ?? "127.0.0.1")
  const port = Number(flags["port"] ?? (await freePort()))
  const allFlags: ServerFlags = { "lease-sweep-interval": 1, ...flags, host, port }
  // The server logs every request, synchronously. Its log goes to a file, never a
  // pipe: a pipe nobody drains (a caller busy in spawnSync, say) fills up and
  // blocks the whole server.
  const logFile = Path.join(mkdtempSync(Path.join(tmpdir(), "dflockd-")), "server.log")
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()

  const launch = () => {
    const log = openSync(logFile, "a")
    const proc = spawn(serverBinary, toArgs(allFlags), { env: cleanEnv(), stdio: ["ignore", "ignore", log] })
    closeSync(log)
    exited = new Promise((resolve) => proc.once("exit", () => resolve()))
    child = proc
  }

  const lines = () => {
    try {
      return readFileSync(logFile, "utf8").split("\n").filter((l) => l.length > 0).slice(-200)
    } catch {
      return []
    }
  }

  const signalAndWait = async (signal: NodeJS.Signals) => {
    const proc = child
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill(signal)
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000)
    await exited
    clearTimeout(timer)
  }

  launch()
  const deadline = Date.now() + 15_000
  while (!(await probe(host, port))) {
    if (child?.exitCode !== null && child?.exitCode !== undefined) {
      throw new Error(`dflockd exited with ${child.exitCode}:\n${lines().join("\n")}`)
    }
    if (Date.now() > deadline) {
      await signalAndWait("SIGKILL")
      throw new Error(`dflockd did not become ready on ${host}:${port}:\n${lines().join("\n")}`)
    }
    await delay(50)
  }

  return {
    host,
    port,
    address: `${host}:${port}`,
    flags: allFlags,
    stop: () => signalAndWait("SIGTERM"),
    kill: () => signalAndWait("SIGKILL"),
    log: () => lines().join("\n")
  }
}

/** Starts a server again on the same port with the same flags (after stop or kill). */
export const restartServer = (handle: ServerHandle): Promise<ServerHandle> => startServer(handle.flags)
