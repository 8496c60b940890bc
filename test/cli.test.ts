/**
 * The `dflock` command line: `parseArgs` and friends as pure functions, then the
 * real program as a child process (`node --conditions=effect-dflockd-source src/cli.ts ...`)
 * against real dflockd servers, on the real clock.
 */
import { assert, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readdirSync, readlinkSync } from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { Duration, Effect, Redacted, Result, Schedule } from "effect"
import { inject } from "vitest"
import { freePort } from "../scripts/dflockd-server.ts"
import { Lock } from "../src/index.ts"
import { type CliOptions, parseArgs, resolveConnect, type RunOptions } from "../src/internal/cliArgs.ts"
import { exitCodeOf } from "../src/internal/cliRun.ts"
import { clientLayer, eventuallyFree, isFree, scopedServer } from "./support/probe.ts"

const shared = inject("dflockd")
const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const cliPath = Path.join(root, "src", "cli.ts")
let counter = 0
const freshKey = (name: string) => `cli-${name}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`

// ---------------------------------------------------------------------------
// parseArgs, resolveConnect, exitCodeOf
// ---------------------------------------------------------------------------

const run = (argv: ReadonlyArray<string>): RunOptions => {
  const parsed = parseArgs(argv)
  if (Result.isFailure(parsed)) return assert.fail(`expected options, got the error: ${parsed.failure}`)
  if (parsed.success._tag !== "Run") return assert.fail(`expected Run, got ${parsed.success._tag}`)
  return parsed.success
}

const usage = (argv: ReadonlyArray<string>): string => {
  const parsed = parseArgs(argv)
  if (Result.isSuccess(parsed)) return assert.fail(`expected an error, got ${JSON.stringify(parsed.success)}`)
  return parsed.failure
}

const tagOf = (argv: ReadonlyArray<string>): CliOptions["_tag"] | string =>
  Result.match(parseArgs(argv), { onSuccess: (o) => o._tag, onFailure: (e) => `error: ${e}` })

describe("parseArgs", () => {
  it("defaults: timeout 10 s, server lease, no TLS, no auth, not quiet", () => {
    assert.deepStrictEqual(run(["jobs", "--", "make", "all"]), {
      _tag: "Run",
      key: "jobs",
      command: "make",
      args: ["all"],
      servers: undefined,
      timeoutSeconds: 10,
      leaseSeconds: undefined,
      authTokenEnv: undefined,
      tls: false,
      tlsCa: undefined,
      quiet: false
    })
  })

  it("every option, before and after the key, with separate and `=` values", () => {
    const options = run([
      "--servers",
      "10.0.0.1:6388, [::1]:7000",
      "--timeout=2.5",
      "jobs",
      "--lease",
      "30",
      "--auth-token-env=LOCK_TOKEN",
      "--tls-ca",
      "ca.pem",
      "-q",
      "--",
      "sh",
      "-c",
      "echo hi"
    ])
    assert.deepStrictEqual(options.servers, ["10.0.0.1:6388", "[::1]:7000"])
    assert.strictEqual(options.timeoutSeconds, 2.5)
    assert.strictEqual(options.leaseSeconds, 30)
    assert.strictEqual(options.authTokenEnv, "LOCK_TOKEN")
    assert.strictEqual(options.tlsCa, "ca.pem")
    assert.isTrue(options.tls, "--tls-ca implies TLS")
    assert.isTrue(options.quiet)
    assert.strictEqual(options.key, "jobs")
    assert.strictEqual(options.command, "sh")
    assert.deepStrictEqual(options.args, ["-c", "echo hi"])
  })

  it("everything after the first -- is the command, untouched (options, --help, another --)", () => {
    const options = run(["--tls", "k", "--", "tool", "--timeout", "5", "--help", "--", "-x"])
    assert.isTrue(options.tls)
    assert.strictEqual(options.timeoutSeconds, 10)
    assert.strictEqual(options.command, "tool")
    assert.deepStrictEqual(options.args, ["--timeout", "5", "--help", "--", "-x"])
  })

  it("--timeout 0 tries once; the last of a repeated option wins", () => {
    assert.strictEqual(run(["--timeout", "0", "k", "--", "true"]).timeoutSeconds, 0)
    assert.strictEqual(run(["--timeout", "1", "--timeout", "7", "k", "--", "true"]).timeoutSeconds, 7)
  })

  it("--help and --version win over anything before --, even errors", () => {
    assert.strictEqual(tagOf(["--help"]), "Help")
    assert.strictEqual(tagOf(["-h"]), "Help")
    assert.strictEqual(tagOf(["--bogus", "--help"]), "Help")
    assert.strictEqual(tagOf(["k", "--", "cmd", "--help"]), "Run")
    assert.strictEqual(tagOf(["--version"]), "Version")
    assert.strictEqual(tagOf(["-V", "k"]), "Version")
    // a value is a value: this is the key named --help? no: the lease value "--help" is invalid
    assert.match(tagOf(["--lease", "--help", "k", "--", "true"]), /^error: --lease must be a whole number/)
  })

  it("usage errors name the problem", () => {
    assert.strictEqual(usage([]), "missing <key>")
    assert.strictEqual(usage(["--", "true"]), "missing <key>")
    assert.strictEqual(usage(["k"]), "missing -- before the command")
    assert.strictEqual(usage(["k", "--"]), "missing command after --")
    assert.strictEqual(usage(["k", "--", ""]), "missing command after --")
    assert.strictEqual(usage(["k", "true", "--"]), "unexpected argument \"true\": the command goes after --")
    assert.strictEqual(usage(["--bogus", "k", "--", "true"]), "unknown option --bogus")
    assert.strictEqual(usage(["-x", "k", "--", "true"]), "unknown option -x")
    assert.strictEqual(usage(["k", "--timeout"]), "option --timeout needs a value")
    assert.strictEqual(usage(["--tls=yes", "k", "--", "true"]), "option --tls takes no value")
    assert.match(usage(["--timeout", "-1", "k", "--", "true"]), /^--timeout must be a number of seconds/)
    assert.match(usage(["--timeout", "soon", "k", "--", "true"]), /^--timeout must be a number of seconds/)
    assert.match(usage(["--lease", "0", "k", "--", "true"]), /^--lease must be a whole number of seconds/)
    assert.match(usage(["--lease", "1.5", "k", "--", "true"]), /^--lease must be a whole number of seconds/)
    assert.match(usage(["--servers", "nohost", "k", "--", "true"]), /^--servers: expected host:port/)
    assert.match(usage(["--servers", "h:99999", "k", "--", "true"]), /^--servers: bad port/)
    assert.match(usage(["--servers", ",", "k", "--", "true"]), /^--servers lists no server/)
    assert.match(usage(["--auth-token-env", "A-B", "k", "--", "true"]), /name of an environment variable/)
    assert.match(usage(["a b", "--", "true"]), /^invalid key "a b": must not contain space/)
    assert.match(usage(["x".repeat(256), "--", "true"]), /^invalid key .*at most 255/)
  })

  it("an auth token on the command line is refused, and never echoed", () => {
    const message = usage(["--auth-token", "s3cret-token", "k", "--", "true"])
    assert.match(message, /--auth-token-env/)
    assert.notInclude(message, "s3cret-token")
    assert.notInclude(usage(["--auth-token=s3cret-token", "k", "--", "true"]), "s3cret-token")
  })
})

describe("resolveConnect", () => {
  const options = (argv: ReadonlyArray<string>) => run([...argv, "k", "--", "true"])

  it("servers: --servers, else DFLOCKD_SERVERS, else 127.0.0.1:6388", () => {
    const env = { DFLOCKD_SERVERS: "a:1,b:2" }
    const servers = (argv: ReadonlyArray<string>, e: Record<string, string>) =>
      Result.map(resolveConnect(options(argv), e), (c) => c.servers)
    assert.deepStrictEqual(servers(["--servers", "c:3"], env), Result.succeed(["c:3"]))
    assert.deepStrictEqual(servers([], env), Result.succeed(["a:1", "b:2"]))
    assert.deepStrictEqual(servers([], {}), Result.succeed(["127.0.0.1:6388"]))
    assert.deepStrictEqual(servers([], { DFLOCKD_SERVERS: " " }), Result.succeed(["127.0.0.1:6388"]))
    assert.deepStrictEqual(
      servers([], { DFLOCKD_SERVERS: "nope" }),
      Result.fail("DFLOCKD_SERVERS: expected host:port, got \"nope\"")
    )
  })

  it("the auth token comes from the named variable, stays redacted, and is never in an error", () => {
    const resolved = resolveConnect(options(["--auth-token-env", "TOK"]), { TOK: "s3cret" })
    assert.isTrue(Result.isSuccess(resolved))
    const auth = Result.isSuccess(resolved) ? resolved.success.auth : undefined
    assert.isDefined(auth)
    assert.strictEqual(auth === undefined ? "" : Redacted.value(auth), "s3cret")
    assert.notInclude(String(auth), "s3cret")

    assert.deepStrictEqual(
      resolveConnect(options(["--auth-token-env", "TOK"]), {}),
      Result.fail("--auth-token-env: environment variable TOK is not set or empty")
    )
    const bad = resolveConnect(options(["--auth-token-env", "TOK"]), { TOK: "s3cret\nmore" })
    assert.isTrue(Result.isFailure(bad))
    assert.notInclude(Result.isFailure(bad) ? bad.failure : "", "s3cret")
    assert.deepStrictEqual(
      Result.map(resolveConnect(options([]), { TOK: "s3cret" }), (c) => c.auth),
      Result.succeed(undefined),
      "no --auth-token-env: no auth, whatever the environment holds"
    )
  })
})

describe("exitCodeOf", () => {
  it("the child's code, or 128 + the signal number", () => {
    assert.strictEqual(exitCodeOf({ code: 0, signal: null }), 0)
    assert.strictEqual(exitCodeOf({ code: 3, signal: null }), 3)
    assert.strictEqual(exitCodeOf({ code: null, signal: "SIGINT" }), 130)
    assert.strictEqual(exitCodeOf({ code: null, signal: "SIGKILL" }), 137)
    assert.strictEqual(exitCodeOf({ code: null, signal: "SIGTERM" }), 143)
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
      })
      // `close`: the exit status, once every holder of the pipes (the command too) is gone
      const closed = new Promise<Finished>((resolve) =>
        proc.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
      )
      return {
        process: proc,
        stdout: () => stdout,
        printed: (text) =>
          Effect.callback<void>((resume) => {
            const check = () => {
              if (stdout.includes(text)) {
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
          ),
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
const connected = (pid: number | undefined) => {
  const fds = `/proc/${pid}/fd`
  if (pid === undefined || !existsSync(fds)) return Effect.sleep("3 seconds")
  const hasSocket = Effect.sync(() =>
    readdirSync(fds).some((fd) => {
      if (Number(fd) <= 2) return false // stdio: libuv's pipes are socketpairs
      try {
        return readlinkSync(`${fds}/${fd}`).startsWith("socket:")
      } catch {
        return false
      }
    })
  )
  return hasSocket.pipe(
    Effect.flatMap((yes) => yes ? Effect.void : Effect.fail("not yet" as const)),
    Effect.retry(Schedule.spaced("50 millis")),
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
      assert.isTrue(yield* isFree(shared.address, key), "released before dflock exited")
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

  it.live("exit codes propagate: 3 → 3, killed by SIGKILL → 137", () =>
    Effect.gen(function*() {
      const key = freshKey("exit-code")
      const three = yield* dflock([...servers, key, ...nodeScript("process.exit(3)")])
      assert.strictEqual(three.code, 3)
      assert.strictEqual(three.stderr, "")
      const killed = yield* dflock([...servers, key, ...nodeScript("process.kill(process.pid, 'SIGKILL')")])
      assert.strictEqual(killed.code, 137)
      assert.isTrue(yield* isFree(shared.address, key))
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

  it.live("bad arguments: exit 64, usage on stderr, nothing on stdout", () =>
    Effect.gen(function*() {
      for (
        const args of [
          [],
          ["k"],
          ["--timeout", "x", "k", "--", "true"],
          ["--auth-token", "s3cret", "k", "--", "true"],
          ["--auth-token-env", "DFLOCK_TEST_UNSET_VAR", "k", "--", "true"]
        ]
      ) {
        const result = yield* dflock(args)
        assert.strictEqual(result.code, 64, `${args.join(" ")}: ${result.stderr}`)
        assert.match(result.stderr, /^dflock: .+\nusage: dflock \[options\] <key> -- <command> \[args\.\.\.\]\n/)
        assert.notInclude(result.stderr, "s3cret")
        assert.strictEqual(result.stdout, "")
      }
    }), 60_000)

  it.live("--help and --version: exit 0 on stdout", () =>
    Effect.gen(function*() {
      const help = yield* dflock(["--help"])
      assert.strictEqual(help.code, 0)
      assert.match(help.stdout, /^usage: dflock/)
      assert.include(help.stdout, "--auth-token-env <VAR>")
      const version = yield* dflock(["--version"])
      assert.strictEqual(version.code, 0)
      assert.match(version.stdout, /^dflock \d+\.\d+\.\d+/)
    }), 30_000)

  it.live("server unreachable: exit 69 with the connection error", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(() => freePort()) // nothing listens there
      const result = yield* dflock(["--servers", `127.0.0.1:${port}`, freshKey("down"), "--", "true"])
      assert.strictEqual(result.code, 69)
      assert.include(result.stderr, `dflock: connection to 127.0.0.1:${port} failed`)
    }), 30_000)

  it.live("the command cannot be started: exit 127, and the lock is released", () =>
    Effect.gen(function*() {
      const key = freshKey("enoent")
      const result = yield* dflock([...servers, key, "--", "dflock-test-no-such-command"])
      assert.strictEqual(result.code, 127)
      assert.include(result.stderr, "dflock: cannot run dflock-test-no-such-command")
      assert.isTrue(yield* isFree(shared.address, key))
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
      const result = yield* running.finished
      assert.strictEqual(result.code, 70)
      assert.isAtLeast(Date.now() - termAt, 4500, "the grace period before SIGKILL")
      assert.match(result.stderr, new RegExp(`dflock: lease on ${key} lost: `))
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
        assert.isTrue(yield* isFree(shared.address, key), "released before dflock exited")
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
      assert.isTrue(yield* isFree(shared.address, key))
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
})
