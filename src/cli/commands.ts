/**
 * The commands. Each reads the settings it needs first, so a missing or invalid one stops it
 * before anything connects, then runs with the live layers.
 */
import { Console, Effect, Layer, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { runDemo } from "../demo.ts"
import { sourcesThatAreTargets } from "../domain/Folders.ts"
import { formatHistory } from "../pipeline/history.ts"
import { runService } from "../pipeline/service.ts"
import { sortMailbox } from "../pipeline/sortMailbox.ts"
import { undo } from "../pipeline/undo.ts"
import { Categories, loadCategories } from "../services/Categories.ts"
import { Classifier } from "../services/Classifier.ts"
import { Database } from "../services/Database.ts"
import { Journal, type JournalQuery } from "../services/Journal.ts"
import { Mailbox } from "../services/Mailbox.ts"
import { MessageParser } from "../services/MessageParser.ts"
import {
  type ImapSettings,
  loadImapSettings,
  loadLlmSettings,
  loadPathSettings,
  loadSortSettings,
  Settings,
  SettingsError
} from "../services/Settings.ts"
import { SortState } from "../services/SortState.ts"

/** State and journal in `<dataDir>/protonlumo.db`. */
const storage = (dataDir: string) =>
  Layer.mergeAll(SortState.layer, Journal.layer).pipe(Layer.provideMerge(Database.layerFile(dataDir)))

const warnAboutTls = (imap: ImapSettings) =>
  imap.tlsVerify ? Effect.void : Effect.logWarning(
    "PROTON_LUMO_IMAP_TLS_VERIFY=false: the server's certificate is not checked, so whoever can intercept " +
      "the connection can read your password and mail. Prefer PROTON_LUMO_IMAP_CA_FILE with Bridge's certificate."
  )

export const sortCommand = (options: { readonly once: boolean; readonly dryRun: boolean }) =>
  Effect.gen(function*() {
    const fromEnv = yield* loadSortSettings
    const settings = options.dryRun ? { ...fromEnv, dryRun: true } : fromEnv
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
    yield* warnAboutTls(imap)

    const layer = Layer.mergeAll(
      Mailbox.layerImap(imap),
      MessageParser.layer,
      Classifier.layer(llm).pipe(Layer.provide(FetchHttpClient.layer))
    ).pipe(
      Layer.provideMerge(Layer.succeed(Settings, settings)),
      Layer.provideMerge(Layer.succeed(Categories, categories)),
      Layer.provideMerge(storage(paths.dataDir))
    )

    yield* Effect.gen(function*() {
      const classifier = yield* Classifier
      yield* Effect.logInfo(
        `ProtonLumoAI on ${imap.host}:${imap.port} (${imap.tls === "tls" ? "TLS" : "STARTTLS"}) as ${imap.user}: ` +
          `${settings.folders.join(", ")} → ${categories.all.length} categories, ${classifier.name} classifier, ` +
          `${settings.workers} workers, batches of ${settings.batchSize}${settings.dryRun ? ", DRY RUN" : ""}`
      )
      if (options.once) yield* sortMailbox()
      else yield* runService
    }).pipe(Effect.provide(layer))
  })

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
      yield* Console.log(formatHistory(yield* (yield* Journal).list({ limit })))
    }).pipe(Effect.provide(storage(paths.dataDir)))
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
      const report = yield* undo(query.value).pipe(Effect.provide(Mailbox.layerImap(imap)))
      yield* Console.log(
        `Put back ${report.restored} messages` +
          (report.skipped > 0 ? `; ${report.skipped} not found (moved or deleted since, or without Message-ID).` : ".")
      )
    }).pipe(Effect.provide(storage(paths.dataDir)))
  })
