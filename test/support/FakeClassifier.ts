/** A scripted classifier that records its calls and how many ran at once. */
import { type Duration, Effect, Layer } from "effect"
import type { ParsedEmail, Verdict } from "../../src/domain/Email.ts"
import { emptyStats } from "../../src/domain/ClassifierStats.ts"
import { ClassifierError } from "../../src/domain/Errors.ts"
import { Classifier, screenNothing } from "../../src/services/Classifier.ts"

export interface FakeClassifierOptions {
  /** The verdict for each email (default: none fits). */
  readonly verdict?: (email: ParsedEmail) => Verdict
  /** Time each call takes (real time: use it.live). */
  readonly latency?: Duration.Input
  /** What screening decides at once (default: nothing; undefined leaves the email for a batch). */
  readonly screen?: (email: ParsedEmail) => Verdict | undefined
  /** Time each screening takes (real time: use it.live). */
  readonly screenLatency?: Duration.Input
  /** Batches for which the whole call fails. */
  /** Runs before each batch is answered (another client acting meanwhile, say). */
  readonly before?: (batch: ReadonlyArray<ParsedEmail>) => Effect.Effect<void>
  readonly failWhen?: (batch: ReadonlyArray<ParsedEmail>) => boolean
  /** Whether its answers teach its screen (ClassifierApi.learnsFromAnswers): mates wait. */
  readonly learnsFromAnswers?: boolean
}

export interface FakeClassifierStats {
  /** UIDs of each batch, in call order. */
  readonly batches: Array<ReadonlyArray<number>>
  inFlight: number
  maxInFlight: number
}

export const matched = (categoryId: string, confidence: number): Verdict => ({
  _tag: "Matched",
  categoryId,
  confidence,
  reason: "scripted",
  classifier: "fake",
  stage: "llm"
})

export const makeFakeClassifier = (options: FakeClassifierOptions = {}) => {
  const stats: FakeClassifierStats = { batches: [], inFlight: 0, maxInFlight: 0 }
  const verdict = options.verdict ?? ((): Verdict => ({ _tag: "NoMatch", reason: "scripted", classifier: "fake", stage: "llm" }))
  const layer = Layer.succeed(Classifier, {
    name: "fake",
    screen: options.screen === undefined
      ? screenNothing
      : (emails) =>
        Effect.andThen(
          options.screenLatency === undefined ? Effect.void : Effect.sleep(options.screenLatency),
          Effect.sync(() => emails.map(options.screen ?? (() => undefined)))
        ),
    classify: (emails) =>
      Effect.gen(function*() {
        stats.inFlight += 1
        stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
        stats.batches.push(emails.map((email) => email.uid))
        if (options.latency !== undefined) yield* Effect.sleep(options.latency)
        if (options.before !== undefined) yield* options.before(emails)
        if (options.failWhen?.(emails) === true) {
          return yield* new ClassifierError({ classifier: "fake", reason: "scripted failure" })
        }
        return emails.map(verdict)
      }).pipe(Effect.ensuring(Effect.sync(() => {
        stats.inFlight -= 1
      }))),
    stats: Effect.succeed(emptyStats),
    beginPass: Effect.void,
    ...(options.learnsFromAnswers === true ? { learnsFromAnswers: Effect.succeed(true) } : {})
  })
  return { layer, stats }
}
