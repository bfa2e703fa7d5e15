/**
 * Classifies a batch of emails in one call. Implementations: keywords (no network) and an
 * OpenAI-compatible LLM that falls back to keywords whenever it fails.
 */
import { Context, Effect, Layer, Option } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { HttpClient } from "effect/http"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import type { ClassifierError } from "../domain/Errors.ts"
import { Categories } from "./Categories.ts"
import { keywordClassifier } from "./KeywordClassifier.ts"
import { makeLlmClassifier } from "./LlmClassifier.ts"
import type { LlmSettings } from "./Settings.ts"

export interface ClassifierApi {
  /** Shown in logs and metrics. */
  readonly name: string
  /** One verdict per email, in the same order. */
  readonly classify: (emails: NonEmptyReadonlyArray<ParsedEmail>) => Effect.Effect<ReadonlyArray<Verdict>, ClassifierError>
}

export class Classifier extends Context.Service<Classifier, ClassifierApi>()("proton-lumo-ai/Classifier") {
  static readonly layerKeyword: Layer.Layer<Classifier, never, Categories> = Layer.effect(
    Classifier,
    Effect.gen(function*() {
      return keywordClassifier((yield* Categories).all)
    })
  )

  static readonly layerLlm = (settings: LlmSettings): Layer.Layer<Classifier, never, Categories | HttpClient.HttpClient> =>
    Layer.effect(
      Classifier,
      Effect.gen(function*() {
        const categories = (yield* Categories).all
        return yield* makeLlmClassifier(settings, categories, keywordClassifier(categories))
      })
    )

  /** The LLM classifier when one is configured, keywords otherwise. */
  static readonly layer = (
    llm: Option.Option<LlmSettings>
  ): Layer.Layer<Classifier, never, Categories | HttpClient.HttpClient> =>
    Option.match(llm, { onNone: () => Classifier.layerKeyword, onSome: Classifier.layerLlm })
}
