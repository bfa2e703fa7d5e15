/**
 * The commands. Each reads the settings it needs first, so a missing or invalid one stops it
 * before anything connects, then runs with the layers built in layers.ts. Commands that change
 * the mailbox hold the data folder's lock for as long as they run; `evaluate` changes nothing (the
 * mailbox read-only, the data folder not even opened) and needs no lock.
 */
import { join } from "node:path"
import { Clock, Console, Effect, FileSystem, Layer, Option, Queue, type Scope } from "effect"
import { HttpServerError } from "effect/http"
import { runDemo } from "../demo.ts"
import { SortIncomplete, SourceFolderError } from "../domain/Errors.ts"
import { sourcesThatAreTargets } from "../domain/Folders.ts"
import { escapeControls } from "../domain/Terminal.ts"
import {
  configuredClassifier,
  evaluationLayer,
  fileStorage,
  type SorterServicesOf,
  sorterLayer,
  statusStorage
} from "../layers.ts"
import { evaluateMailbox } from "../pipeline/evaluate.ts"
import { formatHistory } from "../pipeline/history.ts"
import { runService } from "../pipeline/service.ts"
import { type PassReport, sortMailbox } from "../pipeline/sortMailbox.ts"
import { emptyStatus, formatStatus, readStatus, statusJson } from "../pipeline/status.ts"
import { undo } from "../pipeline/undo.ts"
import { Categories, type CategoriesApi, loadCategories } from "../services/Categories.ts"
import { Classifier } from "../services/Classifier.ts"
import { DataLock } from "../services/DataLock.ts"
import { Database } from "../services/Database.ts"
import { Journal, type JournalQuery } from "../services/Journal.ts"
import { LearnedModel } from "../services/LearnedModel.ts"
import { Health, withHealth } from "../services/Health.ts"
import { Mailbox } from "../services/Mailbox.ts"
import * as StatusServer from "../services/StatusServer.ts"
import {
  type ImapSettings,
  type LlmSettings,
  loadImapSettings,
  loadLlmBudgetSettings,
  loadLlmSettings,
  loadMetricsServerSettings,
  loadPathSettings,
  loadSortSettings,
  type PathSettings,
  SettingsError,
  type SortSettings
} from "../services/Settings.ts"
import { evaluationPage } from "./evaluationPage.ts"
import { formatEvaluation } from "./evaluationText.ts"
import { settingsSource } from "./settingsSource.ts"

/** Everything a sorting run is configured with, read and checked before anything connects. */
interface SortConfig {
  readonly settings: SortSettings
  readonly paths: PathSettings
  readonly imap: ImapSettings
  readonly llm: Option.Option<LlmSettings>
  readonly categories: CategoriesApi
}

const loadSortConfig = (dryRun: boolean) =>
  Effect.gen(function*() {
    const fromEnv = yield* loadSortSettings
    const llm = yield* loadLlmSettings
    if (fromEnv.llmExamples > 0 && Option.isNone(llm)) {
      yield* Effect.logWarning("PROTON_LUMO_LLM_EXAMPLES is set but no LLM is configured: no example is read or sent")
    }
    const settings = {
      ...fromEnv,
      dryRun: dryRun || fromEnv.dryRun,
      llmExamples: Option.isNone(llm) ? 0 : fromEnv.llmExamples
    }
    const paths = yield* loadPathSettings
    const imap = yield* loadImapSettings
    const categories = yield* loadCategories(paths.configDir)
    const clash = sourcesThatAreTargets(settings.folders, categories.all.map((category) => category.folder))
    if (clash.length > 0) {
      return yield* new SettingsError({
        variable: "PROTON_LUMO_FOLDERS",
        reason: `${clash.join(", ")} is also a category's target folder; it cannot be a source`
      })
    }
    const config: SortConfig = { settings, paths, imap, llm, categories }
    return config
  })

const warnAboutTls = (imap: ImapSettings) =>
  imap.tlsVerify ? Effect.void : Effect.logWarning(
    "PROTON_LUMO_IMAP_TLS_VERIFY=false: the server's certificate is not checked, so whoever can intercept " +
      "the connection can read your password and mail. Prefer PROTON_LUMO_IMAP_CA_FILE with Bridge's certificate."
  )

type SorterServices = SorterServicesOf<Mailbox>

/**
 * Runs `program` against the configured server: the data folder's lock first (not for a dry run,
 * which changes nothing), then the connection; every folder name checked against the server's
 * hierarchy before anything is sorted.
 */
const withSorter = <A, E>(config: SortConfig, command: string, program: Effect.Effect<A, E, SorterServices>) => {
  const { settings, paths, imap, llm, categories } = config
  const sorter = sorterLayer({
    settings,
    categories: Layer.succeed(Categories, categories),
    mailbox: Mailbox.layerImap(imap, { readOnly: settings.dryRun }),
    database: Database.layerFile(paths.dataDir),
    ...(settings.dryRun ? { modelDatabase: Database.layerSnapshot(paths.dataDir) } : {}),
    classifier: configuredClassifier(llm)
  })
  const layer = settings.dryRun ? sorter : sorter.pipe(Layer.provideMerge(DataLock.layer(paths.dataDir, command)))
  const run = Effect.gen(function*() {
    yield* (yield* Mailbox).checkNames([...settings.folders, ...categories.all.map((category) => category.folder)])
    yield* withHealth((health) => Effect.andThen(health.expect(settings.folders, settings.pollInterval), health.loggedIn))
    const classifier = yield* Classifier
    yield* Effect.logInfo(
      `ProtonLumoAI on ${imap.host}:${imap.port} (${imap.tls === "tls" ? "TLS" : "STARTTLS"}) as ${imap.user}: ` +
        `${settings.folders.join(", ")} → ${categories.all.length} categories, ${classifier.name} classifier, ` +
        `${settings.workers} workers, batches of ${settings.batchSize}${settings.dryRun ? ", DRY RUN" : ""}`
    )
    return yield* program
  })
  return Effect.andThen(warnAboutTls(imap), Effect.provide(run, layer))
}

/** After `--once`: what is left, and how to sort it; a failure if anything could not be sorted. */
const concludeOnce = (pass: PassReport, settings: SortSettings) =>
  Effect.gen(function*() {
    for (const report of pass.folders) {
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
    const waiting = pass.folders.reduce((sum, report) => sum + report.waiting, 0)
    const stoppedFolders = pass.problems.filter((problem) => problem.kind === "stopped").map((problem) => problem.folder)
    if (failed > 0 || waiting > 0 || stoppedFolders.length > 0) {
      return yield* new SortIncomplete({ failed, waiting, stoppedFolders })
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

/** The settings and categories as they are after the next SIGHUP; an invalid edit is reported and waited out. */
const nextConfig = (signals: Queue.Queue<void>, dryRun: boolean) =>
  Effect.gen(function*() {
    while (true) {
      yield* Queue.take(signals)
      yield* Effect.logInfo("SIGHUP: reading the settings (environment, .env) and categories.json again")
      const loaded = yield* Effect.result(loadSortConfig(dryRun).pipe(Effect.provide(settingsSource)))
      if (loaded._tag === "Success") return loaded.success
      yield* Effect.logError(`${loaded.failure.message}; still sorting with the settings in force`)
    }
  })

/**
 * The service, reloading its settings on SIGHUP: a valid new configuration stops the running
 * service (moves in flight finish), and starts it again with the new one.
 */
const serviceWithReload = (first: SortConfig, dryRun: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const signals = yield* hangups
    let config = first
    while (true) {
      const reloaded = yield* Effect.raceFirst(
        Effect.as(withSorter(config, "service", runService), Option.none<SortConfig>()),
        Effect.map(nextConfig(signals, dryRun), Option.some)
      )
      if (Option.isNone(reloaded)) return
      config = reloaded.value
      yield* Effect.logInfo("settings reloaded; sorting resumes with them")
    }
  }))

/**
 * With PROTON_LUMO_METRICS_PORT: `program` runs with /metrics, /healthz and /readyz served, and
 * the Health they read; a port that cannot be had is a setting error.
 */
const withStatusServer = <R>(program: Effect.Effect<void, Error, R>): Effect.Effect<void, Error, R> =>
  Effect.flatMap(loadMetricsServerSettings, ({ port, host }): Effect.Effect<void, Error, R> => {
    if (Option.isNone(port)) return program
    const server = StatusServer.layer({ host, port: port.value }).pipe(Layer.provideMerge(Health.layer))
    const unavailable = (cause: unknown) =>
      new SettingsError({ variable: "PROTON_LUMO_METRICS_PORT", reason: `cannot serve on ${host}:${port.value}: ${messageOf(cause)}` })
    return Effect.provide(program, server).pipe(
      Effect.catchIf(
        (error): error is HttpServerError.ServeError => error instanceof HttpServerError.ServeError,
        (error) => Effect.fail(unavailable(error.cause))
      )
    )
  })

const messageOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

export const sortCommand = (options: { readonly once: boolean; readonly dryRun: boolean }) =>
  Effect.flatMap(loadSortConfig(options.dryRun), (config) =>
    withStatusServer(
      options.once
        ? withSorter(config, "--once", Effect.flatMap(sortMailbox(), (pass) => concludeOnce(pass, config.settings)))
        : serviceWithReload(config, options.dryRun)
    ))

export const demoCommand = (packageRoot: string, dryRun: boolean) =>
  Effect.gen(function*() {
    const fromEnv = yield* loadSortSettings
    yield* runDemo(packageRoot, {
      ...fromEnv,
      dryRun: dryRun || fromEnv.dryRun,
      maxEmailsPerFolder: Math.max(fromEnv.maxEmailsPerFolder, 1000)
    })
  })

export const historyCommand = (limit: number) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    yield* Effect.gen(function*() {
      const entries = yield* (yield* Journal).list({ limit })
      const corrections = yield* (yield* LearnedModel).corrections(entries[0]?.at ?? 0)
      yield* Console.log(formatHistory(entries, corrections))
    }).pipe(Effect.provide(fileStorage(paths.dataDir)))
  })

/**
 * `status`: what the database says, read-only and without the lock (it answers beside a running
 * service); a data folder without a database yet is said so, and is not created.
 */
export const statusCommand = (json: boolean) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    const { dailyTokenBudget, costPer1kTokens } = yield* loadLlmBudgetSettings
    const file = join(paths.dataDir, "protonlumo.db")
    if (!(yield* (yield* FileSystem.FileSystem).exists(file))) {
      return yield* Console.log(
        json
          ? statusJson(emptyStatus(yield* Clock.currentTimeMillis))
          : `No database yet in ${escapeControls(paths.dataDir)}: nothing has been sorted with this data folder.`
      )
    }
    const status = yield* readStatus({ dailyTokenBudget: Option.getOrUndefined(dailyTokenBudget), costPer1kTokens }).pipe(
      Effect.provide(statusStorage(paths.dataDir, dailyTokenBudget))
    )
    yield* Console.log(json ? statusJson(status) : formatStatus(status))
  })

export const undoCommand = (
  scope: { readonly lastRun: true } | { readonly since: number },
  dryRun: boolean
) =>
  Effect.gen(function*() {
    const paths = yield* loadPathSettings
    const imap = yield* loadImapSettings
    yield* warnAboutTls(imap)
    yield* Effect.gen(function*() {
      const journal = yield* Journal
      const query: Option.Option<JournalQuery> = "since" in scope
        ? Option.some({ since: scope.since })
        : Option.map(yield* journal.lastRun, (runId) => ({ runId }))
      if (Option.isNone(query)) return yield* Console.log("Nothing to undo: the journal holds no move.")
      const entries = yield* journal.list({ ...query.value, states: ["done"] })
      if (dryRun || entries.length === 0) {
        yield* Console.log(formatHistory(entries))
        return yield* Console.log(`${dryRun ? "Would put back" : "Nothing left to put back:"} ${entries.length} messages.`)
      }
      const report = yield* undo(query.value).pipe(
        Effect.provide(Mailbox.layerImap(imap).pipe(Layer.provide(DataLock.layer(paths.dataDir, "undo"))))
      )
      yield* Console.log(
        `Put back ${report.restored} of ${entries.length} messages` +
          (report.alreadyBack > 0 ? `; ${report.alreadyBack} were back already` : "") +
          (report.notFound > 0
            ? `; ${report.notFound} not found (moved or deleted since, or not told apart from another message).`
            : ".")
      )
    }).pipe(Effect.provide(fileStorage(paths.dataDir)))
  })

/**
 * `evaluate`: the figures of a model trained afresh on the older mail of the user's folders and
 * tested on the newest, printed, and with `--html` written as a page too. The mailbox is opened
 * read-only (EXAMINE; any change refused) and the data folder, with the saved model, is not used.
 */
export const evaluateCommand = (html: string | undefined) =>
  Effect.gen(function*() {
    const { settings, imap, categories } = yield* loadSortConfig(true)
    yield* warnAboutTls(imap)
    const layer = evaluationLayer({
      settings,
      categories: Layer.succeed(Categories, categories),
      mailbox: Mailbox.layerImap(imap, { readOnly: true })
    })
    const report = yield* Effect.gen(function*() {
      yield* (yield* Mailbox).checkNames([...settings.folders, ...categories.all.map((category) => category.folder)])
      yield* Effect.logInfo(
        `evaluating on ${imap.host}:${imap.port} as ${imap.user}: your category folders and the read mail in ` +
          `${settings.folders.join(", ")} (read-only: nothing changes)`
      )
      return yield* evaluateMailbox()
    }).pipe(Effect.provide(layer))
    yield* Console.log(formatEvaluation(report))
    if (html === undefined) return
    const fs = yield* FileSystem.FileSystem
    // 0600: the page names the user's folders and how their mail is spread over them (`mode` only
    // applies to a new file: one written over is made 0600 too).
    yield* fs.writeFileString(html, evaluationPage(report, yield* Clock.currentTimeMillis), { mode: 0o600 })
    yield* fs.chmod(html, 0o600)
    yield* Console.log(`Wrote ${escapeControls(html)}: open it in a browser (it loads nothing from the network).`)
  })
