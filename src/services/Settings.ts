/**
 * Settings, read through Effect's `ConfigProvider` (the CLI gives it the environment first, then `.env`).
 * Names are the original tool's (`PROTON_LUMO_*`); each failure names the variable at fault.
 */
import { isIPv4, isIPv6 } from "node:net"
import { Config, Context, Duration, Effect, Option, type Redacted, Schema } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { levelProblem } from "../domain/FolderNames.ts"
import { isForbiddenSource } from "../domain/Folders.ts"

export class SettingsError extends Schema.TaggedError<SettingsError>()("SettingsError", {
  variable: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.variable}: ${this.reason}`
  }
}

/** What one sorting pass needs to know. */
export interface SortSettings {
  readonly folders: NonEmptyReadonlyArray<string>
  readonly dryRun: boolean
  readonly unseenOnly: boolean
  readonly maxEmailsPerFolder: number
  readonly pollInterval: Duration.Duration
  /**
   * IMAP connections per account in service mode, the sorting one included: the others only
   * watch source folders for new mail (see MailWatch and domain/WatchPlan.ts).
   */
  readonly maxConnections: number
  /** Effective parallelism: 1 when PROTON_LUMO_ENABLE_PARALLEL=false. */
  readonly workers: number
  /** Effective batch size: 1 when PROTON_LUMO_ENABLE_BATCH=false. */
  readonly batchSize: number
  /** How long a partial batch may wait for more mail before it is classified anyway. */
  readonly batchWindow: Duration.Duration
  readonly metricsEnabled: boolean
  /** Bytes of each message fetched for classification; the rest (attachments) stays on the server. */
  readonly maxMessageBytes: number
  /** Messages per FETCH command. */
  readonly fetchChunkSize: number
  /**
   * At most this many decisions, across classification batches, in one round of moves (one
   * UID MOVE per destination): the mover takes whatever is waiting for it.
   */
  readonly moveBatchSize: number
  /** Learn from the messages in the category folders, and the read mail left in the source folders. */
  readonly learn: boolean
  /** At most this many messages (the newest) learned from each folder. */
  readonly learnMaxPerFolder: number
  /**
   * Subjects of the newest messages filed in each category shown to the LLM (0: none, the
   * default: it sends more of the user's mail to the provider).
   */
  readonly llmExamples: number
}

/**
 * IMAP connections per account by default: the sorting one and three watchers. Servers cap the
 * connections of a user (Dovecot's mail_max_userip_connections is 10 per user and address, and a
 * Bridge's clients all come from 127.0.0.1), and the user's mail client keeps its own (Thunderbird
 * caches up to 5): 4 + 5 stays under 10.
 */
export const DEFAULT_MAX_CONNECTIONS = 4

export class Settings extends Context.Service<Settings, SortSettings>()("proton-lumo-ai/Settings") {
  static readonly defaults: SortSettings = {
    folders: ["INBOX"],
    dryRun: false,
    unseenOnly: true,
    maxEmailsPerFolder: 100,
    pollInterval: Duration.seconds(60),
    maxConnections: DEFAULT_MAX_CONNECTIONS,
    workers: 5,
    batchSize: 10,
    batchWindow: Duration.seconds(1),
    metricsEnabled: true,
    maxMessageBytes: 256 * 1024,
    fetchChunkSize: 100,
    moveBatchSize: 1000,
    learn: true,
    learnMaxPerFolder: 5000,
    llmExamples: 0
  }
}

export interface ImapSettings {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: Redacted.Redacted<string>
  readonly tls: "starttls" | "tls"
  readonly caFile: Option.Option<string>
  readonly tlsVerify: boolean
}

export interface LlmSettings {
  readonly baseUrl: string
  readonly model: string
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  /** Per call; a call that has not answered by then is abandoned (and not retried). */
  readonly timeout: Duration.Duration
  /** Ask for JSON output with `response_format` (a JSON schema); dropped by itself if the provider refuses it. */
  readonly jsonMode: boolean
  /** Retries after a 429, a 5xx or a network error, before the batch falls back to keywords. */
  readonly maxRetries: number
  /**
   * Requests started per minute, all workers together (a sliding window: up to MAX_WORKERS calls
   * still run at once). None: no limit. See `defaultRequestsPerMinute` for the default.
   */
  readonly maxRequestsPerMinute: Option.Option<number>
  /** A sure keyword match (its category's threshold and LlmClassifier.SKIP_CONFIDENCE) skips the LLM. */
  readonly skipConfident: boolean
  /** Mail the learned model is sure stays where it is skips the LLM (LearnedClassifier.keptWithoutLlm). */
  readonly skipKept: boolean
  /** Price per 1,000 tokens (prompt and completion), for the estimated cost in the metrics. */
  readonly costPer1kTokens: number
  /** Tokens per day; once spent, keywords only until the next day (UTC). None: no limit. */
  readonly dailyTokenBudget: Option.Option<number>
  /** Body characters sent per email; 0 sends the sender and subject only. */
  readonly bodyChars: number
}

export const llmDefaults = {
  timeout: Duration.seconds(30),
  jsonMode: true,
  maxRetries: 3,
  skipConfident: true,
  skipKept: true,
  costPer1kTokens: 0,
  dailyTokenBudget: Option.none<number>(),
  bodyChars: 500
} satisfies Omit<LlmSettings, "baseUrl" | "model" | "apiKey" | "maxRequestsPerMinute">

/** The HTTP endpoints for Prometheus and health checks (off without a port). */
export interface MetricsServerSettings {
  readonly port: Option.Option<number>
  readonly host: string
}

export interface PathSettings {
  readonly configDir: string
  readonly dataDir: string
}

export type LogLevelName = "TRACE" | "DEBUG" | "INFO" | "WARNING" | "ERROR"

/** Plain lines for people, or one JSON object per line for journald, Loki and the like. */
export type LogFormat = "text" | "json"

export const PERPLEXITY_BASE_URL = "https://api.perplexity.ai"
const PERPLEXITY_HOST = new URL(PERPLEXITY_BASE_URL).hostname
export const PERPLEXITY_MODEL = "sonar-pro"
/** Perplexity's published limit for sonar and sonar-pro at usage tiers 0 and 1. */
export const PERPLEXITY_RPM = 50
/** The limit for any other remote endpoint when PROTON_LUMO_LLM_MAX_RPM is not set. */
export const REMOTE_RPM = 60

// ---------------------------------------------------------------------------------------------
// The variables

/** Every variable ProtonLumoAI reads; a setting can only be read under one of these names. */
export const SETTING_NAMES = [
  "PROTON_LUMO_ENV_FILE",
  "PROTON_BRIDGE_HOST",
  "PROTON_BRIDGE_PORT",
  "PROTON_LUMO_IMAP_HOST",
  "PROTON_LUMO_IMAP_PORT",
  "PROTON_USERNAME",
  "PROTON_PASSWORD",
  "PROTON_LUMO_IMAP_USER",
  "PROTON_LUMO_IMAP_PASSWORD",
  "PROTON_LUMO_IMAP_TLS",
  "PROTON_LUMO_IMAP_CA_FILE",
  "PROTON_LUMO_IMAP_TLS_VERIFY",
  "PROTON_LUMO_FOLDERS",
  "PROTON_LUMO_CONFIG",
  "PROTON_LUMO_DATA",
  "PROTON_LUMO_DRY_RUN",
  "PROTON_LUMO_UNSEEN_ONLY",
  "PROTON_LUMO_MAX_EMAILS_PER_FOLDER",
  "PROTON_LUMO_LEARN",
  "PROTON_LUMO_LEARN_MAX_PER_FOLDER",
  "PROTON_LUMO_POLL_INTERVAL",
  "PROTON_LUMO_MAX_CONNECTIONS",
  "PROTON_LUMO_ENABLE_PARALLEL",
  "PROTON_LUMO_MAX_WORKERS",
  "PROTON_LUMO_ENABLE_BATCH",
  "PROTON_LUMO_BATCH_SIZE",
  "PROTON_LUMO_METRICS_ENABLED",
  "PROTON_LUMO_METRICS_PORT",
  "PROTON_LUMO_METRICS_HOST",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "PROTON_LUMO_LOG_LEVEL",
  "PROTON_LUMO_LOG_FORMAT",
  "PROTON_LUMO_PROGRESS_INTERVAL",
  "PROTON_LUMO_LLM_BASE_URL",
  "PROTON_LUMO_LLM_MODEL",
  "PROTON_LUMO_LLM_API_KEY",
  "PERPLEXITY_API_KEY",
  "PROTON_LUMO_LLM_TIMEOUT",
  "PROTON_LUMO_LLM_JSON_MODE",
  "PROTON_LUMO_LLM_MAX_RETRIES",
  "PROTON_LUMO_LLM_MAX_RPM",
  "PROTON_LUMO_LLM_SKIP_CONFIDENT",
  "PROTON_LUMO_LLM_SKIP_KEPT",
  "PROTON_LUMO_LLM_COST_PER_1K_TOKENS",
  "PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET",
  "PROTON_LUMO_LLM_BODY_CHARS",
  "PROTON_LUMO_LLM_EXAMPLES",
  "PROTON_LUMO_ACCOUNTS"
] as const

export type SettingName = (typeof SETTING_NAMES)[number]

const knownNames: ReadonlySet<string> = new Set(SETTING_NAMES)

/** Edit distance: insertions, deletions and substitutions. */
const distance = (a: string, b: string): number => {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution))
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

/**
 * The variables among `names` that look like ours (`PROTON_…`) but are not, each with the known
 * name closest to it: a misspelled setting would otherwise be silently ignored.
 */
export const unknownSettings = (
  names: Iterable<string>
): ReadonlyArray<{ readonly name: string; readonly closest: SettingName }> =>
  [...new Set(names)]
    // In any case: `proton_lumo_dry_run` is not PROTON_LUMO_DRY_RUN, and a run meant to be dry would move mail.
    .filter((name) => name.toUpperCase().startsWith("PROTON_") && !knownNames.has(name))
    .sort()
    .map((name) => {
      const upper = name.toUpperCase()
      return {
        name,
        closest: SETTING_NAMES.reduce((best, candidate) => (distance(upper, candidate) < distance(upper, best) ? candidate : best))
      }
    })

/** Settings read under two names (Bridge's, then ours): where both are set, the first is used. */
const ALIASES = {
  host: ["PROTON_BRIDGE_HOST", "PROTON_LUMO_IMAP_HOST"],
  port: ["PROTON_BRIDGE_PORT", "PROTON_LUMO_IMAP_PORT"],
  user: ["PROTON_USERNAME", "PROTON_LUMO_IMAP_USER"],
  password: ["PROTON_PASSWORD", "PROTON_LUMO_IMAP_PASSWORD"]
} as const satisfies Record<string, readonly [SettingName, SettingName]>

/**
 * Pairs of aliases both set among `names` (the variables with a value): the second is ignored,
 * which a user who set it to another server or login would not guess.
 */
export const shadowedAliases = (names: Iterable<string>): ReadonlyArray<{ readonly used: SettingName; readonly ignored: SettingName }> => {
  const set = new Set(names)
  return Object.values(ALIASES).flatMap(([used, ignored]) => (set.has(used) && set.has(ignored) ? [{ used, ignored }] : []))
}

// ---------------------------------------------------------------------------------------------
// Reading one variable

const firstLine = (text: string): string => text.split("\n")[0] ?? text

/** Reads the first of `names` that is set (aliases), validated by `make`; none set gives None. */
const read = <A>(
  names: NonEmptyReadonlyArray<SettingName>,
  make: (name: string) => Config.Config<A>
): Effect.Effect<Option.Option<A>, SettingsError> =>
  Effect.gen(function*() {
    for (const name of names) {
      const present = yield* Config.option(Config.String(name)).pipe(
        Effect.mapError((error) => new SettingsError({ variable: name, reason: firstLine(error.cause.message) }))
      )
      if (Option.isSome(present)) {
        const value = yield* make(name).pipe(
          Effect.mapError((error) => new SettingsError({ variable: name, reason: firstLine(error.cause.message) }))
        )
        return Option.some(value)
      }
    }
    return Option.none()
  })

const withDefault = <A>(
  names: NonEmptyReadonlyArray<SettingName>,
  make: (name: string) => Config.Config<A>,
  fallback: A
): Effect.Effect<A, SettingsError> => Effect.map(read(names, make), Option.getOrElse(() => fallback))

const required = <A>(
  names: NonEmptyReadonlyArray<SettingName>,
  make: (name: string) => Config.Config<A>,
  what: string
): Effect.Effect<A, SettingsError> =>
  Effect.flatMap(read(names, make), (value) =>
    Option.match(value, {
      onSome: Effect.succeed,
      onNone: () => {
        const aliases = names.length > 1 ? ` (or ${names.slice(1).join(", ")})` : ""
        return Effect.fail(new SettingsError({ variable: names[0], reason: `is required${aliases}: ${what}` }))
      }
    }))

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const positiveInt = (name: string) => Config.schema(PositiveInt, name)
const nonNegativeInt = (name: string) => Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), name)
/** Example subjects per category: each goes into every LLM call, so a handful. */
export const MAX_LLM_EXAMPLES = 20
const examplesPerCategory = (name: string) =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: MAX_LLM_EXAMPLES })), name)
const nonNegativeNumber = (name: string) => Config.schema(Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0)), name)
const positiveSeconds = (name: string) =>
  Config.map(Config.schema(Schema.Finite.check(Schema.isGreaterThan(0)), name), Duration.seconds)

const LogLevels: ReadonlyArray<LogLevelName> = ["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"]
const logLevel = (name: string) =>
  Config.map(
    Config.Literals(
      [...LogLevels, ...LogLevels.map((level) => level.toLowerCase()), "WARN", "warn"],
      name
    ),
    (level): LogLevelName => {
      const upper = level.toUpperCase()
      return upper === "WARN" ? "WARNING" : LogLevels.find((known) => known === upper) ?? "INFO"
    }
  )

/** Comma-separated folders, each named once (INBOX in any case is INBOX). */
const folderList = (name: string) =>
  Config.map(Config.String(name), (value) => {
    const folders = value.split(",").map((folder) => folder.trim()).filter((f) => f !== "")
    return [...new Set(folders.map((folder) => (folder.toUpperCase() === "INBOX" ? "INBOX" : folder)))]
  })

// ---------------------------------------------------------------------------------------------
// The settings groups

/** Pipeline settings. `--dry-run` on the command line overrides PROTON_LUMO_DRY_RUN. */
/** PROTON_LUMO_LEARN alone: whether the sorter learns (undo says whether putting mail back teaches it). */
export const loadLearnSetting: Effect.Effect<boolean, SettingsError> = Effect.suspend(() =>
  withDefault(["PROTON_LUMO_LEARN"], Config.Boolean, Settings.defaults.learn)
)

export const loadSortSettings: Effect.Effect<SortSettings, SettingsError> = Effect.gen(function*() {
  const defaults = Settings.defaults
  const folders = yield* withDefault<ReadonlyArray<string>>(["PROTON_LUMO_FOLDERS"], folderList, defaults.folders)
  const [firstFolder, ...otherFolders] = folders
  if (firstFolder === undefined) {
    return yield* new SettingsError({ variable: "PROTON_LUMO_FOLDERS", reason: "names no folder" })
  }
  const malformed = folders.flatMap((folder) => {
    const problem = levelProblem(folder)
    return problem === undefined ? [] : [`"${folder}": ${problem}`]
  })
  if (malformed.length > 0) return yield* new SettingsError({ variable: "PROTON_LUMO_FOLDERS", reason: malformed.join("; ") })
  const forbidden = folders.filter(isForbiddenSource)
  if (forbidden.length > 0) {
    return yield* new SettingsError({
      variable: "PROTON_LUMO_FOLDERS",
      reason: `${forbidden.map((f) => `"${f}"`).join(", ")} must not be sorted (All Mail, Labels/…, Spam, Trash and ` +
        "the like are never sources)"
    })
  }
  const parallel = yield* withDefault(["PROTON_LUMO_ENABLE_PARALLEL"], Config.Boolean, true)
  const maxWorkers = yield* withDefault(["PROTON_LUMO_MAX_WORKERS"], positiveInt, defaults.workers)
  const batch = yield* withDefault(["PROTON_LUMO_ENABLE_BATCH"], Config.Boolean, true)
  const batchSize = yield* withDefault(["PROTON_LUMO_BATCH_SIZE"], positiveInt, defaults.batchSize)
  return {
    ...defaults,
    folders: [firstFolder, ...otherFolders],
    dryRun: yield* loadDryRunSetting,
    unseenOnly: yield* withDefault(["PROTON_LUMO_UNSEEN_ONLY"], Config.Boolean, defaults.unseenOnly),
    maxEmailsPerFolder: yield* withDefault(
      ["PROTON_LUMO_MAX_EMAILS_PER_FOLDER"],
      positiveInt,
      defaults.maxEmailsPerFolder
    ),
    pollInterval: yield* withDefault(["PROTON_LUMO_POLL_INTERVAL"], positiveSeconds, defaults.pollInterval),
    maxConnections: yield* withDefault(["PROTON_LUMO_MAX_CONNECTIONS"], positiveInt, defaults.maxConnections),
    workers: parallel ? maxWorkers : 1,
    batchSize: batch ? batchSize : 1,
    metricsEnabled: yield* withDefault(["PROTON_LUMO_METRICS_ENABLED"], Config.Boolean, defaults.metricsEnabled),
    learn: yield* loadLearnSetting,
    learnMaxPerFolder: yield* withDefault(["PROTON_LUMO_LEARN_MAX_PER_FOLDER"], positiveInt, defaults.learnMaxPerFolder),
    llmExamples: yield* withDefault(["PROTON_LUMO_LLM_EXAMPLES"], examplesPerCategory, defaults.llmExamples)
  }
})

const tcpPort = (name: string) => Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 })), name)

/** PROTON_LUMO_DRY_RUN alone: whether the run is a dry run before the rest of the settings is read. */
export const loadDryRunSetting: Effect.Effect<boolean, SettingsError> = withDefault(
  ["PROTON_LUMO_DRY_RUN"],
  Config.Boolean,
  Settings.defaults.dryRun
)

export const loadMetricsServerSettings: Effect.Effect<MetricsServerSettings, SettingsError> = Effect.gen(function*() {
  return {
    port: yield* read(["PROTON_LUMO_METRICS_PORT"], tcpPort),
    host: yield* withDefault(["PROTON_LUMO_METRICS_HOST"], Config.String, "127.0.0.1")
  }
})

/** The OpenTelemetry collector to send spans and metrics to (the standard variable), if any. */
export const loadOtlpEndpoint: Effect.Effect<Option.Option<string>, SettingsError> = read(
  ["OTEL_EXPORTER_OTLP_ENDPOINT"],
  (name) => Config.schema(Schema.String.check(Schema.isPattern(/^https?:\/\/\S+$/)), name)
)

export const loadLogLevel: Effect.Effect<LogLevelName, SettingsError> = withDefault(
  ["PROTON_LUMO_LOG_LEVEL"],
  logLevel,
  "INFO"
)

export const loadLogFormat: Effect.Effect<LogFormat, SettingsError> = withDefault<LogFormat>(
  ["PROTON_LUMO_LOG_FORMAT"],
  (name) => Config.Literals(["text", "json"], name),
  "text"
)

/**
 * The settings the process reads once at start (how it logs, its progress lines, its collector):
 * checked again on SIGHUP, so that an edit the next start would refuse is refused now, not taken
 * in silence. They change at the next start.
 */
export const checkStartSettings: Effect.Effect<void, SettingsError> = Effect.suspend(() =>
  Effect.asVoid(Effect.all([loadLogLevel, loadLogFormat, loadProgressInterval, loadOtlpEndpoint]))
)

/** How often a long pass or learning scan logs its progress when no terminal shows a bar (seconds). */
export const loadProgressInterval: Effect.Effect<Duration.Duration, SettingsError> = withDefault(
  ["PROTON_LUMO_PROGRESS_INTERVAL"],
  positiveSeconds,
  Duration.seconds(5)
)

export const loadPathSettings: Effect.Effect<PathSettings, SettingsError> = Effect.gen(function*() {
  return {
    configDir: yield* withDefault(["PROTON_LUMO_CONFIG"], Config.String, "./config"),
    dataDir: yield* withDefault(["PROTON_LUMO_DATA"], Config.String, "./data")
  }
})

export const loadImapSettings: Effect.Effect<ImapSettings, SettingsError> = Effect.gen(function*() {
  return {
    host: yield* withDefault(ALIASES.host, Config.String, "127.0.0.1"),
    port: yield* withDefault(ALIASES.port, Config.Port, 1143),
    user: yield* required(ALIASES.user, Config.String, "the IMAP login"),
    password: yield* required(
      ALIASES.password,
      Config.Redacted,
      "the IMAP password (for Proton Mail Bridge: the one Bridge shows)"
    ),
    tls: yield* withDefault(
      ["PROTON_LUMO_IMAP_TLS"],
      (name) => Config.Literals(["starttls", "tls"], name),
      "starttls"
    ),
    caFile: yield* read(["PROTON_LUMO_IMAP_CA_FILE"], Config.String),
    tlsVerify: yield* withDefault(["PROTON_LUMO_IMAP_TLS_VERIFY"], Config.Boolean, true)
  }
})

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "[::1]" || host === "::1" || host.startsWith("127.")

/** The four octets of a dotted IPv4 address, if `host` is one. */
const ipv4 = (host: string): ReadonlyArray<number> | undefined =>
  isIPv4(host) ? host.split(".").map(Number) : undefined

/**
 * Whether `hostname` (as `URL.hostname` spells it) is this machine or the local network:
 * loopback (127.0.0.0/8, ::1, localhost), private IPv4 (10/8, 172.16/12, 192.168/16), IPv6
 * unique-local (fc00::/7) and mDNS `*.local` names. An Ollama box on the LAN is local too.
 */
export const isLocalHost = (hostname: string): boolean => {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1")
  if (host === "localhost" || host.endsWith(".local")) return true
  const [a, b] = ipv4(host) ?? []
  if (a !== undefined && b !== undefined) {
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)
  }
  if (!isIPv6(host)) return false
  const first = host.split(":")[0] ?? ""
  return host === "::1" || (first.length === 4 && (first.startsWith("fc") || first.startsWith("fd")))
}

/**
 * The request limit when PROTON_LUMO_LLM_MAX_RPM is not set: none for a local server (it is
 * yours), Perplexity's published 50 for api.perplexity.ai, 60 for any other remote endpoint.
 */
export const defaultRequestsPerMinute = (baseUrl: string): Option.Option<number> => {
  const host = URL.parse(baseUrl)?.hostname ?? ""
  if (isLocalHost(host)) return Option.none()
  return Option.some(host === PERPLEXITY_HOST ? PERPLEXITY_RPM : REMOTE_RPM)
}

/** PROTON_LUMO_LLM_MAX_RPM: 0 means no limit; not set, the endpoint's default. */
const loadRequestsPerMinute = (baseUrl: string) =>
  Effect.map(read(["PROTON_LUMO_LLM_MAX_RPM"], nonNegativeInt), (configured) =>
    Option.match(configured, {
      onNone: () => defaultRequestsPerMinute(baseUrl),
      onSome: (perMinute) => (perMinute === 0 ? Option.none<number>() : Option.some(perMinute))
    }))

/**
 * The LLM endpoint, if any. A key from PERPLEXITY_API_KEY alone selects Perplexity (`sonar-pro`);
 * otherwise a base URL and a model must be given. None of them: keyword classification only.
 */
/** How the LLM is used, whichever endpoint it is. */
const loadLlmTuning = Effect.gen(function*() {
  const budget = yield* withDefault(["PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET"], nonNegativeInt, 0)
  return {
    timeout: yield* withDefault(["PROTON_LUMO_LLM_TIMEOUT"], positiveSeconds, llmDefaults.timeout),
    jsonMode: yield* withDefault(["PROTON_LUMO_LLM_JSON_MODE"], Config.Boolean, llmDefaults.jsonMode),
    maxRetries: yield* withDefault(["PROTON_LUMO_LLM_MAX_RETRIES"], nonNegativeInt, llmDefaults.maxRetries),
    skipConfident: yield* withDefault(["PROTON_LUMO_LLM_SKIP_CONFIDENT"], Config.Boolean, llmDefaults.skipConfident),
    skipKept: yield* withDefault(["PROTON_LUMO_LLM_SKIP_KEPT"], Config.Boolean, llmDefaults.skipKept),
    costPer1kTokens: yield* withDefault(["PROTON_LUMO_LLM_COST_PER_1K_TOKENS"], nonNegativeNumber, 0),
    dailyTokenBudget: budget === 0 ? Option.none<number>() : Option.some(budget),
    bodyChars: yield* withDefault(["PROTON_LUMO_LLM_BODY_CHARS"], nonNegativeInt, llmDefaults.bodyChars)
  }
})

/** The daily token budget and the price per 1,000 tokens, for `status` (which needs no endpoint). */
export const loadLlmBudgetSettings: Effect.Effect<
  { readonly dailyTokenBudget: Option.Option<number>; readonly costPer1kTokens: number },
  SettingsError
> = Effect.map(loadLlmTuning, ({ costPer1kTokens, dailyTokenBudget }) => ({ costPer1kTokens, dailyTokenBudget }))

/**
 * The LLM endpoint, if any. A key from PERPLEXITY_API_KEY alone selects Perplexity (`sonar-pro`);
 * otherwise a base URL and a model must be given. None of them: keyword classification only.
 */
export const loadLlmSettings: Effect.Effect<Option.Option<LlmSettings>, SettingsError> = Effect.gen(function*() {
  const ownKey = yield* read(["PROTON_LUMO_LLM_API_KEY"], Config.Redacted)
  const perplexityKey = yield* read(["PERPLEXITY_API_KEY"], Config.Redacted)
  const baseUrl = yield* read(["PROTON_LUMO_LLM_BASE_URL"], Config.URL)
  const model = yield* read(["PROTON_LUMO_LLM_MODEL"], Config.NonEmptyString)
  const tuning = yield* loadLlmTuning
  const apiKey = Option.orElse(ownKey, () => perplexityKey)
  if (Option.isNone(baseUrl)) {
    if (Option.isNone(apiKey)) return Option.none()
    if (Option.isSome(ownKey)) {
      return yield* new SettingsError({
        variable: "PROTON_LUMO_LLM_BASE_URL",
        reason: "is required with PROTON_LUMO_LLM_API_KEY (only PERPLEXITY_API_KEY implies Perplexity's endpoint)"
      })
    }
    return Option.some({
      ...tuning,
      maxRequestsPerMinute: yield* loadRequestsPerMinute(PERPLEXITY_BASE_URL),
      baseUrl: PERPLEXITY_BASE_URL,
      model: Option.getOrElse(model, () => PERPLEXITY_MODEL),
      apiKey
    })
  }
  const url = baseUrl.value
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return yield* new SettingsError({ variable: "PROTON_LUMO_LLM_BASE_URL", reason: "must be an http(s) URL" })
  }
  // `/chat/completions` is appended to the path: after a query it would land inside it.
  if (url.href.includes("?") || url.href.includes("#")) {
    return yield* new SettingsError({
      variable: "PROTON_LUMO_LLM_BASE_URL",
      reason: "must not hold a query (?…) or fragment (#…): give the path only, such as https://api.example.com/v1"
    })
  }
  // fetch refuses a URL with credentials: every call would fail as "cannot reach the provider".
  if (url.username !== "" || url.password !== "") {
    return yield* new SettingsError({
      variable: "PROTON_LUMO_LLM_BASE_URL",
      reason: "holds a user name or password: give the key in PROTON_LUMO_LLM_API_KEY instead"
    })
  }
  // Perplexity's key goes to Perplexity only: never handed to another provider, proxy or LAN server.
  const keyFor = Option.isSome(ownKey) || url.hostname !== PERPLEXITY_HOST ? ownKey : perplexityKey
  if (url.protocol === "http:" && !isLoopback(url.hostname) && Option.isSome(keyFor)) {
    return yield* new SettingsError({
      variable: "PROTON_LUMO_LLM_BASE_URL",
      reason: "uses plain http to a remote host: the API key would travel unencrypted (use https)"
    })
  }
  if (Option.isNone(model)) {
    return yield* new SettingsError({
      variable: "PROTON_LUMO_LLM_MODEL",
      reason: "is required with PROTON_LUMO_LLM_BASE_URL"
    })
  }
  return Option.some({
    ...tuning,
    maxRequestsPerMinute: yield* loadRequestsPerMinute(url.href),
    baseUrl: url.href.replace(/\/+$/, ""),
    model: model.value,
    apiKey: keyFor
  })
})
