#!/usr/bin/env node
/**
 * The command line: argument parsing, settings (environment first, then `.env`), logging, the
 * live layers and the Node runtime. Everything else lives in services/ and pipeline/.
 */
import { fileURLToPath } from "node:url"
import { inspect } from "node:util"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, ConfigProvider, Console, Effect, Exit, FileSystem, Layer, Logger, Option, References } from "effect"
import { FetchHttpClient } from "effect/http"
import { runDemo } from "./demo.ts"
import { UsageError } from "./domain/Errors.ts"
import { sourcesThatAreTargets } from "./domain/Folders.ts"
import { runService } from "./pipeline/service.ts"
import { sortMailbox } from "./pipeline/sortMailbox.ts"
import { Categories, loadCategories } from "./services/Categories.ts"
import { Classifier } from "./services/Classifier.ts"
import { Mailbox } from "./services/Mailbox.ts"
import {
  loadImapSettings,
  loadLlmSettings,
  loadLogLevel,
  loadPathSettings,
  loadSortSettings,
  type LogLevelName,
  Settings,
  SettingsError
} from "./services/Settings.ts"
import { SortState } from "./services/SortState.ts"

const HELP = `ProtonLumoAI: sorts an IMAP mailbox (Proton Mail Bridge first) into your own categories.

Usage:
  node dist/main.js [--once] [--dry-run]   sort the configured folders
  node dist/main.js demo [--dry-run]       sort the bundled sample mailbox in memory (no server needed)
  node dist/main.js --help                 this text

Without --once it runs as a service: a pass over the folders, then one every
PROTON_LUMO_POLL_INTERVAL seconds, until SIGINT or SIGTERM (moves in flight finish; exit 0).

  --once      one pass, then exit 0
  --dry-run   log what would move; change nothing on the server (overrides PROTON_LUMO_DRY_RUN)

Settings come from the environment, then from a .env file in the working directory:

  PROTON_BRIDGE_HOST / PROTON_BRIDGE_PORT   127.0.0.1 / 1143   IMAP server (aliases PROTON_LUMO_IMAP_HOST/_PORT)
  PROTON_USERNAME / PROTON_PASSWORD         required           IMAP login (aliases PROTON_LUMO_IMAP_USER/_PASSWORD)
  PROTON_LUMO_IMAP_TLS                      starttls           starttls or tls; never plaintext
  PROTON_LUMO_IMAP_CA_FILE                  none               PEM certificate to trust (pin Bridge's exported certificate)
  PROTON_LUMO_IMAP_TLS_VERIFY               true               false accepts any certificate (warned at start)
  PROTON_LUMO_FOLDERS                       INBOX              comma-separated source folders
  PROTON_LUMO_CONFIG                        ./config           folder holding categories.json
  PROTON_LUMO_DATA                          ./data             folder holding the state (state.json, mode 0600)
  PROTON_LUMO_DRY_RUN                       false              log what would move; change nothing
  PROTON_LUMO_UNSEEN_ONLY                   true               only unread messages
  PROTON_LUMO_MAX_EMAILS_PER_FOLDER         100                per pass, newest first
  PROTON_LUMO_POLL_INTERVAL                 60                 seconds between passes (service mode)
  PROTON_LUMO_ENABLE_PARALLEL               true               false: one worker
  PROTON_LUMO_MAX_WORKERS                   5                  parses and classification calls at once
  PROTON_LUMO_ENABLE_BATCH                  true               false: one email per classification call
  PROTON_LUMO_BATCH_SIZE                    10                 emails per classification call
  PROTON_LUMO_METRICS_ENABLED               true               "Performance Metrics" after each folder
  PROTON_LUMO_LOG_LEVEL                     INFO               TRACE, DEBUG, INFO, WARNING or ERROR
  PROTON_LUMO_LLM_BASE_URL                  none               OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1
  PROTON_LUMO_LLM_MODEL                     none               model name (sonar-pro with Perplexity)
  PROTON_LUMO_LLM_API_KEY                   none               bearer token; falls back to PERPLEXITY_API_KEY
  PERPLEXITY_API_KEY                        none               alone: Perplexity (https://api.perplexity.ai, sonar-pro)
  PROTON_LUMO_LLM_TIMEOUT                   30                 seconds per LLM call; then keywords decide
  PROTON_LUMO_LLM_JSON_MODE                 true               ask for JSON output (response_format with a JSON schema)
  PROTON_LUMO_LLM_MAX_RETRIES               3                  retries after 429, 5xx or network errors (backoff, Retry-After)
  PROTON_LUMO_LLM_MAX_RPM                   60                 requests per minute, shared by all workers
  PROTON_LUMO_LLM_SKIP_CONFIDENT            true               a keyword match at or above its threshold skips the LLM
  PROTON_LUMO_LLM_COST_PER_1K_TOKENS        0                  price per 1,000 tokens, for the cost estimate in the metrics
  PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET        0 (no limit)       tokens per day (UTC); then keywords only until tomorrow
  PROTON_LUMO_LLM_BODY_CHARS                500                body characters sent per email; 0 sends sender and subject only

No LLM key and no base URL: keyword classification only. A missing or invalid setting stops the
program before it connects, naming the variable (exit code 1). Usage errors exit with code 2.`

interface CommandLine {
  readonly command: "sort" | "demo" | "help"
  readonly once: boolean
  readonly dryRun: boolean
}

const parseCommandLine = (args: ReadonlyArray<string>): Effect.Effect<CommandLine, UsageError> => {
  let command: CommandLine["command"] = "sort"
  let once = false
  let dryRun = false
  for (const arg of args) {
    if (arg === "--help" || arg === "-h") command = "help"
    else if (arg === "--once") once = true
    else if (arg === "--dry-run") dryRun = true
    else if (arg === "demo" && command === "sort") command = "demo"
    else return Effect.fail(new UsageError({ reason: `unknown argument "${arg}" (see --help)` }))
  }
  return Effect.succeed({ command, once, dryRun })
}

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

// ---------------------------------------------------------------------------------------------
// Commands

const sortCommand = (commandLine: CommandLine) =>
  Effect.gen(function*() {
    const fromEnv = yield* loadSortSettings
    const settings = commandLine.dryRun ? { ...fromEnv, dryRun: true } : fromEnv
    const paths = yield* loadPathSettings
    const imap = yield* loadImapSettings
    const llm = yield* loadLlmSettings
    const categories = yield* loadCategories(paths.configDir)
    const clash = sourcesThatAreTargets(settings.folders, categories.all.map((category) => category.folder))
    if (clash.length > 0) {
      return yield* new SettingsError({
        variable: "PROTON_LUMO_FOLDERS",
        reason: `${clash.join(", ")} is also a category's target folder; it cannot be a source`
      })
    }
    if (!imap.tlsVerify) {
      yield* Effect.logWarning(
        "PROTON_LUMO_IMAP_TLS_VERIFY=false: the server's certificate is not checked, so whoever can intercept " +
          "the connection can read your password and mail. Prefer PROTON_LUMO_IMAP_CA_FILE with Bridge's certificate."
      )
    }

    const layer = Layer.mergeAll(
      Layer.succeed(Settings, settings),
      Mailbox.layerImap(imap),
      Classifier.layer(llm, paths.dataDir).pipe(Layer.provide(FetchHttpClient.layer)),
      SortState.layerFile(paths.dataDir)
    ).pipe(Layer.provideMerge(Layer.succeed(Categories, categories)))

    yield* Effect.gen(function*() {
      const classifier = yield* Classifier
      yield* Effect.logInfo(
        `ProtonLumoAI on ${imap.host}:${imap.port} (${imap.tls === "tls" ? "TLS" : "STARTTLS"}) as ${imap.user}: ` +
          `${settings.folders.join(", ")} → ${categories.all.length} categories, ${classifier.name} classifier, ` +
          `${settings.workers} workers, batches of ${settings.batchSize}${settings.dryRun ? ", DRY RUN" : ""}`
      )
      if (commandLine.once) yield* sortMailbox()
      else yield* runService
    }).pipe(Effect.provide(layer))
  })

const demoCommand = (commandLine: CommandLine) =>
  Effect.gen(function*() {
    const fromEnv = yield* loadSortSettings
    yield* runDemo(packageRoot, {
      ...fromEnv,
      dryRun: commandLine.dryRun || fromEnv.dryRun,
      maxEmailsPerFolder: Math.max(fromEnv.maxEmailsPerFolder, 1000)
    })
  })

/** Effect 4 and its HTTP client are supported on Node 22.19 and later only. */
const checkNodeVersion = Effect.suspend(() => {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
  return major > 22 || (major === 22 && minor >= 19)
    ? Effect.void
    : Effect.logWarning(
      `Node ${process.versions.node} is older than 22.19, which ProtonLumoAI needs: run the project's own ` +
        "Node instead (npx node dist/main.js …)"
    )
})

const program = Effect.gen(function*() {
  const commandLine = yield* parseCommandLine(process.argv.slice(2))
  if (commandLine.command === "help") return yield* Console.log(HELP)
  yield* checkNodeVersion
  const level = effectLogLevel[yield* loadLogLevel]
  if (commandLine.command === "demo") {
    yield* demoCommand(commandLine).pipe(Effect.provideService(References.MinimumLogLevel, level))
  } else {
    yield* sortCommand(commandLine).pipe(Effect.provideService(References.MinimumLogLevel, level))
  }
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
