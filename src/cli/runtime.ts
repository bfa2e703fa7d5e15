/**
 * The runtime (loaded by main.ts once the command line asks for more than --help or --version):
 * settings source (environment first, then `.env`), logging, signals, exit codes and
 * the Node runtime, around the command line (cli/). Everything else lives in services/ and pipeline/.
 *
 * Exit codes: 0 success, or a stop by SIGINT/SIGTERM; 1 a setting, login, connection, folder or
 * data-folder lock error; 2 a wrong command-line argument; 3 `--once` ended with messages it could
 * not sort (they stay where they were).
 */
import { fileURLToPath } from "node:url"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Console, Effect, Exit, type FileSystem, Logger, Option, type Path, References } from "effect"
import { type CommandLine, parseCommandLine } from "./args.ts"
import { otlpExport } from "../layers.ts"
import { demoCommand, evaluateCommand, historyCommand, sortCommand, statusCommand, undoCommand } from "./commands.ts"
import { HELP } from "./help.ts"
import { type LogOutput, loggerFor } from "./logging.ts"
import { terminalWithProgress } from "./progressBar.ts"
import { quietSettingsSource, settingsSource } from "./settingsSource.ts"
import { SortIncomplete, UnsupportedRuntime, UsageError } from "../domain/Errors.ts"
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
  process.kill(process.pid, "SIGTERM")
}
process.stdout.on("error", onOutputError)
process.stderr.on("error", onOutputError)

/**
 * SIGHUP: the service reloads its settings (cli/commands.ts listens for it then); any other
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

const loggerLayer = (format: LogFormat, output: LogOutput = logOutput) => Logger.layer([loggerFor(format, output)])

/**
 * Progress shows as a bar when a person watches text logs in a terminal; otherwise (a pipe, a
 * file, journald, JSON logs) as log lines, which a bar's \r would only garble.
 */
const progressBar = (format: LogFormat) =>
  format === "text" && process.stdout.isTTY === true
    ? terminalWithProgress({ ...logOutput, columns: () => process.stdout.columns })
    : undefined

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

const run = (
  commandLine: Exclude<CommandLine, { readonly command: "help" }>
): Effect.Effect<void, Error, FileSystem.FileSystem | Path.Path> => {
  switch (commandLine.command) {
    case "sort":
      return sortCommand(commandLine)
    case "demo":
      return demoCommand(packageRoot, commandLine.dryRun)
    case "history":
      return historyCommand(commandLine.limit)
    case "undo":
      return undoCommand(commandLine.scope, commandLine.dryRun)
    case "evaluate":
      return evaluateCommand(commandLine.html)
    case "status":
      return statusCommand(commandLine.json)
  }
}

/** Typed failures are explained in one line; defects (bugs) keep their stack trace. */
const explainFailure = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tapCause(effect, (cause) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.void
    const failure = Cause.findErrorOption(cause)
    return Option.isSome(failure) && failure.value instanceof Error
      ? Effect.logError(failure.value.message)
      : Effect.logError(Cause.pretty(cause))
  })

/**
 * What to run, and in which log format. The command line and the format are settled first, their
 * errors in text lines (there is no other format yet); `--help` reads no setting at all.
 */
const start = Effect.gen(function*() {
  const commandLine = parseCommandLine(process.argv.slice(2), Date.now())
  if (commandLine instanceof UsageError) return yield* commandLine
  if (commandLine.command === "help") return yield* Effect.as(Console.log(HELP), Option.none())
  const format = yield* loadLogFormat.pipe(Effect.provide(quietSettingsSource))
  return Option.some({ commandLine, format })
}).pipe(explainFailure, Effect.provide(loggerLayer("text")))

const program = (commandLine: Exclude<CommandLine, { readonly command: "help" }>, format: LogFormat) => {
  const terminal = progressBar(format)
  return Effect.gen(function*() {
    yield* checkNodeVersion
    const level = effectLogLevel[yield* loadLogLevel]
    // Read (and checked) even when a bar shows, so that a wrong value fails alike everywhere.
    const interval = yield* loadProgressInterval
    const progress = terminal?.progress ?? progressLogLines(interval)
    const otlp = otlpExport(yield* loadOtlpEndpoint)
    yield* run(commandLine).pipe(
      Effect.provideService(References.MinimumLogLevel, level),
      Effect.provideService(Progress, progress),
      Effect.provide(otlp)
    )
  }).pipe(Effect.provide(settingsSource), explainFailure, Effect.provide(loggerLayer(format, terminal?.output)))
}

const main = start.pipe(
  Effect.flatMap(Option.match({
    onNone: () => Effect.void,
    onSome: ({ commandLine, format }) => program(commandLine, format)
  })),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  // SIGINT/SIGTERM interrupt the program: a clean stop, exit 0. Usage errors 2, other failures 1.
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
    const failure = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
    onExit(failure instanceof UsageError ? 2 : failure instanceof SortIncomplete ? 3 : 1)
  }
})
