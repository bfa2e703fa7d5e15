/** The pipeline's services for unit tests: an in-memory Bridge-like mailbox and the default categories. */
import { readFileSync } from "node:fs"
import { Layer, Option, Redacted, References, Schema } from "effect"
import { CategoriesFile } from "../../src/domain/Category.ts"
import type { StateError } from "../../src/domain/Errors.ts"
import { type ClassifierNeeds, configuredClassifier, sorterLayer } from "../../src/layers.ts"
import { Categories } from "../../src/services/Categories.ts"
import type { Classifier } from "../../src/services/Classifier.ts"
import { Database } from "../../src/services/Database.ts"
import type { Mailbox } from "../../src/services/Mailbox.ts"
import type { MailWatch } from "../../src/services/MailWatch.ts"
import { MemoryMailbox, type MemoryMailboxOptions } from "../../src/services/MemoryMailbox.ts"
import { MessageParser } from "../../src/services/MessageParser.ts"
import { defaultRequestsPerMinute, type LlmSettings, llmDefaults, Settings, type SortSettings } from "../../src/services/Settings.ts"

export { fileStorage } from "../../src/layers.ts"

/** The shipped config/categories.json. */
export const defaultCategories = Schema.decodeUnknownSync(CategoriesFile)(
  JSON.parse(readFileSync(new URL("../../config/categories.json", import.meta.url), "utf8"))
)

export interface TestLayerOptions {
  readonly settings?: Partial<SortSettings>
  readonly classifier?: Layer.Layer<Classifier, never, ClassifierNeeds>
  readonly mailbox?: MemoryMailboxOptions
  /** A memory mailbox built before (to share between two "processes"); `mailbox` is then ignored. */
  readonly memoryMailbox?: Layer.Layer<Mailbox | MemoryMailbox>
  /** Decorates the Mailbox service (fault injection). */
  readonly mailboxWrapper?: Layer.Layer<Mailbox, never, Mailbox | MemoryMailbox>
  readonly categories?: CategoriesFile
  /** Where state, journal and cache live (default: a private in-memory database). */
  readonly database?: Layer.Layer<Database, StateError>
  /** How messages are parsed (default: inline, on the event loop). */
  readonly parser?: Layer.Layer<MessageParser, never, Settings>
  /** What watches the folders after the first in service mode (default: nothing). */
  readonly watch?: Layer.Layer<MailWatch, never, Mailbox | MemoryMailbox>
}

export const testLayer = (options: TestLayerOptions = {}) => {
  const memory = options.memoryMailbox ?? MemoryMailbox.layer(options.mailbox)
  // provideMerge: the wrapper's Mailbox replaces the memory one; the inspector stays available.
  const mailbox = options.mailboxWrapper === undefined ? memory : options.mailboxWrapper.pipe(Layer.provideMerge(memory))
  return Layer.merge(
    sorterLayer({
      settings: { ...Settings.defaults, ...options.settings },
      categories: Categories.layerFrom(options.categories ?? defaultCategories),
      mailbox,
      database: options.database ?? Database.layerMemory,
      parser: options.parser ?? MessageParser.layerInline,
      ...(options.classifier === undefined ? {} : { classifier: options.classifier }),
      ...(options.watch === undefined ? {} : { watch: options.watch })
    }),
    // Outcomes are asserted, not read: keep the test output for real errors.
    Layer.succeed(References.MinimumLogLevel, "Error")
  )
}

/** LLM settings pointing at a fake server, with a test key and the endpoint's default request limit. */
export const llmSettings = (baseUrl: string, overrides: Partial<LlmSettings> = {}): LlmSettings => ({
  ...llmDefaults,
  maxRequestsPerMinute: defaultRequestsPerMinute(baseUrl),
  baseUrl,
  model: "test-model",
  apiKey: Option.some(Redacted.make("sk-test-123")),
  ...overrides
})

/** The LLM classifier over real HTTP; its cache and budget in the Database (as the CLI composes it). */
export const llmClassifierLayer = (settings: LlmSettings): Layer.Layer<Classifier, never, ClassifierNeeds> =>
  configuredClassifier(Option.some(settings))
