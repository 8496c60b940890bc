/**
 * The `dflock` command line: parsing argv into options, and resolving them
 * against the environment. Pure (no I/O), so both are unit-tested directly.
 *
 *   dflock [options] <key> -- <command> [args...]
 *
 * Options may come before or after the key, but always before `--`; everything
 * after `--` is the command, passed on untouched.
 */
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { parseAddress } from "./address.ts"
import * as Codec from "./codec.ts"

/** Exit codes (sysexits.h), besides the child's own. */
export const ExitCode = {
  ok: 0,
  /** bad arguments */
  usage: 64,
  /** the --tls-ca file cannot be read */
  noInput: 66,
  /** cannot connect, auth rejected, or the server refused the lock */
  unavailable: 69,
  /** the lease was lost while the command ran; or an internal error */
  software: 70,
  /** the lock was not granted within --timeout */
  tempFail: 75,
  /** the server sent something this client does not understand */
  protocol: 76,
  /** the command was found but cannot be executed */
  cannotExecute: 126,
  /** the command was not found */
  notFound: 127
} as const

/** What to run: the lock, the command, and how to reach the server. */
export interface RunOptions {
  readonly _tag: "Run"
  readonly key: string
  readonly command: string
  readonly args: ReadonlyArray<string>
  /** From --servers; `undefined` when not given (then DFLOCKD_SERVERS, then the default). */
  readonly servers: ReadonlyArray<string> | undefined
  /** Acquire timeout in seconds; 0 tries once. */
  readonly timeoutSeconds: number
  /** Lease in whole seconds; `undefined`: the server's default. */
  readonly leaseSeconds: number | undefined
  /** Name of the environment variable holding the auth token. */
  readonly authTokenEnv: string | undefined
  readonly tls: boolean
  /** PEM file of the CA that signed the server's certificate (implies TLS). */
  readonly tlsCa: string | undefined
  readonly quiet: boolean
}

/** A parsed command line: run a command under a lock, or print help or the version. */
export type CliOptions = RunOptions | { readonly _tag: "Help" } | { readonly _tag: "Version" }

export const DEFAULT_SERVER = "127.0.0.1:6388"
export const DEFAULT_TIMEOUT_SECONDS = 10

export const usageLine = "usage: dflock [options] <key> -- <command> [args...]"

export const helpText = `${usageLine}

Runs <command> while holding the dflockd lock <key>: waits for the lock, runs the
command with inherited stdin/stdout/stderr, renews the lease while it runs,
releases the lock when it exits, and exits with the command's exit code.

Options:
  --servers <host:port[,host:port...]>
                           dflockd servers; keys are sharded across them
                           (default: $DFLOCKD_SERVERS, else ${DEFAULT_SERVER})
  --timeout <seconds>      how long to wait for the lock; 0 tries once
                           (default: ${DEFAULT_TIMEOUT_SECONDS})
  --lease <seconds>        lease to request, renewed while the command runs
                           (default: the server's --default-lease-ttl)
  --auth-token-env <VAR>   read the server's auth token from environment variable VAR
  --tls                    connect with TLS, verifying against the system CAs
  --tls-ca <file>          connect with TLS, verifying against this CA (PEM)
  -q, --quiet              print no diagnostics of dflock's own
  -h, --help               print this help
  -V, --version            print the version

Exit codes:
  the command's own        the command ran (128+N if killed by signal N)
  64                       bad arguments
  66                       the --tls-ca file cannot be read
  69                       cannot connect, auth rejected, or the server refused
  70                       the lease was lost while the command ran (it is sent
                           SIGTERM, then SIGKILL after 5 s)
  75                       the lock was not granted within --timeout
  76                       unexpected reply from the server
  126, 127                 the command cannot be executed / was not found

SIGINT and SIGTERM are forwarded to the command; while still waiting for the
lock they abort the wait (exit 128+N).
`

const withValue = new Set(["--servers", "--timeout", "--lease", "--auth-token-env", "--tls-ca"])

const decimal = /^(?:\d+(?:\.\d*)?|\.\d+)$/
const wholeNumber = /^\d+$/
const envName = /^[A-Za-z_][A-Za-z0-9_]*$/

const parseTimeout = (text: string): Result.Result<number, string> => {
  const seconds = Number(text)
  return decimal.test(text) && Number.isFinite(seconds) && seconds <= Codec.MAX_SECONDS
    ? Result.succeed(seconds)
    : Result.fail(`--timeout must be a number of seconds (0 or more), got ${JSON.stringify(text)}`)
}

const parseLease = (text: string): Result.Result<number, string> => {
  const seconds = Number(text)
  return wholeNumber.test(text) && seconds >= 1 && seconds <= Codec.MAX_SECONDS
    ? Result.succeed(seconds)
    : Result.fail(`--lease must be a whole number of seconds (1 or more), got ${JSON.stringify(text)}`)
}

/** Splits and checks a `host:port[,host:port...]` list. */
export const parseServers = (text: string, source: string): Result.Result<ReadonlyArray<string>, string> => {
  const servers = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
  if (servers.length === 0) return Result.fail(`${source} lists no server`)
  for (const server of servers) {
    const address = parseAddress(server)
    if (Result.isFailure(address)) return Result.fail(`${source}: ${address.failure.detail}`)
  }
  return Result.succeed(servers)
}

/**
 * Parses the arguments after the program name. `--help` and `--version` win
 * over anything else before `--`; otherwise the first problem is reported.
 */
export const parseArgs = (argv: ReadonlyArray<string>): Result.Result<CliOptions, string> => {
  const separator = argv.indexOf("--")
  const head = separator === -1 ? argv : argv.slice(0, separator)
  const tail = separator === -1 ? [] : argv.slice(separator + 1)

  // a value is never mistaken for --help: skip the argument after an option that takes one
  for (let i = 0; i < head.length; i++) {
    const arg = head[i]!
    if (withValue.has(arg)) i++
    else if (arg === "--help" || arg === "-h") return Result.succeed({ _tag: "Help" })
    else if (arg === "--version" || arg === "-V") return Result.succeed({ _tag: "Version" })
  }

  let key: string | undefined
  let servers: ReadonlyArray<string> | undefined
  let timeoutSeconds = DEFAULT_TIMEOUT_SECONDS
  let leaseSeconds: number | undefined
  let authTokenEnv: string | undefined
  let tls = false
  let tlsCa: string | undefined
  let quiet = false

  for (let i = 0; i < head.length; i++) {
    const arg = head[i]!
    if (!arg.startsWith("-") || arg === "-") {
      if (key !== undefined) {
        return Result.fail(`unexpected argument ${JSON.stringify(arg)}: the command goes after --`)
      }
      const valid = Codec.validateKey(arg)
      if (Result.isFailure(valid)) return Result.fail(`invalid key ${JSON.stringify(arg)}: ${valid.failure.detail}`)
      key = arg
      continue
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const name = eq === -1 ? arg : arg.slice(0, eq)
    if (name === "--tls" || name === "--quiet" || name === "-q") {
      if (eq !== -1) return Result.fail(`option ${name} takes no value`)
      if (name === "--tls") tls = true
      else quiet = true
      continue
    }
    if (name === "--auth-token") {
      return Result.fail("the auth token is never taken from the command line: use --auth-token-env <VAR>")
    }
    if (!withValue.has(name)) return Result.fail(`unknown option ${name}`)
    let value: string
    if (eq !== -1) {
      value = arg.slice(eq + 1)
    } else {
      const next = head[i + 1]
      if (next === undefined) return Result.fail(`option ${name} needs a value`)
      value = next
      i++
    }
    switch (name) {
      case "--servers": {
        const parsed = parseServers(value, "--servers")
        if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
        servers = parsed.success
        break
      }
      case "--timeout": {
        const parsed = parseTimeout(value)
        if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
        timeoutSeconds = parsed.success
        break
      }
      case "--lease": {
        const parsed = parseLease(value)
        if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
        leaseSeconds = parsed.success
        break
      }
      case "--auth-token-env": {
        if (!envName.test(value)) {
          return Result.fail(`--auth-token-env takes the name of an environment variable, got ${JSON.stringify(value)}`)
        }
        authTokenEnv = value
        break
      }
      case "--tls-ca": {
        if (value.length === 0) return Result.fail("--tls-ca needs a file name")
        tlsCa = value
        break
      }
    }
  }

  if (key === undefined) return Result.fail("missing <key>")
  if (separator === -1) return Result.fail("missing -- before the command")
  const [command, ...args] = tail
  if (command === undefined || command.length === 0) return Result.fail("missing command after --")
  return Result.succeed({
    _tag: "Run",
    key,
    command,
    args,
    servers,
    timeoutSeconds,
    leaseSeconds,
    authTokenEnv,
    tls: tls || tlsCa !== undefined,
    tlsCa,
    quiet
  })
}

/** Where and how to connect, after the environment has been consulted. */
export interface Connect {
  readonly servers: ReadonlyArray<string>
  readonly auth: Redacted.Redacted<string> | undefined
}

/**
 * Resolves the servers (--servers, else DFLOCKD_SERVERS, else the default) and
 * reads the auth token from the variable named by --auth-token-env.
 */
export const resolveConnect = (
  options: RunOptions,
  env: Readonly<Record<string, string | undefined>>
): Result.Result<Connect, string> => {
  let servers = options.servers
  if (servers === undefined) {
    const fromEnv = env["DFLOCKD_SERVERS"]
    if (fromEnv !== undefined && fromEnv.trim().length > 0) {
      const parsed = parseServers(fromEnv, "DFLOCKD_SERVERS")
      if (Result.isFailure(parsed)) return Result.fail(parsed.failure)
      servers = parsed.success
    } else {
      servers = [DEFAULT_SERVER]
    }
  }
  let auth: Redacted.Redacted<string> | undefined
  if (options.authTokenEnv !== undefined) {
    const token = env[options.authTokenEnv]
    if (token === undefined || token.length === 0) {
      return Result.fail(`--auth-token-env: environment variable ${options.authTokenEnv} is not set or empty`)
    }
    // the detail names the problem, never the token
    const valid = Codec.validateAuthToken(token)
    if (Result.isFailure(valid)) {
      return Result.fail(`--auth-token-env: the token in ${options.authTokenEnv} ${valid.failure.detail}`)
    }
    auth = Redacted.make(token)
  }
  return Result.succeed({ servers, auth })
}
