/**
 * Classifies a batch of emails in one call: the service, and nothing of its implementations
 * (KeywordClassifier.ts, LlmClassifier.ts), which are chosen where the program is composed
 * (src/layers.ts).
 */
import { Context, type Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { ClassifierStats } from "../domain/ClassifierStats.ts"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import type { ClassifierError } from "../domain/Errors.ts"

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

export class Classifier extends Context.Service<Classifier, ClassifierApi>()("proton-lumo-ai/Classifier") {}
