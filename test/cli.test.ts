/**
 * The `dflock` command line: its connection settings (the layerConfig Config,
 * flags in place of variables) in-process, then the real program as a child
 * process (`node --conditions=effect-dflockd-source src/cli.ts ...`) against
 * real dflockd servers, on the real clock.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { ConfigProvider, Duration, Effect, Option, Redacted, Result, Schedule } from "effect"
import { inject } from "vitest"
import { freePort } from "../scripts/dflockd-server.ts"
import { AuthError, ConnectionError, Lock } from "../src/index.ts"
import { connectionOptions, parseTimeout } from "../src/internal/cli/command.ts"
import * as CliHints from "../src/internal/cli/hints.ts"
import { signalExitCode } from "../src/internal/cli/run.ts"
import * as Codec from "../src/internal/protocol/codec.ts"
import { clientLayer, eventuallyFree, isFree, scopedServer, sendRaw } from "./support/probe.ts"
import { has, needs } from "./support/server.ts"
import { tlsRelayForFile } from "./support/tls.ts"
import { freshKey as fresh } from "./support/keys.ts"

const shared = inject("dflockd")
const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const cliPath = Path.join(root, "src", "cli.ts")
const freshKey = (name: string) => fresh("cli", name)

const tls = tlsRelayForFile(shared)

// ---------------------------------------------------------------------------
// connection settings: DflockdClient.layerConfig's Config, flags overriding
// ---------------------------------------------------------------------------

const noFlags = {
  servers: Option.none<string>(),
  authTokenEnv: Option.none<string>(),
  authToken: Option.none<Redacted.Redacted<string>>(),
  tls: Option.none<boolean>(),
  tlsCa: Option.none<string>(),
  connectTimeout: Option.none<string>(),
  serverReadTimeout: Option.none<string>(),
  quiet: false
}

/** connectionOptions(flags) with exactly these environment variables. */
const resolve = (flags: Partial<typeof noFlags>, env: Record<string, string>) =>
  connectionOptions({ ...noFlags, ...flags }).pipe(
    Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnvRecord(env)),
    Effect.result
  )

const options = (flags: Partial<typeof noFlags>, env: Record<string, string>) =>
  Effect.map(resolve(flags, env), (result) => {
    if (Result.isFailure(result)) return assert.fail(`expected options, got ${result.failure.message}`)
    return result.success
  })

const problem = (flags: Partial<typeof noFlags>, env: Record<string, string>) =>
  Effect.map(resolve(flags, env), (result) => {
    if (Result.isSuccess(result)) return assert.fail(`expected a ConfigError, got ${JSON.stringify(result.success)}`)
    return result.failure.cause.message
  })

describe("connection settings", () => {
  it.effect("read from the same variables as layerConfig", () =>
    Effect.gen(function*() {
      const read = yield* options({}, {
        DFLOCKD_SERVERS: "10.0.0.1:6388, [::1]:7000",
        DFLOCKD_AUTH_TOKEN: "tok",
        DFLOCKD_TLS: "true",
        DFLOCKD_CONNECT_TIMEOUT: "1500 millis",
        DFLOCKD_SERVER_READ_TIMEOUT: "9 seconds"
      })
      assert.deepStrictEqual(read.servers, ["10.0.0.1:6388", "[::1]:7000"])
      assert.strictEqual(Redacted.value(read.auth!), "tok")
      assert.strictEqual(read.tls, true)
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(read.connectTimeout!)), 1500)
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(read.serverReadTimeout!)), 9000)
      const defaults = yield* options({}, {})
      assert.deepStrictEqual(defaults.servers, ["127.0.0.1:6388"])
      assert.isUndefined(defaults.auth)
      assert.isUndefined(defaults.tls)
      assert.isUndefined(defaults.serverReadTimeout, "the client's default (23 seconds) applies")
    }))

  it.effect("one server-list parser: a:1,,b:2 is refused from the variable and from --servers alike", () =>
    Effect.gen(function*() {
      assert.match(yield* problem({}, { DFLOCKD_SERVERS: "a:1,,b:2" }), /^DFLOCKD_SERVERS: empty entry in "a:1,,b:2"/)
      assert.match(
        yield* problem({ servers: Option.some("a:1,,b:2") }, {}),
        /^--servers: empty entry in "a:1,,b:2"/
      )
      assert.match(yield* problem({ servers: Option.some(" , ") }, {}), /^--servers: no server given/)
      assert.match(yield* problem({ servers: Option.some("no host") }, {}), /^--servers: expected host, host:port/)
    }))

  it.effect("a flag overrides its variable, which is then not read at all", () =>
    Effect.gen(function*() {
      const env = {
        DFLOCKD_SERVERS: "not a server list",
        DFLOCKD_TLS: "maybe",
        DFLOCKD_CONNECT_TIMEOUT: "soon",
        DFLOCKD_SERVER_READ_TIMEOUT: "soon",
        LOCK_TOKEN: "from-var"
      }
      const read = yield* options({
        servers: Option.some("10.0.0.2:7000"),
        tls: Option.some(false),
        connectTimeout: Option.some("2 seconds"),
        serverReadTimeout: Option.some("12 seconds"),
        authTokenEnv: Option.some("LOCK_TOKEN")
      }, { ...env, DFLOCKD_AUTH_TOKEN: "from-default-var" })
      assert.deepStrictEqual(read.servers, ["10.0.0.2:7000"])
      assert.isUndefined(read.tls, "--no-tls")
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(read.connectTimeout!)), 2000)
      assert.strictEqual(Duration.toMillis(Duration.fromInputUnsafe(read.serverReadTimeout!)), 12_000)
      assert.strictEqual(Redacted.value(read.auth!), "from-var")
    }))

  it.effect("the same errors, naming the flag or the variable; DFLOCKD_CLUSTER refused too", () =>
    Effect.gen(function*() {
      assert.include(yield* problem({ authTokenEnv: Option.some("UNSET_VAR") }, {}), "UNSET_VAR: is not set or empty")
      assert.include(yield* problem({}, { DFLOCKD_CONNECT_TIMEOUT: "0 seconds" }), "DFLOCKD_CONNECT_TIMEOUT")
      assert.include(yield* problem({ connectTimeout: Option.some("soon") }, {}), "--connect-timeout")
      assert.include(yield* problem({}, { DFLOCKD_TLS: "maybe" }), "DFLOCKD_TLS")
      assert.include(
        yield* problem({}, { DFLOCKD_CLUSTER: "127.0.0.1:1,127.0.0.1:2" }),
        "cluster mode is not supported by this client version"
      )
      assert.include(
        yield* problem({ tls: Option.some(false) }, { DFLOCKD_TLS_CA_FILE: tls.certs.caFile }),
        "DFLOCKD_TLS_CA_FILE: is set while --tls is false"
      )
      const secret = "s3cret-TOKEN"
      const bad = yield* problem({}, { DFLOCKD_AUTH_TOKEN: `${secret}\nsecond`, DFLOCKD_SERVERS: "bad" })
      assert.notInclude(bad, secret)
    }))

  it.effect("the server read timeout: a bad value names the flag or the variable and shows a valid one", () =>
    Effect.gen(function*() {
      assert.match(
        yield* problem({ serverReadTimeout: Option.some("soon") }, {}),
        /^--server-read-timeout: expected a duration such as "30 seconds", got "soon"/
      )
      assert.match(
        yield* problem({}, { DFLOCKD_SERVER_READ_TIMEOUT: "23" }),
        /^DFLOCKD_SERVER_READ_TIMEOUT: expected a duration such as "30 seconds", got "23"/
      )
      for (const bad of ["0 seconds", "-1 seconds", "Infinity"]) {
        assert.match(
          yield* problem({}, { DFLOCKD_SERVER_READ_TIMEOUT: bad }),
          /^DFLOCKD_SERVER_READ_TIMEOUT: must be a positive finite duration such as "30 seconds", got /,
          bad
        )
        assert.match(
          yield* problem({ serverReadTimeout: Option.some(bad) }, {}),
          /^--server-read-timeout: must be a positive finite duration/,
          bad
        )
      }
    }))

  it.effect("the CA file: read from DFLOCKD_TLS_CA_FILE or --tls-ca (the flag wins); TLS on", () =>
    Effect.gen(function*() {
      const pem = readFileSync(tls.certs.caFile, "utf8")
      assert.deepStrictEqual((yield* options({}, { DFLOCKD_TLS_CA_FILE: tls.certs.caFile })).tls, { ca: pem })
      const missing = Path.join(tls.certs.dir, "missing.pem")
      assert.deepStrictEqual(
        (yield* options({ tlsCa: Option.some(tls.certs.caFile) }, { DFLOCKD_TLS_CA_FILE: missing })).tls,
        { ca: pem }
      )
      assert.match(yield* problem({ tlsCa: Option.some(missing) }, {}), /--tls-ca: cannot read/)
    }))
})

describe("--timeout values", () => {
  it("seconds (fractions to the millisecond), a number with a unit, or a Config duration", () => {
    const millis = (text: string) => Option.map(parseTimeout(text), Duration.toMillis)
    const cases: ReadonlyArray<readonly [string, number]> = [
      ["10", 10_000],
      ["0", 0],
      ["0.3", 300],
      [".25", 250],
      ["1.1", 1100],
      ["2e1", 20_000],
      ["300ms", 300],
      ["300 ms", 300],
      ["1.5s", 1500],
      ["2 minutes", 120_000],
      ["1h", 3_600_000],
      ["300 millis", 300],
      ["1.5 seconds", 1500],
      ["500000 micros", 500]
    ]
    for (const [text, expected] of cases) assert.deepStrictEqual(millis(text), Option.some(expected), text)
    for (const bad of ["", "x", "-1", "-0.5 seconds", "Infinity", "5 parsecs", "1,5", `${Codec.MAX_SECONDS + 1}`]) {
      assert.isTrue(Option.isNone(parseTimeout(bad)), bad)
    }
  })
})

describe("hints in dflock's words (the library's errors, reworded by the CLI)", () => {
  const plain: CliHints.HintContext = { tls: false, token: undefined }
  const refused = (hint: string | undefined) =>
    new ConnectionError({
      server: "127.0.0.1:7",
      reason: "Refused",
      cause: { code: "ECONNREFUSED", message: "connect ECONNREFUSED 127.0.0.1:7" },
      ...(hint === undefined ? {} : { hint })
    })

  it("refused: names --servers and DFLOCKD_SERVERS, not the `servers` option", () => {
    const error = refused("is a dflockd server running at that address? Check the `servers` option (DFLOCKD_SERVERS)")
    assert.strictEqual(
      CliHints.connectionMessage(error, plain),
      "connection to 127.0.0.1:7 failed: connection refused (ECONNREFUSED) " +
        "(is a dflockd server running at that address? Check --servers (DFLOCKD_SERVERS))"
    )
  })

  it("unreachable: names --servers and DFLOCKD_SERVERS", () => {
    const error = new ConnectionError({
      server: "nowhere.invalid:6388",
      reason: "Unreachable",
      cause: { code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND nowhere.invalid" },
      hint: "does the host name resolve, and can this machine reach it? Check the `servers` option (DFLOCKD_SERVERS)"
    })
    assert.strictEqual(
      CliHints.connectionMessage(error, plain),
      "connection to nowhere.invalid:6388 failed: host name not found (ENOTFOUND) " +
        "(does the host name resolve, and can this machine reach it? Check --servers (DFLOCKD_SERVERS))"
    )
  })

  it("a TLS client and a plaintext server: names --no-tls and DFLOCKD_TLS=false", () => {
    const error = new ConnectionError({
      server: "127.0.0.1:6388",
      reason: "Tls",
      cause: { message: "SSL routines:ssl3_get_record:wrong version number:../ssl/record/ssl3_record.c:354:" },
      hint: "is TLS configured on both sides? The server may not speak TLS: start it with --tls-cert/--tls-key, " +
        "or drop `tls` from the client options"
    })
    const message = CliHints.connectionMessage(error, { tls: true, token: undefined })
    assert.include(message, "connection to 127.0.0.1:6388 failed: TLS handshake failed (wrong version number) (")
    assert.include(message, "use --no-tls (DFLOCKD_TLS=false) and no --tls-ca (DFLOCKD_TLS_CA_FILE)")
    assert.notInclude(message, "client options")
  })

  it("a plaintext client and a TLS-only server: names --tls, --tls-ca and their variables", () => {
    const error = new ConnectionError({
      server: "127.0.0.1:6388",
      reason: "Closed",
      cause: { message: "the connection was closed by the peer before any reply" },
      hint: "is TLS configured on both sides? The server may be TLS-only (--tls-cert): set `tls` in the client " +
        "options, or start the server without TLS"
    })
    const message = CliHints.connectionMessage(error, plain)
    assert.include(message, "use --tls or --tls-ca (DFLOCKD_TLS, DFLOCKD_TLS_CA_FILE)")
    assert.notInclude(message, "client options")
  })

  it("no hint, or one dflock has no words for: the library's message", () => {
    assert.strictEqual(CliHints.connectionMessage(refused(undefined), plain), refused(undefined).message)
    const other = new ConnectionError({ server: "a:1", reason: "Busy", cause: { message: "busy" }, hint: "wait" })
    assert.strictEqual(CliHints.connectionMessage(other, plain), other.message)
  })

  it("a token sent to a server without auth: names the variable, or --auth-token-env VAR", () => {
    const error = new AuthError({ server: "127.0.0.1:6388", reason: "NotEnabled" })
    assert.strictEqual(
      CliHints.authMessage(error, { tls: false, token: { variable: "DFLOCKD_AUTH_TOKEN", viaFlag: false } }),
      "127.0.0.1:6388 has no authentication configured (it refused the auth command): unset DFLOCKD_AUTH_TOKEN, " +
        "or start the server with --auth-token (dflockd 1.6 or newer)"
    )
    assert.include(
      CliHints.authMessage(error, { tls: false, token: { variable: "LOCK_TOKEN", viaFlag: true } }),
      ": drop --auth-token-env LOCK_TOKEN, or start the server with --auth-token"
    )
  })

  it("a rejected token: names where it came from and --auth-token-env", () => {
    const error = new AuthError({ server: "127.0.0.1:6388", reason: "Rejected" })
    assert.strictEqual(
      CliHints.authMessage(error, { tls: false, token: { variable: "LOCK_TOKEN", viaFlag: true } }),
      "authentication rejected by 127.0.0.1:6388: the auth token in LOCK_TOKEN (--auth-token-env LOCK_TOKEN) is " +
        "wrong: it must be the server's --auth-token"
    )
    assert.include(
      CliHints.authMessage(error, { tls: false, token: { variable: "DFLOCKD_AUTH_TOKEN", viaFlag: false } }),
      "the auth token in DFLOCKD_AUTH_TOKEN is wrong: it must be the server's --auth-token " +
        "(or name another variable with --auth-token-env VAR)"
    )
    assert.include(
      CliHints.authMessage(error, plain),
      "it requires an auth token: put the server's --auth-token in DFLOCKD_AUTH_TOKEN, " +
        "or in a variable named with --auth-token-env VAR"
    )
  })
})

describe("signalExitCode", () => {
  it("128 + the signal number", () => {
    assert.strictEqual(signalExitCode("SIGINT"), 130)
    assert.strictEqual(signalExitCode("SIGKILL"), 137)
    assert.strictEqual(signalExitCode("SIGTERM"), 143)
  })
})

// ---------------------------------------------------------------------------
// the program, as a child process
// ---------------------------------------------------------------------------

interface Finished {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

interface Running {
  readonly process: ChildProcess
  readonly stdout: () => string
  /** Waits until stdout contains `text`. */
  readonly printed: (text: string) => Effect.Effect<void>
  /** Waits until stderr contains `text`. */
  readonly said: (text: string) => Effect.Effect<void>
  /** Waits for dflock to exit and its output (its command's too) to end. */
  readonly finished: Effect.Effect<Finished>
}

/** The environment without DFLOCKD_* (tests say which servers they mean). */
const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("DFLOCKD_")))

/** Starts `dflock args...`; killed with SIGKILL if the test's scope closes first. */
const start = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.sync((): Running => {
      const proc = spawn(process.execPath, ["--conditions=effect-dflockd-source", cliPath, ...args], {
        cwd: root,
        env: { ...baseEnv, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      const watchers = new Set<() => void>()
      proc.stdout?.setEncoding("utf8").on("data", (text: string) => {
        stdout += text
        watchers.forEach((check) => check())
      })
      proc.stderr?.setEncoding("utf8").on("data", (text: string) => {
        stderr += text
        watchers.forEach((check) => check())
      })
      /** Waits until `output()` contains `text`. */
      const appears = (output: () => string, text: string) =>
        Effect.callback<void>((resume) => {
          const check = () => {
            if (output().includes(text)) {
              watchers.delete(check)
              resume(Effect.void)
            }
          }
          watchers.add(check)
          check()
          return Effect.sync(() => watchers.delete(check))
        }).pipe(
          Effect.timeoutOrElse({
            duration: "20 seconds",
            orElse: () =>
              Effect.die(new Error(`never printed ${JSON.stringify(text)}; stdout: ${stdout}; stderr: ${stderr}`))
          })
        )
      // `close`: the exit status, once every holder of the pipes (the command too) is gone
      const closed = new Promise<Finished>((resolve) =>
        proc.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
      )
      return {
        process: proc,
        stdout: () => stdout,
        printed: (text) => appears(() => stdout, text),
        said: (text) => appears(() => stderr, text),
        finished: Effect.promise(() => closed).pipe(
          Effect.timeoutOrElse({
            duration: "30 seconds",
            orElse: () => Effect.die(new Error(`dflock did not finish; stdout: ${stdout}; stderr: ${stderr}`))
          })
        )
      }
    }),
    ({ process: proc }) =>
      Effect.sync(() => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL")
      })
  )

const dflock = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.flatMap(start(args, env), (running) => running.finished).pipe(Effect.scoped)

/** `node -e <script> args...` as the command. */
const nodeScript = (script: string, ...args: ReadonlyArray<string>) => ["--", process.execPath, "-e", script, ...args]

/**
 * A command that tries the key itself over a raw socket (`l <key> 0`) and
 * prints the status word: `timeout` while dflock holds it.
 */
const probeScript = `
const net = require("node:net")
const [host, port, key] = process.argv.slice(1)
const socket = net.connect(Number(port), host, () => socket.write("l\\n" + key + "\\n0\\n"))
let buffer = ""
socket.on("data", (chunk) => {
  buffer += chunk
  if (!buffer.includes("\\n")) return
  console.log("probe: " + buffer.split(" ")[0].trim())
  socket.destroy()
})
`

/** Prints `started`, then on SIGTERM prints `got SIGTERM` and exits 0 a second later (or ignores it). */
const trapScript = (onTerm: "exit" | "ignore") => `
process.on("SIGTERM", () => {
  console.log("got SIGTERM")
  ${onTerm === "exit" ? "setTimeout(() => process.exit(0), 1000)" : ""}
})
setInterval(() => {}, 1000)
console.log("started")
`

const servers = ["--servers", shared.address]

/**
 * Waits until the process has a socket open besides stdio (Linux: /proc/<pid>/fd):
 * dflock has trapped its signals and is talking to the server. Elsewhere, waits 3 seconds.
 */
const connected = (pid: number | undefined, every: Duration.Input = "50 millis") => {
  const fds = `/proc/${pid}/fd`
  if (pid === undefined || !existsSync(fds)) return Effect.sleep("3 seconds")
  const hasSocket = Effect.sync(() => {
    let entries: ReadonlyArray<string>
    try {
      entries = readdirSync(fds)
    } catch {
      return true // the process has exited already: nothing left to wait for
    }
    return entries.some((fd) => {
      if (Number(fd) <= 2) return false // stdio: libuv's pipes are socketpairs
      try {
        return readlinkSync(`${fds}/${fd}`).startsWith("socket:")
      } catch {
        return false
      }
    })
  })
  return hasSocket.pipe(
    Effect.flatMap((yes) => yes ? Effect.void : Effect.fail("not yet" as const)),
    Effect.retry(Schedule.spaced(every)),
    Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error("dflock never connected")) })
  )
}

describe("dflock", () => {
  it.live("runs the command while holding the lock, then releases it", () =>
    Effect.gen(function*() {
      const key = freshKey("held")
      const result = yield* dflock([...servers, key, ...nodeScript(probeScript, shared.host, String(shared.port), key)])
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout.trim(), "probe: timeout", "the key was held while the command ran")
      assert.strictEqual(result.stderr, "")
      assert.isTrue(yield* eventuallyFree(shared.address, key), "released before dflock exited")
    }), 30_000)

  it.live("the same probe, without dflock, finds the key free (the probe is sound)", () =>
    Effect.gen(function*() {
      const key = freshKey("probe-sound")
      const result = yield* Effect.scoped(Effect.flatMap(
        Effect.sync(() => spawn(process.execPath, ["-e", probeScript, shared.host, String(shared.port), key])),
        (proc) =>
          Effect.callback<string>((resume) => {
            let out = ""
            proc.stdout?.setEncoding("utf8").on("data", (text: string) => {
              out += text
            })
            proc.once("close", () => resume(Effect.succeed(out)))
          })
      ))
      assert.strictEqual(result.trim(), "probe: ok")
    }), 30_000)

  it.live(
    "--server-read-timeout and DFLOCKD_SERVER_READ_TIMEOUT are taken: a short one (heartbeats every third) keeps the lock",
    () =>
      Effect.gen(function*() {
        // the command outlives the read timeout given, and probes the key at its end
        const lateProbe = `setTimeout(() => { ${probeScript} }, 2500)`
        for (
          const [flags, env] of [
            [["--server-read-timeout", "1 seconds"], {}],
            [[], { DFLOCKD_SERVER_READ_TIMEOUT: "1500 millis" }]
          ] as const
        ) {
          const key = freshKey("read-timeout")
          const result = yield* dflock(
            [...servers, ...flags, key, ...nodeScript(lateProbe, shared.host, String(shared.port), key)],
            env
          )
          assert.strictEqual(result.code, 0, result.stderr)
          assert.strictEqual(result.stdout.trim(), "probe: timeout", "still held past the read timeout")
          assert.strictEqual(result.stderr, "")
          assert.isTrue(yield* eventuallyFree(shared.address, key), "released before dflock exited")
        }
      }).pipe(Effect.scoped, Effect.provide(clientLayer(shared.address))),
    60_000
  )

  it.live("exit codes propagate: 3 → 3, killed by SIGKILL → 137", () =>
    Effect.gen(function*() {
      const key = freshKey("exit-code")
      const three = yield* dflock([...servers, key, ...nodeScript("process.exit(3)")])
      assert.strictEqual(three.code, 3)
      assert.strictEqual(three.stderr, "")
      const killed = yield* dflock([...servers, key, ...nodeScript("process.kill(process.pid, 'SIGKILL')")])
      assert.strictEqual(killed.code, 137)
      assert.isTrue(yield* eventuallyFree(shared.address, key))
    }), 30_000)

  it.live("the key is taken from DFLOCKD_SERVERS when --servers is absent", () =>
    Effect.gen(function*() {
      const key = freshKey("env")
      const result = yield* dflock(
        [key, ...nodeScript(probeScript, shared.host, String(shared.port), key)],
        { DFLOCKD_SERVERS: shared.address }
      )
      assert.strictEqual(result.code, 0, result.stderr)
      assert.strictEqual(result.stdout.trim(), "probe: timeout")
    }), 30_000)

  it.live("held by someone else: exit 75 after --timeout, the command never runs", () =>
    Effect.gen(function*() {
      const key = freshKey("timeout")
      yield* Lock.acquire(key)
      const started = Date.now()
      const waited = yield* dflock([...servers, "--timeout", "1", key, ...nodeScript("console.log('ran')")])
      assert.strictEqual(waited.code, 75)
      assert.strictEqual(waited.stderr, `dflock: timed out waiting for ${key}\n`)
      assert.strictEqual(waited.stdout, "")
      assert.isAtLeast(Date.now() - started, 1000)

      const once = yield* dflock([...servers, "--timeout", "0", "--quiet", key, ...nodeScript("console.log('ran')")])
      assert.strictEqual(once.code, 75)
      assert.strictEqual(once.stderr, "", "--quiet")
      assert.strictEqual(once.stdout, "")
    }).pipe(Effect.scoped, Effect.provide(clientLayer(shared.address))), 30_000)

  it.live(
    "-n on a held key: exit 75 at once, the command never runs; -E 3 makes it 3, -E 0 a quiet success",
    () =>
      Effect.gen(function*() {
        const key = freshKey("nonblock")
        yield* Lock.acquire(key)
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, number, string]> = [
          [["-n"], 75, `dflock: ${key}: not free, and not waiting\n`],
          [["--nonblock", "-E", "3"], 3, `dflock: ${key}: not free, and not waiting\n`],
          [["--timeout", "0", "--conflict-exit-code", "3"], 3, `dflock: ${key}: not free, and not waiting\n`],
          [["-n", "-q", "-E", "0"], 0, ""]
        ]
        for (const [flags, code, stderr] of cases) {
          const running = yield* start([...servers, ...flags, key, ...nodeScript("console.log('ran')")])
          yield* connected(running.process.pid, "5 millis")
          const asked = Date.now()
          const result = yield* running.finished
          const took = Date.now() - asked
          console.log(`dflock ${flags.join(" ")} on a held key: exit ${result.code} ${took} ms after connecting`)
          assert.strictEqual(result.code, code, result.stderr)
          assert.strictEqual(result.stderr, stderr)
          assert.strictEqual(result.stdout, "", "the command never ran")
          assert.isBelow(took, 500, "no wait")
        }
        const timedOut = yield* dflock([...servers, "--timeout", "0.2", "-E", "3", key, "--", "true"])
        assert.strictEqual(timedOut.code, 3, "-E applies to a --timeout that runs out too")
        assert.strictEqual(timedOut.stderr, `dflock: timed out waiting for ${key}\n`)
      }).pipe(Effect.scoped, Effect.provide(clientLayer(shared.address))),
    60_000
  )

  it.live(
    "--timeout 0.3 (and 300ms, \"300 millis\"): gives up 300 ms after asking, exit 75",
    () =>
      Effect.gen(function*() {
        const key = freshKey("sub-second")
        yield* Lock.acquire(key)
        for (const timeout of ["0.3", "300ms", "300 millis"]) {
          const running = yield* start([...servers, "--timeout", timeout, key, ...nodeScript("console.log('ran')")])
          yield* connected(running.process.pid, "5 millis")
          const asked = Date.now()
          const result = yield* running.finished
          const took = Date.now() - asked
          console.log(`dflock --timeout ${timeout} on a held key: exit ${result.code} ${took} ms after connecting`)
          assert.strictEqual(result.code, 75, result.stderr)
          assert.strictEqual(result.stderr, `dflock: timed out waiting for ${key}\n`)
          assert.strictEqual(result.stdout, "")
          assert.isAtLeast(took, 250, `${timeout}: waited (the socket is seen a moment after the wait starts)`)
          assert.isAtMost(took, 600, `${timeout}: the exact timeout, not the server's whole second`)
        }
      }).pipe(Effect.scoped, Effect.provide(clientLayer(shared.address))),
    60_000
  )

  it.live(
    "-c <string>: run by /bin/sh -c, without --; its output and exit code are dflock's",
    () =>
      Effect.gen(function*() {
        const key = freshKey("shell")
        const hi = yield* dflock([...servers, key, "-c", "echo hi"])
        assert.strictEqual(hi.code, 0, hi.stderr)
        assert.strictEqual(hi.stdout, "hi\n")
        assert.strictEqual(hi.stderr, "")
        const seven = yield* dflock([...servers, "--command", "exit 7", key])
        assert.strictEqual(seven.code, 7, seven.stderr)
        // the probe's source comes in through the environment, which the command inherits
        const shell = yield* dflock(
          [
            ...servers,
            "-c",
            `echo "$(printf '%s' one) two" | tr a-z A-Z; "$NODE" -e "$PROBE" ${shared.host} ${shared.port} ${key}`,
            key
          ],
          { NODE: process.execPath, PROBE: probeScript }
        )
        assert.strictEqual(shell.code, 0, shell.stderr)
        assert.strictEqual(shell.stdout, "ONE TWO\nprobe: timeout\n", "a shell pipeline, under the lock")
        assert.isTrue(yield* eventuallyFree(shared.address, key))
      }),
    30_000
  )

  it.live.skipIf(!has("semaphores"))(
    `--limit 2: two dflocks hold the key at once, a third waits, or exits 75 with -n${needs("semaphores")}`,
    () =>
      Effect.gen(function*() {
        const key = freshKey("limit")
        const first = yield* start([...servers, "--limit", "2", key, ...nodeScript(trapScript("exit"))])
        const second = yield* start([...servers, "--limit", "2", key, ...nodeScript(trapScript("exit"))])
        yield* Effect.all([first.printed("started"), second.printed("started")], { concurrency: 2 })
        const third = yield* dflock([...servers, "--limit", "2", "-n", key, ...nodeScript("console.log('ran')")])
        assert.strictEqual(third.code, 75, third.stderr)
        assert.strictEqual(third.stderr, `dflock: a permit of ${key} (--limit 2): not free, and not waiting\n`)
        assert.strictEqual(third.stdout, "")
        const mismatch = yield* dflock([...servers, "--limit", "3", "-n", key, "--", "true"])
        assert.strictEqual(mismatch.code, 69, mismatch.stderr)
        assert.include(mismatch.stderr, `limit_mismatch`)
        assert.include(mismatch.stderr, `${key} is in use with a limit other than --limit 3`)
        // a waiting third one gets the permit the first one gives back
        const waiting = yield* start([...servers, "--limit", "2", key, ...nodeScript("console.log('ran')")])
        yield* connected(waiting.process.pid)
        yield* Effect.sleep("300 millis")
        assert.strictEqual(waiting.stdout(), "", "waits while both permits are held")
        first.process.kill("SIGTERM")
        const [one, waited] = yield* Effect.all([first.finished, waiting.finished], { concurrency: 2 })
        assert.strictEqual(one.code, 0, one.stderr)
        assert.strictEqual(waited.code, 0, waited.stderr)
        assert.strictEqual(waited.stdout, "ran\n")
        second.process.kill("SIGTERM")
        assert.strictEqual((yield* second.finished).code, 0)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live.skipIf(has("semaphores"))(
    "--limit on a server without semaphores: exit 69, the refusal and what --limit needs",
    () =>
      Effect.gen(function*() {
        const result = yield* dflock([
          ...servers,
          "--limit",
          "2",
          freshKey("no-sem"),
          ...nodeScript("console.log('ran')")
        ])
        assert.strictEqual(result.code, 69, result.stderr)
        assert.match(result.stderr, /^dflock: server refused the command: .*--limit needs a server with semaphores/)
        assert.strictEqual(result.stdout, "")
      }),
    30_000
  )

  it.live(
    "bad arguments or configuration: exit 64, the problem and the usage on stderr, nothing on stdout",
    () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Record<string, string>, RegExp]> = [
          [[], {}, /^dflock: Missing required argument: key\n/],
          [["k"], {}, /^dflock: missing the command: -- <command> \[args\.\.\.\], or -c <string>\n/],
          [["k", "true"], {}, /^dflock: missing -- before the command\n/],
          [["k", "--"], {}, /^dflock: missing command after --\n/],
          [["-c", "echo hi", "k", "--", "true"], {}, /^dflock: -c <string> is the whole command: give it, or -- /],
          [["k", "-c", "echo hi", "--", "true"], {}, /^dflock: -c <string> is the whole command/],
          [["-c", " ", "k"], {}, /^dflock: missing command after -c\n/],
          [["-n", "--timeout", "1", "k", "--", "true"], {}, /^dflock: -n\/--nonblock is --timeout 0: give one of them/],
          [["-E", "256", "k", "--", "true"], {}, /^dflock: Invalid value for flag --conflict-exit-code: "256"/],
          [["--limit", "0", "k", "--", "true"], {}, /^dflock: Invalid value for flag --limit: "0"/],
          [["--limit", "1.5", "k", "--", "true"], {}, /^dflock: Invalid value for flag --limit: "1.5"/],
          [["--timeout", "-1", "k", "--", "true"], {}, /^dflock: Invalid value for flag --timeout: "-1"/],
          [["--timeout", "5 parsecs", "k", "--", "true"], {}, /^dflock: Invalid value for flag --timeout: "5 parsecs"/],
          [["k", "true", "--", "x"], {}, /^dflock: unexpected argument "true": the command goes after --\n/],
          [["--", "k", "true"], {}, /^dflock: the <key> goes before --\n/],
          [["--bogus", "k", "--", "true"], {}, /^dflock: Unrecognized flag: --bogus/],
          [["--timeout", "x", "k", "--", "true"], {}, /^dflock: Invalid value for flag --timeout: "x"/],
          [["--lease", "0", "k", "--", "true"], {}, /^dflock: Invalid value for flag --lease: "0"/],
          [["a b", "--", "true"], {}, /^dflock: invalid key "a b": must not contain space/],
          [
            ["--auth-token", "s3cret", "k", "--", "true"],
            {},
            /^dflock: the auth token is never taken from the command line/
          ],
          [
            ["--auth-token-env", "DFLOCK_TEST_UNSET_VAR", "k", "--", "true"],
            {},
            /DFLOCK_TEST_UNSET_VAR: is not set or empty/
          ],
          [["--servers", "a:1,,b:2", "k", "--", "true"], {}, /^dflock: --servers: empty entry in "a:1,,b:2"/],
          [["k", "--", "true"], { DFLOCKD_SERVERS: "a:1,,b:2" }, /^dflock: DFLOCKD_SERVERS: empty entry in "a:1,,b:2"/],
          [["k", "--", "true"], { DFLOCKD_CONNECT_TIMEOUT: "soon" }, /DFLOCKD_CONNECT_TIMEOUT/],
          [
            ["--server-read-timeout", "soon", "k", "--", "true"],
            {},
            /^dflock: --server-read-timeout: expected a duration such as "30 seconds", got "soon"/
          ],
          [
            ["k", "--", "true"],
            { DFLOCKD_SERVER_READ_TIMEOUT: "0 seconds" },
            /^dflock: DFLOCKD_SERVER_READ_TIMEOUT: must be a positive finite duration such as "30 seconds"/
          ],
          [["k", "--", "true"], { DFLOCKD_CLUSTER: "127.0.0.1:1" }, /cluster mode is not supported/]
        ]
        for (const [args, env, problem] of cases) {
          const result = yield* dflock(args, env)
          assert.strictEqual(result.code, 64, `${args.join(" ")}: ${result.stderr}`)
          assert.match(result.stderr, problem)
          assert.match(result.stderr, /\nusage: dflock \[options\] <key> -- <command> \[args\.\.\.\]\n/)
          assert.notInclude(result.stderr, "s3cret")
          assert.strictEqual(result.stdout, "")
        }
      }),
    120_000
  )

  it.live("--help, --version and --completions: exit 0 on stdout", () =>
    Effect.gen(function*() {
      const help = yield* dflock(["--help"])
      assert.strictEqual(help.code, 0)
      assert.include(help.stdout, "dflock [options] <key> -- <command> [args...]")
      assert.include(help.stdout, "dflock [options] <key> -c <string>")
      for (const flag of ["--nonblock, -n", "--conflict-exit-code, -E code", "--command, -c string", "--limit N"]) {
        assert.include(help.stdout, flag)
      }
      assert.include(help.stdout, "--timeout, -w duration")
      assert.include(help.stdout, "300ms")
      assert.include(help.stdout, "--auth-token-env")
      assert.include(help.stdout, "DFLOCKD_AUTH_TOKEN")
      assert.include(help.stdout, "--server-read-timeout")
      assert.include(help.stdout, "DFLOCKD_SERVER_READ_TIMEOUT")
      assert.match(help.stdout, /stats\s+print the servers' statistics/)
      const statsHelp = yield* dflock(["stats", "--help"])
      assert.strictEqual(statsHelp.code, 0)
      assert.include(statsHelp.stdout, "--json")
      const version = yield* dflock(["--version"])
      assert.strictEqual(version.code, 0)
      assert.match(version.stdout, /^dflock \d+\.\d+\.\d+/)
      const completions = yield* dflock(["--completions", "bash"])
      assert.strictEqual(completions.code, 0)
      assert.include(completions.stdout, "complete")
      assert.include(completions.stdout, "dflock")
    }), 60_000)

  it.live(
    "DFLOCKD_AUTH_TOKEN is read: the token is sent (the shared server has none, so it refuses: 69)",
    () =>
      Effect.gen(function*() {
        const key = freshKey("auth")
        const secret = "s3cret-cli-token"
        const refused = yield* dflock([...servers, key, "--", "true"], { DFLOCKD_AUTH_TOKEN: secret })
        assert.strictEqual(refused.code, 69, refused.stderr)
        assert.match(refused.stderr, new RegExp(`^dflock: ${shared.address} has no authentication configured`))
        assert.include(refused.stderr, ": unset DFLOCKD_AUTH_TOKEN, or start the server with --auth-token")
        assert.notInclude(refused.stderr, secret)
        const viaFlag = yield* dflock([...servers, "--auth-token-env", "LOCK_TOKEN", key, "--", "true"], {
          LOCK_TOKEN: secret
        })
        assert.strictEqual(viaFlag.code, 69, viaFlag.stderr)
        assert.include(viaFlag.stderr, ": drop --auth-token-env LOCK_TOKEN, or start the server with --auth-token")
        assert.notInclude(viaFlag.stderr, "remove the client's auth token")
        const none = yield* dflock([...servers, key, "--", "true"])
        assert.strictEqual(none.code, 0, none.stderr)
      }),
    60_000
  )

  it.live(
    "DFLOCKD_TLS_CA_FILE is read: locks through a TLS relay; an unreadable CA file exits 66",
    () =>
      Effect.gen(function*() {
        const key = freshKey("tls")
        const result = yield* dflock(
          [key, ...nodeScript(probeScript, shared.host, String(shared.port), key)],
          { DFLOCKD_SERVERS: tls.relay.address, DFLOCKD_TLS_CA_FILE: tls.certs.caFile }
        )
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stdout.trim(), "probe: timeout", "held (through the relay) while the command ran")
        const withoutCa = yield* dflock(["--timeout", "0", key, "--", "true"], {
          DFLOCKD_SERVERS: tls.relay.address,
          DFLOCKD_TLS: "true"
        })
        assert.strictEqual(withoutCa.code, 69, "the system CAs do not know the test CA")
        const missing = Path.join(tls.certs.dir, "missing.pem")
        for (
          const [args, env] of [
            [[key, "--", "true"], { DFLOCKD_TLS_CA_FILE: missing }],
            [["--tls-ca", missing, key, "--", "true"], {}]
          ] as const
        ) {
          const unreadable = yield* dflock(args, env)
          assert.strictEqual(unreadable.code, 66, unreadable.stderr)
          assert.include(unreadable.stderr, "cannot read")
        }
      }),
    60_000
  )

  it.live(
    "dflock stats: a table and --json where the server has stats, its typed refusal (69) where not",
    () =>
      Effect.gen(function*() {
        const key = freshKey("stats")
        yield* Lock.acquire(key)
        const hasStats = yield* sendRaw(shared.address, Codec.stats).pipe(
          Effect.as(true),
          Effect.catchTag("ServerError", () => Effect.succeed(false))
        )
        const table = yield* dflock(["stats", ...servers])
        const json = yield* dflock([...servers, "stats", "--json"])
        if (hasStats) {
          assert.strictEqual(table.code, 0, table.stderr)
          assert.match(table.stdout, new RegExp(`^${shared.address}: \\d+ connection\\(s\\)`))
          assert.match(table.stdout, /\nLOCK\s+OWNER\s+EXPIRES IN \(s\)\s+WAITERS\n/)
          assert.match(table.stdout, new RegExp(`\\n${key}\\s+\\d+\\s+\\d+\\.\\d\\s+0\\n`))
          assert.strictEqual(json.code, 0, json.stderr)
          const parsed: unknown = JSON.parse(json.stdout)
          assert.isArray(parsed)
          const [first] = parsed as ReadonlyArray<{ server: string; stats: { locks: ReadonlyArray<{ key: string }> } }>
          assert.strictEqual(first?.server, shared.address)
          assert.isTrue(first?.stats.locks.some((lock) => lock.key === key))
        } else {
          for (const result of [table, json]) {
            assert.strictEqual(result.code, 69, result.stderr)
            assert.match(
              result.stderr,
              /^dflock: stats: server refused the command: .*stats needs dflockd 1\.4 or newer\n$/
            )
            assert.strictEqual(result.stdout, "")
          }
        }
      }).pipe(Effect.scoped, Effect.provide(clientLayer(shared.address))),
    60_000
  )

  it.live("server unreachable: exit 69 with the connection error", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort()) // nothing listens there
      const result = yield* dflock(["--servers", `127.0.0.1:${port}`, freshKey("down"), "--", "true"])
      assert.strictEqual(result.code, 69)
      assert.include(result.stderr, `dflock: connection to 127.0.0.1:${port} failed`)
      assert.include(
        result.stderr,
        "(is a dflockd server running at that address? Check --servers (DFLOCKD_SERVERS))\n",
        "the hint in dflock's words"
      )
      assert.notInclude(result.stderr, "`servers` option")
    }), 30_000)

  it.live(
    "--tls against a plaintext server: exit 69, the hint names --no-tls (DFLOCKD_TLS=false)",
    () =>
      Effect.gen(function*() {
        const result = yield* dflock([
          ...servers,
          "--tls",
          "--connect-timeout",
          "3 seconds",
          freshKey("tls-plain"),
          "--",
          "true"
        ])
        assert.strictEqual(result.code, 69, result.stderr)
        assert.match(result.stderr, new RegExp(`^dflock: connection to ${shared.address} failed: `))
        assert.include(result.stderr, "or use --no-tls (DFLOCKD_TLS=false) and no --tls-ca (DFLOCKD_TLS_CA_FILE))\n")
        assert.notInclude(result.stderr, "client options")
      }),
    30_000
  )

  it.live(
    "a plaintext client and a TLS-only server (the relay): exit 69, the hint names --tls / --tls-ca",
    () =>
      Effect.gen(function*() {
        const result = yield* dflock([
          "--servers",
          tls.relay.address,
          "--connect-timeout",
          "3 seconds",
          freshKey("plain-tls"),
          "--",
          "true"
        ])
        assert.strictEqual(result.code, 69, result.stderr)
        assert.include(result.stderr, "use --tls or --tls-ca (DFLOCKD_TLS, DFLOCKD_TLS_CA_FILE)")
        assert.notInclude(result.stderr, "client options")
      }),
    30_000
  )

  it.live.skipIf(!has("auth"))(
    `a server with --auth-token refuses the token: exit 69, the hint names --auth-token-env${needs("auth")}`,
    () =>
      Effect.gen(function*() {
        const server = yield* scopedServer({ "auth-token": "s3cret-server-token" })
        const key = freshKey("auth-rejected")
        const wrong = yield* dflock(
          ["--servers", server.address, "--auth-token-env", "LOCK_TOKEN", key, "--", "true"],
          {
            LOCK_TOKEN: "wrong-token"
          }
        )
        assert.strictEqual(wrong.code, 69, wrong.stderr)
        assert.strictEqual(
          wrong.stderr,
          `dflock: authentication rejected by ${server.address}: the auth token in LOCK_TOKEN ` +
            "(--auth-token-env LOCK_TOKEN) is wrong: it must be the server's --auth-token\n"
        )
        const missing = yield* dflock(["--servers", server.address, key, "--", "true"])
        assert.strictEqual(missing.code, 69, missing.stderr)
        assert.include(missing.stderr, "put the server's --auth-token in DFLOCKD_AUTH_TOKEN, or in a variable named")
        assert.include(missing.stderr, "--auth-token-env VAR")
        const right = yield* dflock(
          ["--servers", server.address, "--auth-token-env", "LOCK_TOKEN", key, "--", "true"],
          {
            LOCK_TOKEN: "s3cret-server-token"
          }
        )
        assert.strictEqual(right.code, 0, right.stderr)
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("the command cannot be started: exit 127, and the lock is released", () =>
    Effect.gen(function*() {
      const key = freshKey("enoent")
      const result = yield* dflock([...servers, key, "--", "dflock-test-no-such-command"])
      assert.strictEqual(result.code, 127)
      assert.include(result.stderr, "dflock: cannot run dflock-test-no-such-command")
      assert.isTrue(yield* eventuallyFree(shared.address, key))
    }), 30_000)

  it.live("lease lost (server killed): the command gets SIGTERM, dflock exits 70", () =>
    Effect.gen(function*() {
      const server = yield* scopedServer()
      const key = freshKey("lost")
      const running = yield* start([
        "--servers",
        server.address,
        "--lease",
        "2",
        key,
        ...nodeScript(trapScript("exit"))
      ])
      yield* running.printed("started")
      yield* Effect.promise(() => server.kill())
      const result = yield* running.finished
      assert.strictEqual(result.code, 70)
      assert.include(result.stdout, "got SIGTERM")
      assert.match(result.stderr, new RegExp(`^dflock: lease on ${key} lost: .+\\n$`))
    }).pipe(Effect.scoped), 30_000)

  it.live("lease lost and the command ignores SIGTERM: SIGKILL after 5 s", () =>
    Effect.gen(function*() {
      const server = yield* scopedServer()
      const key = freshKey("lost-stubborn")
      const running = yield* start([
        "--servers",
        server.address,
        "--lease",
        "2",
        key,
        ...nodeScript(trapScript("ignore"))
      ])
      yield* running.printed("started")
      yield* Effect.promise(() => server.kill())
      yield* running.printed("got SIGTERM")
      const termAt = Date.now()
      yield* running.said("sent SIGKILL")
      const killAfter = Date.now() - termAt
      const result = yield* running.finished
      assert.strictEqual(result.code, 70)
      assert.isAtLeast(killAfter, 4500, "the grace period before SIGKILL")
      assert.isAtMost(killAfter, 5500, "SIGKILL 5 s after SIGTERM")
      assert.match(
        result.stderr,
        new RegExp(
          `^dflock: process group \\d+ still running 5 s after SIGTERM: sent SIGKILL\ndflock: lease on ${key} lost: `
        )
      )
    }).pipe(Effect.scoped), 30_000)

  it.live(
    "SIGTERM to dflock goes to the command; dflock releases, then exits with its code",
    () =>
      Effect.gen(function*() {
        const key = freshKey("sigterm")
        const running = yield* start([...servers, key, ...nodeScript(trapScript("exit"))])
        yield* running.printed("started")
        assert.isFalse(yield* isFree(shared.address, key))
        running.process.kill("SIGTERM")
        yield* running.printed("got SIGTERM")
        assert.isFalse(yield* isFree(shared.address, key), "still held while the command winds down")
        const result = yield* running.finished
        assert.strictEqual(result.code, 0, "the command's own exit code")
        assert.strictEqual(result.stderr, "")
        assert.isTrue(yield* eventuallyFree(shared.address, key), "released before dflock exited")
      }).pipe(Effect.scoped),
    30_000
  )

  it.live("SIGINT to dflock kills a command that does not trap it: exit 130", () =>
    Effect.gen(function*() {
      const key = freshKey("sigint")
      const running = yield* start([...servers, key, ...nodeScript(trapScript("ignore"))])
      yield* running.printed("started")
      running.process.kill("SIGINT")
      const result = yield* running.finished
      assert.strictEqual(result.code, 130)
      assert.isTrue(yield* eventuallyFree(shared.address, key))
    }).pipe(Effect.scoped), 30_000)

  it.live(
    "SIGTERM while waiting for the lock: exit 143, the command never runs, nothing stays queued",
    () =>
      Effect.gen(function*() {
        const key = freshKey("abandon")
        yield* Effect.scoped(Effect.gen(function*() {
          yield* Lock.acquire(key)
          const running = yield* start([...servers, "--timeout", "30", key, ...nodeScript("console.log('ran')")])
          yield* connected(running.process.pid)
          yield* Effect.sleep("200 millis") // the `l` is on its way or queued
          running.process.kill("SIGTERM")
          const result = yield* running.finished
          assert.strictEqual(result.code, 143)
          assert.strictEqual(result.stdout, "")
          assert.strictEqual(result.stderr, `dflock: SIGTERM while waiting for ${key}\n`)
        }))
        // the abandoned waiter is not granted the lock once it is released
        assert.isTrue(yield* eventuallyFree(shared.address, key, Duration.seconds(5)))
      }).pipe(Effect.provide(clientLayer(shared.address))),
    30_000
  )

  // -------------------------------------------------------------------------
  // the command's whole process group
  // -------------------------------------------------------------------------

  it.live(
    "lease lost: the whole process group of the command is stopped (a pipeline's grandchildren too)",
    () =>
      Effect.gen(function*() {
        const server = yield* scopedServer()
        const key = freshKey("lost-group")
        const pidFile = yield* tempFile("pids")
        const running = yield* start([
          "--servers",
          server.address,
          "--lease",
          "2",
          key,
          "--",
          "sh",
          "-c",
          `echo $$ > ${pidFile}; sleep 60 | cat & echo $! >> ${pidFile}; sleep 60 & echo $! >> ${pidFile}; echo started; wait`
        ])
        yield* running.printed("started")
        const pids = readPids(pidFile)
        assert.strictEqual(pids.length, 3)
        assert.isTrue(pids.every(isRunning), "the shell and its background jobs run")
        yield* Effect.promise(() => server.kill())
        const result = yield* running.finished
        assert.strictEqual(result.code, 70)
        assert.match(result.stderr, new RegExp(`^dflock: lease on ${key} lost: .+\\n$`))
        assert.deepStrictEqual(yield* survivors(pids), [], "no process of the group survives")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "SIGTERM to dflock: the whole group gets it; exit 143; released after the group is gone",
    () =>
      Effect.gen(function*() {
        const key = freshKey("sigterm-group")
        const pidFile = yield* tempFile("pids")
        const running = yield* start([
          ...servers,
          key,
          "--",
          "sh",
          "-c",
          `echo $$ > ${pidFile}; sleep 60 & echo $! >> ${pidFile}; echo started; wait`
        ])
        yield* running.printed("started")
        const pids = readPids(pidFile)
        assert.strictEqual(pids.length, 2)
        assert.isTrue(pids.every(isRunning))
        running.process.kill("SIGTERM")
        const result = yield* running.finished
        assert.strictEqual(result.code, 143, result.stderr)
        assert.deepStrictEqual(yield* survivors(pids), [])
        assert.isTrue(yield* eventuallyFree(shared.address, key), "released")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "the command exits but leaves a job running: the job is stopped before the lock is released",
    () =>
      Effect.gen(function*() {
        const key = freshKey("leftover")
        const pidFile = yield* tempFile("pids")
        const result = yield* dflock([
          ...servers,
          key,
          "--",
          "sh",
          "-c",
          `sleep 60 & echo $! > ${pidFile}; exit 0`
        ])
        assert.strictEqual(result.code, 0, result.stderr)
        assert.deepStrictEqual(yield* survivors(readPids(pidFile)), [])
        assert.isTrue(yield* eventuallyFree(shared.address, key))
      }),
    60_000
  )

  it.live(
    "the command exits leaving a background job: dflock stops it and exits at once, not after a delay",
    () =>
      Effect.gen(function*() {
        const key = freshKey("leftover-fast")
        const pidFile = yield* tempFile("pids")
        const running = yield* start([
          ...servers,
          key,
          "--",
          "sh",
          "-c",
          `sleep 30 & echo $! > ${pidFile}; echo exiting; exit 0`
        ])
        yield* running.printed("exiting")
        const exitedAt = Date.now()
        const result = yield* running.finished
        const took = Date.now() - exitedAt
        console.log(`dflock exited ${took} ms after the command (its background job stopped)`)
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stderr, "")
        assert.isBelow(took, 1000, "exits as soon as the group is gone")
        assert.deepStrictEqual(yield* survivors(readPids(pidFile)), [])
        assert.isTrue(yield* eventuallyFree(shared.address, key))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "SIGTERM to dflock, the command ignores it: SIGKILL 5 s after the signal, one line on stderr (none with -q)",
    () =>
      Effect.gen(function*() {
        const key = freshKey("escalate")
        const quietKey = freshKey("escalate-quiet")
        const loud = yield* start([...servers, key, ...nodeScript(trapScript("ignore"))])
        const quiet = yield* start([...servers, "-q", quietKey, ...nodeScript(trapScript("ignore"))])
        yield* Effect.all([loud.printed("started"), quiet.printed("started")], { concurrency: 2 })
        const termAt = Date.now()
        loud.process.kill("SIGTERM")
        quiet.process.kill("SIGTERM")
        yield* loud.said("sent SIGKILL")
        const killAfter = Date.now() - termAt
        const [result, quietResult] = yield* Effect.all([loud.finished, quiet.finished], { concurrency: 2 })
        const finishedAfter = Date.now() - termAt
        console.log(`SIGKILL announced ${killAfter} ms after SIGTERM; both dflocks done after ${finishedAfter} ms`)
        assert.isAtLeast(killAfter, 4500)
        assert.isAtMost(killAfter, 5500)
        assert.isAtMost(finishedAfter, 6000)
        assert.strictEqual(result.code, 137, "the command's own end: killed by SIGKILL")
        assert.match(result.stderr, /^dflock: process group \d+ still running 5 s after SIGTERM: sent SIGKILL\n$/)
        assert.include(result.stdout, "got SIGTERM")
        assert.strictEqual(quietResult.code, 137)
        assert.strictEqual(quietResult.stderr, "", "-q")
        assert.isTrue(yield* eventuallyFree(shared.address, key))
        assert.isTrue(yield* eventuallyFree(shared.address, quietKey))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "the command exits 1 s after SIGTERM, its job ignores SIGTERM: SIGKILL still 5 s after the first signal",
    () =>
      Effect.gen(function*() {
        const key = freshKey("escalate-job")
        const pidFile = yield* tempFile("pids")
        const running = yield* start([
          ...servers,
          key,
          "--",
          "sh",
          "-c",
          // the job says so once it ignores SIGTERM: on a loaded machine it may not have yet when the shell is ready
          `(trap "" TERM; echo job-ignores-term; exec sleep 60) & echo $! > ${pidFile}; ` +
          `trap "sleep 1; exit 0" TERM; echo started; wait`
        ])
        yield* running.printed("started")
        yield* running.printed("job-ignores-term")
        const termAt = Date.now()
        running.process.kill("SIGTERM")
        yield* running.said("sent SIGKILL")
        const killAfter = Date.now() - termAt
        const result = yield* running.finished
        console.log(`SIGKILL ${killAfter} ms after SIGTERM (the command itself exited after ~1 s)`)
        assert.isAtLeast(killAfter, 4500)
        assert.isAtMost(killAfter, 5500, "the grace period is not restarted when the command exits")
        assert.strictEqual(result.code, 0, "the command's own exit code")
        assert.match(result.stderr, /^dflock: process group \d+ still running 5 s after SIGTERM: sent SIGKILL\n$/)
        assert.deepStrictEqual(yield* survivors(readPids(pidFile)), [])
        assert.isTrue(yield* eventuallyFree(shared.address, key))
      }).pipe(Effect.scoped),
    60_000
  )
})

/** A file name in a fresh temporary directory, removed with the test's scope. */
const tempFile = (name: string) =>
  Effect.map(
    Effect.acquireRelease(
      Effect.sync(() => mkdtempSync(Path.join(tmpdir(), "dflock-test-"))),
      (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
    ),
    (dir) => Path.join(dir, name)
  )

const readPids = (file: string): ReadonlyArray<number> =>
  readFileSync(file, "utf8").split("\n").filter((line) => line.trim().length > 0).map(Number)

/**
 * Whether the process still runs: `kill(pid, 0)` succeeds. A zombie (dead,
 * waiting to be reaped by its parent or init; Linux: state Z) does not run.
 */
const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0] !== "Z"
  } catch {
    return existsSync(`/proc/${pid}`) ? true : !existsSync("/proc/self")
  }
}

/** The pids still running once dflock has exited (a second's margin for the kernel to finish a SIGKILL). */
const survivors = (pids: ReadonlyArray<number>) =>
  Effect.sync(() => pids.filter(isRunning)).pipe(
    Effect.flatMap((alive) => alive.length === 0 ? Effect.succeed(alive) : Effect.fail(alive)),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 10 }),
    Effect.catch((alive) => Effect.succeed(alive))
  )
