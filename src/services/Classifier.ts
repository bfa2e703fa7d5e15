/**
 * Classifies a batch of emails in one call: the service, and nothing of its implementations
 * (KeywordClassifier.ts, LlmClassifier.ts), which are chosen where the program is composed
 * (src/layers.ts).
 */
import { Context, Effect } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type { ClassifierStats } from "../domain/ClassifierStats.ts"
import type { ParsedEmail, Verdict } from "../domain/Email.ts"
import type { ClassifierError } from "../domain/Errors.ts"

export interface ClassifierApi {
  /** Shown in logs and metrics. */
  readonly name: string
  /**
   * What it can answer at once, for free (the learned model, a confident keyword, a remembered
   * LLM verdict): a verdict, or undefined for each email that needs `classify`. The pipeline screens
   * every email first and batches only the rest, so what is decided here spares whole LLM calls.
   */
  readonly screen: (
    emails: NonEmptyReadonlyArray<ParsedEmail>
  ) => Effect.Effect<ReadonlyArray<Verdict | undefined>, ClassifierError>
  /**
   * One verdict per email, in the same order, for what `screen` left open: what it asks for (the
   * LLM) it asks, even where keywords are sure (a screen gives those; one left open was doubted).
   * A verdict may depend only on what domain/Twins.ts compares (not on the UID, the Message-ID or
   * the dates): the pipeline classifies the first of twins and gives the others its verdict.
   */
  readonly classify: (emails: NonEmptyReadonlyArray<ParsedEmail>) => Effect.Effect<ReadonlyArray<Verdict>, ClassifierError>
  /** What the classifier spent since it started (zero for keywords). */
  readonly stats: Effect.Effect<ClassifierStats>
  /** A sorting pass starts: what stopped the LLM for the last pass (a refused key) is tried again. */
  readonly beginPass: Effect.Effect<void>
  /**
   * Whether mail the learned model is sure stays where it is may be left without `classify`: an
   * LLM's, which costs and sends the mail away (PROTON_LUMO_LLM_SKIP_KEPT). Absent: no.
   */
  readonly skipsKept?: boolean
  /** Whether `classify` asks an LLM (each call costs, and sends the mail away). Absent: no. */
  readonly asksLlm?: boolean
  /**
   * Whether `classify`'s answers teach `screenAgain` for the rest of a pass starting now (the
   * learned model in front of an LLM, once calibrated: before, it moves nothing): mail from the
   * sender or in the thread of an email being asked waits for its answer, to be screened again
   * (domain/Mates.ts). Absent: no.
   */
  readonly learnsFromAnswers?: Effect.Effect<boolean>
  /** `screen`, with what `classify`'s answers of this pass taught it: for mail that waited for them. Absent: `screen`. */
  readonly screenAgain?: (
    emails: NonEmptyReadonlyArray<ParsedEmail>
  ) => Effect.Effect<ReadonlyArray<Verdict | undefined>, ClassifierError>
}

/** `screen` for a classifier with nothing cheaper than `classify`. */
export const screenNothing = (emails: ReadonlyArray<ParsedEmail>): Effect.Effect<ReadonlyArray<Verdict | undefined>> =>
  Effect.succeed(emails.map(() => undefined))

export class Classifier extends Context.Service<Classifier, ClassifierApi>()("proton-lumo-ai/Classifier") {}
