/**
 * Starts and stops real dflockd servers on free loopback ports, for the tests,
 * the examples and the benchmark. Plain Node (no Effect): it is the harness, not
 * the library.
 *
 * The one place that selects the server: `DFLOCKD_BIN` (any dflockd binary, e.g.
 * a Go build) overrides the pinned one, which scripts/install-dflockd.sh installs
 * (run by `npm test`, `npm run example`, `npm run bench`, `npm run server:install` and .ci/run).
 * `describeServer` asks the selected server once what it is and what it can do.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Net from "node:net"
import * as Path from "node:path"
import * as Tls from "node:tls"
import { fileURLToPath } from "node:url"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
/** The pinned server (dflockd from PyPI, version in scripts/dflockd-version). */
export const pinnedBinary = Path.join(root, ".dflockd", "venv", "bin", "dflockd")
/** The server the tests, examples and benchmark run: `DFLOCKD_BIN`, else the pinned one. */
export const serverBinary = process.env["DFLOCKD_BIN"] !== undefined && process.env["DFLOCKD_BIN"] !== ""
  ? Path.resolve(process.env["DFLOCKD_BIN"])
  : pinnedBinary

/**
 * What a server can do, as far as the client's features go:
 * - `semaphores`: `sl`/`sr`/`sn`/`se`/`sw` (1.2)
 * - `stats`: the `stats` command (1.4)
 * - `ping`: the `ping` command (1.14)
 * - `auth`: `--auth-token` (1.6)
 * - `tls`: `--tls-cert`/`--tls-key`
 * - `max_waiters`: `--max-waiters` (1.7)
 * - `draining`: a graceful shutdown that drains (`--shutdown-timeout`): blocked calls get a reply
 * - `error_draining`: the drain's reply is `error_draining` (1.16), not plain `error`
 * - `hangup_detection`: a blocked waiter that hangs up is dropped within ~50 ms (1.15)
 */
export type Capability =
  | "semaphores"
  | "stats"
  | "ping"
  | "auth"
  | "tls"
  | "max_waiters"
  | "draining"
  | "error_draining"
  | "hangup_detection"

export const allCapabilities: ReadonlyArray<Capability> = [
  "semaphores",
  "stats",
  "ping",
  "auth",
  "tls",
  "max_waiters",
  "draining",
  "error_draining",
  "hangup_detection"
]

export interface ServerDescription {
  readonly binary: string
  /** `go` (the Go server, flag-package flags) or `python` (the original, argparse flags). */
  readonly implementation: "go" | "python"
  /** What `--version` printed (Go builds without a version stamp print `dev`), or the pinned version. */
  readonly version: string
  /** A short label for logs and reports, e.g. `go dflockd (dev)`. */
  readonly label: string
  readonly capabilities: ReadonlyArray<Capability>
}

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

interface ProbeOptions {
  /** Connect with TLS (certificate not verified: this only asks whether the server is up). */
  readonly tls?: boolean
  /** Send `auth` first with this token. */
  readonly auth?: string | undefined
}

/**
 * Sends requests one at a time on a fresh connection, each built from the
 * previous reply, and resolves with the replies; `undefined` if the connection
 * fails or closes before the last reply (an old server closes on an unknown command).
 */
const converse = (
  host: string,
  port: number,
  options: ProbeOptions,
  requests: ReadonlyArray<(previous: string) => string>
): Promise<ReadonlyArray<string> | undefined> =>
  new Promise((resolve) => {
    const all = options.auth === undefined ? requests : [() => `auth\n_\n${options.auth}\n`, ...requests]
    const socket = options.tls === true
      ? Tls.connect({ host, port, rejectUnauthorized: false })
      : Net.createConnection({ host, port })
    const replies: Array<string> = []
    let buffer = ""
    let settled = false
    const done = (result: ReadonlyArray<string> | undefined) => {
      if (settled) return
      settled = true
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(1000, () => done(undefined))
    socket.on("error", () => done(undefined))
    socket.on("close", () => done(undefined))
    socket.on(options.tls === true ? "secureConnect" : "connect", () => socket.write(all[0]!("")))
    socket.on("data", (chunk) => {
      buffer += chunk.toString("utf8")
      let nl = buffer.indexOf("\n")
      while (nl !== -1) {
        replies.push(buffer.slice(0, nl))
        buffer = buffer.slice(nl + 1)
        if (replies.length === all.length) return done(options.auth === undefined ? replies : replies.slice(1))
        socket.write(all[replies.length]!(replies[replies.length - 1]!))
        nl = buffer.indexOf("\n")
      }
    })
  })

const tokenOf = (reply: string) => reply.split(" ")[1] ?? "_"

/** One lock round trip on a probe key: the server is up and speaking the protocol. */
const probe = async (host: string, port: number, options: ProbeOptions): Promise<boolean> => {
  const replies = await converse(host, port, options, [
    () => "l\n__harness_probe__\n0 1\n",
    (granted) => `r\n__harness_probe__\n${tokenOf(granted)}\n`
  ])
  return replies !== undefined && replies[0]!.startsWith("ok ") && replies[1] === "ok"
}

/** The server's `--help` text (Go's flag package prints "Usage of dflockd:", argparse "usage: dflockd"). */
const helpText = (binary: string): string => {
  try {
    return execFileSync(binary, ["--help"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 })
  } catch (error) {
    // Go's flag package exits 2 (or 1) after printing its usage to stderr
    const failed = error as { stdout?: string; stderr?: string }
    return `${failed.stdout ?? ""}${failed.stderr ?? ""}`
  }
}

const implementationOf = (help: string): "go" | "python" => /^Usage of /m.test(help) ? "go" : "python"

let cachedImplementation: "go" | "python" | undefined
const implementation = (): "go" | "python" => {
  if (cachedImplementation === undefined) {
    if (!existsSync(serverBinary)) throw new Error(missingServer())
    cachedImplementation = implementationOf(helpText(serverBinary))
  }
  return cachedImplementation
}

const missingServer = () =>
  serverBinary === pinnedBinary
    ? `dflockd is not installed at ${serverBinary}: run \`npm run server:install\``
    : `DFLOCKD_BIN names ${serverBinary}, which does not exist`

/** Flags as the server's own parser wants them: booleans off are `--no-x` (argparse) or `--x=false` (Go). */
const toArgs = (flags: ServerFlags): Array<string> => {
  const go = implementation() === "go"
  return Object.entries(flags).flatMap(([name, value]) =>
    typeof value === "boolean"
      ? (value ? [`--${name}`] : go ? [`--${name}=false`] : [`--no-${name}`])
      : [`--${name}`, String(value)]
  )
}

/** Environment without DFLOCKD_* variables: the Python server lets them override flags. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DFLOCKD_")))

/**
 * Starts a server with the given flags (`--host` and `--port` are chosen here
 * unless given) and resolves once it answers a lock round trip.
 */
export const startServer = async (flags: ServerFlags = {}): Promise<ServerHandle> => {
  if (!existsSync(serverBinary)) throw new Error(missingServer())
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
  const probeOptions: ProbeOptions = {
    tls: allFlags["tls-cert"] !== undefined,
    auth: allFlags["auth-token"] === undefined ? undefined : String(allFlags["auth-token"])
  }
  while (!(await probe(host, port, probeOptions))) {
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

/**
 * Asks a running server (started without auth or TLS) what it can do: commands
 * by trying them, each on its own connection (an old server answers an unknown
 * command with `error` and closes); features that need server flags by its `--help`.
 */
export const describeServer = async (handle: Pick<ServerHandle, "host" | "port">): Promise<ServerDescription> => {
  const { host, port } = handle
  const help = helpText(serverBinary)
  const impl = implementationOf(help)
  const flag = (name: string) => new RegExp(`-${name}\\b`).test(help)
  const answers = async (requests: ReadonlyArray<(previous: string) => string>, ok: RegExp) => {
    const replies = await converse(host, port, {}, requests)
    return replies !== undefined && replies.every((reply) => ok.test(reply))
  }
  const probed = {
    stats: await answers([() => "stats\n_\n_\n"], /^ok \{/),
    ping: await answers([() => "ping\n_\n_\n"], /^ok$/),
    semaphores: await answers([
      () => "sl\n__harness_probe_sem__\n0 2\n",
      (granted) => `sr\n__harness_probe_sem__\n${tokenOf(granted)}\n`
    ], /^ok/)
  }
  const has: Record<Capability, boolean> = {
    semaphores: probed.semaphores,
    stats: probed.stats,
    ping: probed.ping,
    auth: flag("auth-token"),
    tls: flag("tls-cert"),
    max_waiters: flag("max-waiters"),
    draining: flag("shutdown-timeout"),
    // error_draining and hang-up detection came with 1.16 / 1.15; 1.16 also added this flag
    error_draining: flag("max-connections-per-ip"),
    hangup_detection: flag("max-connections-per-ip") || flag("http-port")
  }
  const version = impl === "python" && serverBinary === pinnedBinary
    ? readFileSync(Path.join(root, "scripts", "dflockd-version"), "utf8").trim()
    : versionOf(serverBinary)
  return {
    binary: serverBinary,
    implementation: impl,
    version,
    label: `${impl} dflockd ${version}`,
    capabilities: allCapabilities.filter((capability) => has[capability])
  }
}

const versionOf = (binary: string): string => {
  try {
    const out = execFileSync(binary, ["--version"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 10_000
    })
    return out.trim().split("\n")[0] ?? "unknown"
  } catch {
    return "unknown"
  }
}
