/**
 * The command line, on `effect/cli`: the commands, their flags and their help. Parsing ends in a
 * `CommandRequest` handed to `run`, so the runtime decides what a request costs to start (and
 * the tests can parse without running anything). Wrong arguments fail with a `CliError`: exit 2.
 */
import { Cause, Clock, Console, Context, Effect, Exit, Layer, Option } from "effect"
import { CliConfig, CliError, CliOutput, Command, Completions, Flag, GlobalFlag, type HelpDoc } from "effect/cli"
import { AccountsFailed, SortIncomplete } from "../domain/Errors.ts"
import { versionLine } from "./version.ts"

/** What the command line asks for. */
export type CommandRequest =
  | { readonly command: "sort"; readonly once: boolean; readonly dryRun: boolean }
  | { readonly command: "demo"; readonly dryRun: boolean }
  | { readonly command: "history"; readonly limit: number; readonly account: string | undefined }
  | { readonly command: "evaluate"; readonly html: string | undefined; readonly account: string | undefined }
  | { readonly command: "status"; readonly json: boolean; readonly account: string | undefined }
  | {
    readonly command: "undo"
    readonly dryRun: boolean
    /** Whether the learned model is taught that the moves put back were wrong. */
    readonly learn: boolean
    readonly scope: { readonly lastRun: true } | { readonly since: number }
    readonly account: string | undefined
  }

/** The program's name in usage lines and completion scripts: the package's `bin`. */
export const PROGRAM = "proton-lumo-ai"

const units: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `2026-11-24`, then optionally `T09:00`, `:07`, `.250` (or a space for the `T`), then a zone. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?)?\s*(Z|UTC|GMT|[+-]\d\d:?\d\d)?$/i

/**
 * `2h`, `30m`, `1d` ago, or an ISO date/time: UTC when it names no zone, as `history`, `status` and
 * the log print times (a time copied from them means what it says, wherever the machine is).
 * Nothing else: `Date.parse` reads `2` or `Dec 1` as dates in 2001 (an undo of everything) and
 * rolls `2026-02-30` over into March. A time still to come is refused too.
 */
export const parseSince = (value: string, now: number): number | undefined => {
  const text = value.trim()
  const relative = /^(\d+)\s*([mhd])$/.exec(text)
  if (relative !== null) return now - Number(relative[1]) * (units[relative[2] ?? "h"] ?? 0)
  const parts = ISO_TIME.exec(text)
  if (parts === null) return undefined
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number)
  const calendar = new Date(Date.UTC(year ?? 0, (month ?? 1) - 1, day ?? 1))
  const real = calendar.getUTCMonth() === (month ?? 0) - 1 && calendar.getUTCDate() === day &&
    (Number.isNaN(hour) || (hour ?? 0) <= 23) && (Number.isNaN(minute) || (minute ?? 0) <= 59) &&
    (Number.isNaN(second) || (second ?? 0) <= 59)
  const local = text.slice(0, text.length - (parts[7]?.length ?? 0)).trim().replace(" ", "T")
  const zone = parts[7] === undefined || /^(UTC|GMT)$/i.test(parts[7]) ? "Z" : parts[7]
  const at = Date.parse(`${local}${zone}`)
  return real && Number.isFinite(at) && at <= now ? at : undefined
}

/** Help text blocks: the first line follows the section's indent, so the others get it too. */
const lines = (...text: ReadonlyArray<string>) =>
  text.map((line, index) => (index === 0 || line === "" ? line : `  ${line}`)).join("\n")

/** Extra sections of a command's help (SETTINGS, EXIT CODES), printed after the generated ones. */
export class HelpSections extends Context.Service<
  HelpSections,
  ReadonlyArray<{ readonly title: string; readonly text: string }>
>()("proton-lumo-ai/HelpSections") {}

const switchFlag = (name: string, description: string) =>
  Flag.Boolean(name).pipe(Flag.withDefault(false), Flag.withDescription(description))

const dryRunFlag = (description: string) => switchFlag("dry-run", description)

const invalid = (option: string, value: string, expected: string) =>
  new CliError.InvalidValue({ option, value, expected, kind: "flag" })

/** Which account of PROTON_LUMO_ACCOUNTS a command is about. */
const accountFlagOf = (description: string) =>
  Flag.String("account").pipe(
    Flag.withMetavar("NAME"),
    Flag.withDescription(description),
    Flag.optional,
    Flag.map(Option.getOrUndefined)
  )
const accountFlag = accountFlagOf("the account of PROTON_LUMO_ACCOUNTS (needed when it holds several)")

const limitFlag = Flag.Int("limit").pipe(
  Flag.withMetavar("N"),
  Flag.withDescription("how many entries, the newest (default 50)"),
  Flag.filterMap((n) => (n >= 1 ? Option.some(n) : Option.none()), () => "a whole number of entries, 1 or more"),
  Flag.withDefault(50)
)

const sinceFlag = Flag.String("since").pipe(
  Flag.withMetavar("TIME"),
  Flag.withDescription("put back everything moved since TIME: 2h, 30m, 1d, or 2026-11-24T09:00 (UTC, as history prints it; +01:00 for another zone)"),
  Flag.mapEffect((value) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const at = parseSince(value, now)
      return at === undefined
        ? Effect.fail(invalid("since", value, "a past time such as 2026-11-24T09:00, 2h, 30m or 1d"))
        : Effect.succeed(at)
    })
  ),
  Flag.optional
)

const SETTINGS = lines(
  "From the environment, then from a .env file in the working directory (or the file PROTON_LUMO_ENV_FILE names):",
  "",
  "PROTON_LUMO_ENV_FILE                      .env               the settings file, read after the environment and again on SIGHUP",
  "PROTON_BRIDGE_HOST / PROTON_BRIDGE_PORT   127.0.0.1 / 1143   IMAP server (or PROTON_LUMO_IMAP_HOST, PROTON_LUMO_IMAP_PORT)",
  "PROTON_USERNAME / PROTON_PASSWORD         required           IMAP login (or PROTON_LUMO_IMAP_USER, PROTON_LUMO_IMAP_PASSWORD)",
  "PROTON_LUMO_IMAP_TLS                      starttls           starttls or tls; never plaintext",
  "PROTON_LUMO_IMAP_CA_FILE                  none               PEM certificate to trust (pin Bridge's exported certificate)",
  "PROTON_LUMO_IMAP_TLS_VERIFY               true               false accepts any certificate (warned at start)",
  "PROTON_LUMO_FOLDERS                       INBOX              comma-separated source folders, levels written with /",
  "PROTON_LUMO_CONFIG                        ./config           folder holding categories.json",
  "PROTON_LUMO_DATA                          ./data             folder holding protonlumo.db: state, journal, LLM cache (0600)",
  "PROTON_LUMO_DRY_RUN                       false              log what would move; change nothing",
  "PROTON_LUMO_UNSEEN_ONLY                   true               only unread messages",
  "PROTON_LUMO_MAX_EMAILS_PER_FOLDER         100                taken at a time, newest first (--once: per run)",
  "PROTON_LUMO_LEARN                         true               learn from the category folders and read mail left in the sources",
  "PROTON_LUMO_LEARN_MAX_PER_FOLDER          5000               newest messages learned per folder",
  "PROTON_LUMO_POLL_INTERVAL                 60                 seconds between full passes (service mode; IDLE in between)",
  "PROTON_LUMO_MAX_CONNECTIONS               4                  IMAP connections of the service, the sorting one included; the others",
  "                                                             watch the folders after the first: IDLE, a connection each, as",
  "                                                             long as there are enough, then STATUS every second on the last",
  "PROTON_LUMO_ENABLE_PARALLEL               true               false: one worker",
  "PROTON_LUMO_MAX_WORKERS                   5                  parses and classification calls at once",
  "PROTON_LUMO_ENABLE_BATCH                  true               false: one email per classification call",
  "PROTON_LUMO_BATCH_SIZE                    10                 emails per classification call",
  "PROTON_LUMO_METRICS_ENABLED               true               \"Performance Metrics\" after each folder",
  "PROTON_LUMO_METRICS_PORT                  off                /metrics (Prometheus), /healthz, /readyz",
  "PROTON_LUMO_METRICS_HOST                  127.0.0.1          where they are served",
  "OTEL_EXPORTER_OTLP_ENDPOINT               none               OpenTelemetry collector for the spans and metrics (OTLP/HTTP JSON)",
  "PROTON_LUMO_LOG_LEVEL                     INFO               TRACE, DEBUG, INFO, WARNING or ERROR",
  "PROTON_LUMO_LOG_FORMAT                    text               text, or json: one JSON object per line (journald, Loki)",
  "PROTON_LUMO_PROGRESS_INTERVAL             5                  seconds between progress lines (no terminal, or json)",
  "PROTON_LUMO_LLM_BASE_URL                  none               OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1",
  "PROTON_LUMO_LLM_MODEL                     none               model name (sonar-pro with Perplexity)",
  "PROTON_LUMO_LLM_API_KEY                   none               bearer token; else PERPLEXITY_API_KEY, for Perplexity only",
  "PERPLEXITY_API_KEY                        none               alone: Perplexity (https://api.perplexity.ai, sonar-pro)",
  "PROTON_LUMO_LLM_TIMEOUT                   30                 seconds per LLM call; then keywords decide",
  "PROTON_LUMO_LLM_JSON_MODE                 true               ask for JSON output (response_format with a JSON schema)",
  "PROTON_LUMO_LLM_MAX_RETRIES               3                  retries after 429, 5xx or network errors (backoff, Retry-After)",
  "PROTON_LUMO_LLM_MAX_RPM                   by endpoint        requests started per minute, all workers together, over any 60 s;",
  "                                                             not set: none for a local endpoint (loopback, private LAN,",
  "                                                             *.local), 50 for Perplexity, 60 otherwise; 0: no limit",
  "PROTON_LUMO_LLM_SKIP_CONFIDENT            true               a sure keyword match (its threshold and 0.85) skips the LLM (not into Spam)",
  "PROTON_LUMO_LLM_SKIP_KEPT                 true               mail the learned model is sure stays (0.9) is left, not sent to the LLM",
  "PROTON_LUMO_LLM_COST_PER_1K_TOKENS        0                  price per 1,000 tokens, for the cost estimate in the metrics",
  "PROTON_LUMO_LLM_DAILY_TOKEN_BUDGET        0 (no limit)       tokens per day (UTC), reserved per call before it is sent;",
  "                                                             a call that does not fit: keywords only until tomorrow",
  "PROTON_LUMO_LLM_BODY_CHARS                500                body characters sent per email; 0 sends sender and subject only",
  "PROTON_LUMO_LLM_EXAMPLES                  0                  subjects of the newest mail filed in each category shown to",
  "                                                             the LLM (sends more of your mail to the provider)",
  "PROTON_LUMO_ACCOUNTS                      none               a JSON file of several accounts, one service for all (README:",
  "                                                             \"Several mailboxes\"); each its own data in DATA/accounts/NAME",
  "",
  "No LLM key and no base URL: keyword classification only. A missing or invalid setting stops the",
  "program before it connects, naming the variable; a PROTON_* variable it does not know is warned about."
)

const EXIT_CODES = lines(
  "0  done (or stopped by SIGINT/SIGTERM)",
  "1  a setting, login, connection, folder or data-folder lock error",
  "2  a wrong command-line argument",
  "3  --once left messages it could not sort (they stay where they were and are tried again, after a",
  "   delay that doubles, by later runs; but for mail that cannot be read at all, left for good)",
  "4  --once could not sort some accounts of PROTON_LUMO_ACCOUNTS at all (the others were sorted)"
)

/** The command tree; each command's handler hands its request to `run`. */
export const commandLine = <E, R>(run: (request: CommandRequest) => Effect.Effect<void, E, R>) => {
  const history = Command.make(
    "history",
    { limit: limitFlag, account: accountFlag },
    ({ limit, account }) => run({ command: "history", limit, account })
  ).pipe(
    Command.withDescription("the journal of moves, newest last")
  )
  const undo = Command.make(
    "undo",
    {
      lastRun: switchFlag("last-run", "put back what the last run that moved or labelled anything did"),
      since: sinceFlag,
      dryRun: dryRunFlag("list what would be put back; change nothing"),
      noLearn: switchFlag("no-learn", "the moves were not wrong: teach nothing, and sort the mail again on the next run"),
      account: accountFlag
    },
    ({ since, dryRun, noLearn, account }) =>
      run({
        command: "undo",
        dryRun,
        learn: !noLearn,
        scope: Option.isSome(since) ? { since: since.value } : { lastRun: true },
        account
      })
  ).pipe(
    Command.validate(({ lastRun, since }) =>
      lastRun === Option.isSome(since)
        ? Effect.fail(new CliError.ValidationError({ message: "undo needs exactly one of --last-run and --since" }))
        : Effect.void
    ),
    Command.withShortDescription("put back what the last run, or everything since a time, moved"),
    Command.withDescription(lines(
      "Puts back what the last run that moved or labelled anything did (--last-run), or everything moved since a time",
      "(--since). With --dry-run it lists what would be put back, and changes nothing. What it puts back",
      "teaches the learned model that those moves were wrong (the mail stays where it was), as if you had",
      "moved it back by hand; --no-learn puts it back as if the run had never been: it teaches nothing,",
      "and the next run sorts that mail again (after you tried the sorter out, or fixed categories.json)."
    ))
  )
  const evaluate = Command.make(
    "evaluate",
    {
      html: Flag.String("html").pipe(
        Flag.withMetavar("FILE"),
        Flag.withDescription("also write the figures as one self-contained page (no network); - : the page alone, to stdout"),
        Flag.optional
      ),
      account: accountFlag
    },
    ({ html, account }) => run({ command: "evaluate", html: Option.getOrUndefined(html), account })
  ).pipe(
    Command.withShortDescription("how well it would sort your mail, changing nothing"),
    Command.withDescription(lines(
      "Reads your category folders and the read mail left in the source folders (as learning does),",
      "learns from the oldest 70% of it by date and tests on the newest 30% (one cut through all",
      "folders, as new mail comes), and prints per category precision, recall and count, the accuracy",
      "with everything moved, coverage and precision at each category's threshold, the most frequent",
      "confusions, and for each category the lowest threshold that keeps misfiles under 1%. Only the",
      "learned model is measured, not keywords or the LLM. Nothing on the server changes (folders are",
      "only EXAMINEd) and the saved model is not touched. PROTON_LUMO_DATA must name the sorter's data",
      "folder once it has run: its journal says which mail it moved (not your filing). --html FILE also",
      "writes the figures as one self-contained page (no network) with a confusion matrix and a",
      "precision-against-coverage curve; --html - prints that page alone, in place of the text. Log",
      "lines go to stderr: stdout holds only the figures."
    ))
  )
  const status = Command.make(
    "status",
    {
      json: switchFlag("json", "one JSON document (fields in the README)"),
      account: accountFlagOf("the account of PROTON_LUMO_ACCOUNTS (without it: every account's, one after the other)")
    },
    ({ json, account }) => run({ command: "status", json, account })
  ).pipe(
    Command.withShortDescription("what it did: last passes, retries, moves today, corrections, LLM use, last error"),
    Command.withDescription(lines(
      "What it did: each folder's last pass, retries, moves today per category, corrections this week,",
      "LLM use today, the last error. Reads only the data folder's database (read-only: no server, no",
      "lock, no LLM), so it answers while the service runs. Days are UTC days, as the token budget counts them."
    ))
  )
  const demo = Command.make("demo", { dryRun: dryRunFlag("log what would move; change nothing") }, ({ dryRun }) => run({ command: "demo", dryRun })).pipe(
    Command.withDescription("sort the bundled sample mailbox in memory (no server needed)")
  )
  return Command.make(
    PROGRAM,
    {
      once: switchFlag("once", "one pass, then exit (0, or 3 if messages could not be sorted)"),
      dryRun: dryRunFlag("log what would move; change nothing on the server (overrides PROTON_LUMO_DRY_RUN)")
    },
    ({ once, dryRun }) => run({ command: "sort", once, dryRun })
  ).pipe(
    Command.withDescription(lines(
      "ProtonLumoAI: sorts an IMAP mailbox (Proton Mail Bridge first) into your own categories.",
      "",
      "Without a subcommand it sorts the configured folders. Without --once it runs as a service: a pass",
      "over the folders, then new mail in any of them is sorted as soon as it arrives (IMAP IDLE on the",
      "first folder on the sorting connection, the others watched on up to PROTON_LUMO_MAX_CONNECTIONS - 1",
      "read-only connections), and a full pass every PROTON_LUMO_POLL_INTERVAL seconds, until SIGINT or",
      "SIGTERM (moves in flight finish; exit 0). SIGHUP makes the service read its settings file (.env) and",
      "categories.json again. One sorter per data folder: a second service, --once or undo on the same",
      "PROTON_LUMO_DATA is refused (a dry run is not)."
    )),
    Command.withExamples([
      { command: `${PROGRAM} --once --dry-run`, description: "one pass that only logs what would move" },
      { command: `${PROGRAM} undo --since 2h`, description: "put back what moved in the last two hours" },
      { command: `${PROGRAM} --completions bash > ~/.local/share/bash-completion/completions/${PROGRAM}` }
    ]),
    Command.annotate(HelpSections, [{ title: "SETTINGS", text: SETTINGS }, { title: "EXIT CODES", text: EXIT_CODES }]),
    Command.withSubcommands([history, undo, evaluate, status, demo])
  )
}

/** `--version` (and `-V`, as before) prints the version, whatever else the command line holds. */
const versionFlag = GlobalFlag.Action({
  flag: Flag.Boolean("version").pipe(Flag.withAlias("V"), Flag.withDefault(false), Flag.withDescription("the version")),
  run: (_, { version }) => Console.log(versionLine(version))
})

const formatter = CliOutput.defaultFormatter({ colors: false })

/** A command's help: the generated sections, then its own (SETTINGS, EXIT CODES). */
export const formatHelp = (doc: HelpDoc.HelpDoc): string => {
  const extra = Context.getOrUndefined(doc.annotations, HelpSections) ?? []
  return [formatter.formatHelpDoc(doc), ...extra.map(({ title, text }) => `${title}\n  ${text}`)].join("\n\n")
}

const oneLine = (text: string): string =>
  text.split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ")

/**
 * Help on stdout; a wrong command line as one line on stderr, its errors and a pointer to the help
 * (the whole help there would bury the one line that matters).
 */
const presenter: CliOutput.Presenter = {
  present: (event) => {
    switch (event._tag) {
      case "Help":
        return Console.log(formatHelp(event.helpDoc))
      case "InvalidInvocation":
        // One line ("Did you mean this?" suggestions come on lines of their own), the help named by
        // what follows the program (run as `node dist/main.js` too).
        return Console.error(
          `ERROR ${event.errors.map((error) => oneLine(error.message)).join("; ")} (see ${[...event.commandPath.slice(1), "--help"].join(" ")})`
        )
      case "Version":
        return Console.log(versionLine(event.version))
    }
  }
}

/**
 * The process's exit code: 0 done, or stopped by SIGINT/SIGTERM; 2 a wrong command line; 3 `--once`
 * left messages it could not sort; 4 `--once` could not sort some of the accounts of
 * PROTON_LUMO_ACCOUNTS; 1 anything else (settings, login, connection, folder, lock).
 */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause)) return 0
  const failure = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
  if (CliError.isCliError(failure)) return 2
  return failure instanceof SortIncomplete ? 3 : failure instanceof AccountsFailed ? 4 : 1
}

/** The built-in flags kept (help, version, completions; no wizard, no --log-level) and the output. */
export const commandLineLayer = Layer.mergeAll(
  CliConfig.layer({ builtIns: [GlobalFlag.Help, versionFlag, GlobalFlag.Completions] }),
  CliOutput.layerPresenter(presenter)
)

/**
 * Every command's help as `--help` prints it, keyed by the command ("" for the program itself):
 * what main.ts answers a bare `--help` with, before anything is loaded (see helpTexts.ts).
 */
export const renderHelpTexts = Effect.gen(function*() {
  const tree = commandLine(() => Effect.void)
  const texts: Record<string, string> = {}
  for (const name of ["", ...Completions.fromCommand(tree).subcommands.map((command) => command.name)]) {
    const capture = CliOutput.layerPresenter({
      present: (event) => Effect.sync(() => {
        if (event._tag === "Help") texts[name] = formatHelp(event.helpDoc)
      })
    })
    yield* Command.runWith(tree, { version: "" })(name === "" ? ["--help"] : [name, "--help"]).pipe(Effect.provide(capture))
  }
  return texts
}).pipe(Effect.provide(commandLineLayer))
