/**
 * Classifies a batch of emails in one call. Implementations: keywords (no network) and an
 * OpenAI-compatible LLM that falls back to keywords whenever it fails.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { HttpClient } from "effect/http"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { ClassifierStats } from "../domain/ClassifierStats.ts"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import type { ClassifierError } from "../domain/Errors.ts"
import { Categories } from "./Categories.ts"
import { ChatCompletions } from "./ChatCompletions.ts"
import { ClassificationCache } from "./ClassificationCache.ts"
import type { Database } from "./Database.ts"
import { keywordClassifier } from "./KeywordClassifier.ts"
import { LlmBudget } from "./LlmBudget.ts"
import { makeLlmClassifier } from "./LlmClassifier.ts"
import type { LlmSettings } from "./Settings.ts"

export interface ClassifierApi {
  /** Shown in logs and metrics. */
  readonly name: string
  /** One verdict per email, in the same order. */
  readonly classify: (emails: NonEmptyReadonlyArray<ParsedEmail>) => Effect.Effect<ReadonlyArray<Verdict>, ClassifierError>
  /** What the classifier spent since it started (zero for keywords). */
  readonly stats: Effect.Effect<ClassifierStats>
  /** A sorting pass starts: what stopped the LLM for the last pass (a refused key) is tried again. */
  readonly beginPass: Effect.Effect<void>
}


export class Classifier extends Context.Service<Classifier, ClassifierApi>()("proton-lumo-ai/Classifier") {
  static readonly layerKeyword: Layer.Layer<Classifier, never, Categories> = Layer.effect(
    Classifier,
    Effect.gen(function*() {
      return keywordClassifier((yield* Categories).all)
    })
  )

  /** The LLM classifier, keywords as its fallback. */
  static readonly layerLlm = (
    settings: LlmSettings
  ): Layer.Layer<Classifier, never, Categories | ChatCompletions | ClassificationCache | LlmBudget> =>
    Layer.effect(
      Classifier,
      Effect.gen(function*() {
        const categories = (yield* Categories).all
        return yield* makeLlmClassifier(settings, categories, keywordClassifier(categories))
      })
    )

  /**
   * What the CLI runs: the LLM classifier when one is configured (its cache and token budget in
   * the Database, calls through `HttpClient`), keywords otherwise.
   */
  static readonly layer = (
    llm: Option.Option<LlmSettings>
  ): Layer.Layer<Classifier, never, Categories | HttpClient.HttpClient | Database> =>
    Option.match(llm, {
      onNone: () => Classifier.layerKeyword,
      onSome: (settings) =>
        Classifier.layerLlm(settings).pipe(
          Layer.provide(Layer.mergeAll(
            ChatCompletions.layer(settings),
            ClassificationCache.layer(),
            LlmBudget.layer(settings.dailyTokenBudget)
          ))
        )
    })
}
