/**
 * The sorter: `--once`, or the service (reloading its settings on SIGHUP), with the status server
 * when PROTON_LUMO_METRICS_PORT asks for it; for the mailbox of the plain settings, or for every
 * account of PROTON_LUMO_ACCOUNTS side by side. Holds each data folder's lock, except in a dry run.
 */
import { Cause, Duration, Effect, Exit, type FileSystem, Layer, Option, type Path, Queue, Schedule, type Scope } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { HttpServerError } from "effect/http"
import { type Category, labelOfFolder } from "../../domain/Category.ts"
import { AccountsFailed, ImapAuthError, ImapConnectError, InvalidFolderName, SortIncomplete, SourceFolderError } from "../../domain/Errors.ts"
import { refusedLevel } from "../../domain/Folders.ts"
import { escapeControls } from "../../domain/Terminal.ts"
import { type ClassifierNeeds, configuredClassifier, sharedLlmClassifier, type SorterServicesOf, sorterLayer } from "../../layers.ts"
import { runService } from "../../pipeline/service.ts"
import { type PassReport, sortMailbox, sourceProblem } from "../../pipeline/sortMailbox.ts"
import { recordFailedPass } from "../../pipeline/telemetry.ts"
import { type Account, forAccount, loadAccounts } from "../../services/Accounts.ts"
import { Categories } from "../../services/Categories.ts"
import { Classifier } from "../../services/Classifier.ts"
import { DataLock } from "../../services/DataLock.ts"
import { Database } from "../../services/Database.ts"
import { Health, withHealth } from "../../services/Health.ts"
import { Mailbox } from "../../services/Mailbox.ts"
import { MailWatch } from "../../services/MailWatch.ts"
import { MessageParser } from "../../services/MessageParser.ts"
import { PassLog } from "../../services/PassLog.ts"
import * as StatusServer from "../../services/StatusServer.ts"
import {
  checkStartSettings,
  loadLlmSettings,
  loadDryRunSetting,
  loadMetricsServerSettings,
  loadSortSettings,
  Settings,
  SettingsError,
  type SortSettings
} from "../../services/Settings.ts"
import { settingsSource } from "../settingsSource.ts"
import { loadSortConfig, type SortConfig, warnAboutTls } from "./sortConfig.ts"

type SorterServices = SorterServicesOf<Mailbox>

/** Mailboxes a client or Proton empties or keeps apart: sorted mail put there may be lost to sight, or deleted. */
const disposalUses: ReadonlyMap<string, string> = new Map([["\\Trash", "Trash"], ["\\Sent", "Sent"], ["\\Drafts", "Drafts"]])
const disposalNames = new Set(["trash", "sent", "drafts", "deleted items", "deleted messages", "sent items", "sent messages"])

/**
 * Said at start, dry run included, not only by each move that fails: a category whose folder is
 * missing where the server will not create one (Bridge: only under Folders/ and Labels/), which
 * can never receive mail; whose folder is the Trash, Sent or Drafts (by its special use or its
 * name), where sorted mail may be emptied away or mixed with the user's own; or whose folder an
 * earlier category names too (the mail there is learned as that one's).
 */
const warnAboutTargets = (categories: ReadonlyArray<Category>) =>
  Effect.gen(function*() {
    const folders = yield* (yield* Mailbox).listFolders
    const existing = folders.map((folder) => folder.path)
    for (const category of categories) {
      const use = folders.find((folder) => folder.path === category.folder)?.specialUse
      const role = (use === undefined ? undefined : disposalUses.get(use)) ??
        (disposalNames.has(category.folder.trim().toLowerCase()) ? category.folder.trim() : undefined)
      if (role !== undefined) {
        yield* Effect.logWarning(
          `category ${escapeControls(category.id)}: its folder "${escapeControls(category.folder)}" is your ${escapeControls(role)} ` +
            "folder: mail sorted there may be emptied away with it, or lost among your own (name a folder of its own in categories.json)"
        )
      }
      const first = labelOfFolder(categories, category.folder)
      if (first !== undefined && first !== category.id) {
        yield* Effect.logWarning(
          `category ${escapeControls(category.id)}: its folder "${escapeControls(category.folder)}" is category ` +
            `${escapeControls(first)}'s too: the learned model learns the mail there as ${escapeControls(first)}'s, never as ` +
            `${escapeControls(category.id)}'s (give each category a folder of its own)`
        )
      }
      if (refusedLevel(category.folder, existing) === undefined) continue
      yield* Effect.logWarning(
        `category ${escapeControls(category.id)}: its folder "${escapeControls(category.folder)}" does not exist, and the ` +
          "server creates folders only under Folders/ and labels under Labels/: its mail stays where it is " +
          "(create the folder in Proton, or name one under Folders/ in categories.json)"
      )
    }
  })

/** What the accounts of one service share: the LLM (its limit and budget) and the parser threads. */
interface SharedParts {
  readonly llm?: Layer.Layer<Classifier, never, ClassifierNeeds>
  readonly parser?: Layer.Layer<MessageParser>
}

/**
 * Runs `program` against the configured server: the data folder's lock first (not for a dry run,
 * which changes nothing), then the connection; every folder name checked against the server's
 * hierarchy before anything is sorted.
 */
const withSorter = <A, E>(
  config: SortConfig,
  command: string,
  program: Effect.Effect<A, E, SorterServices>,
  shared: SharedParts = {}
) => {
  const { settings, paths, imap, llm, categories } = config
  const sorter = sorterLayer({
    settings,
    categories: Layer.succeed(Categories, categories),
    mailbox: Mailbox.layerImap(imap, { readOnly: settings.dryRun }),
    // Connects only in service mode, when it starts watching (read-only connections: EXAMINE, STATUS, IDLE).
    watch: MailWatch.layerImap(imap),
    database: Database.layerFile(paths.dataDir),
    ...(settings.dryRun ? { modelDatabase: Database.layerSnapshot(paths.dataDir) } : {}),
    // The LLM's settings are the process's, never an account's: a shared one exists exactly when `llm` does.
    classifier: shared.llm ?? configuredClassifier(llm),
    ...(shared.parser === undefined ? {} : { parser: shared.parser })
  })
  const layer = settings.dryRun ? sorter : sorter.pipe(Layer.provideMerge(DataLock.layer(paths.dataDir, command)))
  const run = Effect.gen(function*() {
    yield* (yield* Mailbox).checkNames([...settings.folders, ...categories.all.map((category) => category.folder)])
    yield* warnAboutTargets(categories.all)
    yield* withHealth((health) => Effect.andThen(health.expect(settings.folders, settings.pollInterval), health.loggedIn))
    const classifier = yield* Classifier
    yield* Effect.logInfo(
      `ProtonLumoAI on ${imap.host}:${imap.port} (${imap.tls === "tls" ? "TLS" : "STARTTLS"}) as ${imap.user}: ` +
        `${settings.folders.join(", ")} → ${categories.all.length} categories, ${classifier.name} classifier, ` +
        `${settings.workers} workers, batches of ${settings.batchSize}${settings.dryRun ? ", DRY RUN" : ""}`
    )
    return yield* program
  })
  return Effect.andThen(warnAboutTls(imap), Effect.provide(run, layer).pipe(Effect.tapError(recordRefusal(config))))
}

/**
 * A login refused, or a server out of reach, before any pass: recorded as every folder's failed
 * pass (after the lock is let go), so that `status` says why nothing is sorted. Not in a dry run;
 * a database that cannot be written to (another process holds it) is left alone.
 */
const recordRefusal = (config: SortConfig) => (error: unknown) =>
  config.settings.dryRun || !(error instanceof ImapAuthError || error instanceof ImapConnectError)
    ? Effect.void
    : recordFailedPass(config.settings.folders, error.message).pipe(
      Effect.provide(Layer.mergeAll(
        PassLog.layer.pipe(Layer.provide(Database.layerFile(config.paths.dataDir))),
        Layer.succeed(Settings, config.settings)
      )),
      Effect.ignore
    )

/** After `--once`: what is left, and how to sort it; a failure if anything could not be sorted. */
const concludeOnce = (pass: PassReport, settings: SortSettings) =>
  Effect.gen(function*() {
    for (const report of pass.folders) {
      // Without it, a run over a sorted mailbox prints its opening line only.
      if (report.processed === 0 && report.remaining === 0 && report.waiting === 0) {
        yield* Effect.logInfo(`${report.folder}: nothing new to sort`)
      }
      if (report.remaining > 0) {
        yield* Effect.logInfo(
          `${report.folder}: ${report.remaining} more unsorted messages wait (each pass sorts the newest ` +
            `${settings.maxEmailsPerFolder}, PROTON_LUMO_MAX_EMAILS_PER_FOLDER): run --once again, raise that ` +
            "setting, or run the service, which passes over them until all are sorted"
        )
      }
      if (report.waiting > 0) {
        yield* Effect.logInfo(
          `${report.folder}: ${report.waiting} messages that failed before wait for their next try ` +
            "(the delay doubles after each failure, up to an hour)"
        )
      }
    }
    const unsortable = pass.problems.filter((problem) => problem.kind === "unsortable").map((problem) => problem.folder)
    if (unsortable.length > 0) return yield* new SourceFolderError({ folders: unsortable })
    const failed = pass.folders.reduce((sum, report) => sum + report.failed, 0)
    const failedForGood = pass.folders.reduce((sum, report) => sum + report.failedForGood, 0)
    const waiting = pass.folders.reduce((sum, report) => sum + report.waiting, 0)
    const stoppedFolders = pass.problems.filter((problem) => problem.kind === "stopped").map((problem) => problem.folder)
    if (failed > 0 || waiting > 0 || stoppedFolders.length > 0) {
      return yield* new SortIncomplete({ failed, failedForGood, waiting, stoppedFolders })
    }
  })

/** SIGHUP, as a queue of hangups for as long as the scope is open. */
const hangups: Effect.Effect<Queue.Queue<void>, never, Scope.Scope> = Effect.acquireRelease(
  Effect.map(Queue.unbounded<void>(), (queue) => {
    const listener = () => {
      Queue.offerUnsafe(queue, undefined)
    }
    process.on("SIGHUP", listener)
    return { queue, listener }
  }),
  ({ listener }) => Effect.sync(() => process.off("SIGHUP", listener))
).pipe(Effect.map(({ queue }) => queue))

/** What `load` gives after the next SIGHUP (settings read anew); an invalid edit is reported and waited out. */
const nextConfig = <A>(signals: Queue.Queue<void>, load: Effect.Effect<A, Error, FileSystem.FileSystem | Path.Path>) =>
  Effect.gen(function*() {
    while (true) {
      yield* Queue.take(signals)
      yield* Effect.logInfo("SIGHUP: reading the settings (environment, .env, accounts) and categories.json again")
      // Fresh: the runtime provides the same layer, built once at start with the file as it was then.
      const loaded = yield* Effect.result(Effect.andThen(checkStartSettings, load).pipe(Effect.provide(Layer.fresh(settingsSource))))
      if (loaded._tag === "Success") return loaded.success
      yield* Effect.logError(`${loaded.failure.message}; still sorting with the settings in force`)
    }
  })

/**
 * The service, reloading its settings on SIGHUP: a valid new configuration stops the running
 * service (moves in flight finish), and starts it again with the new one.
 */
const serviceWithReload = <A, R>(
  first: A,
  load: Effect.Effect<A, Error, FileSystem.FileSystem | Path.Path>,
  run: (config: A) => Effect.Effect<void, Error, R>
) =>
  Effect.scoped(Effect.gen(function*() {
    const signals = yield* hangups
    let config = first
    /** The settings in force before the last reload: what the service goes back to if the server refuses a new folder name. */
    let inForce = Option.none<A>()
    while (true) {
      const fallback = inForce
      const next = yield* Effect.raceFirst(
        Effect.as(run(config), Option.none<{ readonly config: A; readonly reloaded: boolean }>()),
        Effect.map(nextConfig(signals, load), (loaded) => Option.some({ config: loaded, reloaded: true }))
      ).pipe(
        // Only the server can tell (by its hierarchy delimiter) that a folder name of the files cannot
        // exist there, once the reloaded settings start: refused as an invalid file is.
        Effect.catchIf(
          (error) => error instanceof InvalidFolderName && Option.isSome(fallback),
          (error) =>
            Effect.as(
              Effect.logError(`${error.message}; still sorting with the settings in force`),
              Option.map(fallback, (kept) => ({ config: kept, reloaded: false }))
            )
        )
      )
      if (Option.isNone(next)) return
      inForce = next.value.reloaded ? Option.some(config) : Option.none()
      config = next.value.config
      if (next.value.reloaded) yield* Effect.logInfo("settings reloaded; restarting with them")
    }
  })).pipe(
    // Said once the watchers have logged out: a stop while idle would otherwise leave no trace in the log.
    Effect.onInterrupt(() => Effect.logInfo("stopped (Ctrl-C or SIGTERM)"))
  )

/**
 * With PROTON_LUMO_METRICS_PORT: `program` runs with /metrics, /healthz and /readyz served, and
 * the Health they read; a port that cannot be had is a setting error.
 */
const withStatusServer = <R>(program: Effect.Effect<void, Error, R>): Effect.Effect<void, Error, R> =>
  Effect.flatMap(loadMetricsServerSettings, ({ port, host }): Effect.Effect<void, Error, R> => {
    if (Option.isNone(port)) return program
    const server = StatusServer.layer({ host, port: port.value }).pipe(Layer.provideMerge(Health.layer))
    const unavailable = (cause: unknown) =>
      new SettingsError({
        variable: "PROTON_LUMO_METRICS_PORT",
        reason: `cannot serve on ${host}:${port.value}: ${messageOf(cause)}` +
          (messageOf(cause).includes("EADDRINUSE") ? " (is the service running with it? it serves the metrics for both)" : "")
      })
    return Effect.provide(program, server).pipe(
      Effect.catchIf(
        (error): error is HttpServerError.ServeError => error instanceof HttpServerError.ServeError,
        (error) => Effect.fail(unavailable(error.cause))
      )
    )
  })

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/**
 * `--once` checks every source folder before it sorts any: a folder of PROTON_LUMO_FOLDERS that
 * cannot be sorted (a typo, say) stops the run before the others are sorted, as a setting error
 * does. (The service sorts the others and says so on every pass: a folder deleted while it runs
 * must not stop the sorting of the rest.)
 */
const refuseUnsortableSources = (config: SortConfig) =>
  Effect.gen(function*() {
    const folders = yield* (yield* Mailbox).listFolders
    const targets = config.categories.all.map((category) => category.folder)
    const unsortable: Array<string> = []
    for (const path of config.settings.folders) {
      const problem = sourceProblem(path, folders, targets)
      if (problem === undefined) continue
      yield* Effect.logError(`cannot sort folder "${path}": ${problem}; nothing was sorted`)
      unsortable.push(path)
    }
    if (unsortable.length > 0) return yield* new SourceFolderError({ folders: unsortable })
  })

/** One pass (`--once`) of the configured mailbox, then what is left and how it went. */
const once = (config: SortConfig, shared?: SharedParts) =>
  withSorter(
    config,
    "--once",
    Effect.andThen(refuseUnsortableSources(config), Effect.flatMap(sortMailbox(), (pass) => concludeOnce(pass, config.settings))),
    shared
  )

/** The mailbox of the plain settings (no PROTON_LUMO_ACCOUNTS). */
const sortOneMailbox = (options: SortOptions) =>
  Effect.flatMap(loadSortConfig(options.dryRun), (config) =>
    options.once
      ? once(config)
      : serviceWithReload(config, loadSortConfig(options.dryRun), (current) => withSorter(current, "service", runService)))

/** After a failed start, an account is tried again: in 10 s, doubling, at most every 10 minutes. */
const accountRetries = Schedule.exponential("10 seconds").pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.minutes(10))))
)

/**
 * What the accounts share, for as long as the scope is open: one LLM (per-minute limit, calls in
 * flight, pause, budget in `<PROTON_LUMO_DATA>/shared`) and one pool of parser threads, both
 * from the global settings.
 */
const sharedParts = (sharedDir: string) =>
  Effect.gen(function*() {
    const llm = yield* loadLlmSettings
    const settings = yield* loadSortSettings
    const parser = yield* Layer.build(MessageParser.layer.pipe(Layer.provide(Layer.succeed(Settings, settings))))
    const parts: SharedParts = {
      parser: Layer.succeedContext(parser),
      // PROTON_LUMO_MAX_WORKERS (global) bounds the LLM calls in flight of all accounts together.
      ...(Option.isSome(llm) ? { llm: yield* sharedLlmClassifier(llm.value, sharedDir, settings.workers) } : {})
    }
    return parts
  })

/**
 * With several accounts, PROTON_LUMO_MAX_WORKERS is what they have together (the shared LLM
 * takes no more calls at once anyway): each account gets its share, at least one, and reads
 * ahead only what its share can classify (FETCHes of at most two rounds of its batches), so
 * twenty accounts waiting for one LLM do not hold twenty backlogs in memory.
 */
const shareOf = (accounts: number) => (config: SortConfig): SortConfig => {
  const { settings } = config
  const workers = Math.max(1, Math.ceil(settings.workers / accounts))
  const fetchChunkSize = Math.min(settings.fetchChunkSize, 2 * settings.batchSize * workers)
  return { ...config, settings: { ...settings, workers, fetchChunkSize } }
}

/** An account's configuration, with its share of the workers. */
const accountConfig = (accounts: number, dryRun: boolean) => Effect.map(loadSortConfig(dryRun), shareOf(accounts))

/** Each account's settings that last got past the server's check of folder names, by account name: kept across reloads. */
type AccountsInForce = Map<string, SortConfig>

/**
 * The account's service with `config`. A folder name only the server refuses (by its hierarchy
 * delimiter, once reloaded settings connect) goes back to the account's settings in force, as the
 * service of one mailbox does; with none (its first start), it is a failure to start.
 */
const startAccount = (name: string, config: SortConfig, shared: SharedParts, inForce: AccountsInForce) => {
  const run = (settings: SortConfig) =>
    withSorter(settings, "service", Effect.andThen(Effect.sync(() => inForce.set(name, settings)), runService), shared)
  return run(config).pipe(
    Effect.catchIf(
      (error) => error instanceof InvalidFolderName,
      (error) => {
        const kept = inForce.get(name)
        return kept === undefined || kept === config
          ? Effect.fail(error)
          : Effect.andThen(Effect.logError(`${error.message}; still sorting this account with the settings in force`), run(kept))
      }
    )
  )
}

/**
 * One account's service, beside the others: a failure to start (wrong password, server down, a
 * bad setting of its own) is reported, on /readyz too, and tried again later; the others go on.
 */
const accountService = (account: Account, accounts: number, shared: SharedParts, dryRun: boolean, inForce: AccountsInForce) =>
  forAccount(account)(
    Effect.flatMap(accountConfig(accounts, dryRun), (config) => startAccount(account.name, config, shared, inForce)).pipe(
      Effect.tapError((error) => withHealth((health) => health.offline(error.message))),
      Effect.retry(accountRetries.pipe(
        Schedule.setInputType<Error>(),
        Schedule.tap(({ input, duration }) =>
          Effect.logError(`${input.message}; this account is tried again in ${Duration.format(duration)}`)
        )
      ))
    )
  )

/**
 * `--once` over every account at once, each on its own connection with its own lock: the
 * accounts that could not be sorted are named (AccountsFailed); otherwise what the accounts
 * left unsorted, summed up (SortIncomplete).
 */
const onceEveryAccount = (accounts: NonEmptyReadonlyArray<Account>, shared: SharedParts, dryRun: boolean) =>
  Effect.gen(function*() {
    const outcomes = yield* Effect.forEach(
      accounts,
      (account) =>
        forAccount(account)(Effect.flatMap(accountConfig(accounts.length, dryRun), (config) => once(config, shared))).pipe(
          Effect.exit,
          Effect.map((exit) => ({ account: account.name, exit }))
        ),
      { concurrency: "unbounded" }
    )
    const failed: Array<string> = []
    const incomplete: Array<SortIncomplete> = []
    for (const { account, exit } of outcomes) {
      if (Exit.isSuccess(exit)) continue
      const error = Option.getOrUndefined(Cause.findErrorOption(exit.cause))
      if (error instanceof SortIncomplete) incomplete.push(error)
      else {
        failed.push(account)
        const reason = error instanceof Error ? error.message : Cause.pretty(exit.cause)
        yield* Effect.logError(reason).pipe(Effect.annotateLogs("account", account))
      }
    }
    if (failed.length > 0) return yield* new AccountsFailed({ failed, of: accounts.length })
    if (incomplete.length > 0) {
      return yield* new SortIncomplete({
        failed: incomplete.reduce((sum, error) => sum + error.failed, 0),
        failedForGood: incomplete.reduce((sum, error) => sum + error.failedForGood, 0),
        waiting: incomplete.reduce((sum, error) => sum + error.waiting, 0),
        stoppedFolders: incomplete.flatMap((error) => error.stoppedFolders)
      })
    }
  })

const serviceEveryAccount = (accounts: NonEmptyReadonlyArray<Account>, dryRun: boolean, inForce: AccountsInForce) =>
  Effect.scoped(Effect.gen(function*() {
    const [first] = accounts
    const shared = yield* sharedParts(first.sharedDir)
    yield* Effect.logInfo(`sorting ${accounts.length} accounts: ${accounts.map((account) => account.name).join(", ")}`)
    yield* Effect.forEach(accounts, (account) => accountService(account, accounts.length, shared, dryRun, inForce), {
      concurrency: "unbounded",
      discard: true
    })
  }))

/** The accounts of PROTON_LUMO_ACCOUNTS, side by side in one process. */
const sortEveryAccount = (accounts: NonEmptyReadonlyArray<Account>, options: SortOptions) =>
  options.once
    ? Effect.scoped(Effect.flatMap(sharedParts(accounts[0].sharedDir), (shared) => onceEveryAccount(accounts, shared, options.dryRun)))
    : Effect.suspend(() => {
      const inForce: AccountsInForce = new Map()
      return serviceWithReload(accounts, reloadAccounts, (current) => serviceEveryAccount(current, options.dryRun, inForce))
    })

/** The accounts file again after SIGHUP; it cannot go away while the service runs. */
const reloadAccounts = Effect.flatMap(loadAccounts, (accounts) =>
  Option.match(accounts, {
    onSome: Effect.succeed,
    onNone: () =>
      Effect.fail(new SettingsError({ variable: "PROTON_LUMO_ACCOUNTS", reason: "is no longer set: restart the service to change that" }))
  }))

interface SortOptions {
  readonly once: boolean
  readonly dryRun: boolean
}

/**
 * A dry run (`--dry-run`, or PROTON_LUMO_DRY_RUN) serves no endpoints: it is a look beside the
 * service, which may hold the port, and what it would move is no move to count.
 */
export const sortCommand = (options: SortOptions) => {
  const sort = Effect.flatMap(loadAccounts, (accounts) =>
    Option.match(accounts, {
      onNone: () => sortOneMailbox(options),
      onSome: (all) => sortEveryAccount(all, options)
    }))
  return Effect.flatMap(loadDryRunSetting, (dryRun) => (options.dryRun || dryRun ? sort : withStatusServer(sort)))
}
