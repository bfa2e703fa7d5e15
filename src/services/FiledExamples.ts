/**
 * A few subjects of the mail the user filed in each category, kept in memory only (never saved),
 * for the LLM to see what the user means by each category (PROTON_LUMO_LLM_EXAMPLES; off by
 * default, as it sends more of the user's mail to the provider). Gathered before each pass
 * (pipeline/examples.ts), read by the LLM classifier.
 */
import { Context, Effect, Layer, Ref } from "effect"

/** Subjects by category id. */
export type ExampleSubjects = ReadonlyMap<string, ReadonlyArray<string>>

export interface FiledExamplesApi {
  readonly current: Effect.Effect<ExampleSubjects>
  readonly replace: (examples: ExampleSubjects) => Effect.Effect<void>
}

export class FiledExamples extends Context.Service<FiledExamples, FiledExamplesApi>()("proton-lumo-ai/FiledExamples") {
  static readonly layer: Layer.Layer<FiledExamples> = Layer.effect(
    FiledExamples,
    Effect.map(Ref.make<ExampleSubjects>(new Map()), (examples) =>
      FiledExamples.of({
        current: Ref.get(examples),
        replace: Effect.fn("FiledExamples.replace")((next: ExampleSubjects) => Ref.set(examples, next))
      }))
  )
}
