/**
 * The runtime (loaded by main.ts once the command line asks for more than a bare --help or
 * --version): the command line (commandLine.ts), settings source (environment first, then `.env`),
 * logging, signals, exit codes (`exitCode`) and the Node runtime. Everything else lives in
 * services/ and pipeline/, loaded once a command runs.
 */
import { fileURLToPath } from "node:url"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Effect, type FileSystem, Logger, Option, type Path, References } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { Command } from "effect/cli"
import { type CommandRequest, commandLine, commandLineLayer, exitCode } from "./commandLine.ts"
import { type LogOutput, loggerFor } from "./logging.ts"
import { terminalWithProgress } from "./progressBar.ts"
import { quietSettingsSource, settingsSource } from "./settingsSource.ts"
import { packageVersion } from "./version.ts"
import { UnsupportedRuntime } from "../domain/Errors.ts"
import { type Account, chooseAccount, forAccount, loadAccounts } from "../services/Accounts.ts"
import { Progress, progressLogLines } from "../services/Progress.ts"
import {
  loadLogFormat,
  loadLogLevel,
  loadOtlpEndpoint,
  loadProgressInterval,
  type LogFormat,
  type LogLevelName
} from "../services/Settings.ts"

// ---------------------------------------------------------------------------------------------
// Runtime: logging, output, signals, exit codes

const effectLogLevel: Record<LogLevelName, "Trace" | "Debug" | "Info" | "Warn" | "Error"> = {
  TRACE: "Trace",
  DEBUG: "Debug",
  INFO: "Info",
  WARNING: "Warn",
  ERROR: "Error"
}

/**
 * Output nobody reads any more (`… | head` closed the pipe) ends the program as SIGTERM does:
 * quietly, moves in flight finished, instead of dying on an EPIPE stack trace.
 */
let outputClosed = false
const onOutputError = (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error
  if (outputClosed) return
  outputClosed = true
  // With no listener the program has already ended, and SIGTERM would kill it (exit 143) instead.
  if (process.listenerCount("SIGTERM") > 0) process.kill(process.pid, "SIGTERM")
}
process.stdout.on("error", onOutputError)
process.stderr.on("error", onOutputError)

/**
 * SIGHUP: the service reloads its settings (cli/commands/sort.ts listens for it then); any other
 * command stops as on SIGTERM, instead of being killed without a word.
 */
process.on("SIGHUP", () => {
  if (process.listenerCount("SIGHUP") === 1) process.kill(process.pid, "SIGTERM")
})

/** Log lines (cli/logging.ts) go to stdout, warnings and errors to stderr; none once nobody reads them. */
const logOutput: LogOutput = {
  out: (line) => {
    if (!outputClosed) process.stdout.write(line)
  },
  err: (line) => {
    if (!outputClosed) process.stderr.write(line)
  }
}

/** Every log line to stderr: for a command whose stdout is its report, which a pipe or a file may take. */
const reportLogOutput: LogOutput = { out: logOutput.err, err: logOutput.err }

/** Commands whose standard output is their report (`status --json`, `evaluate --html -`, …). */
const reportsOnStdout = (request: CommandRequest): boolean =>
  request.command === "evaluate" || request.command === "history" || request.command === "status"

const loggerLayer = (format: LogFormat, output: LogOutput = logOutput) => Logger.layer([loggerFor(format, output)])

/**
 * Progress shows as a bar when a person watches text logs in a terminal; otherwise (a pipe, a
 * file, journald, JSON logs) as log lines, which a bar's \r would only garble.
 */
const progressBar = (format: LogFormat, output: LogOutput, stream: NodeJS.WriteStream) =>
  format === "text" && stream.isTTY === true ? terminalWithProgress({ ...output, columns: () => stream.columns }) : undefined

const packageRoot = fileURLToPath(new URL("../..", import.meta.url))

/** Effect 4, its HTTP client and better-sqlite3 need Node 22.19 or later (Node 20 crashes in SQLite). */
const checkNodeVersion = Effect.suspend(() => {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
  return major > 22 || (major === 22 && minor >= 19)
    ? Effect.void
    : Effect.fail(
      new UnsupportedRuntime({
        reason: `Node ${process.versions.node} is older than 22.19, which ProtonLumoAI needs: run the project's own ` +
          "Node instead (npx node dist/main.js …)"
      })
    )
})

/**
 * Runs a request. Each command's module, and what it uses (IMAP, SQLite, HTTP, the pipeline), is
 * loaded only now: the command line and its help need none of it, and `status` no IMAP or HTTP.
 */
const run = (request: CommandRequest): Effect.Effect<void, Error, FileSystem.FileSystem | Path.Path> => {
  switch (request.command) {
    case "sort":
      return Effect.flatMap(Effect.promise(() => import("./commands/sort.ts")), (m) => m.sortCommand(request))
    case "demo":
      return Effect.flatMap(Effect.promise(() => import("./commands/demo.ts")), (m) => m.demoCommand(packageRoot, request.dryRun))
    case "history":
      return inAccount(request.account, () =>
        Effect.flatMap(Effect.promise(() => import("./commands/history.ts")), (m) => m.historyCommand(request.limit)))
    case "undo":
      return inAccount(request.account, () =>
        Effect.flatMap(Effect.promise(() => import("./commands/undo.ts")), (m) => m.undoCommand(request.scope, request.dryRun, request.learn)))
    case "evaluate":
      return inAccount(request.account, () =>
        Effect.flatMap(Effect.promise(() => import("./commands/evaluate.ts")), (m) => m.evaluateCommand(request.html)))
    case "status":
      return Effect.flatMap(loadAccounts, (accounts) =>
        request.account === undefined && Option.isSome(accounts) && accounts.value.length > 1
          ? Effect.flatMap(Effect.promise(() => import("./commands/status.ts")), (m) => m.allAccountsStatus(request.json, accounts.value))
          : inAccount(request.account, (account) =>
            Effect.flatMap(Effect.promise(() => import("./commands/status.ts")), (m) => m.statusCommand(request.json, account?.sharedDir)), Effect.succeed(accounts)))
  }
}

/**
 * Runs a command for the account `--account` names (or the only one), or for the plain settings'
 * mailbox; `accounts`: the accounts file, read now unless the caller has read it already.
 */
const inAccount = <R>(
  name: string | undefined,
  command: (account: Account | undefined) => Effect.Effect<void, Error, R>,
  accounts: Effect.Effect<Option.Option<NonEmptyReadonlyArray<Account>>, Error, FileSystem.FileSystem | Path.Path> = loadAccounts
): Effect.Effect<void, Error, R | FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(Effect.flatMap(accounts, chooseAccount(name)), (account) =>
    Option.match(account, {
      onNone: () => command(undefined),
      onSome: (chosen) => forAccount(chosen)(command(chosen))
    }))

/** Typed failures are explained in one line; defects (bugs) keep their stack trace. */
const explainFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tapCause(effect, (cause) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.void
    const failure = Cause.findErrorOption(cause)
    return Option.isSome(failure) && failure.value instanceof Error
      ? Effect.logError(failure.value.message)
      : Effect.logError(Cause.pretty(cause))
  })

const program = (request: CommandRequest, format: LogFormat) => {
  const report = reportsOnStdout(request)
  const output = report ? reportLogOutput : logOutput
  const terminal = progressBar(format, output, report ? process.stderr : process.stdout)
  return Effect.gen(function*() {
    yield* checkNodeVersion
    const level = effectLogLevel[yield* loadLogLevel]
    // Read (and checked) even when a bar shows, so that a wrong value fails alike everywhere.
    const interval = yield* loadProgressInterval
    const progress = terminal?.progress ?? progressLogLines(interval)
    const endpoint = yield* loadOtlpEndpoint
    const { otlpExport } = yield* Effect.promise(() => import("../layers.ts"))
    yield* run(request).pipe(
      Effect.provideService(References.MinimumLogLevel, level),
      Effect.provideService(Progress, progress),
      Effect.provide(otlpExport(endpoint))
    )
  }).pipe(
    Effect.provide(settingsSource),
    explainFailure,
    Effect.provide(loggerLayer(format, terminal?.output ?? output))
  )
}

/** The log format is read first, its errors in text lines (there is no other format yet). */
const runRequest = (request: CommandRequest) =>
  loadLogFormat.pipe(
    Effect.provide(quietSettingsSource),
    explainFailure,
    Effect.provide(loggerLayer("text")),
    Effect.flatMap((format) => program(request, format))
  )

/** `--help`, `--version` and `--completions` read no setting: effect/cli answers them before any handler. */
const main = Command.runWith(commandLine(runRequest), { version: packageVersion() })(process.argv.slice(2)).pipe(
  Effect.provide(commandLineLayer),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  // SIGINT/SIGTERM interrupt the program: a clean stop, exit 0.
  teardown: (exit, onExit) => onExit(exitCode(exit))
})
