/**
 * The `dflock` command line, on effect's `cli` module:
 *
 *   dflock [options] <key> -- <command> [args...]   run a command while holding a lock
 *   dflock stats [options]                           print the servers' statistics
 *
 * Parsing, help (`--help`), shell completions (`--completions bash|zsh|fish`)
 * and usage errors come from `Command`/`Flag`/`Argument`. The connection
 * settings are read through the same `Config` as `DflockdClient.layerConfig`
 * (`DFLOCKD_SERVERS`, `DFLOCKD_AUTH_TOKEN`, `DFLOCKD_TLS`, `DFLOCKD_TLS_CA_FILE`,
 * `DFLOCKD_CONNECT_TIMEOUT`, `DFLOCKD_SERVER_READ_TIMEOUT`, `DFLOCKD_CLUSTER`:
 * same parsers, same errors); a flag, when given, takes its variable's place.
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
import * as Argument from "effect/cli/Argument"
import * as CliConfig from "effect/cli/CliConfig"
import * as CliOutput from "effect/cli/CliOutput"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as GlobalFlag from "effect/cli/GlobalFlag"
import * as DflockdClient from "../DflockdClient.ts"
import type { DflockdError } from "../Errors.ts"
import * as ServerAddress from "../ServerAddress.ts"
import * as Codec from "./codec.ts"
import * as InternalConfig from "./config.ts"
import { ExitCode, type Outcome, runLocked, signalExitCode } from "./cliRun.ts"
import * as CliStats from "./cliStats.ts"

export { ExitCode }

export const DEFAULT_TIMEOUT_SECONDS = 10

const usages: Readonly<Record<"dflock" | "stats", ReadonlyArray<string>>> = {
  dflock: ["dflock [options] <key> -- <command> [args...]", "dflock stats [options]"],
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

const lockConfig = {
  timeout: Flag.Finite("timeout").pipe(
    Flag.withMetavar("seconds"),
    Flag.filter(
      (seconds) => seconds >= 0 && seconds <= Codec.MAX_SECONDS,
      () => "a number of seconds, 0 (try once) or more"
    ),
    Flag.withDescription(`how long to wait for the lock; 0 tries once (default: ${DEFAULT_TIMEOUT_SECONDS})`),
    Flag.withDefault(DEFAULT_TIMEOUT_SECONDS)
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
    Argument.withDescription("the command and its arguments, after --"),
    Argument.variadic({ min: 1 })
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

const reportError = (
  error: DflockdError,
  key: string,
  say: (message: string) => Effect.Effect<void>
): Effect.Effect<number> => {
  switch (error._tag) {
    case "AcquireTimeoutError":
      return Effect.as(say(`timed out waiting for ${key}`), ExitCode.tempFail)
    case "LockLostError":
      return Effect.as(say(`lease on ${key} lost: ${error.reason}`), ExitCode.software)
    case "ConnectionError":
    case "AuthError":
    case "ServerError":
      return Effect.as(say(error.message), ExitCode.unavailable)
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

/**
 * `dflock [options] <key> -- <command> [args...]`. `argv` is the whole command
 * line: the parser treats the words after `--` like any other operand, so the
 * handler checks that the command, and only the command, came after `--`.
 */
const runHandler = (argv: ReadonlyArray<string>) =>
(
  input: Command.Command.Config.Infer<typeof lockConfig> & ConnectionFlags
): Effect.Effect<number, never, Command.Environment> =>
  Effect.gen(function*() {
    const say = sayer(input.quiet)
    if (Option.isSome(input.authToken)) {
      return yield* usageError(
        "dflock",
        `the auth token is never taken from the command line: use --auth-token-env <VAR> or $${InternalConfig.variables.authToken}`
      )
    }
    const separator = argv.indexOf("--")
    if (separator === -1) return yield* usageError("dflock", "missing -- before the command")
    const afterSeparator = argv.length - separator - 1
    if (input.command.length > afterSeparator) {
      return yield* usageError(
        "dflock",
        `unexpected argument ${JSON.stringify(input.command[0])}: the command goes after --`
      )
    }
    if (input.command.length < afterSeparator) return yield* usageError("dflock", "the <key> goes before --")
    const [command, ...args] = input.command
    if (command === undefined || command.length === 0) return yield* usageError("dflock", "missing command after --")
    const validKey = Codec.validateKey(input.key)
    if (Result.isFailure(validKey)) {
      return yield* usageError("dflock", validKey.failure.message)
    }

    const options = yield* Effect.result(connectionOptions(input))
    if (Result.isFailure(options)) return yield* configError("dflock", options.failure, say)
    const valid = checked(options.success)
    if (Result.isFailure(valid)) return yield* usageError("dflock", valid.failure)

    const outcome = yield* runLocked({
      key: input.key,
      command,
      args,
      timeout: Duration.seconds(input.timeout),
      lease: Option.getOrUndefined(Option.map(input.lease, Duration.seconds))
    }).pipe(Effect.scoped, Effect.provide(clientLayer(options.success)), Effect.result)
    if (Result.isFailure(outcome)) return yield* reportError(outcome.failure, input.key, say)
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
      const reason = outcome.error.reason._tag
      const why = reason === "NotFound"
        ? "command not found"
        : reason === "PermissionDenied"
        ? "permission denied"
        : outcome.error.message
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
    if (Option.isSome(flags.authToken)) {
      return yield* usageError(
        "stats",
        `the auth token is never taken from the command line: use --auth-token-env <VAR> or $${InternalConfig.variables.authToken}`
      )
    }
    const options = yield* Effect.result(connectionOptions(flags))
    if (Result.isFailure(options)) return yield* configError("stats", options.failure, say)
    const valid = checked(options.success)
    if (Result.isFailure(valid)) return yield* usageError("stats", valid.failure)
    const all = yield* DflockdClient.stats().pipe(Effect.provide(clientLayer(options.success)), Effect.result)
    if (Result.isFailure(all)) {
      const error = all.failure
      return error._tag === "ServerError"
        ? yield* Effect.as(say(`stats: ${error.message}; stats needs dflockd 1.4 or newer`), ExitCode.unavailable)
        : yield* reportError(error, "", say)
    }
    yield* Console.log(input.json ? CliStats.renderJson(all.success) : CliStats.render(all.success))
    return ExitCode.ok
  })

// ---------------------------------------------------------------------------
// the command tree, help, and the program
// ---------------------------------------------------------------------------

const description = `Runs <command> while holding the dflockd lock <key>: waits for the lock, runs the
  command with inherited stdin/stdout/stderr in a process group of its own, renews the lease while
  it runs, releases the lock once the command (and anything it left running in its group) has
  exited, and exits with the command's exit code.

  Connection settings come from the same variables as DflockdClient.layerConfig (DFLOCKD_SERVERS,
  DFLOCKD_AUTH_TOKEN, DFLOCKD_TLS, DFLOCKD_TLS_CA_FILE, DFLOCKD_CONNECT_TIMEOUT,
  DFLOCKD_SERVER_READ_TIMEOUT, DFLOCKD_CLUSTER); a flag overrides its variable. Set
  --server-read-timeout (DFLOCKD_SERVER_READ_TIMEOUT) to the server's --read-timeout when it is not
  the default 23 s: the lease is counted as lost, and the command stopped, by that deadline.

  Exit codes: the command's own (128+N if killed by signal N); 64 bad arguments or configuration;
  66 the CA file cannot be read; 69 cannot connect, auth rejected, or the server refused;
  70 the lease was lost while the command ran (its process group gets SIGTERM, then SIGKILL after
  5 s); 75 the lock was not granted within --timeout; 76 unexpected reply from the server;
  126/127 the command cannot be executed / was not found.

  SIGINT and SIGTERM sent to dflock go to the command's process group (SIGKILL after 5 s); while
  dflock still waits for the lock they abandon the wait (exit 128+N).`

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
