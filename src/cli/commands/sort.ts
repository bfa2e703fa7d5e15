/**
 * The sorter: `--once`, or the service (reloading its settings on SIGHUP), with the status server
 * when PROTON_LUMO_METRICS_PORT asks for it. Holds the data folder's lock, except in a dry run.
 */
import { Effect, Layer, Option, Queue, type Scope } from "effect"
import { HttpServerError } from "effect/http"
import { SortIncomplete, SourceFolderError } from "../../domain/Errors.ts"
import { configuredClassifier, type SorterServicesOf, sorterLayer } from "../../layers.ts"
import { runService } from "../../pipeline/service.ts"
import { type PassReport, sortMailbox } from "../../pipeline/sortMailbox.ts"
import { Categories } from "../../services/Categories.ts"
import { Classifier } from "../../services/Classifier.ts"
import { DataLock } from "../../services/DataLock.ts"
import { Database } from "../../services/Database.ts"
import { Health, withHealth } from "../../services/Health.ts"
import { Mailbox } from "../../services/Mailbox.ts"
import { MailWatch } from "../../services/MailWatch.ts"
import * as StatusServer from "../../services/StatusServer.ts"
import { loadMetricsServerSettings, SettingsError, type SortSettings } from "../../services/Settings.ts"
import { settingsSource } from "../settingsSource.ts"
import { loadSortConfig, type SortConfig, warnAboutTls } from "./sortConfig.ts"

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
    // Connects only in service mode, when it starts watching (read-only connections: EXAMINE, STATUS, IDLE).
    watch: MailWatch.layerImap(imap),
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
