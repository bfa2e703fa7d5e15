#!/usr/bin/env node
/**
 * The runtime: settings source (environment first, then `.env`), logging, exit codes and the
 * Node runtime, around the command line (cli/). Everything else lives in services/ and pipeline/.
 */
import { fileURLToPath } from "node:url"
import { inspect } from "node:util"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, ConfigProvider, Console, Effect, Exit, FileSystem, Layer, Logger, Option, type Path, References } from "effect"
import { type CommandLine, HELP, parseCommandLine } from "./cli/args.ts"
import { demoCommand, historyCommand, sortCommand, undoCommand } from "./cli/commands.ts"
import { UnsupportedRuntime, UsageError } from "./domain/Errors.ts"
import { loadLogLevel, type LogLevelName } from "./services/Settings.ts"

// ---------------------------------------------------------------------------------------------
// Runtime: settings source, logging, exit codes

/** The environment first, then `.env` in the working directory if there is one. */
const configProvider = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const env = ConfigProvider.fromEnv()
  if (!(yield* fs.exists(".env"))) return env
  const info = yield* fs.stat(".env")
  if ((info.mode & 0o077) !== 0) {
    yield* Effect.logWarning(".env is readable by other users; it may hold your password: chmod 600 .env")
  }
  return ConfigProvider.orElse(env, yield* ConfigProvider.fromDotEnv({ path: ".env" }))
})

const effectLogLevel: Record<LogLevelName, "Trace" | "Debug" | "Info" | "Warn" | "Error"> = {
  TRACE: "Trace",
  DEBUG: "Debug",
  INFO: "Info",
  WARNING: "Warn",
  ERROR: "Error"
}

/** One plain line per entry: time, level, message. Warnings and errors go to stderr. */
const lineLogger = Logger.make<unknown, void>(({ date, logLevel, message }) => {
  const parts = Array.isArray(message) ? message : [message]
  const text = parts.map((part) => (typeof part === "string" ? part : inspect(part, { depth: 4 }))).join(" ")
  const line = `${date.toISOString()} ${logLevel.toUpperCase().padEnd(5)} ${text}\n`
  if (logLevel === "Error" || logLevel === "Warn" || logLevel === "Fatal") process.stderr.write(line)
  else process.stdout.write(line)
})

const packageRoot = fileURLToPath(new URL("..", import.meta.url))

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
  }
}

const program = Effect.gen(function*() {
  const commandLine = parseCommandLine(process.argv.slice(2), Date.now())
  if (commandLine instanceof UsageError) return yield* commandLine
  if (commandLine.command === "help") return yield* Console.log(HELP)
  yield* checkNodeVersion
  const level = effectLogLevel[yield* loadLogLevel]
  yield* run(commandLine).pipe(Effect.provideService(References.MinimumLogLevel, level))
}).pipe(
  Effect.provide(Layer.unwrap(Effect.map(configProvider, (provider) => ConfigProvider.layer(provider)))),
  // Typed failures are explained in one line; defects (bugs) keep their stack trace.
  Effect.tapCause((cause) => {
    if (Cause.hasInterruptsOnly(cause)) return Effect.void
    const failure = Cause.findErrorOption(cause)
    return Option.isSome(failure) && failure.value instanceof Error
      ? Effect.logError(failure.value.message)
      : Effect.logError(Cause.pretty(cause))
  }),
  Effect.provide(Logger.layer([lineLogger])),
  Effect.provide(NodeServices.layer)
)

NodeRuntime.runMain(program, {
  disableErrorReporting: true,
  // SIGINT/SIGTERM interrupt the program: a clean stop, exit 0. Usage errors 2, other failures 1.
  teardown: (exit, onExit) => {
    if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return onExit(0)
    const failure = Cause.findErrorOption(exit.cause)
    onExit(Option.isSome(failure) && failure.value instanceof UsageError ? 2 : 1)
  }
})
