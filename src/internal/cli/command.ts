/**
 * The `dflock` command line, on effect's `cli` module:
 *
 *   dflock [options] <key> -- <command> [args...]   run a command while holding a lock
 *   dflock [options] <key> -c <string>              the same, the command run by /bin/sh -c
 *   dflock stats [options]                           print the servers' statistics
 *
 * Parsing, help (`--help`), shell completions (`--completions bash|zsh|fish`)
 * and usage errors come from `Command`/`Flag`/`Argument`. The connection
 * settings are read through the same `Config` as `DflockdClient.layerConfig`
 * (`DFLOCKD_SERVERS`, `DFLOCKD_AUTH_TOKEN`, `DFLOCKD_TLS`, `DFLOCKD_TLS_CA_FILE`,
 * `DFLOCKD_CONNECT_TIMEOUT`, `DFLOCKD_SERVER_READ_TIMEOUT`, `DFLOCKD_CLUSTER`:
 * same parsers, same errors); a flag, when given, takes its variable's place.
 * The library's connection and auth errors are reported in dflock's words
 * (./hints.ts): their hints name dflock's flags and variables.
 *
 * Every outcome is an exit code (see {@link ExitCode}); {@link main} never fails.
 */
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Ref from "effect/Ref"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Argument from "effect/cli/Argument"
import * as CliConfig from "effect/cli/CliConfig"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlag from "effect/cli/GlobalFlag"
import * as DflockdClient from "../client/client.ts"
import type { DflockdError } from "../errors/errors.ts"
import * as ServerAddress from "../options/address.ts"
import * as Codec from "../protocol/codec.ts"
import * as InternalConfig from "../options/config.ts"
import * as CliHints from "./hints.ts"
import { ExitCode, type Outcome, runLocked, signalExitCode } from "./run.ts"
import * as CliStats from "./stats.ts"

export { ExitCode }

export const DEFAULT_TIMEOUT_SECONDS = 10

const usages: Readonly<Record<"dflock" | "stats", ReadonlyArray<string>>> = {
  dflock: [
    "dflock [options] <key> -- <command> [args...]",
    "dflock [options] <key> -c <string>",
    "dflock stats [options]"
  ],
  stats: ["dflock stats [options]"]
}

const usageLines = (command: "dflock" | "stats"): string => `usage: ${usages[command].join("\n       ")}`

const envName = /^[A-Za-z_][A-Za-z0-9_]*$/

// ---------------------------------------------------------------------------
// flags
// ---------------------------------------------------------------------------

/** Connection flags, shared by `dflock <key>` and `dflock stats` (before or after `stats`). */
const connectionFlags = {
  servers: Flag.String("servers").pipe(
    Flag.withMetavar("host:port[,host:port...]"),
    Flag.withDescription(
      `dflockd servers, keys sharded across them (default: $${InternalConfig.variables.servers}, else ${ServerAddress.DEFAULT_SERVER})`
    ),
    Flag.optional
  ),
  authTokenEnv: Flag.String("auth-token-env").pipe(
    Flag.withMetavar("VAR"),
    Flag.filter(
      (name) => envName.test(name),
      (name) => `the name of an environment variable, got ${JSON.stringify(name)}`
    ),
    Flag.withDescription(
      `read the auth token from environment variable VAR (default: $${InternalConfig.variables.authToken})`
    ),
    Flag.optional
  ),
  // never given a value on the command line (it would show in `ps` and the shell history); only
  // declared to refuse it with a better message than "unrecognized", without echoing the value
  authToken: Flag.Redacted("auth-token").pipe(Flag.withHidden, Flag.optional),
  tls: Flag.Boolean("tls").pipe(
    Flag.withDescription(`TLS with the system CAs; --no-tls turns it off (default: $${InternalConfig.variables.tls})`),
    Flag.optional
  ),
  tlsCa: Flag.String("tls-ca").pipe(
    Flag.withMetavar("file"),
    Flag.withDescription(
      `TLS, verifying the server against this CA (PEM) (default: $${InternalConfig.variables.tlsCaFile})`
    ),
    Flag.optional
  ),
  connectTimeout: Flag.String("connect-timeout").pipe(
    Flag.withMetavar("duration"),
    Flag.withDescription(
      `dial and TLS handshake timeout, e.g. "3 seconds" (default: $${InternalConfig.variables.connectTimeout}, else 5 seconds)`
    ),
    Flag.optional
  ),
  serverReadTimeout: Flag.String("server-read-timeout").pipe(
    Flag.withMetavar("duration"),
    Flag.withDescription(
      `the server's --read-timeout, e.g. "30 seconds": the lease counts as lost that long after the last ` +
        `answered exchange; heartbeats every third of it ` +
        `(default: $${InternalConfig.variables.serverReadTimeout}, else 23 seconds)`
    ),
    Flag.optional
  ),
  quiet: Flag.Boolean("quiet").pipe(
    Flag.withAlias("q"),
    Flag.withDescription("print no diagnostics of dflock's own"),
    Flag.withDefault(false)
  )
}

type ConnectionFlags = Command.Command.Config.Infer<typeof connectionFlags>

/** Milliseconds per unit of a `--timeout` such as `300ms` or `1.5 minutes`. */
const timeoutUnits: Readonly<Record<string, number>> = {
  ms: 1,
  milli: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000
}

const timeoutPattern = /^((?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)$/i

const parseDuration = Schema.decodeUnknownOption(Schema.DurationFromString)

/**
 * A `--timeout`: a number of seconds (`10`, `0.3`: fractions are kept to the
 * millisecond), a number with a unit (`300ms`, `1.5 s`, `2 minutes`), or what
 * `Config.Duration` reads (`"300 millis"`). 0 tries once. Exact: the client
 * gives up at that instant, whatever the server's whole seconds.
 */
export const parseTimeout = (text: string): Option.Option<Duration.Duration> => {
  const match = timeoutPattern.exec(text.trim())
  const factor = match === null ? undefined : match[2] === "" ? 1000 : timeoutUnits[match[2]!.toLowerCase()]
  const millis = match !== null && factor !== undefined
    ? Math.round(Number(match[1]) * factor)
    : Option.match(parseDuration(text), { onNone: () => Number.NaN, onSome: Duration.toMillis })
  return Number.isFinite(millis) && millis >= 0 && millis <= Codec.MAX_SECONDS * 1000
    ? Option.some(Duration.millis(millis))
    : Option.none()
}

const lockConfig = {
  timeout: Flag.String("timeout").pipe(
    Flag.withAlias("w"),
    Flag.withMetavar("duration"),
    Flag.filterMap(
      parseTimeout,
      () => `seconds (10, 0.3) or a duration (300ms, "1.5 seconds"); 0 tries once`
    ),
    Flag.withDescription(
      `how long to wait for the lock: seconds (2.5) or a duration (300ms, "2 minutes"); 0 tries once ` +
        `(default: ${DEFAULT_TIMEOUT_SECONDS})`
    ),
    Flag.optional
  ),
  nonblock: Flag.Boolean("nonblock").pipe(
    Flag.withAlias("n"),
    Flag.withDescription("do not wait for the lock: try once, as --timeout 0"),
    Flag.withDefault(false)
  ),
  conflictExitCode: Flag.Int("conflict-exit-code").pipe(
    Flag.withAlias("E"),
    Flag.withMetavar("code"),
    Flag.filter((code) => code >= 0 && code <= 255, () => "an exit code from 0 to 255"),
    Flag.withDescription(`exit code when the lock is not granted in time (default: ${ExitCode.tempFail})`),
    Flag.withDefault(ExitCode.tempFail)
  ),
  shellCommand: Flag.String("command").pipe(
    Flag.withAlias("c"),
    Flag.withMetavar("string"),
    Flag.withDescription("run <string> with /bin/sh -c, in place of -- <command> [args...]"),
    Flag.optional
  ),
  limit: Flag.Int("limit").pipe(
    Flag.withMetavar("N"),
    Flag.filter(
      (limit) => Result.isSuccess(Codec.validateLimit(limit)),
      () => `a whole number from 1 to ${Codec.MAX_LIMIT}`
    ),
    Flag.withDescription(
      "hold one of N permits of the semaphore <key> instead of the lock: up to N commands at once " +
        "(a server with semaphores, dflockd 1.2 or newer)"
    ),
    Flag.optional
  ),
  lease: Flag.Int("lease").pipe(
    Flag.withMetavar("seconds"),
    Flag.filter(
      (seconds) => seconds >= 1 && seconds <= Codec.MAX_SECONDS,
      () => "a whole number of seconds, 1 or more"
    ),
    Flag.withDescription("lease to request, renewed while the command runs (default: the server's)"),
    Flag.optional
  ),
  key: Argument.String("key").pipe(Argument.withDescription("the lock to hold while the command runs")),
  command: Argument.String("command").pipe(
    Argument.withDescription("the command and its arguments, after -- (or -c <string>)"),
    Argument.variadic({ min: 0 })
  )
}

// ---------------------------------------------------------------------------
// connection settings: the layerConfig Config, flags in their variables' place
// ---------------------------------------------------------------------------

/**
 * The client options from the current `ConfigProvider` (the environment) and
 * the flags: a given flag's value is provided under the flag's own name, which
 * replaces the variable's name in {@link InternalConfig.connectionConfig}.
 */
export const connectionOptions = (
  flags: ConnectionFlags
): Effect.Effect<DflockdClient.ClientOptions, Config.ConfigError> =>
  Effect.gen(function*() {
    const given: Record<string, string> = {}
    const pick = (flag: Option.Option<string>, name: string, variable: string): string =>
      Option.match(flag, {
        onNone: () => variable,
        onSome: (value) => {
          given[name] = value
          return name
        }
      })
    const { variables } = InternalConfig
    const sources: InternalConfig.Sources = {
      servers: pick(flags.servers, "--servers", variables.servers),
      authToken: Option.getOrElse(flags.authTokenEnv, () => variables.authToken),
      authTokenRequired: Option.isSome(flags.authTokenEnv),
      tls: pick(Option.map(flags.tls, String), "--tls", variables.tls),
      tlsCaFile: pick(flags.tlsCa, "--tls-ca", variables.tlsCaFile),
      connectTimeout: pick(flags.connectTimeout, "--connect-timeout", variables.connectTimeout),
      serverReadTimeout: pick(flags.serverReadTimeout, "--server-read-timeout", variables.serverReadTimeout),
      cluster: variables.cluster
    }
    const environment = yield* ConfigProvider.ConfigProvider
    const provider = ConfigProvider.orElse(ConfigProvider.fromEnvRecord(given), environment)
    return yield* InternalConfig.connectionConfig(sources).parse(provider)
  })

// ---------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------

/** dflock's diagnostics on stderr, unless --quiet. */
const sayer = (quiet: boolean) => (message: string): Effect.Effect<void> =>
  quiet ? Effect.void : Console.error(`dflock: ${message}`)

const usageError = (command: "dflock" | "stats", message: string): Effect.Effect<number> =>
  Console.error(`dflock: ${message}\n${usageLines(command)}\nTry 'dflock --help' for more information.`).pipe(
    Effect.as(ExitCode.usage)
  )

const configError = (
  command: "dflock" | "stats",
  error: Config.ConfigError,
  say: (message: string) => Effect.Effect<void>
): Effect.Effect<number> => {
  // one line: the problem, and the variable or flag (`at ["DFLOCKD_SERVERS"]`) where effect's own message puts it
  const message = error.cause.message.split("\n").map((line) => line.trim()).join(" ")
  return InternalConfig.isUnreadableFile(error)
    ? Effect.as(say(message), ExitCode.noInput)
    : usageError(command, message)
}

/** What dflock knows when it reports an error: the settings its advice names. */
interface Reporting {
  /** The key, or "" for `stats`. */
  readonly key: string
  readonly say: (message: string) => Effect.Effect<void>
  readonly hints: CliHints.HintContext
  /** -E/--conflict-exit-code. */
  readonly conflictExitCode: number
  /** The wait was 0 (-n, --timeout 0). */
  readonly triedOnce: boolean
  /** --limit: a semaphore permit instead of the lock. */
  readonly limit: number | undefined
}

/** The advice's context from the flags and the options they gave. */
const hintContext = (flags: ConnectionFlags, options: DflockdClient.ClientOptions): CliHints.HintContext => ({
  tls: options.tls !== undefined && options.tls !== false,
  token: options.auth === undefined ? undefined : {
    variable: Option.getOrElse(flags.authTokenEnv, () => InternalConfig.variables.authToken),
    viaFlag: Option.isSome(flags.authTokenEnv)
  }
})

const reportError = (error: DflockdError, reporting: Reporting): Effect.Effect<number> => {
  const { key, limit, say } = reporting
  switch (error._tag) {
    case "AcquireTimeoutError": {
      const what = limit === undefined ? key : `a permit of ${key} (--limit ${limit})`
      return Effect.as(
        say(reporting.triedOnce ? `${what}: not free, and not waiting` : `timed out waiting for ${what}`),
        reporting.conflictExitCode
      )
    }
    case "LockLostError":
      return Effect.as(say(`lease on ${key} lost: ${error.reason}`), ExitCode.software)
    case "ConnectionError":
      return Effect.as(say(CliHints.connectionMessage(error, reporting.hints)), ExitCode.unavailable)
    case "AuthError":
      return Effect.as(say(CliHints.authMessage(error, reporting.hints)), ExitCode.unavailable)
    case "ServerError": {
      const why = limit === undefined
        ? ""
        : error.reason === "limit_mismatch"
        ? `: ${key} is in use with a limit other than --limit ${limit}`
        : error.reason === "error"
        ? "; --limit needs a server with semaphores (dflockd 1.2 or newer)"
        : ""
      return Effect.as(say(`${error.message}${why}`), ExitCode.unavailable)
    }
    case "ProtocolError":
      return Effect.as(say(error.message), ExitCode.protocol)
    case "InvalidArgumentError":
      return usageError(key === "" ? "stats" : "dflock", error.message)
  }
}

/** The client for one dflock run: one connection per request, nothing idle left behind. */
const clientLayer = (options: DflockdClient.ClientOptions) => DflockdClient.layer({ ...options, pool: false })

/** Checks the client options as `DflockdClient.layer` would, before anything connects. */
const checked = (options: DflockdClient.ClientOptions) =>
  Result.mapError(DflockdClient.resolveOptions(options), (error) => error.message)

const tokenOnCommandLine = (command: "dflock" | "stats") =>
  usageError(
    command,
    `the auth token is never taken from the command line: use --auth-token-env <VAR> or $${InternalConfig.variables.authToken}`
  )

/**
 * The command to run: `-c <string>` (through /bin/sh), or the words after `--`.
 * `argv` is the whole command line: the parser treats the words after `--`
 * like any other operand, so this checks that the command, and only the
 * command, came after `--`.
 */
const commandLine = (
  argv: ReadonlyArray<string>,
  input: Command.Command.Config.Infer<typeof lockConfig>
): Result.Result<{ readonly command: string; readonly args: ReadonlyArray<string> }, string> => {
  const separator = argv.indexOf("--")
  if (Option.isSome(input.shellCommand)) {
    if (separator !== -1 || input.command.length > 0) {
      return Result.fail("-c <string> is the whole command: give it, or -- <command> [args...], not both")
    }
    if (input.shellCommand.value.trim().length === 0) return Result.fail("missing command after -c")
    return Result.succeed({ command: "/bin/sh", args: ["-c", input.shellCommand.value] })
  }
  if (separator === -1) {
    return Result.fail(
      input.command.length === 0
        ? "missing the command: -- <command> [args...], or -c <string>"
        : "missing -- before the command"
    )
  }
  const afterSeparator = argv.length - separator - 1
  if (input.command.length > afterSeparator) {
    return Result.fail(`unexpected argument ${JSON.stringify(input.command[0])}: the command goes after --`)
  }
  if (input.command.length < afterSeparator) return Result.fail("the <key> goes before --")
  const [command, ...args] = input.command
  if (command === undefined || command.length === 0) return Result.fail("missing command after --")
  return Result.succeed({ command, args })
}

/** `dflock [options] <key> -- <command> [args...]` and `dflock [options] <key> -c <string>`. */
const runHandler = (argv: ReadonlyArray<string>) =>
(
  input: Command.Command.Config.Infer<typeof lockConfig> & ConnectionFlags
): Effect.Effect<number, never, Command.Environment> =>
  Effect.gen(function*() {
    const say = sayer(input.quiet)
    if (Option.isSome(input.authToken)) return yield* tokenOnCommandLine("dflock")
    if (input.nonblock && Option.isSome(input.timeout)) {
      return yield* usageError("dflock", "-n/--nonblock is --timeout 0: give one of them")
    }
    const line = commandLine(argv, input)
    if (Result.isFailure(line)) return yield* usageError("dflock", line.failure)
    const { args, command } = line.success
    const validKey = Codec.validateKey(input.key)
    if (Result.isFailure(validKey)) {
      return yield* usageError("dflock", validKey.failure.message)
    }

    const options = yield* Effect.result(connectionOptions(input))
    if (Result.isFailure(options)) return yield* configError("dflock", options.failure, say)
    const valid = checked(options.success)
    if (Result.isFailure(valid)) return yield* usageError("dflock", valid.failure)

    const timeout = input.nonblock
      ? Duration.zero
      : Option.getOrElse(input.timeout, () => Duration.seconds(DEFAULT_TIMEOUT_SECONDS))
    const limit = Option.getOrUndefined(input.limit)
    const outcome = yield* runLocked({
      key: input.key,
      command,
      args,
      timeout,
      lease: Option.getOrUndefined(Option.map(input.lease, Duration.seconds)),
      limit,
      say
    }).pipe(Effect.scoped, Effect.provide(clientLayer(options.success)), Effect.result)
    if (Result.isFailure(outcome)) {
      return yield* reportError(outcome.failure, {
        key: input.key,
        say,
        hints: hintContext(input, options.success),
        conflictExitCode: input.conflictExitCode,
        triedOnce: Duration.isZero(timeout),
        limit
      })
    }
    return yield* report(outcome.success, input.key, command, say)
  })

const report = (
  outcome: Outcome,
  key: string,
  command: string,
  say: (message: string) => Effect.Effect<void>
): Effect.Effect<number> => {
  switch (outcome._tag) {
    case "Exited":
      return Effect.succeed(outcome.status)
    case "Signalled":
      return Effect.as(say(`${outcome.signal} while waiting for ${key}`), signalExitCode(outcome.signal))
    case "SpawnFailed": {
      const { message, reason } = outcome.error
      const why = reason === "NotFound"
        ? "command not found"
        : reason === "PermissionDenied"
        ? "permission denied"
        : message
      return Effect.as(
        say(`cannot run ${command}: ${why}`),
        reason === "NotFound" ? ExitCode.notFound : ExitCode.cannotExecute
      )
    }
  }
}

/** `dflock stats [--json] [options]`. */
const statsHandler = (
  input: { readonly json: boolean },
  flags: ConnectionFlags
): Effect.Effect<number> =>
  Effect.gen(function*() {
    const say = sayer(flags.quiet)
    if (Option.isSome(flags.authToken)) return yield* tokenOnCommandLine("stats")
    const options = yield* Effect.result(connectionOptions(flags))
    if (Result.isFailure(options)) return yield* configError("stats", options.failure, say)
    const valid = checked(options.success)
    if (Result.isFailure(valid)) return yield* usageError("stats", valid.failure)
    const all = yield* DflockdClient.stats().pipe(Effect.provide(clientLayer(options.success)), Effect.result)
    if (Result.isFailure(all)) {
      const error = all.failure
      return error._tag === "ServerError"
        ? yield* Effect.as(say(`stats: ${error.message}; stats needs dflockd 1.4 or newer`), ExitCode.unavailable)
        : yield* reportError(error, {
          key: "",
          say,
          hints: hintContext(flags, options.success),
          conflictExitCode: ExitCode.tempFail,
          triedOnce: false,
          limit: undefined
        })
    }
    yield* Console.log(input.json ? CliStats.renderJson(all.success) : CliStats.render(all.success))
    return ExitCode.ok
  })

// ---------------------------------------------------------------------------
// the command tree, help, and the program
// ---------------------------------------------------------------------------

const description = `Runs <command> while holding the dflockd lock <key>: waits for the lock, runs the
  command with inherited stdin/stdout/stderr in a process group of its own, renews the lease while
  it runs, releases the lock as soon as the command (and anything it left running in its group) has
  exited, and exits with the command's exit code. -c <string> runs <string> with /bin/sh -c instead
  of -- <command> [args...]. With --limit N, <key> is a semaphore: up to N commands hold a permit
  at once.

  Connection settings come from the same variables as DflockdClient.layerConfig (DFLOCKD_SERVERS,
  DFLOCKD_AUTH_TOKEN, DFLOCKD_TLS, DFLOCKD_TLS_CA_FILE, DFLOCKD_CONNECT_TIMEOUT,
  DFLOCKD_SERVER_READ_TIMEOUT, DFLOCKD_CLUSTER); a flag overrides its variable. Set
  --server-read-timeout (DFLOCKD_SERVER_READ_TIMEOUT) to the server's --read-timeout when it is not
  the default 23 s: the lease is counted as lost, and the command stopped, by that deadline.

  Exit codes: the command's own (128+N if killed by signal N); 64 bad arguments or configuration;
  66 the CA file cannot be read; 69 cannot connect, auth rejected, or the server refused;
  70 the lease was lost while the command ran (its process group gets SIGTERM, then SIGKILL after
  5 s); 75 (or -E <code>) the lock was not granted within --timeout, or at once with -n;
  76 unexpected reply from the server; 126/127 the command cannot be executed / was not found.

  SIGINT and SIGTERM sent to dflock go to the command's process group; SIGKILL follows 5 s after
  the first signal if anything of the group still runs (one line on stderr says so). While dflock
  still waits for the lock they abandon the wait (exit 128+N).`

/** The `dflock` command tree; `argv` is the command line it will parse (see the run handler). */
export const make = (argv: ReadonlyArray<string>, exit: (code: number) => Effect.Effect<void>) => {
  const root = Command.make("dflock", lockConfig).pipe(
    Command.withSharedFlags(connectionFlags),
    Command.withHandler((input) => Effect.flatMap(runHandler(argv)(input), exit)),
    Command.withDescription(description),
    Command.withExamples([
      {
        command: "dflock --timeout 0 --lease 60 nightly-report -- ./generate-report.sh",
        description: "at most one nightly report at a time, across all machines"
      },
      {
        command: "dflock -n -q -E 0 -c 'pg_dump app > /backup/app.sql' backup",
        description: "cron: skip quietly (exit 0) when another backup still runs"
      },
      {
        command: "dflock --limit 4 --timeout 300ms encoders -- ffmpeg -i in.mov out.mp4",
        description: "at most 4 encoders at once; give up after 300 ms"
      },
      { command: "dflock stats --json", description: "what the servers hold, as JSON" }
    ])
  )
  const stats = Command.make(
    "stats",
    { json: Flag.Boolean("json").pipe(Flag.withDescription("print JSON instead of tables"), Flag.withDefault(false)) },
    (input) => Effect.flatMap(Effect.flatMap(root, (flags) => statsHandler(input, flags)), exit)
  ).pipe(
    Command.withDescription(
      "Prints each server's statistics (connections, held and waited-for locks, semaphores, idle keys): " +
        "tables, or JSON with --json. Needs a server with the stats command (dflockd 1.4 or newer)."
    ),
    Command.withShortDescription("print the servers' statistics")
  )
  return root.pipe(Command.withSubcommands([stats]))
}

/** `-V`/`--version`, printing `dflock <version>`. */
const Version = GlobalFlag.Action({
  flag: Flag.Boolean("version").pipe(
    Flag.withAlias("V"),
    Flag.withDescription("print the version"),
    Flag.withDefault(false)
  ),
  run: (_, { version }) => Console.log(`dflock ${version}`)
})

/** Help and version on stdout; a bad command line on stderr, as `dflock: <problem>` and the usage. */
const presenter: CliOutput.Presenter = {
  present: (event) =>
    Effect.gen(function*() {
      const formatter = yield* CliOutput.Formatter
      switch (event._tag) {
        case "Help": {
          // the generated usage line cannot show the `--` before the command
          const command = event.commandPath[event.commandPath.length - 1] === "stats" ? "stats" : "dflock"
          return yield* Console.log(
            formatter.formatHelpDoc({ ...event.helpDoc, usage: usages[command].join("\n  ") })
          )
        }
        case "Version":
          return yield* Console.log(`${event.name} ${event.version}`)
        case "InvalidInvocation": {
          const command = event.commandPath[event.commandPath.length - 1] === "stats" ? "stats" : "dflock"
          const problems = event.errors.map((error) => `dflock: ${error.message}`).join("\n")
          return yield* Console.error(
            `${problems}\n${usageLines(command)}\nTry 'dflock --help' for more information.`
          )
        }
      }
    })
}

const cliLayer = Layer.mergeAll(
  CliOutput.layerPresenter(presenter),
  CliConfig.layer({ builtIns: [GlobalFlag.Help, Version, GlobalFlag.Completions] })
)

/**
 * Runs `dflock` with the arguments after the program name and returns the exit
 * code. Never fails: every error is reported on stderr and mapped to a code.
 */
export const main = (
  argv: ReadonlyArray<string>,
  version: string
): Effect.Effect<number, never, Command.Environment> =>
  Effect.gen(function*() {
    const status = yield* Ref.make<number>(ExitCode.ok)
    const cli = make(argv, (code) => Ref.set(status, code))
    const ran = yield* Effect.result(Command.runWith(cli, { version })(argv))
    // a CliError: the presenter has already shown the problem
    if (Result.isFailure(ran)) return ExitCode.usage
    return yield* Ref.get(status)
  }).pipe(
    Effect.provide(cliLayer),
    // dflock prints its own diagnostics; the library's log lines (e.g. its own
    // "lease lost" warning) would only repeat them, and stdout belongs to the command
    Effect.provideService(References.MinimumLogLevel, "None"),
    Effect.catchCause((cause) =>
      Console.error(`dflock: internal error: ${Cause.pretty(cause)}`).pipe(Effect.as(ExitCode.software))
    )
  )
