/**
 * The one place where the sorter's services are put together: the CLI, the demo, the tests and
 * embedding apps all build them here, choosing only the parts that differ (which mailbox, which
 * classifier, where the state lives).
 */
import { Effect, Layer, Option } from "effect"
import { FetchHttpClient } from "effect/http"
import { OtlpMetrics, OtlpSerialization, OtlpTracer } from "effect/observability"
import type { StateError } from "./domain/Errors.ts"
import type { Categories } from "./services/Categories.ts"
import type { Classifier } from "./services/Classifier.ts"
import { ChatCompletions, makeChatGate } from "./services/ChatCompletions.ts"
import { ClassificationCache } from "./services/ClassificationCache.ts"
import * as KeywordClassifier from "./services/KeywordClassifier.ts"
import * as LearnedClassifier from "./services/LearnedClassifier.ts"
import { LearnedModel } from "./services/LearnedModel.ts"
import { LlmBudget } from "./services/LlmBudget.ts"
import * as LlmClassifier from "./services/LlmClassifier.ts"
import { Database } from "./services/Database.ts"
import { FiledExamples } from "./services/FiledExamples.ts"
import { Journal } from "./services/Journal.ts"
import type { Mailbox } from "./services/Mailbox.ts"
import { MailWatch } from "./services/MailWatch.ts"
import { MessageParser } from "./services/MessageParser.ts"
import { PassLog } from "./services/PassLog.ts"
import { type LlmSettings, Settings, type SortSettings } from "./services/Settings.ts"
import { SortState } from "./services/SortState.ts"

/** What a classifier layer may need: the categories, the database (LLM cache, budget), the filed examples. */
export type ClassifierNeeds = Categories | Database | FiledExamples

export interface SorterParts<M, EM, ED, EC> {
  readonly settings: SortSettings
  /** `Categories.layerFrom(file)`, or `Categories.layerFile(configDir)`. */
  readonly categories: Layer.Layer<Categories, EC>
  /** `Mailbox.layerImap(…)`, or `MemoryMailbox.layer()` (which also gives its inspector). */
  readonly mailbox: Layer.Layer<Mailbox | M, EM>
  /** `Database.layerFile(dataDir)` (what the CLI keeps), or `Database.layerMemory`. */
  readonly database: Layer.Layer<Database, ED>
  /**
   * Where the learned model is kept, when not in `database`: a dry run gives
   * `Database.layerSnapshot(dataDir)`, so that what it learns is not saved.
   */
  readonly modelDatabase?: Layer.Layer<Database, ED>
  /** Default: keywords only. The learned model goes in front of it unless PROTON_LUMO_LEARN=false. */
  readonly classifier?: Layer.Layer<Classifier, never, ClassifierNeeds>
  /** Default: parser threads on spare cores. */
  readonly parser?: Layer.Layer<MessageParser, never, Settings>
  /**
   * What watches the source folders after the first in service mode: `MailWatch.layerImap(…)`
   * (connections of its own), `MailWatch.layerShared` (the in-memory mailbox). Default: none,
   * those folders wait for the full passes.
   */
  readonly watch?: Layer.Layer<MailWatch, never, Mailbox | M>
}

/** The services `sortMailbox`, `runService`, `undo` and `history` use, with the mailbox's `M`. */
export type SorterServicesOf<M> =
  | M
  | MessageParser
  | Classifier
  | SortState
  | Journal
  | LearnedModel
  | Settings
  | Categories
  | Database
  | FiledExamples
  | PassLog
  | MailWatch

/** The chain: the learned model (unless turned off), then the classifier given (keywords, or the LLM's). */
const classifierChain = (settings: SortSettings, classifier: Layer.Layer<Classifier, never, ClassifierNeeds>) =>
  settings.learn ? LearnedClassifier.layer.pipe(Layer.provide(classifier)) : classifier

/** Everything `sortMailbox`, `runService`, `undo` and `history` need. */
export const sorterLayer = <M, EM, ED, EC>(
  parts: SorterParts<M, EM, ED, EC>
): Layer.Layer<SorterServicesOf<Mailbox | M>, EM | ED | EC | StateError> =>
  Layer.mergeAll(
    (parts.watch ?? MailWatch.layerNone).pipe(Layer.provideMerge(parts.mailbox)),
    parts.parser ?? MessageParser.layer,
    classifierChain(parts.settings, parts.classifier ?? KeywordClassifier.layer),
    parts.settings.dryRun ? SortState.layerDryRun : SortState.layer,
    Journal.layer,
    PassLog.layer
  ).pipe(
    Layer.provideMerge(FiledExamples.layer),
    Layer.provideMerge(Layer.succeed(Settings, parts.settings)),
    Layer.provideMerge(
      parts.modelDatabase === undefined ? LearnedModel.layer : LearnedModel.layer.pipe(Layer.provide(parts.modelDatabase))
    ),
    Layer.provideMerge(parts.categories),
    Layer.provideMerge(parts.database)
  )

/** What `evaluate` reads with: a mailbox (read-only, for the CLI), the parser, settings, categories; no database, no model saved. */
export const evaluationLayer = <M, EM, EC>(
  parts: Pick<SorterParts<M, EM, never, EC>, "settings" | "categories" | "mailbox" | "parser">
): Layer.Layer<Mailbox | M | MessageParser | Settings | Categories, EM | EC> =>
  Layer.mergeAll(parts.mailbox, parts.parser ?? MessageParser.layer, parts.categories).pipe(
    Layer.provideMerge(Layer.succeed(Settings, parts.settings))
  )

const storageIn = (database: Layer.Layer<Database, StateError>): Layer.Layer<SortState | Journal | LearnedModel | Database, StateError> =>
  Layer.mergeAll(SortState.layer, Journal.layer, LearnedModel.layer).pipe(Layer.provideMerge(database))

/** State, journal and learned model in `<dataDir>/protonlumo.db`, as the CLI keeps them. */
export const fileStorage = (dataDir: string) => storageIn(Database.layerFile(dataDir))

/**
 * The same, from a copy in memory of `<dataDir>/protonlumo.db` as it is now: a dry run reads it
 * without changing the file, not even to bring it up to this version.
 */
export const snapshotStorage = (dataDir: string) => storageIn(Database.layerSnapshot(dataDir))

/**
 * What `status` reads, from `<dataDir>/protonlumo.db` opened read-only (which must exist): no
 * lock, so it answers beside a running service. `budget`: the daily token budget, if set, kept
 * in `<budgetDir>/protonlumo.db` (another folder's when several accounts share it).
 */
export const statusStorage = (
  dataDir: string,
  budget: Option.Option<number>,
  budgetDir: string = dataDir
): Layer.Layer<SortState | Journal | LearnedModel | PassLog | LlmBudget, StateError> =>
  Layer.mergeAll(
    Layer.mergeAll(SortState.layer, Journal.layer, LearnedModel.layer, PassLog.layer).pipe(
      Layer.provide(Database.layerReadOnly(dataDir))
    ),
    LlmBudget.layer(budget).pipe(Layer.provide(Database.layerReadOnly(budgetDir)))
  )

/** The journal and the learned model, read-only and without the lock, as `history` reads them. */
export const readOnlyStorage = (dataDir: string): Layer.Layer<Journal | LearnedModel, StateError> =>
  Layer.mergeAll(Journal.layer, LearnedModel.layer).pipe(Layer.provide(Database.layerReadOnly(dataDir)))

/** The journal alone, read-only and without the lock: the sorter's moves, as `evaluate` reads them. */
export const journalReadOnly = (dataDir: string): Layer.Layer<Journal, StateError> =>
  Journal.layer.pipe(Layer.provide(Database.layerReadOnly(dataDir)))

/** The LLM classifier, its cache and token budget in the Database, its calls through this HttpClient. */
export const llmClassifier = (settings: LlmSettings) =>
  LlmClassifier.layer(settings).pipe(
    Layer.provide(Layer.mergeAll(
      ChatCompletions.layer(settings),
      ClassificationCache.layer(),
      LlmBudget.layer(settings.dailyTokenBudget)
    ))
  )

/**
 * One LLM for several accounts (PROTON_LUMO_ACCOUNTS): one per-minute limit, at most
 * `maxInFlight` requests at once, one pause after a 429 and one daily token budget, kept in
 * `<budgetDir>/protonlumo.db`, for all of them; each
 * account keeps its own cache (in its database) and its own counts. Gives each account's classifier.
 */
export const sharedLlmClassifier = (settings: LlmSettings, budgetDir: string, maxInFlight: number) =>
  Effect.gen(function*() {
    const gate = yield* makeChatGate(settings, maxInFlight)
    const budget = yield* Layer.build(LlmBudget.layer(settings.dailyTokenBudget).pipe(Layer.provide(Database.layerFile(budgetDir))))
    const classifier: Layer.Layer<Classifier, never, ClassifierNeeds> = LlmClassifier.layer(settings).pipe(
      Layer.provide(Layer.mergeAll(
        ChatCompletions.layerShared(settings, gate).pipe(Layer.provide(FetchHttpClient.layer)),
        ClassificationCache.layer(),
        Layer.succeedContext(budget)
      ))
    )
    return classifier
  })

/** The classifier the settings ask for: the LLM over real HTTP when one is configured, keywords otherwise. */
export const configuredClassifier = (llm: Option.Option<LlmSettings>): Layer.Layer<Classifier, never, ClassifierNeeds> =>
  Option.match(llm, {
    onNone: () => KeywordClassifier.layer,
    onSome: (settings) => llmClassifier(settings).pipe(Layer.provide(FetchHttpClient.layer))
  })

/**
 * With OTEL_EXPORTER_OTLP_ENDPOINT: the spans (the `Effect.fn`s: passes, scans, service methods) and the metrics
 * go to that OpenTelemetry collector as OTLP/HTTP JSON (`/v1/traces`, `/v1/metrics`), flushed at
 * exit. The log lines stay where they are: they carry subjects, which a collector needs not see.
 */
export const otlpExport = (endpoint: Option.Option<string>): Layer.Layer<never> =>
  Option.match(endpoint, {
    onNone: () => Layer.empty,
    onSome: (base) => {
      const url = (path: string) => `${base.replace(/\/+$/, "")}${path}`
      const resource = { serviceName: "protonlumoai" }
      return Layer.mergeAll(
        OtlpTracer.layer({ url: url("/v1/traces"), resource }),
        OtlpMetrics.layer({ url: url("/v1/metrics"), resource })
      ).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer))
    }
  })

